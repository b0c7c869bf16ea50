"""Tests for the spec fixups: each repairs, is idempotent and leaves its input alone."""

from __future__ import annotations

import copy
from typing import Any, Dict

import pytest

from conductor_regen.config import FixupConfig
from conductor_regen.errors import ConfigError, SpecValidationError
from conductor_regen.spec.fixups import (
    REGISTRY,
    AppliedFixup,
    Fixup,
    apply_fixups,
    list_fixups,
    strip_prefix,
)


def _fixup(name: str) -> Fixup:
    return next(f for f in REGISTRY if f.name == name)


def _spec() -> Dict[str, Any]:
    return {
        "openapi": "3.0.1",
        "info": {"title": "t", "version": "v1"},
        "paths": {
            "/api/events/{type}": {
                "post": {
                    "operationId": "record",
                    "parameters": [{"name": "type", "in": "query", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "OK"}},
                },
            },
            "/api/hooks/{id}/tags": {
                "parameters": [{"name": "id", "in": "path", "schema": {"type": "string"}}],
                "get": {"responses": {"200": {"description": "OK"}}},
            },
            "/api/flow/{flowId}/jump/{ref}": {
                "post": {
                    "parameters": [{"$ref": "#/components/parameters/FlowId"}],
                    "responses": {"200": {"description": "OK"}},
                },
                "get": {
                    "parameters": [
                        {"$ref": "#/components/parameters/FlowId"},
                        {"name": "ref", "in": "path", "required": False, "schema": {"type": "string"}},
                    ],
                    "responses": {"200": {"description": "OK"}},
                },
            },
            "/health": {"get": {"responses": {"200": {"description": "OK"}}}},
        },
        "components": {
            "parameters": {"FlowId": {"name": "flowId", "in": "path", "required": True, "schema": {"type": "string"}}},
            "schemas": {
                "Proto": {
                    "type": "object",
                    "properties": {
                        "names": {
                            "type": "array",
                            "items": {"type": "string"},
                            "properties": {"empty": {"type": "boolean"}},
                        },
                        "nested": {
                            "type": "object",
                            "properties": {
                                "deep": {
                                    "type": "array",
                                    "items": {"type": "string"},
                                    "properties": {},
                                    "required": ["x"],
                                }
                            },
                        },
                        "ok": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "Listy": {"type": "array", "items": {"$ref": "#/components/schemas/Proto"}, "properties": {"a": {}}},
                "Plain": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            },
        },
    }


def _assert_pure_and_idempotent(name: str, config: FixupConfig = FixupConfig()) -> Dict[str, Any]:
    spec = _spec()
    snapshot = copy.deepcopy(spec)
    fixed, changes = _fixup(name).apply(spec, config)
    assert changes, f"{name} changed nothing on a spec it should repair"
    assert spec == snapshot, f"{name} mutated its input"
    assert fixed is not spec
    again, second = _fixup(name).apply(fixed, config)
    assert second == []
    assert again == fixed
    return fixed


def test_registry_lists_fixups_in_fixed_order() -> None:
    names = [f.name for f in list_fixups()]
    assert names == ["define-path-parameters", "drop-array-properties", "strip-path-prefix"]
    assert list_fixups() == REGISTRY
    for fixup in list_fixups():
        assert fixup.reason and "\n" not in fixup.reason
        assert callable(fixup.apply)


def test_define_path_parameters_adds_missing_and_requires_existing() -> None:
    fixed = _assert_pure_and_idempotent("define-path-parameters")
    paths = fixed["paths"]

    # The query declaration of a template name becomes the path parameter: one `type`, never two.
    event_params = paths["/api/events/{type}"]["post"]["parameters"]
    assert event_params == [{"name": "type", "in": "path", "required": True, "schema": {"type": "string"}}]

    # A path-level definition covers the operation, but must become required.
    hooks = paths["/api/hooks/{id}/tags"]
    assert hooks["parameters"][0]["required"] is True
    assert "parameters" not in hooks["get"]

    jump = paths["/api/flow/{flowId}/jump/{ref}"]
    post_names = [p.get("name") for p in jump["post"]["parameters"]]
    assert post_names == [None, "ref"], "the $ref'd flowId counts as defined, only ref is added"
    get_ref = [p for p in jump["get"]["parameters"] if p.get("name") == "ref"]
    assert len(get_ref) == 1 and get_ref[0]["required"] is True


def test_define_path_parameters_reports_changes_per_operation() -> None:
    _, changes = _fixup("define-path-parameters").apply(_spec(), FixupConfig())
    assert ("POST /api/events/{type}: query parameter 'type' made the path parameter (required), "
            "not duplicated") in changes
    assert "POST /api/flow/{flowId}/jump/{ref}: added path parameter 'ref'" in changes
    assert "GET /api/flow/{flowId}/jump/{ref}: path parameter 'ref' marked required" in changes
    assert "/api/hooks/{id}/tags (path-level): path parameter 'id' marked required" in changes
    assert len(changes) == 4


def _names(params: Any) -> list:
    return [(p.get("name"), p.get("in")) for p in params]


def test_define_path_parameters_never_duplicates_a_name() -> None:
    """Query/header/cookie declarations, $refs and path-level ones are adopted; shadowed extras dropped."""
    spec = {
        "openapi": "3.0.1", "info": {"title": "t", "version": "1"},
        "components": {"parameters": {"Kind": {"name": "kind", "in": "header", "style": "simple",
                                               "schema": {"type": "string"}}}},
        "paths": {
            "/a/{kind}": {"get": {"parameters": [{"$ref": "#/components/parameters/Kind"}],
                                  "responses": {"200": {"description": "OK"}}}},
            "/b/{ref}": {"post": {"parameters": [
                {"name": "ref", "in": "query", "required": False, "style": "form", "explode": True,
                 "allowEmptyValue": True, "schema": {"type": "string"}},
                {"name": "ref", "in": "cookie", "schema": {"type": "string"}},
                {"name": "other", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}}}},
            "/c/{id}": {"parameters": [{"name": "id", "in": "query", "schema": {"type": "integer"}}],
                        "get": {"parameters": [{"name": "id", "in": "query", "schema": {"type": "integer"}}],
                                "responses": {"200": {"description": "OK"}}},
                        "put": {"responses": {"200": {"description": "OK"}}}},
        },
    }
    snapshot = copy.deepcopy(spec)
    fixed, changes = _fixup("define-path-parameters").apply(spec, FixupConfig())
    assert spec == snapshot
    paths = fixed["paths"]
    kind = paths["/a/{kind}"]["get"]["parameters"]
    assert kind == [{"name": "kind", "in": "path", "required": True, "schema": {"type": "string"}}]
    assert fixed["components"]["parameters"]["Kind"]["in"] == "header", "the shared component is left alone"
    ref = paths["/b/{ref}"]["post"]["parameters"]
    assert _names(ref) == [("ref", "path"), ("other", "query")]
    assert ref[0] == {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}
    assert _names(paths["/c/{id}"]["parameters"]) == [("id", "path")]
    assert paths["/c/{id}"]["parameters"][0]["required"] is True
    assert _names(paths["/c/{id}"]["get"]["parameters"]) == []
    assert "parameters" not in paths["/c/{id}"]["put"]
    assert sorted(changes) == sorted([
        "GET /a/{kind}: header parameter 'kind' made the path parameter (required), not duplicated",
        "POST /b/{ref}: query parameter 'ref' made the path parameter (required), not duplicated",
        "POST /b/{ref}: dropped cookie parameter 'ref': the path template binds that name",
        "/c/{id} (path-level): query parameter 'id' made the path parameter (required), not duplicated",
        "GET /c/{id}: dropped query parameter 'id': the path template binds that name",
    ])
    again, second = _fixup("define-path-parameters").apply(fixed, FixupConfig())
    assert second == [] and again == fixed


def test_define_path_parameters_shares_untouched_subtrees() -> None:
    spec = _spec()
    fixed, _ = _fixup("define-path-parameters").apply(spec, FixupConfig())
    assert fixed["paths"]["/health"] is spec["paths"]["/health"]
    assert fixed["components"]["schemas"] is spec["components"]["schemas"]


def test_drop_array_properties_walks_nested_schemas() -> None:
    fixed = _assert_pure_and_idempotent("drop-array-properties")
    schemas = fixed["components"]["schemas"]
    assert "properties" not in schemas["Proto"]["properties"]["names"]
    deep = schemas["Proto"]["properties"]["nested"]["properties"]["deep"]
    assert "properties" not in deep and "required" not in deep
    assert "properties" not in schemas["Listy"]
    assert schemas["Listy"]["items"] == {"$ref": "#/components/schemas/Proto"}
    # Objects keep their keywords; clean arrays are untouched.
    assert schemas["Plain"] == _spec()["components"]["schemas"]["Plain"]
    assert schemas["Proto"]["properties"]["ok"] == {"type": "array", "items": {"type": "string"}}


def test_drop_array_properties_reaches_operation_schemas() -> None:
    spec = _spec()
    spec["paths"]["/health"]["get"]["responses"]["200"]["content"] = {
        "application/json": {"schema": {"type": "array", "items": {"type": "string"}, "properties": {"x": {}}}}
    }
    fixed, changes = _fixup("drop-array-properties").apply(spec, FixupConfig())
    body = fixed["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "properties" not in body
    assert any("GET /health response 200" in line for line in changes)
    assert "properties" in spec["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


@pytest.mark.parametrize("kind,dropped", [(["array", "null"], True), (["array", "object"], False),
                                          (["object", "null"], False), ("array", True), ("object", False)])
def test_drop_array_properties_reads_openapi_31_type_lists(kind: Any, dropped: bool) -> None:
    # A schema that may be an array or an object keeps its object keywords: they apply to the object case.
    spec = _spec()
    spec["components"]["schemas"]["Either"] = {"type": kind, "items": {"type": "string"},
                                               "properties": {"x": {"type": "string"}}, "required": ["x"]}
    fixed, changes = _fixup("drop-array-properties").apply(spec, FixupConfig())
    either = fixed["components"]["schemas"]["Either"]
    assert ("properties" not in either and "required" not in either) is dropped
    assert any(line.startswith("schema Either:") for line in changes) is dropped


def test_drop_array_properties_change_lines_name_the_schema() -> None:
    _, changes = _fixup("drop-array-properties").apply(_spec(), FixupConfig())
    assert "schema Proto.names: removed 'properties' from array schema" in changes
    assert "schema Proto.nested.deep: removed 'properties', 'required' from array schema" in changes
    assert "schema Listy: removed 'properties' from array schema" in changes
    assert len(changes) == 3


def test_strip_path_prefix_rewrites_path_keys_only() -> None:
    fixed = _assert_pure_and_idempotent("strip-path-prefix")
    assert list(fixed["paths"]) == ["/events/{type}", "/hooks/{id}/tags", "/flow/{flowId}/jump/{ref}", "/health"]
    assert fixed["paths"]["/events/{type}"] == _spec()["paths"]["/api/events/{type}"]
    assert fixed["components"] == _spec()["components"]
    assert {k: v for k, v in fixed.items() if k != "paths"} == {k: v for k, v in _spec().items() if k != "paths"}


def test_strip_path_prefix_edge_cases() -> None:
    spec: Dict[str, Any] = {"paths": {"/api": {}, "/apis/x": {}, "/api/x": {}}}
    fixed, changes = _fixup("strip-path-prefix").apply(spec, FixupConfig())
    assert list(fixed["paths"]) == ["/", "/apis/x", "/x"]
    assert changes == ["/api -> /", "/api/x -> /x"]
    assert strip_prefix("/api/x", "api/") == "/x"


def test_strip_path_prefix_disabled_by_empty_prefix() -> None:
    fixed, changes = _fixup("strip-path-prefix").apply(_spec(), FixupConfig(strip_path_prefix=""))
    assert changes == []
    assert list(fixed["paths"]) == list(_spec()["paths"])


def test_strip_path_prefix_collision_names_both_paths() -> None:
    spec: Dict[str, Any] = {"paths": {"/api/health": {}, "/health": {}}}
    with pytest.raises(SpecValidationError) as info:
        _fixup("strip-path-prefix").apply(spec, FixupConfig())
    assert "/api/health" in info.value.message and "'/health'" in info.value.message


def test_apply_fixups_runs_all_in_order_and_reports_changes() -> None:
    spec = _spec()
    snapshot = copy.deepcopy(spec)
    fixed, applied = apply_fixups(spec, FixupConfig())
    assert spec == snapshot
    assert [a.name for a in applied] == [f.name for f in REGISTRY]
    assert all(isinstance(a, AppliedFixup) and a.changes and a.reason for a in applied)
    # define-path-parameters ran before the strip, so its lines name the original paths.
    assert "POST /api/flow/{flowId}/jump/{ref}: added path parameter 'ref'" in applied[0].changes
    assert "/events/{type}" in fixed["paths"]
    assert fixed["paths"]["/events/{type}"]["post"]["parameters"][-1]["in"] == "path"
    _, again = apply_fixups(fixed, FixupConfig())
    assert again == ()


def test_apply_fixups_skip_and_disable() -> None:
    spec = _spec()
    fixed, applied = apply_fixups(spec, FixupConfig(skip=("strip-path-prefix",)))
    assert [a.name for a in applied] == ["define-path-parameters", "drop-array-properties"]
    assert "/api/events/{type}" in fixed["paths"]

    fixed, applied = apply_fixups(spec, FixupConfig(enabled=False))
    assert applied == ()
    assert fixed == spec and fixed is not spec


def test_apply_fixups_omits_fixups_that_changed_nothing() -> None:
    param = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    spec = {"openapi": "3.0.1", "paths": {"/x/{id}": {"get": {"parameters": [param]}}}}
    _, applied = apply_fixups(spec, FixupConfig())
    assert applied == ()


def test_apply_fixups_unknown_skip_name_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        apply_fixups(_spec(), FixupConfig(skip=("no-such-fixup",)))
    assert "no-such-fixup" in info.value.message
    for fixup in REGISTRY:
        assert fixup.name in info.value.hint


def test_fixups_tolerate_malformed_documents() -> None:
    odd: Dict[str, Any] = {
        "paths": {"/api/a/{x}": None, "/api/b": {"get": "nope", "parameters": "bad"}},
        "components": {"schemas": {"S": None, "T": {"type": "array", "properties": None}}},
    }
    fixed, applied = apply_fixups(odd, FixupConfig())
    assert list(fixed["paths"]) == ["/a/{x}", "/b"]
    assert "properties" not in fixed["components"]["schemas"]["T"]
    assert [a.name for a in applied] == ["drop-array-properties", "strip-path-prefix"]
