"""Type changes by direction, and which schemas travel to and from the server."""

from __future__ import annotations

import pytest

from conductor_regen.analysis.type_direction import (NARROWER, REQUEST, RESPONSE, SAME, UNRELATED, WIDER, compatible,
                                                     direction, schema_roles)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("Dict[str, Dict[str, Any]]", "Dict[str, Any]", WIDER),
    ("List[str]", "List[StrictStr]", NARROWER),
    ("StrictInt", "StrictStr", UNRELATED),
    ("Optional[StrictInt]", "StrictInt", NARROWER),
    ("StrictInt", "Union[StrictFloat, StrictInt]", WIDER),
    ("Annotated[str, Field(strict=True)]", "StrictStr", SAME),
    ("Annotated[int, Field(le=99, strict=True, ge=0)]", "StrictInt", WIDER),
    ("List[Task]", "List[TaskSummary]", UNRELATED),
    ("Dict[str, Any]", "object", WIDER),
])
def test_direction(old: str, new: str, expected: str) -> None:
    assert direction(old, new) == expected


def test_compatibility_depends_on_where_the_value_travels() -> None:
    assert compatible(WIDER, {REQUEST}) and not compatible(WIDER, {RESPONSE})
    assert compatible(NARROWER, {RESPONSE}) and not compatible(NARROWER, {REQUEST})
    assert not compatible(WIDER, {REQUEST, RESPONSE}) and not compatible(UNRELATED, {REQUEST})
    assert compatible(SAME, set())


def test_schema_roles_follow_refs_transitively() -> None:
    spec = {
        "paths": {"/a": {"post": {
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/In"}}}},
            "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Out"}}}}},
        }}},
        "components": {"schemas": {
            "In": {"properties": {"shared": {"$ref": "#/components/schemas/Shared"}}},
            "Out": {"properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Shared"}}}},
            "Shared": {"type": "object"}, "Lonely": {"type": "object"},
        }},
    }
    roles = schema_roles(spec)
    assert roles == {"In": {REQUEST}, "Out": {RESPONSE}, "Shared": {REQUEST, RESPONSE}}
