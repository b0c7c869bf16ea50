"""Spec repairs: small, pure, idempotent transformations applied before generation.

Each fixup returns a new document that shares every untouched subtree with its input
(only the dicts and lists on the way to a change are copied), so the input is never
mutated and repairing a 2 MB spec costs microseconds rather than a deep copy.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from conductor_regen.config import FixupConfig
from conductor_regen.errors import ConfigError, SpecValidationError

log = logging.getLogger(__name__)

Document = Dict[str, Any]
FixupFn = Callable[[Document, FixupConfig], Tuple[Document, List[str]]]

# The keys of a path item that hold operations; everything else (parameters, summary, ...) is not one.
HTTP_METHODS: Tuple[str, ...] = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_TEMPLATE_RE = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class Fixup:
    """One named spec repair."""

    name: str
    reason: str
    apply: FixupFn


@dataclass(frozen=True)
class AppliedFixup:
    """A fixup that changed the document, with what it changed."""

    name: str
    reason: str
    changes: Tuple[str, ...]


# --- shared helpers -------------------------------------------------------------------------


def path_template_names(path: str) -> List[str]:
    """Return the `{name}` placeholders of a path template, in order, without duplicates."""
    seen: List[str] = []
    for name in _TEMPLATE_RE.findall(path):
        if name not in seen:
            seen.append(name)
    return seen


def normalize_prefix(prefix: str) -> str:
    """Return the prefix as `/segment[/...]` without a trailing slash, or "" when it disables stripping."""
    inner = prefix.strip().strip("/")
    return f"/{inner}" if inner else ""


def strip_prefix(path: str, prefix: str) -> str:
    """Strip `prefix` from `path` at a segment boundary (`/api/x` -> `/x`, `/api` -> `/`, `/apis` unchanged)."""
    prefix = normalize_prefix(prefix)
    if not prefix:
        return path
    if path == prefix:
        return "/"
    if path.startswith(prefix + "/"):
        return path[len(prefix) :]
    return path


def _as_dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _with(mapping: Dict[str, Any], updates: Dict[str, Any]) -> Dict[str, Any]:
    """Return `mapping` with `updates` applied, or `mapping` itself when every value is the same object."""
    if all(mapping.get(k) is v for k, v in updates.items()):
        return mapping
    return {**mapping, **updates}


def _unless_same(old: Dict[str, Any], new: Dict[str, Any]) -> Dict[str, Any]:
    """Return `old` when `new` holds the very same values (keeps untouched subtrees shared)."""
    return old if all(new[k] is old[k] for k in old) else new


def _resolve_local_ref(document: Document, node: Any) -> Any:
    """Follow one local `$ref` (`#/a/b`); anything unresolvable resolves to None."""
    if not isinstance(node, dict) or "$ref" not in node:
        return node
    ref = node["$ref"]
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return None
    target: Any = document
    for raw in ref[2:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or key not in target:
            return None
        target = target[key]
    return target


# --- define-path-parameters -----------------------------------------------------------------


def _path_param_names(document: Document, params: Any) -> set[str]:
    names: set[str] = set()
    for param in params if isinstance(params, list) else []:
        resolved = _resolve_local_ref(document, param)
        if isinstance(resolved, dict) and resolved.get("in") == "path" and isinstance(resolved.get("name"), str):
            names.add(resolved["name"])
    return names


def _require_inline_path_params(params: Any, where: str, changes: List[str]) -> Any:
    """Return `params` with every inline path parameter marked required (same object if none needed it)."""
    if not isinstance(params, list):
        return params
    out: List[Any] = []
    changed = False
    for param in params:
        if isinstance(param, dict) and param.get("in") == "path" and param.get("required") is not True:
            param = {**param, "required": True}
            changes.append(f"{where}: path parameter '{param.get('name')}' marked required")
            changed = True
        out.append(param)
    return out if changed else params


def _define_path_parameters(document: Document, config: FixupConfig) -> Tuple[Document, List[str]]:
    """Add path parameters a template declares but no operation defines; mark path parameters required."""
    changes: List[str] = []
    updates: Dict[str, Any] = {}
    paths = document.get("paths")
    if isinstance(paths, dict):
        new_paths = {path: _define_item_parameters(document, path, item, changes) for path, item in paths.items()}
        updates["paths"] = _unless_same(paths, new_paths)
    components = document.get("components")
    if isinstance(components, dict) and isinstance(components.get("parameters"), dict):
        comp_params = components["parameters"]
        fixed = {
            key: _require_inline_path_params([param], f"components.parameters.{key}", changes)[0]
            for key, param in comp_params.items()
        }
        updates["components"] = _with(components, {"parameters": _unless_same(comp_params, fixed)})
    return {**document, **updates}, changes


def _define_item_parameters(document: Document, path: str, item: Any, changes: List[str]) -> Any:
    """Repair one path item's path parameters (the same object when nothing changed)."""
    if not isinstance(item, dict):
        return item
    updates: Dict[str, Any] = {}
    declared = path_template_names(path)
    level_where = f"{path} (path-level)"
    shared = _require_inline_path_params(item.get("parameters"), level_where, changes)
    shared = _adopt_as_path(document, shared, declared, level_where, changes)
    if "parameters" in item:
        updates["parameters"] = shared
    level_names = _path_param_names(document, shared)
    for method in HTTP_METHODS:
        operation = item.get(method)
        if not isinstance(operation, dict):
            continue
        where = f"{method.upper()} {path}"
        params = _require_inline_path_params(operation.get("parameters"), where, changes)
        params = _adopt_as_path(document, params, [n for n in declared if n not in level_names], where, changes)
        defined = level_names | _path_param_names(document, params)
        missing = [name for name in declared if name not in defined]
        if missing:
            params = list(params) if isinstance(params, list) else []
            for name in missing:
                params.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
                changes.append(f"{where}: added path parameter '{name}'")
        params = _drop_shadowed(document, params, set(declared), where, changes)
        if params is not operation.get("parameters"):
            updates[method] = {**operation, "parameters": params}
    return _with(item, updates)


