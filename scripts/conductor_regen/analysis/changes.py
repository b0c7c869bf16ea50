"""`invoke diff`: what changes for SDK users between the live client and a newly generated one (report only).

Operations are matched by METHOD + path, never by generated name, so a shifted springdoc number
is a rename, not a removal plus an addition. Models are compared field by field (by JSON name)
from the generated code, with the spec's types added where both specs are known; griffe's
Python-level comparison of the two packages is folded in for everything else.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

from conductor_regen.analysis.change_types import BREAKING as BREAKING
from conductor_regen.analysis.change_types import COMPATIBLE as COMPATIBLE
from conductor_regen.analysis.change_types import INFO as INFO
from conductor_regen.analysis.change_types import SEVERITIES as SEVERITIES
from conductor_regen.analysis.change_types import Change as Change
from conductor_regen.analysis.change_types import Severity as Severity
from conductor_regen.analysis.models import Model, ModelField, load_package, read_models
from conductor_regen.analysis.operation_changes import (api_changes, convention_changes, operation_changes,
                                                        operation_ids)
from conductor_regen.analysis.validations import compare as compare_checks
from conductor_regen.analysis.validations import split as split_checks
from conductor_regen.generator.naming import camelize, sanitize_name
from conductor_regen.analysis.type_direction import SAME
from conductor_regen.analysis.type_direction import compatible as type_compatible
from conductor_regen.analysis.type_direction import describe as describe_direction
from conductor_regen.analysis.type_direction import direction, schema_roles
from conductor_regen.analysis.operations import (ClientOperation, OperationKey, label, read_api_classes,
                                                 read_client_operations)

if TYPE_CHECKING:
    import griffe  # imported where used: a command that compares nothing need not load it (40 ms a start)

    from conductor_regen.analysis.impact import Usage

log = logging.getLogger(__name__)

_VARIANTS = ("_with_http_info", "_without_preload_content")
# The change a dropped or loosened client-side check makes (pattern, bounds, enum): values pass that failed before.
VALIDATION_DROPPED = "field-validation-dropped"
VALIDATION_CHANGED = "field-validation-changed"
VALIDATION_KINDS = (VALIDATION_DROPPED, VALIDATION_CHANGED)


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


def _field_text(field: ModelField) -> str:
    return f"{field.name}: {field.annotation}" + ("" if field.required else " = None")


def _model_roles(spec: Optional[Mapping[str, Any]]) -> Dict[str, Set[str]]:
    """{generated model name: {"request", "response"}} from where the spec sends its schema."""
    return {camelize(sanitize_name(name)): role for name, role in schema_roles(spec).items()}


def _model_changes(old: Mapping[str, Model], new: Mapping[str, Model], old_spec: Optional[Mapping[str, Any]],
                   new_spec: Optional[Mapping[str, Any]]) -> List[Change]:
    changes: List[Change] = []
    old_schemas, new_schemas = _schemas_by_model(old_spec), _schemas_by_model(new_spec)
    roles = _model_roles(new_spec if new_spec is not None else old_spec)
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
                                      _spec_property(old_schemas, name, prop), _spec_property(new_schemas, name, prop),
                                      roles.get(name, set()))
    return changes


def _types(old: ModelField, new: ModelField) -> str:
    return "" if old.base_type == new.base_type else f" ({old.base_type} -> {new.base_type})"


def _field_changes(model: str, prop: str, old: ModelField, new: ModelField, old_schema: Any,
                   new_schema: Any, role: Optional[Set[str]] = None) -> List[Change]:
    subject = f"{model}.{prop}"
    changes: List[Change] = []
    spec = ""
    if old_schema is not None and new_schema is not None:
        spec = f"{describe_schema(old_schema)} -> {describe_schema(new_schema)} "
    (old_plain, old_checks), (new_plain, new_checks) = split_checks(old.base_type), split_checks(new.base_type)
    loosened, tightened = compare_checks(old_checks + old.validators, new_checks + new.validators)
    travels = describe_direction(SAME, set(role or ()))[1]
    if old.base_type != new.base_type and (direction(old_plain, new_plain) != SAME or not (loosened or tightened)):
        # A model only sent may accept more; one only received may narrow (the reader gets less variety).
        way = direction(old.base_type, new.base_type)
        text = describe_direction(way, set(role or ()))[0]
        severity: Severity = (INFO if way == SAME else COMPATIBLE if type_compatible(way, set(role or ()))
                              else BREAKING)
        changes.append(Change(severity, "field-type-changed", subject,
                              f"{spec}({old.base_type} -> {new.base_type}); {text}, {travels}".strip(),
                              old=old.annotation, new=new.annotation))
    elif tightened:
        # The same type, checked more strictly: values the SDK sent or read before may now fail validation.
        changes.append(Change(BREAKING, VALIDATION_CHANGED, subject,
                              f"{spec}{'; '.join(tightened + loosened)}{_types(old, new)}; "
                              f"checked more strictly client-side, {travels}".strip(),
                              old=old.annotation, new=new.annotation))
    elif loosened:
        # The same type with fewer checks: what passed before still passes; what failed reaches the server/caller.
        changes.append(Change(COMPATIBLE, VALIDATION_DROPPED, subject,
                              f"{spec}{'; '.join(loosened)}{_types(old, new)}; "
                              f"no longer checked client-side, {travels}".strip(),
                              old=old.annotation, new=new.annotation))
    if old.required != new.required:
        became = "required" if new.required else "optional"
        changes.append(Change(BREAKING if new.required else COMPATIBLE, "field-required-changed", subject,
                              f"{model}.{new.name} became {became}"))
    elif new.required and old.nullable != new.nullable:
        # Optional fields are Optional[...] either way; only required ones show nullability in Python.
        changes.append(Change(BREAKING if new.nullable else COMPATIBLE, "field-nullable-changed", subject,
                              f"{old.annotation} -> {new.annotation}", old=old.annotation, new=new.annotation))
    if old.name != new.name:
        changes.append(Change(BREAKING, "field-renamed", subject, f"Python attribute {old.name} -> {new.name}",
                              old=old.name, new=new.name))
    return changes


# --- griffe -------------------------------------------------------------------------------------


def _breakage_text(breakage: Any) -> Tuple[str, str]:
    """(what broke, which part): ("Parameter was removed", "accepts"), ("Return type changed", "a -> b")."""
    import griffe

    kind = breakage.kind
    old, new = breakage.old_value, breakage.new_value
    if kind.name.startswith("PARAMETER_"):
        param = str(getattr(old, "name", None) or getattr(new, "name", None))
        if kind is griffe.BreakageKind.PARAMETER_CHANGED_DEFAULT:
            param += f" ({old.default} -> {new.default})"
        elif kind is griffe.BreakageKind.PARAMETER_CHANGED_KIND:
            param += f" ({old.kind.value} -> {new.kind.value})"
        return kind.value, param
    if kind is griffe.BreakageKind.OBJECT_REMOVED:
        return kind.value, ""
    if kind is griffe.BreakageKind.OBJECT_CHANGED_KIND:
        return kind.value, f"{old.value} -> {new.value}"
    return kind.value, f"{old} -> {new}"


def _griffe_changes(old_pkg: griffe.Module, new_pkg: griffe.Module,
                    old_ops: Mapping[OperationKey, ClientOperation], new_ops: Mapping[OperationKey, ClientOperation],
                    covered: Set[Tuple[str, ...]]) -> List[Change]:
    """griffe's breakages that our operation and model checks have not already explained."""
    import griffe

    site_to_key = {(c, op.name): key for key, op in old_ops.items() for c in op.classes}
    # (kind, subject) -> where -> what broke -> parts; the three variants of a method collapse into one.
    grouped: Dict[Tuple[str, str], Dict[str, Dict[str, Set[str]]]] = {}
    breaking_groups: Set[Tuple[str, str]] = set()
    for breakage in griffe.find_breaking_changes(old_pkg, new_pkg):
        parts = tuple(breakage.obj.path.split(".")[1:])
        if any(parts[:n] in covered for n in range(1, len(parts) + 1)):
            continue
        if _is_noise(breakage):
            continue
        what, part = _breakage_text(breakage)
        kind, subject, where = "python-api-changed", ".".join(parts), ""
        if len(parts) >= 4 and parts[0] == "api":
            method = parts[3]
            for variant in _VARIANTS:
                method = method[: -len(variant)] if method.endswith(variant) else method
            key = site_to_key.get((parts[2], method))
            if key is not None and key in new_ops:
                kind, subject, where = "operation-signature-changed", label(key), f"{parts[2]}.{method}"
        bucket = grouped.setdefault((kind, subject), {}).setdefault(where, {}).setdefault(what, set())
        if part:
            bucket.add(part)
        if not _narrowed_return(breakage):
            breaking_groups.add((kind, subject))
    changes = [Change(COMPATIBLE if _narrows(before, after) else BREAKING, "operation-return-changed", label(key),
                      f"{where}: Return type changed: {before} -> {after}", old=before, new=after)
               for key, where, before, after in _return_changes(old_pkg, new_pkg, old_ops, new_ops)]
    for (kind, subject), places in grouped.items():
        texts = []
        for where, whats in sorted(places.items()):
            body = "; ".join(f"{what}: {', '.join(sorted(parts))}" if parts else what
                             for what, parts in sorted(whats.items()))
            texts.append(f"{where}: {body}" if where else body)
        severity: Severity = BREAKING if (kind, subject) in breaking_groups else COMPATIBLE
        changes.append(Change(severity, kind, subject, " / ".join(texts)))
    return changes


