"""`invoke diff`: what changes for SDK users between the live client and a newly generated one (report only).

Operations are matched by METHOD + path, never by generated name, so a shifted springdoc number
is a rename, not a removal plus an addition. Models are compared field by field (by JSON name)
from the generated code, with the spec's types added where both specs are known; griffe's
Python-level comparison of the two packages is folded in for everything else.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import griffe

from .errors import VerificationError
from .fixups import normalize_prefix, strip_prefix
from .generator_naming import camelize, sanitize_name
from .operations import (ClientOperation, OperationKey, label, read_api_classes, read_client_operations,
                         spec_operations)

log = logging.getLogger(__name__)

BREAKING, COMPATIBLE, INFO = "breaking", "compatible", "info"
_SEVERITY_ORDER = {BREAKING: 0, COMPATIBLE: 1, INFO: 2}
# griffe needs a package name; both trees are linked under this one so object paths line up.
_ALIAS = "generated_client"
_VARIANTS = ("_with_http_info", "_without_preload_content")
_ALIAS_RE = re.compile(r"\balias=(['\"])(.*?)\1")
_DEFAULT_RE = re.compile(r"\bdefault(?:_factory)?=")


@dataclass(frozen=True)
class Change:
    """One user-visible difference between two clients."""

    severity: str  # breaking | compatible | info
    kind: str  # operation-renamed, model-removed, ...
    operation: str  # "GET /workflow/search", a model ("Workflow") or a field ("Workflow.idempotencyKey")
    detail: str

    def sort_key(self) -> Tuple[int, str, str, str]:
        """Breaking first, then by kind, subject and detail."""
        return (_SEVERITY_ORDER.get(self.severity, 9), self.kind, self.operation, self.detail)


@dataclass(frozen=True)
class ModelField:
    """One field of a generated model."""

    name: str  # Python attribute
    json_name: str  # the spec's property name (the alias, when there is one)
    annotation: str  # "Optional[StrictInt]"
    required: bool

    @property
    def base_type(self) -> str:
        """The annotation without its outer Optional[...]."""
        ann = self.annotation
        return ann[len("Optional["):-1] if ann.startswith("Optional[") and ann.endswith("]") else ann

    @property
    def nullable(self) -> bool:
        """Whether the annotation admits None."""
        return self.annotation.startswith("Optional[")


@dataclass(frozen=True)
class Model:
    """A generated model class and its fields, keyed by JSON name."""

    name: str
    module: str
    fields: Mapping[str, ModelField]


# --- loading ------------------------------------------------------------------------------------


def load_package(http_dir: Path) -> griffe.Module:
    """Load a generated package with griffe, statically (nothing is imported or executed)."""
    if not (http_dir / "__init__.py").is_file():
        raise VerificationError(f"{http_dir} is not a Python package (no __init__.py)",
                                "point at the generated http/ package of the SDK or of a staging tree")
    # The SDK's `conductor` package can be large (the sync client too); a link makes griffe
    # parse just the generated package, under one name for both trees.
    with tempfile.TemporaryDirectory(prefix="regen-griffe-") as tmp:
        os.symlink(http_dir.resolve(), Path(tmp) / _ALIAS, target_is_directory=True)
        package = griffe.load(_ALIAS, search_paths=[tmp], try_relative_path=False, allow_inspection=False,
                              resolve_aliases=False)
    if not isinstance(package, griffe.Module):
        raise VerificationError(f"griffe could not load {http_dir} as a package", "check the folder is a package")
    return package


def _field(attr: Any) -> Optional[ModelField]:
    if not attr.is_attribute or attr.annotation is None or attr.name.startswith("_") or attr.name == "model_config":
        return None
    annotation = str(attr.annotation)
    if annotation.startswith("ClassVar["):
        return None
    value = None if attr.value is None else str(attr.value)
    alias = _ALIAS_RE.search(value) if value else None
    if value is None:
        required = True
    elif value.startswith("Field("):
        inner = value[len("Field("):-1]
        first = inner.split(",", 1)[0].strip()
        required = not (_DEFAULT_RE.search(inner) or (first and "=" not in first and first != "..."))
    else:
        required = False
    return ModelField(attr.name, alias.group(2) if alias else attr.name, annotation, required)


def read_models(package: griffe.Module) -> Dict[str, Model]:
    """Every class of the package's `models` subpackage, with its fields."""
    if "models" not in package.members or not package["models"].is_module:
        return {}
    out: Dict[str, Model] = {}
    for module_name, module in sorted(package["models"].modules.items()):
        for member in module.members.values():
            if member.is_alias or not member.is_class:
                continue
            fields: Dict[str, ModelField] = {}
            for attr in member.members.values():
                field = None if attr.is_alias else _field(attr)
                if field is not None:
                    fields[field.json_name] = field
            out[member.name] = Model(member.name, module_name, dict(sorted(fields.items())))
    return dict(sorted(out.items()))


