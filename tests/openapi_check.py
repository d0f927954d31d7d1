"""Checks HTTP bodies against openapi.yaml, so that the tests fail when the service and its spec disagree.

OpenAPI 3.1 schemas are JSON Schema 2020-12: the whole spec is registered as one JSON Schema resource and
each check starts from a `$ref` into it, so every `#/components/...` reference resolves as written.

Response bodies are checked strictly: an object schema that lists its `properties` and says nothing about
`additionalProperties` is closed for the check. The spec stays open for clients ("ignore fields you do not
know"), but a field the service returns and the spec does not describe fails the tests: spec drift.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[1] / "openapi.yaml"
_URI = "urn:karmayogi-engage:openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@lru_cache(maxsize=1)
def spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text())


def _closed(node):
    """A copy of the spec in which documented objects admit no undocumented fields (see module doc)."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _closed(value) for key, value in node.items()}
    if out.get("type") == "object" and isinstance(out.get("properties"), dict) \
            and "additionalProperties" not in out and "unevaluatedProperties" not in out:
        out["additionalProperties"] = False
    return out


@lru_cache(maxsize=2)
def _registry(strict: bool) -> Registry:
    document = _closed(spec()) if strict else copy.deepcopy(spec())
    return Registry().with_resource(_URI, Resource.from_contents(document, default_specification=DRAFT202012))


def _pointer(*segments: str) -> str:
    return "/" + "/".join(str(s).replace("~", "~0").replace("/", "~1") for s in segments)


def _validator(pointer: str, strict: bool) -> Draft202012Validator:
    return Draft202012Validator({"$ref": _URI + "#" + quote(pointer, safe="/~")}, registry=_registry(strict),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def _validate(validator: Draft202012Validator, body, what: str) -> None:
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:10]]
        raise AssertionError(f"{what} does not match openapi.yaml:\n  " + "\n  ".join(lines) + f"\nbody: {body!r}")


def operation(path_template: str, method: str) -> dict:
    paths = spec()["paths"]
    assert path_template in paths, f"{path_template} is not in openapi.yaml"
    assert method.lower() in paths[path_template], f"{method.upper()} {path_template} is not in openapi.yaml"
    return paths[path_template][method.lower()]


def response_schema_pointer(path_template: str, method: str, status: int) -> str:
    """Where the JSON schema of this response lives in the spec (following a $ref'd response object)."""
    responses = operation(path_template, method)["responses"]
    key = str(status)
    assert key in responses, (f"{method.upper()} {path_template} answered {status}, which openapi.yaml does not "
                              f"document (documented: {', '.join(sorted(responses))})")
    response, pointer = responses[key], _pointer("paths", path_template, method.lower(), "responses", key)
    if "$ref" in response:
        ref = response["$ref"]
        assert ref.startswith("#/"), ref
        pointer = ref[1:]
        response = spec()
        for segment in ref[2:].split("/"):
            response = response[segment.replace("~1", "/").replace("~0", "~")]
    assert "application/json" in response.get("content", {}), \
        f"{method.upper()} {path_template} {status} documents no application/json body"
    return pointer + _pointer("content", "application/json", "schema")


def documented_media_types(path_template: str, method: str, status: int) -> set[str]:
    """The content types the spec documents for this response (following a $ref'd response object)."""
    response = operation(path_template, method)["responses"].get(str(status), {})
    if "$ref" in response:
        response = spec()
        for segment in operation(path_template, method)["responses"][str(status)]["$ref"][2:].split("/"):
            response = response[segment.replace("~1", "/").replace("~0", "~")]
    return set(response.get("content", {}))


def assert_matches_spec(path_template: str, method: str, status: int, body):
    """Fail unless `status` is documented for the operation and `body` matches its response schema.
    Returns the body, so that a test can go on with it."""
    pointer = response_schema_pointer(path_template, method, status)
    _validate(_validator(pointer, strict=True), body, f"{method.upper()} {path_template} {status} body")
    return body


def assert_matches_schema(name: str, body, strict: bool = True):
    """Validate against one schema of components/schemas (e.g. bodies no operation can document)."""
    assert name in spec()["components"]["schemas"], f"no schema {name} in openapi.yaml"
    _validate(_validator(_pointer("components", "schemas", name), strict), body, f"{name}")
    return body


@lru_cache(maxsize=1)
def event_validator() -> Draft202012Validator:
    """The contract for one event, as the platform team reads it (open to unknown fields, as the service is)."""
    return _validator(_pointer("components", "schemas", "Event"), strict=False)


def request_validator(path_template: str, method: str) -> Draft202012Validator:
    operation(path_template, method)
    return _validator(_pointer("paths", path_template, method.lower(), "requestBody", "content",
                               "application/json", "schema"), strict=False)