# The generator's per-request keywords: always passed by keyword, so their position never matters.
REQUEST_KEYWORDS = frozenset({"_request_timeout", "_request_auth", "_content_type", "_headers", "_host_index"})


def _returns(pkg: griffe.Module, op: ClientOperation) -> Optional[str]:
    """The return annotation of an operation's method, as written, or None when it has none."""
    import griffe

    try:
        returns = pkg[f"api.{op.module}.{op.class_name}.{op.name}"].returns
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    return None if returns is None else str(returns)


def _return_changes(old_pkg: griffe.Module, new_pkg: griffe.Module, old_ops: Mapping[OperationKey, ClientOperation],
                    new_ops: Mapping[OperationKey, ClientOperation]) -> Iterator[Tuple[OperationKey, str, str, str]]:
    """(operation, Class.method, old, new) for each kept method whose return annotation changed.

    griffe's comparison treats every return change as compatible, but a hand-written caller that
    reads the old type's fields breaks (a response schema swapped for another one), so we compare
    the annotations ourselves; a moved or renamed method is reported by the operation checks.
    """
    for key in sorted(old_ops.keys() & new_ops.keys()):
        before, after = old_ops[key], new_ops[key]
        if (before.module, before.class_name, before.name) != (after.module, after.class_name, after.name):
            continue
        old_ret, new_ret = _returns(old_pkg, before), _returns(new_pkg, after)
        if old_ret is not None and new_ret is not None and old_ret != new_ret:
            yield key, before.qualified_name, old_ret, new_ret