# --- spec details -------------------------------------------------------------------------------


def _schemas_by_model(spec: Optional[Mapping[str, Any]]) -> Dict[str, Mapping[str, Any]]:
    """{generated model name: schema} for a spec's components.schemas."""
    components = spec.get("components") if isinstance(spec, Mapping) else None
    schemas = components.get("schemas") if isinstance(components, Mapping) else None
    if not isinstance(schemas, Mapping):
        return {}
    return {camelize(sanitize_name(str(name))): schema for name, schema in schemas.items()
            if isinstance(schema, Mapping)}


def describe_schema(schema: Any) -> str:
    """A short type for a property schema: `integer/int64`, `array<string>`, `Task`, `map<string>`."""
    if not isinstance(schema, Mapping):
        return "?"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    kind = schema.get("type")
    if kind == "array":
        return f"array<{describe_schema(schema.get('items'))}>"
    if kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
        return f"map<{describe_schema(schema['additionalProperties'])}>"
    for combo in ("allOf", "oneOf", "anyOf"):
        if isinstance(schema.get(combo), list):
            return f"{combo}[{', '.join(describe_schema(s) for s in schema[combo])}]"
    text = str(kind or "object")
    if schema.get("format"):
        text += f"/{schema['format']}"
    if schema.get("nullable"):
        text += "?"
    return text


def _spec_property(schemas: Mapping[str, Mapping[str, Any]], model: str, prop: str) -> Any:
    properties = schemas.get(model, {}).get("properties")
    return properties.get(prop) if isinstance(properties, Mapping) else None


# --- comparisons --------------------------------------------------------------------------------


def _operation_ids(spec: Optional[Mapping[str, Any]], prefix: str) -> Dict[OperationKey, str]:
    """{key: operationId}, with the SDK's path prefix stripped so raw and repaired specs both match."""
    if not isinstance(spec, Mapping):
        return {}
    out: Dict[OperationKey, str] = {}
    for (method, path), op in spec_operations(spec).items():
        if op.operation_id:
            out[(method, strip_prefix(path, prefix))] = op.operation_id
    return out


def _operation_changes(old: Mapping[OperationKey, ClientOperation], new: Mapping[OperationKey, ClientOperation],
                       new_ids: Mapping[OperationKey, str]) -> List[Change]:
    changes: List[Change] = []
    new_sites = {(c, op.name): key for key, op in new.items() for c in op.classes}
    for key in sorted(old.keys() - new.keys()):
        op = old[key]
        reused = new_sites.get((op.class_name, op.name))
        note = f"; {op.qualified_name} now calls {label(reused)}" if reused else ""
        changes.append(Change(BREAKING, "operation-removed", label(key), f"{op.qualified_name} is gone{note}"))
    for key in sorted(new.keys() - old.keys()):
        op = new[key]
        opid = f" (operationId {new_ids[key]})" if key in new_ids else ""
        changes.append(Change(COMPATIBLE, "operation-added", label(key), f"new {op.qualified_name}{opid}"))
    for key in sorted(old.keys() & new.keys()):
        before, after = old[key], new[key]
        opid = f" (operationId {new_ids[key]})" if key in new_ids else ""
        if set(before.classes) != set(after.classes) or before.class_name != after.class_name:
            changes.append(Change(BREAKING, "operation-moved", label(key),
                                  f"{before.qualified_name} -> {after.qualified_name}{opid}"))
        elif before.name != after.name:
            changes.append(Change(BREAKING, "operation-renamed", label(key),
                                  f"{before.qualified_name} -> {after.qualified_name}{opid}"))
    return changes


