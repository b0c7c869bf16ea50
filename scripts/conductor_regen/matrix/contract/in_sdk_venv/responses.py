"""Full, spec-shaped responses: what the mock server answers a spec-valid request with.

Every property is set (writeOnly ones excepted: a server never sends them), arrays and maps hold
one element, enums and formats are honoured, and nested objects are filled to `FULL_DEPTH` levels
of nesting (arrays and maps count as a level); deeper, and inside a schema that is already being
filled further up (the real spec's protobuf descriptors are recursive), only the required
properties are set, and past `MAX_NODES` values a response gets only required properties too. The values vary with a seed
(which enum member, which number, which text): the driver seeds each SDK method with its id, so a
method's responses are the same bytes on every run, and adding a method changes no other one's.
Runs inside the SDK's virtualenv: no conductor_regen imports.
"""

from __future__ import annotations

import base64
import json
import math
import random
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .minimal import MockResponse, minimal_value, resolve, schema_kind

# Levels of nesting (objects, arrays, maps) whose objects get every property (the response itself is level 0).
FULL_DEPTH = 4
# Hard stop for nesting of any kind (required properties of recursive schemas, arrays of arrays).
MAX_DEPTH = 12
# Values in one response before the rest gets only required properties: bounds the biggest schemas.
MAX_NODES = 4000
TEXT = "contract"


