"""Modules loaded when first used: a Lambda cold start then imports only what its handler needs.

app.py names every feature module it routes to, but one function serves one handler: importing them all up
front cost ~370 ms per cold start (boto3, PynamoDB, Authlib, jinja2...). `lazy("chalicelib.x")` returns a
stand-in whose first attribute access imports the module (once, cached by Python) and hands the attribute back.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    def __init__(self, name: str):
        super().__init__(name)

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):  # introspection (copy, pickle, doctest) must not import
            raise AttributeError(attribute)
        return getattr(importlib.import_module(self.__name__), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"


def lazy(name: str) -> Any:
    """The module `name`, imported at its first use."""
    return LazyModule(name)