def _api_changes(old: Mapping[str, str], new: Mapping[str, str],
                 old_ops: Mapping[OperationKey, ClientOperation]) -> List[Change]:
    changes: List[Change] = []
    for cls in sorted(old.keys() - new.keys()):
        count = sum(1 for op in old_ops.values() if cls in op.classes)
        changes.append(Change(BREAKING, "api-removed", cls,
                              f"{cls} ({old[cls]}.py) is gone with its {count} operation(s)"))
    for cls in sorted(new.keys() - old.keys()):
        changes.append(Change(COMPATIBLE, "api-added", cls, f"new {cls} ({new[cls]}.py)"))
    return changes


def _field_text(field: ModelField) -> str:
    return f"{field.name}: {field.annotation}" + ("" if field.required else " = None")


def _model_changes(old: Mapping[str, Model], new: Mapping[str, Model], old_spec: Optional[Mapping[str, Any]],
                   new_spec: Optional[Mapping[str, Any]]) -> List[Change]:
    changes: List[Change] = []
    old_schemas, new_schemas = _schemas_by_model(old_spec), _schemas_by_model(new_spec)
    for name in sorted(old.keys() - new.keys()):
        changes.append(Change(BREAKING, "model-removed", name, f"{name} ({old[name].module}.py) is gone"))
    for name in sorted(new.keys() - old.keys()):
        changes.append(Change(COMPATIBLE, "model-added", name, f"new {name} ({new[name].module}.py)"))
    for name in sorted(old.keys() & new.keys()):
        before, after = old[name].fields, new[name].fields
        for prop in sorted(before.keys() - after.keys()):
            changes.append(Change(BREAKING, "field-removed", f"{name}.{prop}",
                                  f"{name}.{_field_text(before[prop])} is gone"))
        for prop in sorted(after.keys() - before.keys()):
            field = after[prop]
            spec = _spec_property(new_schemas, name, prop)
            typed = f" ({describe_schema(spec)})" if spec is not None else ""
            changes.append(Change(BREAKING if field.required else COMPATIBLE, "field-added", f"{name}.{prop}",
                                  f"new {'required' if field.required else 'optional'} "
                                  f"{name}.{_field_text(field)}{typed}"))
        for prop in sorted(before.keys() & after.keys()):
            changes += _field_changes(name, prop, before[prop], after[prop],
                                      _spec_property(old_schemas, name, prop), _spec_property(new_schemas, name, prop))
    return changes


def _field_changes(model: str, prop: str, old: ModelField, new: ModelField, old_schema: Any,
                   new_schema: Any) -> List[Change]:
    subject = f"{model}.{prop}"
    changes: List[Change] = []
    if old.base_type != new.base_type:
        spec = ""
        if old_schema is not None and new_schema is not None:
            spec = f"{describe_schema(old_schema)} -> {describe_schema(new_schema)} "
        changes.append(Change(BREAKING, "field-type-changed", subject,
                              f"{spec}({old.base_type} -> {new.base_type})".strip()))
    if old.required != new.required:
        became = "required" if new.required else "optional"
        changes.append(Change(BREAKING if new.required else COMPATIBLE, "field-required-changed", subject,
                              f"{model}.{new.name} became {became}"))
    elif new.required and old.nullable != new.nullable:
        # Optional fields are Optional[...] either way; only required ones show nullability in Python.
        changes.append(Change(BREAKING if new.nullable else COMPATIBLE, "field-nullable-changed", subject,
                              f"{old.annotation} -> {new.annotation}"))
    if old.name != new.name:
        changes.append(Change(BREAKING, "field-renamed", subject, f"Python attribute {old.name} -> {new.name}"))
    return changes