# Serialisation keywords that only make sense for query/header/cookie parameters.
_NON_PATH_KEYS = ("style", "explode", "allowEmptyValue", "allowReserved")


def _adopt_as_path(document: Document, params: Any, declared: List[str], where: str, changes: List[str]) -> Any:
    """Turn a query/header/cookie declaration of a template name into its path parameter.

    Adding a second, path parameter of the same name would make the generator emit both
    (`type`, `type2`), so the existing declaration is converted instead (a `$ref` is inlined,
    leaving the shared component alone).
    """
    if not isinstance(params, list):
        return params
    defined = _path_param_names(document, params)
    wanted = [name for name in declared if name not in defined]
    out: List[Any] = []
    changed = False
    for param in params:
        resolved = _resolve_local_ref(document, param)
        name = resolved.get("name") if isinstance(resolved, dict) else None
        if isinstance(resolved, dict) and name in wanted and resolved.get("in") != "path":
            wanted.remove(name)
            kept = {k: v for k, v in resolved.items() if k not in _NON_PATH_KEYS}
            param = {**kept, "in": "path", "required": True}
            changes.append(f"{where}: {resolved.get('in')} parameter '{name}' made the path parameter "
                           "(required), not duplicated")
            changed = True
        out.append(param)
    return out if changed else params


def _drop_shadowed(document: Document, params: Any, declared: set[str], where: str, changes: List[str]) -> Any:
    """Drop non-path declarations of names the path template binds (they would generate `name2`)."""
    if not isinstance(params, list):
        return params
    out: List[Any] = []
    for param in params:
        resolved = _resolve_local_ref(document, param)
        if isinstance(resolved, dict) and resolved.get("name") in declared and resolved.get("in") != "path":
            changes.append(f"{where}: dropped {resolved.get('in')} parameter '{resolved.get('name')}': "
                           "the path template binds that name")
            continue
        out.append(param)
    return out if len(out) != len(params) else params


# --- drop-array-properties ------------------------------------------------------------------

# Keywords whose value is a single sub-schema / a list of them / a name -> schema map.
_SCHEMA_KEYS = ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else")
_SCHEMA_LIST_KEYS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_MAP_KEYS = ("properties", "patternProperties", "$defs", "dependentSchemas")
# Object-only keywords that make no sense on an array and trip the generator.
_OBJECT_ONLY_KEYS = ("properties", "required")


def _is_array_schema(schema: Dict[str, Any]) -> bool:
    kind = schema.get("type")
    if isinstance(kind, list):  # OpenAPI 3.1 allows ["array", "null"]
        return "array" in kind and "object" not in kind
    return kind == "array"