class Variation:
    """The seeded choices one response makes (a fresh one per response, so order inside it is fixed)."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def index(self, count: int) -> int:
        """Which of `count` options (enum members)."""
        return self._random.randrange(count) if count > 1 else 0

    def number(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return self._random.randint(low, high) if high > low else low

    def flag(self) -> bool:
        """A boolean."""
        return self._random.random() < 0.5


class _Builder:
    """One response value: the variation, the node count and the schemas being filled on the way down."""

    def __init__(self, document: Mapping[str, Any], variation: Variation, max_nodes: int) -> None:
        self.document = document
        self.variation = variation
        self.nodes = 0
        self.max_nodes = max_nodes
        self.filling: List[str] = []  # `$ref`s of the objects being filled, outermost first

    def value(self, schema: Any, depth: int, required_only: bool = False) -> Any:
        """A value `schema` accepts; None when there is no schema at all (free-form: a text)."""
        self.nodes += 1
        ref = schema.get("$ref") if isinstance(schema, dict) else None
        schema = resolve(self.document, schema)
        if not isinstance(schema, dict) or not schema:
            return f"{TEXT}-{self.variation.number(1, 999)}"
        enum = schema.get("enum")
        if isinstance(enum, list) and enum and schema.get("type") != "array":
            return enum[self.variation.index(len(enum))]
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("allOf"), list):
            merged: Dict[str, Any] = {}
            for part in [*schema["allOf"], {k: v for k, v in schema.items() if k != "allOf"}]:
                value = self.value(part, depth, required_only)
                if isinstance(value, dict):
                    merged.update(value)
            return merged
        for key in ("oneOf", "anyOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self.value(schema[key][0], depth, required_only)
        kind = schema_kind(schema)
        if kind == "object":
            return self._object(schema, ref, depth, required_only)
        if kind == "array":
            return self._array(schema, depth, required_only)
        if kind == "string":
            return self._string(schema)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._integer(schema) + 0.5 if schema.get("maximum") is None else float(self._integer(schema))
        if kind == "boolean":
            return self.variation.flag()
        return f"{TEXT}-{self.variation.number(1, 999)}"

    def _object(self, schema: Mapping[str, Any], ref: Optional[str], depth: int, required_only: bool) -> Dict[str, Any]:
        if depth >= MAX_DEPTH:
            return {}
        recursive = ref is not None and ref in self.filling
        # Below FULL_DEPTH, inside a schema already being filled, or past the budget: required properties only.
        only_required = required_only or recursive or depth >= FULL_DEPTH or self.nodes >= self.max_nodes
        properties: Dict[str, Any] = schema["properties"] if isinstance(schema.get("properties"), dict) else {}
        required = [n for n in schema.get("required") or [] if isinstance(n, str)]
        names = required + [n for n in properties if n not in required] if not only_required else required
        if ref is not None:
            self.filling.append(ref)
        try:
            out: Dict[str, Any] = {}
            for name in names:
                prop = properties.get(name)
                if name not in required and isinstance(resolve(self.document, prop), dict) \
                        and resolve(self.document, prop).get("writeOnly"):
                    continue  # a server never sends a writeOnly property
                if name in required and (only_required or self.nodes >= self.max_nodes):
                    out[name] = minimal_value(self.document, prop, depth + 1, sample=True)
                    continue
                out[name] = self.value(prop, depth + 1, only_required)
            extra = schema.get("additionalProperties")
            if not properties and extra is not False and not only_required:  # a map, or a free-form object
                out[f"{TEXT}-key"] = self.value(extra if isinstance(extra, dict) else {}, depth + 1)
            return out
        finally:
            if ref is not None:
                self.filling.pop()

    def _array(self, schema: Mapping[str, Any], depth: int, required_only: bool) -> List[Any]:
        low = schema.get("minItems")
        high = schema.get("maxItems")
        count = max(int(low) if isinstance(low, int) else 0, 1)
        if isinstance(high, int):
            count = min(count, high)
        if depth >= MAX_DEPTH or required_only:
            count = int(low) if isinstance(low, int) else 0
        return [self.value(schema.get("items"), depth + 1, required_only) for _ in range(count)]

    def _string(self, schema: Mapping[str, Any]) -> str:
        fmt = schema.get("format")
        n = self.variation.number(1, 28)
        by_format = {
            "date-time": f"2024-01-{n:02d}T00:00:00Z",
            "date": f"2024-01-{n:02d}",
            "uuid": f"00000000-0000-0000-0000-{n:012d}",
            "email": f"contract{n}@example.com",
            "uri": f"http://example.com/contract/{n}",
            "byte": base64.b64encode(f"{TEXT}-{n}".encode()).decode(),
        }
        if isinstance(fmt, str) and fmt in by_format:
            return by_format[fmt]
        text = f"{TEXT}-{self.variation.number(1, 999)}"
        low, high = schema.get("minLength"), schema.get("maxLength")
        if isinstance(low, int) and low > len(text):
            text += "x" * (low - len(text))
        if isinstance(high, int) and high < len(text):
            text = text[:high]
        return text

    def _integer(self, schema: Mapping[str, Any]) -> int:
        low: Any = schema.get("minimum")
        high: Any = schema.get("maximum")
        lo = math.ceil(low) if _number(low) else 1
        hi = math.floor(high) if _number(high) else max(lo, 1) + 998
        if schema.get("exclusiveMinimum") is True:
            lo += 1
        if schema.get("exclusiveMaximum") is True:
            hi -= 1
        return self.variation.number(lo, max(lo, hi))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def full_value(document: Mapping[str, Any], schema: Any, seed: int = 0, max_nodes: int = MAX_NODES) -> Any:
    """A full value of `schema` (see the module's docstring), the same for the same seed."""
    return _Builder(document, Variation(seed), max_nodes).value(schema, 0)


def success_response(document: Mapping[str, Any], operation: Mapping[str, Any]) -> Tuple[int, Optional[str], Any]:
    """(status, media type, schema) of the first success response an operation declares."""
    responses = operation.get("responses")
    if not isinstance(responses, dict):
        return 200, None, None
    code = (sorted(c for c in responses if str(c).startswith("2")) or ["200"])[0]
    response = resolve(document, responses.get(code) or {})
    content = response.get("content") if isinstance(response, dict) else None
    status = int(code) if str(code).isdigit() else 200
    if not isinstance(content, dict) or not content:
        return status, None, None
    media = "application/json" if "application/json" in content else sorted(content)[0]
    return status, media, (content.get(media) or {}).get("schema")


def free_form(document: Mapping[str, Any], schema: Any) -> bool:
    """Does a response schema leave the body's shape open (`{type: object}` with no properties, or a list of those)?

    The spec then says nothing about what a server sends: the mock's object is a guess.
    """
    schema = resolve(document, schema)
    if not isinstance(schema, dict):
        return False
    if schema.get("type") == "array":
        return free_form(document, schema.get("items"))
    if schema.get("type") not in ("object", None) or schema.get("properties") or schema.get("allOf") \
            or schema.get("oneOf") or schema.get("anyOf") or schema.get("enum"):
        return False
    extra = schema.get("additionalProperties")
    return extra in (None, True) or extra == {}


def full_response(document: Mapping[str, Any], operation: Mapping[str, Any],
                  seed: int = 0) -> Tuple[MockResponse, Any, bool]:
    """(the response to send, the data it carries: JSON, a text, bytes or None, whether its schema is free-form)."""
    status, media, schema = success_response(document, operation)
    if media is None:
        return MockResponse(status, None, b""), None, False
    if media == "application/octet-stream":
        data = f"{TEXT}-{seed % 1000}".encode()
        return MockResponse(status, media, data), data, False
    value = full_value(document, schema, seed)
    open_shape = free_form(document, schema)
    if media.startswith("text/") or (media == "*/*" and isinstance(value, str)):
        text = str(value if value is not None else "")
        return MockResponse(status, "text/plain", text.encode()), text, False
    if value is None:
        return MockResponse(status, "application/json", b""), None, open_shape
    return MockResponse(status, "application/json", json.dumps(value).encode()), value, open_shape
