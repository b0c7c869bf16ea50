"""Change impact: link each API change to the SDK code it touches, so what breaks comes first.

Every change gets one of four tags: `breaks SDK code` (with file:line), `used by SDK, repaired`
(how: keyword codemod, deprecated alias, kept field), `used by SDK, compatible` (the SDK uses it
and still binds), or `not used by SDK code`. The links come from the call binding check (calls
into generated methods and model constructors, attribute reads, imports) and the assembly notes.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Dict, Iterable, List, Mapping, Sequence, Set, Tuple

from conductor_regen.client.binding import BindingResult
from conductor_regen.client.operations import ClientOperation, OperationKey, label

if TYPE_CHECKING:
    from conductor_regen.client.changes import Change
    from conductor_regen.client.models import Model

BREAKS = "breaks SDK code"
REPAIRED = "used by SDK, repaired"
COMPATIBLE_USE = "used by SDK, compatible"
UNUSED = "not used by SDK code"
GROUPS = (BREAKS, REPAIRED, COMPATIBLE_USE, UNUSED)

_ADDITIONS = ("operation-added", "api-added", "model-added")
_OPERATION_KINDS = ("operation-removed", "operation-renamed", "operation-moved", "operation-signature-changed",
                    "operation-return-changed")
# What the binding check proves: a call still binds. It says nothing of the type a call returns.
_BOUND_KINDS = tuple(k for k in _OPERATION_KINDS if k != "operation-return-changed")
_SHOWN = 3  # file:line references quoted per change
_NO_METHOD_RE = re.compile(r"^unresolved: (\S+:\d+): (\w+) has no method (\w+)")
_KEPT_FIELD_RE = re.compile(r"^kept field (\w+)\.(\w+) ")

Key = Tuple[str, str]  # (generated class, member)


@dataclasses.dataclass(frozen=True)
class Usage:
    """What SDK code uses of the generated client, indexed for tagging."""

    calls: Mapping[Key, Tuple[str, ...]]
    keywords: Mapping[Key, Mapping[str, Tuple[str, ...]]]  # constructor keyword -> where
    broken: Mapping[Key, Tuple[str, ...]]  # findings that stop (or would stop) the run
    rewritten: Mapping[Key, Tuple[str, ...]]
    through_adapter: Mapping[Key, bool]  # every call lands on an adapter's own method (alias/override)
    attributes: Mapping[str, Tuple[str, ...]]
    imported: Mapping[str, Tuple[str, ...]]
    missing_methods: Mapping[str, Tuple[str, ...]]  # method name -> where the reference check failed
    kept_fields: Set[Tuple[str, str]]  # (model, python field name) kept on the adapter


def usage_from(binding: BindingResult, notes: Iterable[str] = ()) -> Usage:
    """Index a binding check's calls (and the run's assembly notes) for tagging."""
    calls: Dict[Key, List[str]] = {}
    keywords: Dict[Key, Dict[str, List[str]]] = {}
    adapter_only: Dict[Key, bool] = {}
    rewritten_at = set(binding.rewritten_at)
    rewritten: Dict[Key, List[str]] = {}
    for site in binding.calls:
        calls.setdefault(site.generated, []).append(site.where)
        adapter_only[site.generated] = adapter_only.get(site.generated, True) and site.through_adapter
        for keyword in site.shape.keywords:
            keywords.setdefault(site.generated, {}).setdefault(keyword, []).append(site.where)
        if site.where in rewritten_at:
            rewritten.setdefault(site.generated, []).append(site.where)
    broken: Dict[Key, List[str]] = {}
    for finding in binding.findings:
        broken.setdefault(finding.site.generated, []).append(finding.site.where)
    missing: Dict[str, List[str]] = {}
    kept: Set[Tuple[str, str]] = set()
    for note in notes:
        hit = _NO_METHOD_RE.match(note)
        if hit:
            missing.setdefault(hit.group(3), []).append(hit.group(1))
        kept_hit = _KEPT_FIELD_RE.match(note)
        if kept_hit:
            kept.add((kept_hit.group(1), kept_hit.group(2)))
    return Usage(_tuples(calls), {k: _tuples(v) for k, v in keywords.items()}, _tuples(broken), _tuples(rewritten),
                 adapter_only, dict(binding.attributes), dict(binding.imported), _tuples(missing), kept)


def _tuples(index: Mapping[str, List[str]] | Mapping[Key, List[str]]) -> Dict:  # type: ignore[type-arg]
    return {k: tuple(sorted(set(v))) for k, v in index.items()}


def _shown(wheres: Sequence[str]) -> str:
    more = f" (+{len(wheres) - _SHOWN} more)" if len(wheres) > _SHOWN else ""
    return ", ".join(wheres[:_SHOWN]) + more


def _pick(index: Mapping[Key, Tuple[str, ...]], keys: Iterable[Key]) -> List[str]:
    return sorted({w for key in keys for w in index.get(key, ())})


@dataclasses.dataclass(frozen=True)
class _Subject:
    """What a change is about, as SDK code would use it."""

    keys: Tuple[Key, ...] = ()  # generated (class, member) pairs
    field: Tuple[str, str, str] = ("", "", "")  # (model, python name, json name)
    names: Tuple[str, ...] = ()  # class names SDK code may import


def _subject(change: "Change", old_ops: Mapping[OperationKey, ClientOperation],
             new_ops: Mapping[OperationKey, ClientOperation], old_models: Mapping[str, "Model"],
             new_models: Mapping[str, "Model"]) -> _Subject:
    by_label = {label(k): op for k, op in old_ops.items()}
    new_by_label = {label(k): op for k, op in new_ops.items()}
    kind, subject = change.kind, change.operation
    if kind in _OPERATION_KINDS and subject in by_label:
        op = by_label[subject]
        return _Subject(tuple((c, op.name) for c in op.classes))
    if kind == "operation-added" and subject in new_by_label:
        op = new_by_label[subject]
        return _Subject(tuple((c, op.name) for c in op.classes))
    if kind in ("api-removed", "api-added"):
        members = {op.name for op in (*old_ops.values(), *new_ops.values()) if subject in op.classes}
        return _Subject(tuple((subject, m) for m in sorted(members | {"__init__"})), names=(subject,))
    if kind in ("model-removed", "model-added"):
        return _Subject(((subject, "__init__"),), names=(subject,))
    if kind.startswith("field-") and "." in subject:
        model, prop = subject.split(".", 1)
        fields = old_models.get(model) or new_models.get(model)
        found = fields.fields.get(prop) if fields else None
        other = new_models.get(model)
        if found is None and other is not None:
            found = other.fields.get(prop)
        return _Subject(((model, "__init__"),), (model, found.name if found else prop, prop))
    if kind in ("python-api-changed",):
        parts = subject.split(".")
        if len(parts) >= 2:
            return _Subject(((parts[-2], parts[-1]),), (parts[-2], parts[-1], parts[-1]) if parts[0] == "models"
                            else ("", "", ""))
    return _Subject()


def tag(change: "Change", subject: _Subject, usage: Usage, everything: bool = False) -> Tuple[str, str]:
    """(impact group, detail) for one change."""
    keys = subject.keys
    broken = _pick(usage.broken, keys)
    if broken:
        return BREAKS, f"does not bind at {_shown(broken)}"
    missing = sorted({w for key in keys for w in usage.missing_methods.get(key[1], ())})
    if missing and change.kind in _OPERATION_KINDS:
        return BREAKS, f"unresolved at {_shown(missing)}"
    rewritten = _pick(usage.rewritten, keys)
    if rewritten:
        return REPAIRED, f"positional arguments passed by keyword (codemod) at {_shown(rewritten)}"
    calls = _pick(usage.calls, keys)
    if calls and change.kind in _BOUND_KINDS and all(usage.through_adapter.get(k, True) for k in keys
                                                         if k in usage.calls):
        return REPAIRED, f"served by the adapter's own method (alias or override), called at {_shown(calls)}"
    model, pyname, json_name = subject.field
    if model and (model, pyname) in usage.kept_fields:
        return REPAIRED, "field kept on the model's adapter (deprecated)"
    if change.kind in _ADDITIONS:
        return UNUSED, ""  # hand-written code cannot use what did not exist (scaffolding is not a use)
    uses: List[str] = []
    if model:
        kw = {w for key in keys for name in (pyname, json_name)
              for w in usage.keywords.get(key, {}).get(name, ())}
        if change.kind == "field-added":
            kw |= set(calls)  # constructing the model is what a new field can affect
        # Attribute names are common (`name`, `input`): only reads in files that import the model count.
        files = {w.rsplit(":", 1)[0] for n in (model, f"{model}Adapter") for w in usage.imported.get(n, ())}
        reads = {w for w in usage.attributes.get(pyname, ()) if w.rsplit(":", 1)[0] in files}
        uses = sorted(kw | reads)
    else:
        uses = calls + sorted({w for n in subject.names for w in usage.imported.get(n, ())})
    if everything:
        uses = uses or sorted({w for ws in usage.calls.values() for w in ws})
    if not uses:
        return UNUSED, ""
    verified = change.kind in _BOUND_KINDS and not model
    if change.severity == "breaking" and not verified:
        return BREAKS, f"used at {_shown(uses)}"
    return COMPATIBLE_USE, f"{'binds' if verified else 'used'} at {_shown(uses)}"


def tag_changes(changes: Sequence["Change"], old_ops: Mapping[OperationKey, ClientOperation],
                new_ops: Mapping[OperationKey, ClientOperation], old_models: Mapping[str, "Model"],
                new_models: Mapping[str, "Model"], usage: Usage) -> List["Change"]:
    """The changes with `impact` and `impact_detail` filled in."""
    out: List["Change"] = []
    for change in changes:
        subject = _subject(change, old_ops, new_ops, old_models, new_models)
        group, detail = tag(change, subject, usage, everything=change.kind == "convention-changed")
        out.append(dataclasses.replace(change, impact=group, impact_detail=detail))
    return out


def count_by_impact(changes: Iterable["Change"]) -> Dict[str, int]:
    """{group: count} for every group, in report order (zeros included)."""
    counts = {group: 0 for group in GROUPS}
    for change in changes:
        if change.impact in counts:
            counts[change.impact] += 1
    return counts
