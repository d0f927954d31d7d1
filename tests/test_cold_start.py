"""`import app` loads no feature module: each handler imports what it needs on first use (chalicelib/lazy.py).
What it costs is measured by `make cold-start` (docs/benchmarks.md), not here."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
HEAVY = ["boto3", "pynamodb", "pydantic", "jinja2", "authlib", "jwt", "cryptography", "chalicelib.bootstrap",
         "chalicelib.events", "chalicelib.scoring.pipeline"]


def modules_after(code: str) -> set[str]:
    probe = f"{code}; import sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_app_loads_no_feature_module_nor_heavy_library():
    loaded = modules_after("import app")
    assert [name for name in HEAVY if name in loaded] == []


def test_a_module_is_imported_at_its_first_use_and_the_route_still_works():
    loaded = modules_after("import app; app.leaderboards.learner_board")
    assert "chalicelib.leaderboards.service" in loaded and "chalicelib.pages.admin" not in loaded


def test_a_missing_attribute_is_still_an_attribute_error():
    from chalicelib.lazy import lazy
    module = lazy("chalicelib.orgtree")
    with pytest.raises(AttributeError):
        module.no_such_function  # noqa: B018 (the access is the test)
    assert callable(module.subtree)
