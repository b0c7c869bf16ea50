"""The mock server's full responses: every property, one element per array, bounded, seeded, valid against the spec."""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from typing import Any, Dict, Iterator

import pytest
from openapi_schema_validator import OAS30ReadValidator
from support.paths import REAL_SPEC

from conductor_regen.matrix.contract.in_sdk_venv import responses as r

SPEC: Dict[str, Any] = {
    "openapi": "3.0.1",
    "paths": {
        "/workflow/{id}": {"get": {"responses": {"200": {"description": "OK", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Workflow"}}}}}}},
        "/workflow": {"post": {"responses": {"200": {"description": "OK", "content": {
            "text/plain": {"schema": {"type": "string"}}}}}}},
        "/workflow/{id}/remove": {"delete": {"responses": {"200": {"description": "OK"}}}},
        "/secrets/{key}/exists": {"get": {"responses": {"200": {"description": "OK", "content": {
            "application/json": {"schema": {"type": "object"}}}}}}},
        "/tasks/{id}/log": {"get": {"responses": {"200": {"description": "OK", "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}}},
    },
    "components": {"schemas": {
        "Workflow": {"type": "object", "required": ["workflowId"], "properties": {
            "workflowId": {"type": "string"},
            "status": {"type": "string", "enum": ["RUNNING", "COMPLETED", "FAILED", "TIMED_OUT", "TERMINATED", "PAUSED"]},
            "priority": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 99},
            "createTime": {"type": "integer", "format": "int64"},
            "startedAt": {"type": "string", "format": "date-time"},
            "requestId": {"type": "string", "format": "uuid"},
            "payload": {"type": "string", "format": "byte"},
            "shortCode": {"type": "string", "maxLength": 4},
            "rate": {"type": "number", "format": "double"},
            "restartable": {"type": "boolean"},
            "input": {"type": "object", "additionalProperties": {}},
            "taskToDomain": {"type": "object", "additionalProperties": {"type": "string"}},
            "tags": {"type": "array", "uniqueItems": True, "items": {"$ref": "#/components/schemas/Tag"}},
            "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
            "password": {"type": "string", "writeOnly": True},
            "history": {"type": "array", "items": {"$ref": "#/components/schemas/Workflow"}},
            "parent": {"$ref": "#/components/schemas/Workflow"},
        }},
        "Task": {"type": "object", "required": ["taskId"], "properties": {
            "taskId": {"type": "string"},
            "status": {"type": "string", "enum": ["SCHEDULED", "IN_PROGRESS", "COMPLETED"]},
            "workflowTask": {"$ref": "#/components/schemas/WorkflowTask"},
        }},
        "WorkflowTask": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"},
            "decisionCases": {"type": "object", "additionalProperties": {
                "type": "array", "items": {"$ref": "#/components/schemas/WorkflowTask"}}},
            "loopOver": {"type": "array", "items": {"$ref": "#/components/schemas/WorkflowTask"}},
        }},
        "Tag": {"type": "object", "required": ["key"], "properties": {"key": {"type": "string"},
                                                                       "value": {"type": "string"}}},
    }},
}
WORKFLOW = {"$ref": "#/components/schemas/Workflow"}


def validator(schema: Any, document: Dict[str, Any] = SPEC) -> OAS30ReadValidator:
    """A response-side (read) validator for `schema`, resolving `#/components/...` in `document`."""
    return OAS30ReadValidator({**(schema if isinstance(schema, dict) else {}), "components": document["components"]})


def test_every_property_is_set_and_arrays_and_maps_hold_one_element() -> None:
    value = r.full_value(SPEC, WORKFLOW, seed=1)
    properties = SPEC["components"]["schemas"]["Workflow"]["properties"]
    assert set(value) == set(properties) - {"password"}  # a server never sends writeOnly properties
    assert len(value["tags"]) == 1 and set(value["tags"][0]) == {"key", "value"}
    assert len(value["tasks"]) == 1 and set(value["tasks"][0]) == {"taskId", "status", "workflowTask"}
    assert len(value["input"]) == 1 and len(value["taskToDomain"]) == 1
    assert isinstance(next(iter(value["taskToDomain"].values())), str)
    # Nested objects are filled too (a Task's WorkflowTask, its maps and lists).
    workflow_task = value["tasks"][0]["workflowTask"]
    assert set(workflow_task) == {"name", "decisionCases", "loopOver"}


def test_enums_and_formats_are_honoured() -> None:
    for seed in range(20):
        value = r.full_value(SPEC, WORKFLOW, seed=seed)
        schema = SPEC["components"]["schemas"]["Workflow"]["properties"]
        assert value["status"] in schema["status"]["enum"]
        assert value["tasks"][0]["status"] in ("SCHEDULED", "IN_PROGRESS", "COMPLETED")
        assert 0 <= value["priority"] <= 99 and isinstance(value["priority"], int)
        assert datetime.datetime.fromisoformat(value["startedAt"].replace("Z", "+00:00")).year == 2024
        uuid.UUID(value["requestId"])
        assert base64.b64decode(value["payload"]).startswith(b"contract")
        assert len(value["shortCode"]) <= 4
        assert isinstance(value["rate"], float) and isinstance(value["restartable"], bool)


def test_recursion_and_depth_are_capped() -> None:
    value = r.full_value(SPEC, WORKFLOW, seed=3)
    # A schema being filled further up gets only its required properties inside itself.
    assert value["parent"] == {"workflowId": value["parent"]["workflowId"]}
    assert [set(h) for h in value["history"]] == [{"workflowId"}]
    loop = value["tasks"][0]["workflowTask"]["loopOver"]
    assert loop == [{"name": loop[0]["name"]}]

    def depth(node: Any) -> int:
        if isinstance(node, dict):
            return 1 + max((depth(v) for v in node.values()), default=0)
        if isinstance(node, list):
            return 1 + max((depth(v) for v in node), default=0)
        return 0

    assert depth(value) <= r.MAX_DEPTH + 1
    # Objects below FULL_DEPTH levels get their required properties only.
    chain = {"components": {"schemas": {f"L{i}": {"type": "object", "required": ["id"], "properties": {
        "id": {"type": "string"}, "extra": {"type": "string"},
        "next": {"$ref": f"#/components/schemas/L{i + 1}"}}} for i in range(10)}}}
    node = r.full_value(chain, {"$ref": "#/components/schemas/L0"})
    levels = 0
    while "next" in node:
        assert "extra" in node
        node, levels = node["next"], levels + 1
    assert levels == r.FULL_DEPTH and node == {"id": node["id"]}


def test_a_node_budget_bounds_a_wide_schema() -> None:
    wide = {"components": {"schemas": {"Wide": {"type": "object", "properties": {
        f"p{i}": {"$ref": "#/components/schemas/Inner"} for i in range(40)}}, "Inner": {
        "type": "object", "properties": {f"q{i}": {"$ref": "#/components/schemas/Leaf"} for i in range(40)}},
        "Leaf": {"type": "object", "properties": {f"x{i}": {"type": "string"} for i in range(40)}}}}}
    full = json.dumps(r.full_value(wide, {"$ref": "#/components/schemas/Wide"}, max_nodes=10 ** 6))
    bounded = json.dumps(r.full_value(wide, {"$ref": "#/components/schemas/Wide"}, max_nodes=500))
    assert len(bounded) < len(full) / 10


def test_same_seed_same_bytes_other_seed_other_values() -> None:
    operation = SPEC["paths"]["/workflow/{id}"]["get"]
    first, again = r.full_response(SPEC, operation, seed=42)[0], r.full_response(SPEC, operation, seed=42)[0]
    assert first.body == again.body
    others = {r.full_response(SPEC, operation, seed=s)[0].body for s in range(8)}
    assert len(others) == 8  # the values vary with the seed...
    shapes = {json.dumps(sorted(json.loads(b))) for b in others}
    assert len(shapes) == 1  # ...the shape does not
    statuses = {json.loads(b)["status"] for b in others}
    assert len(statuses) > 1  # not always the enum's first member


@pytest.mark.parametrize("seed", range(6))
def test_responses_are_valid_against_their_schema(seed: int) -> None:
    value = r.full_value(SPEC, WORKFLOW, seed=seed)
    check = validator(WORKFLOW)
    assert list(check.iter_errors(value)) == []
    # The validator does look: a wrong enum value, a writeOnly property and a too long text are caught.
    for broken in ({**value, "status": "BOGUS"}, {**value, "password": "x"}, {**value, "shortCode": "toolong"}):
        assert list(check.iter_errors(broken))


def test_media_types_and_free_form_bodies() -> None:
    text, data, open_shape = r.full_response(SPEC, SPEC["paths"]["/workflow"]["post"], seed=1)
    assert (text.content_type, text.body.decode(), open_shape) == ("text/plain", data, False)
    assert data.startswith("contract")
    empty, data, _ = r.full_response(SPEC, SPEC["paths"]["/workflow/{id}/remove"]["delete"])
    assert (empty.status, empty.content_type, empty.body, data) == (200, None, b"", None)
    blob, data, _ = r.full_response(SPEC, SPEC["paths"]["/tasks/{id}/log"]["get"], seed=5)
    assert (blob.content_type, blob.body) == ("application/octet-stream", data) and data
    exists, data, open_shape = r.full_response(SPEC, SPEC["paths"]["/secrets/{key}/exists"]["get"])
    assert open_shape and isinstance(data, dict) and len(data) == 1  # free-form: one made-up entry
    assert not r.full_response(SPEC, SPEC["paths"]["/workflow/{id}"]["get"])[2]
    assert r.free_form(SPEC, {"type": "array", "items": {"type": "object", "additionalProperties": True}})
    assert not r.free_form(SPEC, {"type": "object", "additionalProperties": {"type": "string"}})


def _operations(document: Dict[str, Any]) -> Iterator[Any]:
    for path, item in sorted(document["paths"].items()):
        for verb, operation in sorted(item.items()):
            if isinstance(operation, dict) and "responses" in operation:
                yield f"{verb.upper()} {path}", operation


@pytest.mark.slow
@pytest.mark.skipif(not REAL_SPEC.is_file(), reason="needs ../shared/specs (the real Orkes spec)")
def test_every_response_of_the_real_spec_is_valid_and_bounded() -> None:
    document = json.loads(REAL_SPEC.read_text())
    checked = 0
    for key, operation in _operations(document):
        _, media, schema = r.success_response(document, operation)
        response, data, _ = r.full_response(document, operation, seed=checked)
        assert len(response.body) < 200_000, key
        if schema is None or media == "application/octet-stream":
            continue
        errors = [e.message for e in validator(schema, document).iter_errors(data)]
        assert errors == [], f"{key}: {errors[:3]}"
        checked += 1
    assert checked > 150
