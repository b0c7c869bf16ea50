"""Change impact: link each API change to what the SDK's code does with it at run time, so what breaks comes first.

Every change gets one of five tags: `breaks SDK code` (with file:line), `used by SDK, no longer
checked client-side` (a dropped or loosened pattern, bound or enum on a field the SDK uses), `used
by SDK, repaired` (how: keyword codemod, deprecated alias, kept field), `used by SDK, compatible`
(the SDK uses it and it still works: it binds, an adapter already declares the wider type, the
result is not used), or `not used by SDK code`. The links come from the call binding check (calls
into generated methods and model constructors, what the caller does with the result, hand-written
callers of those methods, adapters' own field declarations, attribute reads, imports) and the
assembly notes. A return type swapped for another breaks code that returns or reads the result; an
operation the server no longer has breaks every method that still calls it, kept in the client or not.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from conductor_regen.analysis.binding import BindingResult
from conductor_regen.analysis.operations import ClientOperation, OperationKey, label
from conductor_regen.analysis.sdk_uses import READ, RETURNED, FieldDeclaration, HandCall, ResultUse, is_public
from conductor_regen.analysis.type_direction import SAME, WIDER, direction

if TYPE_CHECKING:
    from conductor_regen.analysis.change_types import Change
    from conductor_regen.analysis.models import Model

BREAKS = "breaks SDK code"
UNCHECKED = "used by SDK, no longer checked client-side"
REPAIRED = "used by SDK, repaired"
COMPATIBLE_USE = "used by SDK, compatible"
UNUSED = "not used by SDK code"
GROUPS = (BREAKS, UNCHECKED, REPAIRED, COMPATIBLE_USE, UNUSED)

_ADDITIONS = ("operation-added", "api-added", "model-added")
_RETURN = "operation-return-changed"
_REMOVED = ("operation-removed", "api-removed")
_OPERATION_KINDS = ("operation-removed", "operation-renamed", "operation-moved", "operation-signature-changed",
                    _RETURN, "parameter-renamed")
# What the binding check proves: a call still binds. It says nothing of the type a call returns.
_BOUND_KINDS = tuple(k for k in _OPERATION_KINDS if k != _RETURN)
# Field changes an adapter's own declaration of the field shields SDK code from.
_DECLARED_KINDS = ("field-type-changed", "field-nullable-changed", "field-validation-dropped",
                   "field-validation-changed")
_DEPTH = 6  # hand-written calls followed from a generated call to the public methods that expose it
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
    # Direct calls into the generated method itself (not an adapter's own method): what is done with
    # the result, and which method makes the call ((caller, file:line)).
    results: Mapping[Key, Tuple[ResultUse, ...]] = dataclasses.field(default_factory=dict)
    callers: Mapping[Key, Tuple[Tuple[str, str], ...]] = dataclasses.field(default_factory=dict)
    # Hand-written callee ("Class.method") -> the calls to it; (model, python field) -> the adapter's declaration.
    callers_of: Mapping[str, Tuple[HandCall, ...]] = dataclasses.field(default_factory=dict)
    declarations: Mapping[Tuple[str, str], FieldDeclaration] = dataclasses.field(default_factory=dict)


def usage_from(binding: BindingResult, notes: Iterable[str] = ()) -> Usage:
    """Index a binding check's calls (and the run's assembly notes) for tagging."""
    calls: Dict[Key, List[str]] = {}
    keywords: Dict[Key, Dict[str, List[str]]] = {}
    adapter_only: Dict[Key, bool] = {}
    rewritten_at = set(binding.rewritten_at)
    rewritten: Dict[Key, List[str]] = {}
    results: Dict[Key, List[ResultUse]] = {}
    callers: Dict[Key, List[Tuple[str, str]]] = {}
    callers_of: Dict[str, List[HandCall]] = {}
    for hand in binding.hand_calls:
        callers_of.setdefault(hand.callee, []).append(hand)
    for site in binding.calls:
        calls.setdefault(site.generated, []).append(site.where)
        adapter_only[site.generated] = adapter_only.get(site.generated, True) and site.through_adapter
        if site.through_adapter:  # lands on the adapter's own method, which makes its own calls
            callers_of.setdefault(site.target, []).append(HandCall(site.target, site.caller, site.where, site.uses))
        else:
            results.setdefault(site.generated, []).extend(site.uses)
            callers.setdefault(site.generated, []).append((site.caller, site.where))
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
    declared: Dict[Tuple[str, str], FieldDeclaration] = {}
    for declaration in binding.declarations:
        declared.setdefault((declaration.model, declaration.field), declaration)
    return Usage(_tuples(calls), {k: _tuples(v) for k, v in keywords.items()}, _tuples(broken), _tuples(rewritten),
                 adapter_only, dict(binding.attributes), dict(binding.imported), _tuples(missing), kept,
                 {k: tuple(v) for k, v in results.items()}, {k: tuple(sorted(set(v))) for k, v in callers.items()},
                 {k: tuple(v) for k, v in callers_of.items()}, declared)


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
    validators_changed: bool = False  # a field's @field_validator checks changed (an adapter inherits those)


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
        after = other.fields.get(prop) if other is not None else None
        if found is None:
            found = after
        validators = found is not None and after is not None and found.validators != after.validators
        return _Subject(((model, "__init__"),), (model, found.name if found else prop, prop),
                        validators_changed=validators)
    if kind in ("python-api-changed",):
        parts = subject.split(".")
        if len(parts) >= 2:
            return _Subject(((parts[-2], parts[-1]),), (parts[-2], parts[-1], parts[-1]) if parts[0] == "models"
                            else ("", "", ""))
    return _Subject()


@dataclasses.dataclass(frozen=True)
class Tag:
    """A change's impact: its group, how (for the report's SDK column), every file:line, the public methods."""

    group: str
    detail: str = ""
    where: Tuple[str, ...] = ()
    methods: Tuple[str, ...] = ()


def _plain(annotation: str) -> str:
    """Adapters stand for their models (`WorkflowRunAdapter` is a `WorkflowRun`); forward references unquoted."""
    return re.sub(r"\b(\w+)Adapter\b", r"\1", annotation.replace('"', "").replace("'", ""))


def accepts(outer: str, inner: str) -> bool:
    """Whether a value of annotation `inner` is a value of annotation `outer` (no annotation accepts nothing)."""
    if not outer.strip() or not inner.strip():
        return False
    return direction(_plain(inner), _plain(outer)) in (SAME, WIDER)


def _exposed_by(starts: Iterable[Tuple[str, bool]], usage: Usage) -> Tuple[List[str], List[ResultUse]]:
    """(public methods, hand-written uses) reached from (method, it hands the value out) through hand-written calls.

    Calls only (False): a public method that calls the generated one counts itself; a private one
    counts the public methods that call it. Values (True): a method that returns the value counts
    and passes it on to its callers, whose own returns and reads are collected and followed in turn.
    """
    public: List[str] = []  # nearest first
    uses: List[ResultUse] = []
    seen: Set[Tuple[str, bool]] = set()
    todo = [(name, value, 0) for name, value in starts]
    while todo:
        name, value, depth = todo.pop(0)
        if not name or (name, value) in seen or depth > _DEPTH:
            continue
        seen.add((name, value))
        if is_public(name):
            public += [] if name in public else [name]
            if not value:
                continue
        for call in usage.callers_of.get(name, ()):
            if value:
                uses += call.uses
                todo += [(u.caller, True, depth + 1) for u in call.uses if u.how == RETURNED]
            else:
                todo.append((call.caller, False, depth + 1))
    return public, uses


def _removed_tag(change: "Change", keys: Tuple[Key, ...], usage: Usage) -> Optional[Tag]:
    """An operation the server no longer has breaks every method that still calls it (kept in the client or not)."""
    direct = sorted({pair for key in keys if key[1] != "__init__" for pair in usage.callers.get(key, ())})
    if not direct:
        return None
    methods = sorted(_exposed_by(((caller, False) for caller, _where in direct), usage)[0])
    wheres = tuple(sorted({where for _caller, where in direct}))
    kept = "; the new client keeps it (deprecated), the new server answers 404" if change.new else ""
    who = ", ".join(methods) if methods else "hand-written code"
    return Tag(BREAKS, f"the server no longer has it{kept}: called by {who} at {_shown(wheres)}", wheres,
               tuple(methods))


def _return_tag(change: "Change", keys: Tuple[Key, ...], usage: Usage) -> Tag:
    """A return type swapped for another breaks code that returns the result (promising the old type) or reads it."""
    calls = _pick(usage.calls, keys)
    if not calls:
        return Tag(UNUSED)
    uses = [u for key in keys for u in usage.results.get(key, ())]
    if change.severity != "breaking":
        return Tag(COMPATIBLE_USE, f"used at {_shown(calls)}", tuple(calls))
    bad = [u for u in uses if u.how == READ or not accepts(u.promised, change.new)]
    if not bad:
        how = "the result is returned as a type that accepts it" if uses else "the result is not used"
        return Tag(COMPATIBLE_USE, f"{how}, at {_shown(calls)}", tuple(calls))
    methods, further = _exposed_by(((u.caller, True) for u in bad if u.how == RETURNED), usage)
    direct = sorted(set(bad), key=lambda u: _line_key(u.where))
    passed = sorted({u for u in further if u.how == READ or not accepts(u.promised, change.new)} - set(direct),
                    key=lambda u: _line_key(u.where))
    methods += [u.caller for u in direct + passed if u.how == READ and is_public(u.caller) and u.caller not in methods]
    texts = [_use_text(u) for u in direct]
    shown = "; ".join(texts[:_SHOWN]) + (f" (+{len(texts) - _SHOWN} more)" if len(texts) > _SHOWN else "")
    onward = [m for m in methods if m not in {u.caller for u in direct}]
    if onward:
        shown += f"; passed on by {', '.join(onward[:_SHOWN])}" + (
            f" (+{len(onward) - _SHOWN} more)" if len(onward) > _SHOWN else "")
    wheres = tuple(sorted({u.where for u in direct + passed}, key=_line_key))
    return Tag(BREAKS, f"now {change.new}: {shown}", wheres, tuple(sorted(methods)))


def _line_key(where: str) -> Tuple[str, int]:
    path, _, line = where.rpartition(":")
    return (path, int(line)) if line.isdigit() else (where, 0)


def _use_text(use: ResultUse) -> str:
    if use.how == READ:
        return f"{use.caller} reads {use.detail} at {use.where}"
    promise = f" promising {use.promised}" if use.promised else " (no return annotation)"
    return f"{use.caller} returns it{promise} at {use.where}"


def _declared(change: "Change", subject: _Subject, usage: Usage) -> Optional[FieldDeclaration]:
    """The adapter's own declaration of the field, when it already accepts the new type (and the checks moved
    with the annotation: validator methods are inherited, so an adapter does not shield their changes)."""
    model, pyname, _json = subject.field
    found = usage.declarations.get((model, pyname))
    if found is None or change.kind not in _DECLARED_KINDS or subject.validators_changed:
        return None
    return found if accepts(found.annotation, change.new) else None


def tag(change: "Change", subject: _Subject, usage: Usage, everything: bool = False) -> Tag:
    """The impact of one change on SDK code."""
    keys = subject.keys
    broken = _pick(usage.broken, keys)
    if broken:
        return Tag(BREAKS, f"does not bind at {_shown(broken)}", tuple(broken))
    missing = sorted({w for key in keys for w in usage.missing_methods.get(key[1], ())})
    if missing and change.kind in _OPERATION_KINDS:
        return Tag(BREAKS, f"unresolved at {_shown(missing)}", tuple(missing))
    if change.kind in _REMOVED:
        removed = _removed_tag(change, keys, usage)
        if removed is not None:
            return removed
    if change.kind == _RETURN:
        return _return_tag(change, keys, usage)
    rewritten = _pick(usage.rewritten, keys)
    if rewritten:
        return Tag(REPAIRED, f"positional arguments passed by keyword (codemod) at {_shown(rewritten)}",
                   tuple(rewritten))
    calls = _pick(usage.calls, keys)
    if calls and change.kind in _BOUND_KINDS and all(usage.through_adapter.get(k, True) for k in keys
                                                         if k in usage.calls):
        return Tag(REPAIRED, f"served by the adapter's own method (alias or override), called at {_shown(calls)}",
                   tuple(calls))
    model, pyname, json_name = subject.field
    if model and (model, pyname) in usage.kept_fields:
        return Tag(REPAIRED, "field kept on the model's adapter (deprecated)")
    if change.kind in _ADDITIONS:
        return Tag(UNUSED)  # hand-written code cannot use what did not exist (scaffolding is not a use)
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
        return Tag(UNUSED)
    where = tuple(uses)
    declared = _declared(change, subject, usage) if model else None
    if declared is not None:
        return Tag(COMPATIBLE_USE, f"{declared.adapter} declares {pyname}: {declared.annotation} "
                                   f"({declared.where}), which already accepts {change.new}; used at {_shown(uses)}",
                   where)
    if change.kind == "field-validation-dropped":
        return Tag(UNCHECKED, f"no longer checked client-side: values the old client rejected now pass; "
                              f"used at {_shown(uses)}", where)
    if change.kind in _REMOVED and change.new:
        return Tag(REPAIRED, f"kept in the new client (deprecated), not called; imported at {_shown(uses)}", where)
    verified = change.kind in _BOUND_KINDS and not model
    if change.severity == "breaking" and not verified:
        return Tag(BREAKS, f"used at {_shown(uses)}", where)
    return Tag(COMPATIBLE_USE, f"{'binds' if verified else 'used'} at {_shown(uses)}", where)


def tag_changes(changes: Sequence["Change"], old_ops: Mapping[OperationKey, ClientOperation],
                new_ops: Mapping[OperationKey, ClientOperation], old_models: Mapping[str, "Model"],
                new_models: Mapping[str, "Model"], usage: Usage) -> List["Change"]:
    """The changes with `impact` and `impact_detail` filled in."""
    out: List["Change"] = []
    for change in changes:
        subject = _subject(change, old_ops, new_ops, old_models, new_models)
        found = tag(change, subject, usage, everything=change.kind == "convention-changed")
        out.append(dataclasses.replace(change, impact=found.group, impact_detail=found.detail, where=found.where,
                                       methods=found.methods))
    return out


def count_by_impact(changes: Iterable["Change"]) -> Dict[str, int]:
    """{group: count} for every group, in report order (zeros included)."""
    counts = {group: 0 for group in GROUPS}
    for change in changes:
        if change.impact in counts:
            counts[change.impact] += 1
    return counts


def removed_callers(changes: Iterable["Change"]) -> Tuple[str, ...]:
    """The public SDK methods that call operations the server no longer has (sorted, each once)."""
    return tuple(sorted({m for c in changes if c.kind in _REMOVED and c.impact == BREAKS for m in c.methods}))


def removed_line(changes: Iterable["Change"]) -> str:
    """`N public methods call operations the server no longer has` (the count line of reports and the terminal)."""
    count = len(removed_callers(changes))
    return (f"{count} public method{'' if count == 1 else 's'} call{'s' if count == 1 else ''} "
            "operations the server no longer has")


def summary(changes: Sequence["Change"]) -> Dict[str, Any]:
    """The JSON reports' `summary`: counts by severity and by impact, and the methods calling removed operations."""
    severities: Dict[str, int] = {"breaking": 0, "compatible": 0, "info": 0}
    for change in changes:
        severities[change.severity] = severities.get(change.severity, 0) + 1
    return {"severity": severities, "impact": count_by_impact(changes),
            "removed_operation_callers": list(removed_callers(changes))}
