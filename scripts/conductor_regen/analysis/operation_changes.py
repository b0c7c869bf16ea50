"""Operation and API class changes, by METHOD + path: removed (also when kept in the client), added,
renamed, moved, a path parameter renamed, and the base-path convention.

An operation is gone when the *server's* API no longer has it: the new spec, when it is known, decides,
because a run keeps a removed operation the SDK still calls in the new client (deprecated), where a
plain client-to-client comparison would never see it go.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Set, Tuple

from conductor_regen.analysis.change_types import BREAKING, COMPATIBLE, INFO, Change, Severity
from conductor_regen.analysis.operations import ClientOperation, OperationKey, label, spec_operations
from conductor_regen.generator.naming import underscore
from conductor_regen.spec.fixups import normalize_prefix, strip_prefix

if TYPE_CHECKING:
    import griffe  # imported where used: a command that compares nothing need not load it (40 ms a start)

PARAMETER_RENAMED = "parameter-renamed"
_TEMPLATE_RE = re.compile(r"\{([^}/]+)\}")
_KEPT = "the server's API no longer has it; the new client keeps it (deprecated), so calls fail against the new server"


def operation_ids(spec: Optional[Mapping[str, Any]], prefix: str) -> Dict[OperationKey, str]:
    """{key: operationId}, with the SDK's path prefix stripped so raw and repaired specs both match."""
    if not isinstance(spec, Mapping):
        return {}
    out: Dict[OperationKey, str] = {}
    for (method, path), op in spec_operations(spec).items():
        out[(method, strip_prefix(path, prefix))] = op.operation_id or ""
    return out


def server_removed(old: Mapping[OperationKey, ClientOperation], new: Mapping[OperationKey, ClientOperation],
                   server: Mapping[OperationKey, str]) -> Set[OperationKey]:
    """Operations both clients have that the new spec does not: kept in the new client by the run.

    Without a spec (or with one that matches none of the new client's operations) there is no such set.
    """
    if not server or not (new.keys() & server.keys()):
        return set()
    return (old.keys() & new.keys()) - server.keys()


def _parameters(pkg: Optional[griffe.Module], op: ClientOperation) -> List[str]:
    if pkg is None:
        return []
    import griffe

    try:
        func = pkg[f"api.{op.module}.{op.class_name}.{op.name}"]
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return []
    return [p.name for p in getattr(func, "parameters", ()) if p.name not in ("self", "cls")]


def _python_name(template: str, params: List[str], only: List[str]) -> str:
    """The generated parameter for a path template name (`eventHandlerName` -> `event_handler_name`)."""
    snake = underscore(template)
    return only[0] if snake not in params and len(only) == 1 else snake


def parameter_renames(old: Mapping[OperationKey, ClientOperation], new: Mapping[OperationKey, ClientOperation],
                      old_pkg: Optional[griffe.Module] = None,
                      new_pkg: Optional[griffe.Module] = None) -> Tuple[List[Change], Set[OperationKey],
                                                                         Set[OperationKey]]:
    """Path parameters renamed in place (`/event/execution/{event}` -> `{eventHandlerName}`): one change each.

    Returns (changes, old keys explained, new keys explained): a removal and an addition with the
    same method and path shape would otherwise be reported as two unrelated changes.
    """
    removed = sorted(old.keys() - new.keys())
    added = sorted(new.keys() - old.keys())
    by_shape: Dict[Tuple[str, str], List[OperationKey]] = {}
    for key in added:
        by_shape.setdefault((key[0], _TEMPLATE_RE.sub("{}", key[1])), []).append(key)
    changes: List[Change] = []
    gone: Set[OperationKey] = set()
    came: Set[OperationKey] = set()
    for key in removed:
        matches = by_shape.get((key[0], _TEMPLATE_RE.sub("{}", key[1])), [])
        if len(matches) != 1 or matches[0] in came:
            continue
        other = matches[0]
        before, after = old[key], new[other]
        old_params, new_params = _parameters(old_pkg, before), _parameters(new_pkg, after)
        pairs = [(a, b) for a, b in zip(_TEMPLATE_RE.findall(key[1]), _TEMPLATE_RE.findall(other[1])) if a != b]
        old_only = [p for p in old_params if p not in new_params]
        new_only = [p for p in new_params if p not in old_params]
        python = [(_python_name(a, old_params, old_only), _python_name(b, new_params, new_only)) for a, b in pairs]
        renamed = [f"{a} -> {b}" for a, b in python if a != b]
        method = ("" if before.qualified_name == after.qualified_name
                  else f"; {before.qualified_name} -> {after.qualified_name}")
        text = ", ".join(f"{{{a}}} -> {{{b}}}" for a, b in pairs)
        detail = (f"{after.qualified_name}: path parameter {text} ({label(key)} -> {label(other)})"
                  + (f"; Python parameter {', '.join(renamed)}" if renamed else "; same Python parameter")
                  + method)
        severity: Severity = BREAKING if renamed or method else INFO
        changes.append(Change(severity, PARAMETER_RENAMED, label(key), detail,
                              old=", ".join(a for a, _ in python), new=", ".join(b for _, b in python)))
        gone.add(key)
        came.add(other)
    return changes, gone, came


