"""Argument synthesis and the smallest spec values (the driver's pure parts, run here on real pydantic models).

The mock server's full responses are tested in test_contract_responses.py."""

from __future__ import annotations

import enum
import json
from typing import Any, Callable, Dict, List, Optional

import pytest
from pydantic import BaseModel, ConfigDict, Field, field_validator

from conductor_regen.matrix.contract.in_sdk_venv.minimal import minimal_value
from conductor_regen.matrix.contract.in_sdk_venv.synthesis import (
    CannotSynthesize,
    Synthesizer,
    parameter_enums,
    snake_case,
)


@pytest.fixture(autouse=True, scope="module")
def _polyfactory() -> None:
    """polyfactory (a dev dependency) is imported by the synthesizer when it first builds a model; skipping here
    rather than at collection keeps its 0.8 s import (Faker's locale tables) out of the workers that never run
    these tests."""
    pytest.importorskip("polyfactory")


SPEC: Dict[str, Any] = {
    "openapi": "3.0.1",
    "paths": {
        "/auth/{type}/{id}": {"get": {"parameters": [
            {"name": "type", "in": "path", "required": True,
             "schema": {"type": "string", "enum": ["WORKFLOW_DEF", "TASK_DEF"]}},
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Task"}}}}}}},
        "/workflow": {"post": {"responses": {"200": {"description": "OK", "content": {
            "text/plain": {"schema": {"type": "string"}}}}}}},
        "/empty": {"delete": {"responses": {"200": {"description": "OK"}}}},
    },
    "components": {"schemas": {
        "Task": {"type": "object", "required": ["name", "timeoutSeconds"], "properties": {
            "name": {"type": "string"},
            "timeoutSeconds": {"type": "integer", "format": "int64"},
            "status": {"type": "string", "enum": ["SCHEDULED", "COMPLETED"]},
            "access": {"type": "object", "additionalProperties": {
                "type": "array", "items": {"type": "string", "enum": ["READ", "UPDATE"]}}},
            "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}},
            "updateTime": {"type": "string", "format": "date-time"},
            "next": {"$ref": "#/components/schemas/Task"},
        }},
        "Tag": {"type": "object", "required": ["key"], "properties": {"key": {"type": "string"},
                                                                       "value": {"type": "string"}}},
    }},
}


class Tag(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    key: str
    value: Optional[str] = None


class Task(BaseModel):
    """Like a generated model: camelCase aliases, an enum checked by a validator, a constraint."""

    model_config = ConfigDict(populate_by_name=True)
    name: str
    timeout_seconds: Optional[int] = Field(default=None, alias="timeoutSeconds")  # optional here, required by the spec
    status: Optional[str] = None
    access: Optional[Dict[str, List[str]]] = None
    tags: Optional[List[Tag]] = None
    priority: Optional[int] = Field(default=None, ge=2)  # a constraint the spec does not have

    @field_validator("status")
    @classmethod
    def _status(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value not in ("SCHEDULED", "COMPLETED"):
            raise ValueError("must be one of SCHEDULED, COMPLETED")
        return value


class TaskAdapter(Task):
    """Like an SDK adapter: a subclass in another module maps to its generated base's schema."""


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Client:
    async def plain(self, name: str, count: int, ratio: float, flag: bool, maybe: Optional[str] = None) -> None: ...
    async def containers(self, ids: List[str], data: Dict[str, Any], color: Color) -> None: ...
    async def model(self, task: TaskAdapter, tags: List[Tag]) -> None: ...
    async def enum_by_name(self, entity_type: str, type: str) -> None: ...
    async def star(self, *args: Any, **kwargs: Any) -> None: ...
    async def untyped(self, thing, default_only=3) -> None: ...  # type: ignore[no-untyped-def]
    async def callback(self, on_done: Callable[[], None]) -> None: ...
    async def quoted(self, task: "Optional['TaskAdapter']") -> None: ...


def synth(seed: int = 7) -> Synthesizer:
    s = Synthesizer(SPEC, __name__)
    s.seed(seed)
    return s


def test_primitives_are_small_and_fixed() -> None:
    assert synth().arguments(Client().plain) == {"name": "contract", "count": 1, "ratio": 1.0, "flag": True,
                                                "maybe": "contract"}


def test_containers_hold_one_element() -> None:
    assert synth().arguments(Client().containers) == {"ids": ["contract"], "data": {"contract": "contract"},
                                                     "color": Color.RED}


def test_string_named_like_a_spec_enum_parameter_takes_its_first_value() -> None:
    assert parameter_enums(SPEC) == {"type": ("WORKFLOW_DEF", "TASK_DEF")}
    assert synth().arguments(Client().enum_by_name) == {"entity_type": "WORKFLOW_DEF", "type": "WORKFLOW_DEF"}
    assert snake_case("taskReferenceName") == "task_reference_name"


def test_star_args_and_untyped_parameters() -> None:
    assert synth().arguments(Client().star) == {}
    assert synth().arguments(Client().untyped) == {"thing": "contract"}


def test_quoted_annotation_inside_optional_is_resolved() -> None:
    task = synth().arguments(Client().quoted)["task"]
    assert isinstance(task, TaskAdapter)


def test_unsynthesizable_parameter_raises() -> None:
    with pytest.raises(CannotSynthesize, match="on_done"):
        synth().arguments(Client().callback)


def test_argument_model_gets_every_field_shaped_by_the_spec() -> None:
    args = synth().arguments(Client().model)
    task = args["task"]
    assert isinstance(task, TaskAdapter)
    assert task.name == "contract" and task.timeout_seconds == 1
    assert task.status == "SCHEDULED"  # the spec's enum, so the model's validator accepts it
    assert task.access == {"contract": ["READ"]}  # enum inside a map of lists
    assert [t.key for t in task.tags or []] == ["contract"]
    assert task.priority is None or task.priority >= 2  # the spec value (1) broke ge=2: not set from the spec
    # Nested models (list items) are minimal: the spec's required fields only.
    assert args["tags"] == [Tag(key="contract")]


def test_nested_model_has_the_fields_the_spec_requires() -> None:
    nested = synth().value(Task, "task", depth=1)
    assert nested.timeout_seconds == 1 and nested.status is None


def test_same_seed_same_values_and_seed_changes_only_random_parts() -> None:
    first = synth(1).arguments(Client().model)
    again = synth(1).arguments(Client().model)
    assert first == again
    assert json.dumps(first["task"].model_dump(), sort_keys=True) == json.dumps(again["task"].model_dump(),
                                                                                sort_keys=True)


def test_minimal_values() -> None:
    task = minimal_value(SPEC, {"$ref": "#/components/schemas/Task"})
    assert task == {"name": "contract", "timeoutSeconds": 1}
    full = minimal_value(SPEC, {"$ref": "#/components/schemas/Task"}, fill=1)
    assert full["status"] == "SCHEDULED" and full["tags"] == [] and full["updateTime"] == "2024-01-01T00:00:00Z"
    assert full["next"] == {"name": "contract", "timeoutSeconds": 1}  # deeper: required only
    sample = minimal_value(SPEC, SPEC["components"]["schemas"]["Task"]["properties"]["access"], sample=True)
    assert sample == {"contract": ["READ"]}


def test_recursive_schema_is_bounded() -> None:
    spec = {"components": {"schemas": {"Node": {"type": "object", "required": ["child"], "properties": {
        "child": {"$ref": "#/components/schemas/Node"}}}}}}
    value = minimal_value(spec, {"$ref": "#/components/schemas/Node"})
    depth = 0
    while value:
        value = value["child"]
        depth += 1
    assert 5 < depth <= 13