def _convention_changes(old: Mapping[OperationKey, ClientOperation], new: Mapping[OperationKey, ClientOperation],
                        prefix: str) -> List[Change]:
    """The new client must keep the old client's base-path convention (with or without /api)."""
    prefix = normalize_prefix(prefix)
    if not prefix or not old or not new:
        return []

    def prefixed(ops: Mapping[OperationKey, ClientOperation]) -> int:
        return sum(1 for key in ops if strip_prefix(key[1], prefix) != key[1])

    old_n, new_n = prefixed(old), prefixed(new)
    if old_n == 0 and new_n:
        return [Change(BREAKING, "convention-changed", prefix,
                       f"{new_n} of {len(new)} new resource paths start with {prefix} (old client: 0 of {len(old)}); "
                       f"the SDK puts {prefix} in the server URL, so these would call {prefix}{prefix}/...")]
    if old_n == len(old) and new_n < len(new):
        return [Change(BREAKING, "convention-changed", prefix,
                       f"{len(new) - new_n} of {len(new)} new resource paths lack the {prefix} prefix "
                       f"every old one had (old client: {old_n} of {len(old)})")]
    return []


# --- griffe -------------------------------------------------------------------------------------


def _breakage_text(breakage: Any) -> str:
    kind = breakage.kind
    old, new = breakage.old_value, breakage.new_value
    if kind.name.startswith("PARAMETER_"):
        param = getattr(old, "name", None) or getattr(new, "name", None)
        text = f"{kind.value}: {param}"
        if kind is griffe.BreakageKind.PARAMETER_CHANGED_DEFAULT:
            text += f" ({old.default} -> {new.default})"
        elif kind is griffe.BreakageKind.PARAMETER_CHANGED_KIND:
            text += f" ({old.kind.value} -> {new.kind.value})"
        return text
    if kind is griffe.BreakageKind.OBJECT_REMOVED:
        return kind.value
    if kind is griffe.BreakageKind.OBJECT_CHANGED_KIND:
        return f"{kind.value}: {old.value} -> {new.value}"
    return f"{kind.value}: {old} -> {new}"


def _griffe_changes(old_pkg: griffe.Module, new_pkg: griffe.Module,
                    old_ops: Mapping[OperationKey, ClientOperation], new_ops: Mapping[OperationKey, ClientOperation],
                    covered: Set[Tuple[str, ...]]) -> List[Change]:
    """griffe's breakages that our operation and model checks have not already explained."""
    site_to_key = {(c, op.name): key for key, op in old_ops.items() for c in op.classes}
    grouped: Dict[Tuple[str, str, str], Set[str]] = {}
    for breakage in griffe.find_breaking_changes(old_pkg, new_pkg):
        parts = tuple(breakage.obj.path.split(".")[1:])
        if any(parts[:n] in covered for n in range(1, len(parts) + 1)):
            continue
        text = _breakage_text(breakage)
        if len(parts) >= 4 and parts[0] == "api":
            method = parts[3]
            for variant in _VARIANTS:
                method = method[: -len(variant)] if method.endswith(variant) else method
            key = site_to_key.get((parts[2], method))
            if key is not None and key in new_ops:
                grouped.setdefault((BREAKING, "operation-signature-changed", label(key)), set()).add(
                    f"{parts[2]}.{parts[3]}: {text}")
                continue
        grouped.setdefault((BREAKING, "python-api-changed", ".".join(parts)), set()).add(text)
    return [Change(sev, kind, subject, "; ".join(sorted(texts))) for (sev, kind, subject), texts in grouped.items()]