def operation_changes(old: Mapping[OperationKey, ClientOperation], new: Mapping[OperationKey, ClientOperation],
                      new_ids: Mapping[OperationKey, str], old_pkg: Optional[griffe.Module] = None,
                      new_pkg: Optional[griffe.Module] = None) -> List[Change]:
    """Removed (or kept but gone from the server), added, moved, renamed, and path parameters renamed."""
    new_sites = {(c, op.name): key for key, op in new.items() for c in op.classes}
    changes, gone, came = parameter_renames(old, new, old_pkg, new_pkg)

    def reused(op: ClientOperation) -> str:
        # The worst case: the old name still exists but now sends a different request.
        other = new_sites.get((op.class_name, op.name))
        return f"; {op.qualified_name} now calls {label(other)}" if other and other != op.key else ""

    for key in sorted(old.keys() - new.keys() - gone):
        op = old[key]
        changes.append(Change(BREAKING, "operation-removed", label(key), f"{op.qualified_name} is gone{reused(op)}",
                              old=op.qualified_name))
    for key in sorted(server_removed(old, new, new_ids)):
        op = old[key]
        changes.append(Change(BREAKING, "operation-removed", label(key), f"{op.qualified_name}: {_KEPT}",
                              old=op.qualified_name, new=new[key].qualified_name))
    for key in sorted(new.keys() - old.keys() - came):
        op = new[key]
        opid = f" (operationId {new_ids[key]})" if new_ids.get(key) else ""
        changes.append(Change(COMPATIBLE, "operation-added", label(key), f"new {op.qualified_name}{opid}",
                              new=op.qualified_name))
    for key in sorted(old.keys() & new.keys()):
        before, after = old[key], new[key]
        opid = f" (operationId {new_ids[key]})" if new_ids.get(key) else ""
        kind = ("operation-moved" if set(before.classes) != set(after.classes) or before.class_name != after.class_name
                else "operation-renamed" if before.name != after.name else "")
        if kind:
            changes.append(Change(BREAKING, kind, label(key),
                                  f"{before.qualified_name} -> {after.qualified_name}{opid}{reused(before)}",
                                  old=before.qualified_name, new=after.qualified_name))
    return changes


def api_changes(old: Mapping[str, str], new: Mapping[str, str], old_ops: Mapping[OperationKey, ClientOperation],
                new_ops: Mapping[OperationKey, ClientOperation], server: Mapping[OperationKey, str]) -> List[Change]:
    """API classes gone (or kept in the client with every operation gone from the server) and added."""
    changes: List[Change] = []
    for cls in sorted(old.keys() - new.keys()):
        count = sum(1 for op in old_ops.values() if cls in op.classes)
        changes.append(Change(BREAKING, "api-removed", cls,
                              f"{cls} ({old[cls]}.py) is gone with its {count} operation(s)", old=cls))
    kept = server_removed(old_ops, new_ops, server)
    for cls in sorted(old.keys() & new.keys()):
        ops = [key for key, op in new_ops.items() if cls in op.classes]
        if ops and all(key in kept for key in ops):
            changes.append(Change(BREAKING, "api-removed", cls,
                                  f"{cls} ({old[cls]}.py) with its {len(ops)} operation(s): {_KEPT}", old=cls, new=cls))
    for cls in sorted(new.keys() - old.keys()):
        changes.append(Change(COMPATIBLE, "api-added", cls, f"new {cls} ({new[cls]}.py)", new=cls))
    return changes


def convention_changes(old: Mapping[OperationKey, ClientOperation], new: Mapping[OperationKey, ClientOperation],
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
