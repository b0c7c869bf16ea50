"""Small JSON values a schema accepts: spec-shaped argument fields, and the required parts of responses.

Required properties are filled (near the top, optional ones too); strings take their enum's first
value, their format's fixed example or a fixed text; numbers their minimum or 1. Arrays and maps
stay empty; a sample (an argument's field) gives them one element. Deterministic, and bounded on
recursive schemas. The mock server's full responses are `responses.py`'s.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

# Recursive required properties (rare) stop here; the value is then the emptiest of its kind.
MAX_DEPTH = 12
TEXT = "contract"

_FORMATS: Dict[str, str] = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "email": "contract@example.com",
    "uri": "http://example.com/contract",
    "byte": "",
}


def resolve(document: Mapping[str, Any], node: Any) -> Any:
    """Follow local `$ref`s (`#/components/...`) until a schema that is not a reference."""
    seen: List[str] = []
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            return {}
        seen.append(ref)
        target: Any = document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        node = target if target is not None else {}
    return node


def schema_kind(schema: Dict[str, Any]) -> Optional[str]:
    """The schema's one type: the first non-null of an OpenAPI 3.1 list; `object` when it has properties."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and ("properties" in schema or "additionalProperties" in schema):
        kind = "object"
    return kind if isinstance(kind, str) else None


def minimal_value(document: Mapping[str, Any], schema: Any, depth: int = 0, fill: int = 0,
                  sample: bool = False) -> Any:
    """A small value `schema` accepts (None for no schema at all).

    Objects less than `fill` levels deep get every property, not just the required ones. With
    `sample`, arrays and maps get one element and a free-form value is a text.
    """
    schema = resolve(document, schema)
    if not isinstance(schema, dict) or not schema:
        return TEXT if sample else None
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and schema.get("type") != "array":
        return enum[0]
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("allOf"), list):
        merged: Dict[str, Any] = {}
        for part in [*schema["allOf"], {k: v for k, v in schema.items() if k != "allOf"}]:
            value = minimal_value(document, part, depth, fill, sample)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    for key in ("oneOf", "anyOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return minimal_value(document, schema[key][0], depth, fill, sample)
    kind = schema_kind(schema)
    if kind == "object":
        return _object(document, schema, depth, fill, sample)
    if kind == "array":
        count = int(schema.get("minItems") or (1 if sample else 0))
        if depth >= MAX_DEPTH:
            return []
        return [minimal_value(document, schema.get("items"), depth + 1, fill, sample) for _ in range(count)]
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        low = schema.get("minimum")
        value = low if isinstance(low, (int, float)) and not isinstance(low, bool) else 1
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    return TEXT if sample else None


def _object(document: Mapping[str, Any], schema: Mapping[str, Any], depth: int, fill: int,
            sample: bool) -> Dict[str, Any]:
    if depth >= MAX_DEPTH:
        return {}
    properties: Dict[str, Any] = schema["properties"] if isinstance(schema.get("properties"), dict) else {}
    required = [n for n in schema.get("required") or [] if isinstance(n, str)]
    names = required + sorted(n for n in properties if n not in required) if depth < fill else required
    out: Dict[str, Any] = {}
    for name in names:
        value = minimal_value(document, properties.get(name), depth + 1, fill, sample)
        if value is not None or name in required:
            out[name] = value
    extra = schema.get("additionalProperties")
    if sample and not properties and extra not in (None, False):
        out[TEXT] = minimal_value(document, extra if isinstance(extra, dict) else {}, depth + 1, fill, sample)
    return out


def _string(schema: Mapping[str, Any]) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    low = schema.get("minLength")
    text = TEXT
    if isinstance(low, int) and low > len(text):
        text = text + "x" * (low - len(text))
    return text


class MockResponse:
    """What the mock sends back for one request."""

    __slots__ = ("status", "content_type", "body")

    def __init__(self, status: int, content_type: Optional[str], body: bytes) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body

    def __repr__(self) -> str:
        return f"MockResponse({self.status}, {self.content_type!r}, {self.body!r})"