def _covered(changes: Sequence[Change], old_ops: Mapping[OperationKey, ClientOperation],
             old_apis: Mapping[str, str], old_models: Mapping[str, Model]) -> Set[Tuple[str, ...]]:
    """griffe object paths (relative to the package) that our own changes already explain."""
    covered: Set[Tuple[str, ...]] = set()
    keys = {c.operation for c in changes}
    for cls in (c.operation for c in changes if c.kind == "api-removed"):
        covered.add(("api", old_apis[cls]))
    for key, op in old_ops.items():
        if label(key) in keys:  # removed, renamed or moved: its old methods are gone by design
            for cls in op.classes:
                for suffix in ("", *_VARIANTS):
                    covered.add(("api", old_apis.get(cls, op.module), cls, op.name + suffix))
    for change in changes:
        if change.kind == "model-removed":
            model = old_models[change.operation]
            covered.add(("models", model.module, model.name))
            if all(m.module != model.module for n, m in old_models.items() if n != model.name):
                covered.add(("models", model.module))
        elif change.kind in ("field-removed", "field-renamed"):
            name, prop = change.operation.split(".", 1)
            model = old_models[name]
            covered.add(("models", model.module, model.name, model.fields[prop].name))
    return covered


# --- entry points -------------------------------------------------------------------------------


def analyze(old_http: Path, new_http: Path, old_spec: Optional[Mapping[str, Any]],
            new_spec: Optional[Mapping[str, Any]], path_prefix: str = "/api") -> Tuple[Change, ...]:
    """Every user-visible change from the client at `old_http` to the one at `new_http`, sorted."""
    old_ops, new_ops = read_client_operations(old_http), read_client_operations(new_http)
    old_apis, new_apis = read_api_classes(old_http), read_api_classes(new_http)
    old_pkg, new_pkg = load_package(old_http), load_package(new_http)
    old_models, new_models = read_models(old_pkg), read_models(new_pkg)
    changes = _operation_changes(old_ops, new_ops, _operation_ids(new_spec, path_prefix))
    changes += _api_changes(old_apis, new_apis, old_ops)
    changes += _model_changes(old_models, new_models, old_spec, new_spec)
    changes += _convention_changes(old_ops, new_ops, path_prefix)
    changes += _griffe_changes(old_pkg, new_pkg, old_ops, new_ops, _covered(changes, old_ops, old_apis, old_models))
    log.debug("change analysis: %d change(s)", len(changes))
    return tuple(sorted(set(changes), key=Change.sort_key))


def count_by_severity(changes: Iterable[Change]) -> Dict[str, int]:
    """{severity: count} for every severity (zeros included)."""
    counts = {BREAKING: 0, COMPATIBLE: 0, INFO: 0}
    for change in changes:
        counts[change.severity] = counts.get(change.severity, 0) + 1
    return counts


def to_json_list(changes: Iterable[Change]) -> List[Dict[str, str]]:
    """The changes as plain dicts (the report's `changes` section)."""
    return [asdict(c) for c in changes]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(changes: Sequence[Change]) -> str:
    """A Markdown summary and table, breaking changes first."""
    counts = count_by_severity(changes)
    out = ["## API changes", "",
           f"{counts[BREAKING]} breaking, {counts[COMPATIBLE]} compatible, {counts[INFO]} info", ""]
    if changes:
        out += ["| severity | kind | operation | detail |", "|---|---|---|---|"]
        out += [f"| {c.severity} | {c.kind} | `{_cell(c.operation)}` | {_cell(c.detail)} |"
                for c in sorted(changes, key=Change.sort_key)]
        out.append("")
    return "\n".join(out).rstrip() + "\n"