def _is_noise(breakage: Any) -> bool:
    """A moved `_request_*` keyword: no caller passes those positionally."""
    import griffe

    if breakage.kind is not griffe.BreakageKind.PARAMETER_MOVED:
        return False
    name = getattr(breakage.old_value, "name", None) or getattr(breakage.new_value, "name", None)
    return name in REQUEST_KEYWORDS


def _narrows(old: str, new: str) -> bool:
    """A return type that narrows (or stays equivalent): readers of the result are unaffected."""
    return direction(old, new) in ("same", "narrower")


def _narrowed_return(breakage: Any) -> bool:
    """griffe's return-type breakage, when the new type narrows."""
    import griffe

    if breakage.kind is not griffe.BreakageKind.RETURN_CHANGED_TYPE:
        return False
    return _narrows(str(breakage.old_value), str(breakage.new_value))


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
        if change.kind in VALIDATION_KINDS + ("field-type-changed",):
            # The generator's validator methods of a field whose checks changed: explained by that change.
            name, prop = change.operation.split(".", 1)
            model = old_models[name]
            for suffix in ("_validate_enum", "_validate_regular_expression"):
                covered.add(("models", model.module, model.name, model.fields[prop].name + suffix))
    return covered


# --- entry points -------------------------------------------------------------------------------