def _fix_schema(schema: Any, where: str, changes: List[str], depth: int = 0) -> Any:
    """Return `schema` without object keywords on arrays (the same object when nothing changed)."""
    # YAML aliases can make a schema contain itself; real specs nest far less than this.
    if not isinstance(schema, dict) or depth > 200:
        return schema
    out: Optional[Dict[str, Any]] = None

    def put(key: str, value: Any) -> None:
        nonlocal out
        if out is None:
            out = dict(schema)
        out[key] = value

    if _is_array_schema(schema):
        # `required: true` on a schema is Swagger 2 property syntax, not the object keyword.
        dropped = [k for k in _OBJECT_ONLY_KEYS if k in schema and not isinstance(schema[k], bool)]
        if dropped:
            out = {k: v for k, v in schema.items() if k not in dropped}
            changes.append(f"schema {where}: removed {', '.join(repr(k) for k in dropped)} from array schema")
    current = out if out is not None else schema
    for key in _SCHEMA_KEYS:
        if key in current:
            fixed = _fix_schema(current[key], f"{where}.{key}", changes, depth + 1)
            if fixed is not current[key]:
                put(key, fixed)
    for key in _SCHEMA_LIST_KEYS:
        values = current.get(key)
        if isinstance(values, list):
            fixed_list = [_fix_schema(v, f"{where}.{key}[{i}]", changes, depth + 1) for i, v in enumerate(values)]
            if any(a is not b for a, b in zip(fixed_list, values)):
                put(key, fixed_list)
    for key in _SCHEMA_MAP_KEYS:
        values = current.get(key)
        if isinstance(values, dict):
            label = "" if key == "properties" else f".{key}"
            fixed_map = {n: _fix_schema(v, f"{where}{label}.{n}", changes, depth + 1) for n, v in values.items()}
            if any(fixed_map[n] is not values[n] for n in values):
                put(key, fixed_map)
    return out if out is not None else schema


def _fix_schema_map(schemas: Any, where: str, changes: List[str]) -> Any:
    if not isinstance(schemas, dict):
        return schemas
    fixed = {name: _fix_schema(s, f"{where}{name}", changes) for name, s in schemas.items()}
    return fixed if any(fixed[n] is not schemas[n] for n in schemas) else schemas


def _fix_content(content: Any, where: str, changes: List[str]) -> Any:
    """Fix the schemas of a `content` map (media type -> {schema})."""
    if not isinstance(content, dict):
        return content
    fixed: Dict[str, Any] = {}
    for media, body in content.items():
        if isinstance(body, dict) and "schema" in body:
            schema = _fix_schema(body["schema"], f"{where} {media}", changes)
            body = body if schema is body["schema"] else {**body, "schema": schema}
        fixed[media] = body
    return fixed if any(fixed[m] is not content[m] for m in content) else content


def _fix_holder(holder: Any, where: str, changes: List[str]) -> Any:
    """Fix a parameter, header, request body or response: its `schema` and its `content`."""
    if not isinstance(holder, dict):
        return holder
    out = holder
    if "schema" in holder:
        schema = _fix_schema(holder["schema"], where, changes)
        if schema is not holder["schema"]:
            out = {**out, "schema": schema}
    if "content" in holder:
        content = _fix_content(holder["content"], where, changes)
        if content is not holder["content"]:
            out = {**out, "content": content}
    headers = holder.get("headers")
    if isinstance(headers, dict):
        fixed = {n: _fix_holder(h, f"{where} header {n}", changes) for n, h in headers.items()}
        if any(fixed[n] is not headers[n] for n in headers):
            out = {**out, "headers": fixed}
    return out


def _fix_holder_list(holders: Any, where: str, changes: List[str]) -> Any:
    if not isinstance(holders, list):
        return holders
    fixed = [_fix_holder(h, f"{where} parameter {_as_dict(h).get('name', i)}", changes) for i, h in enumerate(holders)]
    return fixed if any(a is not b for a, b in zip(fixed, holders)) else holders


def _fix_operation(operation: Any, where: str, changes: List[str]) -> Any:
    if not isinstance(operation, dict):
        return operation
    out = operation
    params = _fix_holder_list(operation.get("parameters"), where, changes)
    if params is not operation.get("parameters"):
        out = {**out, "parameters": params}
    if "requestBody" in operation:
        body = _fix_holder(operation["requestBody"], f"{where} request body", changes)
        if body is not operation["requestBody"]:
            out = {**out, "requestBody": body}
    responses = operation.get("responses")
    if isinstance(responses, dict):
        fixed = {c: _fix_holder(r, f"{where} response {c}", changes) for c, r in responses.items()}
        if any(fixed[c] is not responses[c] for c in responses):
            out = {**out, "responses": fixed}
    return out


