"""Stable method names: pin each operation's operationId so the generator keeps the old Python name.

The server numbers duplicate operationIds globally (springdoc: `search`, `search_1`, ...), so one
added endpoint can shift the generated names of unrelated old ones (`search` -> `search1`). This
transform runs on the repaired spec, after the fixups and before generation: every operation the
previous client already had (same METHOD + path) gets an operationId that generates its old name;
new operations keep their natural name unless it is taken in their class, then get a fresh one.

A pinned operationId may repeat one in another class (`search` on WorkflowResourceApi and on
HumanTaskApi). OpenAPI wants them unique, and validation rejects that, but validation has already
run by the time pinning does. The generator (run with --skip-validate-spec) names methods per
class and does not mind, which was checked against 7.14.0.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Set, Tuple

from conductor_regen.generator.naming import operation_id_for, python_method_name, split_suffix
from conductor_regen.analysis.operations import ClientOperation, OperationKey, SpecOperation, label, read_client_operations, spec_operations

if TYPE_CHECKING:  # the pipeline may call pinning one day; keep the import one-way at runtime
    from conductor_regen.generator.pipeline import PreparedSpec
    from conductor_regen.progress import StepLog

log = logging.getLogger(__name__)

Document = Dict[str, Any]


@dataclass
class _Names:
    """Which names each class already hands out, and to which operation (mutable: pinning's working state)."""

    owner: Dict[Tuple[str, str], OperationKey]

    def free(self, name: str, classes: Tuple[str, ...], key: OperationKey) -> bool:
        return all(self.owner.get((c, name), key) == key for c in classes)

    def holder(self, name: str, classes: Tuple[str, ...]) -> Optional[OperationKey]:
        return next((self.owner[(c, name)] for c in classes if (c, name) in self.owner), None)

    def take(self, name: str, classes: Tuple[str, ...], key: OperationKey) -> None:
        for c in classes:
            self.owner[(c, name)] = key


def _fresh_name(name: str, classes: Tuple[str, ...], key: OperationKey, names: _Names) -> Tuple[str, str]:
    """The first free `<base><n>` (n = 1, 2, ...) and the operationId that generates it."""
    base, _ = split_suffix(name)
    n = 1
    while True:
        candidate = f"{base}{n}"
        op_id = operation_id_for(candidate)
        if op_id is not None and names.free(candidate, classes, key):
            return candidate, op_id
        n += 1


def _pin_order(ops: Mapping[OperationKey, SpecOperation],
               previous: Mapping[OperationKey, ClientOperation]) -> List[OperationKey]:
    """Operations that stayed in their class claim their old names before moved ones do."""
    kept = [k for k, op in ops.items() if k in previous and previous[k].class_name in op.class_names]
    seen = set(kept)
    return kept + [k for k in ops if k in previous and k not in seen]


def pin_operation_ids(document: Document,
                      previous: Mapping[OperationKey, ClientOperation]) -> Tuple[Document, Tuple[str, ...]]:
    """Return `document` with operationIds set so old operations keep their Python names, and the change lines."""
    if not previous:
        return dict(document), ()
    ops = spec_operations(document)
    names = _Names({})
    new_ids: Dict[OperationKey, str] = {}
    lines: List[str] = []
    unpinned: Set[OperationKey] = set()
    for key in _pin_order(ops, previous):
        op, old = ops[key], previous[key]
        current = python_method_name(op.operation_id, op.method, op.path)
        holder = names.holder(old.name, op.class_names)
        op_id = op.operation_id if current == old.name else operation_id_for(old.name)
        if holder is not None or (op_id is None and current != old.name):
            why = (f"{old.name} is taken by {label(holder)}" if holder is not None
                   else f"no operationId generates {old.name}")
            lines.append(f"{op.label}: cannot keep {old.qualified_name} ({why})")
            unpinned.add(key)
            continue
        names.take(old.name, op.class_names, key)
        if op_id is not None and op_id != op.operation_id:
            new_ids[key] = op_id
            lines.append(f"{op.label}: operationId {op.operation_id} -> {op_id} (keeps {old.qualified_name})")
    for key, op in ops.items():
        if key in previous and key not in unpinned:
            continue
        name = python_method_name(op.operation_id, op.method, op.path)
        where = "/".join(op.class_names)
        if names.free(name, op.class_names, key):
            names.take(name, op.class_names, key)
            if key not in previous and split_suffix(name)[1] is not None:
                lines.append(f"{op.label}: new name {where}.{name} carries the server's numbering "
                             f"(operationId {op.operation_id})")
            continue
        holder = names.holder(name, op.class_names)
        fresh, op_id = _fresh_name(name, op.class_names, key, names)
        names.take(fresh, op.class_names, key)
        new_ids[key] = op_id
        lines.append(f"{op.label}: new name {where}.{fresh}, operationId {op.operation_id} -> {op_id} "
                     f"({name} is kept by {label(holder) if holder else 'another operation'})")
    for line in lines:
        log.debug("name pinning: %s", line)
    return _with_operation_ids(document, new_ids), tuple(lines)


def _with_operation_ids(document: Document, new_ids: Mapping[OperationKey, str]) -> Document:
    """A copy of `document` with the given operationIds; untouched subtrees are shared, not copied."""
    out = dict(document)
    if not new_ids:
        return out
    paths = dict(document["paths"])
    for (method, path), op_id in new_ids.items():
        item = dict(paths[path])
        item[method.lower()] = {**item[method.lower()], "operationId": op_id}
        paths[path] = item
    out["paths"] = paths
    return out


@dataclass(frozen=True)
class PinPlan:
    """The pinned document and what the step reports, computed before the step is logged."""

    document: Document
    lines: Tuple[str, ...] = ()
    known: int = 0
    skipped: str = ""  # why nothing was pinned (the step is then logged as skipped)

    def record(self, steps: "StepLog") -> Tuple[str, ...]:
        """Log the "pin method names" step; return its notes."""
        if self.skipped:
            steps.skip("pin method names", self.skipped)
            return ()
        with steps.step("pin method names") as step:
            pinned = sum(1 for line in self.lines if "(keeps " in line)
            step.detail = (f"{self.known} operations known, {pinned} operationId(s) pinned, "
                           f"{len(self.lines) - pinned} other note(s)")
            for line in self.lines:
                log.info("    %s", line)
        return self.lines


def plan_pinning(document: Document, http_dir: Optional[Path], enabled: bool = True) -> PinPlan:
    """`document` pinned to the client at `http_dir` (none there, or disabled: unchanged); pure, no logging."""
    if not enabled:
        return PinPlan(document, skipped="--no-pin-names")
    if http_dir is None or not (http_dir / "api").is_dir():
        return PinPlan(document, skipped="no previous client to keep names from")
    previous = read_client_operations(http_dir)
    pinned, lines = pin_operation_ids(document, previous)
    return PinPlan(pinned, tuple(lines), len(previous))


def pin_step(spec: "PreparedSpec", http_dir: Optional[Path], steps: "StepLog",
             enabled: bool = True) -> Tuple["PreparedSpec", Tuple[str, ...]]:
    """The "pin method names" step: `spec` pinned to the client at `http_dir` (none there: unchanged)."""
    plan = plan_pinning(spec.document, http_dir, enabled)
    return dataclasses.replace(spec, document=plan.document), plan.record(steps)