def analyze(old_http: Path, new_http: Path, old_spec: Optional[Mapping[str, Any]],
            new_spec: Optional[Mapping[str, Any]], path_prefix: str = "/api",
            usage: Optional["Usage"] = None, old_package: Optional[griffe.Module] = None) -> Tuple[Change, ...]:
    """Every user-visible change from the client at `old_http` to the one at `new_http`, sorted.

    With `usage` (from the call binding check), each change is tagged with its impact on SDK code.
    `old_package` is `old_http` already loaded by griffe (regenerate loads it while the generator runs).
    """
    old_ops, new_ops = read_client_operations(old_http), read_client_operations(new_http)
    old_apis, new_apis = read_api_classes(old_http), read_api_classes(new_http)
    old_pkg, new_pkg = old_package or load_package(old_http), load_package(new_http)
    old_models, new_models = read_models(old_pkg), read_models(new_pkg)
    server = operation_ids(new_spec, path_prefix)  # what the server's API has, when its spec is known
    changes = operation_changes(old_ops, new_ops, server, old_pkg, new_pkg)
    changes += api_changes(old_apis, new_apis, old_ops, new_ops, server)
    changes += _model_changes(old_models, new_models, old_spec, new_spec)
    changes += convention_changes(old_ops, new_ops, path_prefix)
    changes += _griffe_changes(old_pkg, new_pkg, old_ops, new_ops, _covered(changes, old_ops, old_apis, old_models))
    log.debug("change analysis: %d change(s)", len(changes))
    unique = sorted(set(changes), key=Change.sort_key)
    if usage is not None:
        from conductor_regen.analysis.impact import tag_changes

        unique = tag_changes(unique, old_ops, new_ops, old_models, new_models, usage)
    return tuple(unique)


def count_by_severity(changes: Iterable[Change]) -> Dict[Severity, int]:
    """{severity: count} for every severity (zeros included)."""
    counts: Dict[Severity, int] = {BREAKING: 0, COMPATIBLE: 0, INFO: 0}
    for change in changes:
        counts[change.severity] += 1
    return counts


def to_json_list(changes: Iterable[Change]) -> List[Dict[str, Any]]:
    """The changes as plain dicts (the reports' `changes[]`: docs/compatibility.md, "The JSON reports")."""
    return [{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(c).items()} for c in changes]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(changes: Sequence[Change]) -> str:
    """A Markdown summary: one count line per impact group, then each group's table, what breaks first."""
    from conductor_regen.analysis.impact import GROUPS, count_by_impact, removed_line

    counts = count_by_severity(changes)
    out = ["## API changes", ""]
    tagged = any(c.impact for c in changes)
    if tagged:
        out += [f"- {group}: {n}" for group, n in count_by_impact(changes).items()]
        out += [f"- {removed_line(changes)}", ""]
    out += [f"{counts[BREAKING]} breaking, {counts[COMPATIBLE]} compatible, {counts[INFO]} info", ""]
    groups = [(g, [c for c in changes if c.impact == g]) for g in GROUPS] if tagged else [("", list(changes))]
    for group, members in groups:
        if not members:
            continue
        if group:
            out += [f"### {group} ({len(members)})", ""]
        out += ["| severity | kind | operation | detail | SDK |", "|---|---|---|---|---|"]
        out += [f"| {c.severity} | {c.kind} | `{_cell(c.operation)}` | {_cell(c.detail)} | {_cell(c.impact_detail)} |"
                for c in sorted(members, key=Change.sort_key)]
        out.append("")
    return "\n".join(out).rstrip() + "\n"