def _drop_array_properties(document: Document, config: FixupConfig) -> Tuple[Document, List[str]]:
    """Remove `properties`/`required` from array schemas in components and in operations."""
    changes: List[str] = []
    updates: Dict[str, Any] = {}
    components = document.get("components")
    if isinstance(components, dict):
        comp_updates: Dict[str, Any] = {}
        if "schemas" in components:
            comp_updates["schemas"] = _fix_schema_map(components["schemas"], "", changes)
        for section in ("parameters", "headers", "requestBodies", "responses"):
            entries = components.get(section)
            if isinstance(entries, dict):
                fixed = {n: _fix_holder(e, f"components.{section}.{n}", changes) for n, e in entries.items()}
                comp_updates[section] = _unless_same(entries, fixed)
        updates["components"] = _with(components, comp_updates)
    paths = document.get("paths")
    if isinstance(paths, dict):
        new_paths = {path: _fix_path_item(path, item, changes) for path, item in paths.items()}
        updates["paths"] = _unless_same(paths, new_paths)
    return {**document, **updates}, changes


def _fix_path_item(path: str, item: Any, changes: List[str]) -> Any:
    if not isinstance(item, dict):
        return item
    updates: Dict[str, Any] = {}
    if "parameters" in item:
        updates["parameters"] = _fix_holder_list(item["parameters"], path, changes)
    for method in HTTP_METHODS:
        if method in item:
            updates[method] = _fix_operation(item[method], f"{method.upper()} {path}", changes)
    return _with(item, updates)


# --- strip-path-prefix ----------------------------------------------------------------------


def _strip_path_prefix(document: Document, config: FixupConfig) -> Tuple[Document, List[str]]:
    """Strip the configured prefix from every path key; a collision is a SpecValidationError."""
    prefix = normalize_prefix(config.strip_path_prefix)
    paths = document.get("paths")
    if not prefix or not isinstance(paths, dict):
        return dict(document), []
    changes: List[str] = []
    new_paths: Dict[str, Any] = {}
    origin: Dict[str, str] = {}
    for path, item in paths.items():
        new_path = strip_prefix(path, prefix)
        if new_path in new_paths:
            raise SpecValidationError(
                f"stripping '{prefix}' makes paths '{origin[new_path]}' and '{path}' collide as '{new_path}'",
                "set fixups.strip_path_prefix to '' (or skip strip-path-prefix) for this spec",
            )
        new_paths[new_path] = item
        origin[new_path] = path
        if new_path != path:
            changes.append(f"{path} -> {new_path}")
    new_doc = dict(document)
    if changes:
        new_doc["paths"] = new_paths
    return new_doc, changes


# --- registry -------------------------------------------------------------------------------

# Order matters: parameters are defined against the paths as the server published them, and
# strip-path-prefix runs last so every other fixup's change lines name the original paths.
REGISTRY: Tuple[Fixup, ...] = (
    Fixup(
        name="define-path-parameters",
        reason="path templates declare {parameters} that no operation defines; validators reject the spec",
        apply=_define_path_parameters,
    ),
    Fixup(
        name="drop-array-properties",
        reason="array schemas that also carry 'properties' make OpenAPI Generator log errors",
        apply=_drop_array_properties,
    ),
    Fixup(
        name="strip-path-prefix",
        reason="the SDK puts /api in the server URL, so resource paths must not repeat it (/api/api/...)",
        apply=_strip_path_prefix,
    ),
)


def list_fixups() -> Tuple[Fixup, ...]:
    """Return every known fixup in the order apply_fixups runs them."""
    return REGISTRY


def active_fixups(config: FixupConfig) -> Tuple[Fixup, ...]:
    """Return the fixups `config` enables, in order; unknown names in `config.skip` are a ConfigError."""
    known = [f.name for f in REGISTRY]
    unknown = [name for name in config.skip if name not in known]
    if unknown:
        raise ConfigError(
            f"unknown fixup(s) in fixups.skip: {', '.join(unknown)}",
            f"known fixups: {', '.join(known)}",
        )
    if not config.enabled:
        return ()
    return tuple(f for f in REGISTRY if f.name not in config.skip)


def apply_fixups(document: Document, config: FixupConfig) -> Tuple[Document, Tuple[AppliedFixup, ...]]:
    """Apply the enabled fixups in order; return the new document and the fixups that changed it."""
    applied: List[AppliedFixup] = []
    current = document
    for fixup in active_fixups(config):
        current, changes = fixup.apply(current, config)
        if changes:
            log.debug("fixup %s: %d change(s)", fixup.name, len(changes))
            applied.append(AppliedFixup(fixup.name, fixup.reason, tuple(changes)))
    if current is document:
        current = dict(document)  # callers are promised a new top-level document
    return current, tuple(applied)
