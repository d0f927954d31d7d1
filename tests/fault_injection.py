"""Faults injected where every AWS call of the code under test passes: botocore's request method."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable

import botocore.client


class Injector:
    """Counts the requests the code under test makes while `active` (only those `counted(client)` accepts, and,
    with only_inside, only inside `counting()`), and lets `plan(n, operation, kwargs)` decide for the nth:
    (None, None) lets it through, ("before" | "after", error) raises the error before the request is sent or
    after it took effect. Install `wrapper` as BaseClient._make_api_call."""

    def __init__(self, counted: Callable[[object], bool] = lambda client: True, only_inside: bool = False):
        self.calls, self.active, self.plan, self.fired = 0, False, None, []
        self.inside = not only_inside
        self._only_inside = only_inside
        self.operations: list[str] = []
        lock = threading.Lock()
        original, injector = botocore.client.BaseClient._make_api_call, self

        def _make_api_call(client, operation, kwargs):
            if not (injector.active and injector.inside and counted(client)):
                return original(client, operation, kwargs)
            with lock:
                injector.calls += 1
                n = injector.calls
                injector.operations.append(operation)
            when, error = injector.plan(n, operation, kwargs) if injector.plan else (None, None)
            if when == "before":
                injector.fired.append((n, operation))
                raise error
            result = original(client, operation, kwargs)
            if when == "after":
                injector.fired.append((n, operation))
                raise error
            return result
        self.wrapper = _make_api_call

    @contextmanager
    def counting(self):
        """Count only what runs inside (the test's own calls, a queue pump say, stay outside)."""
        self.inside = True
        try:
            yield
        finally:
            self.inside = not self._only_inside
