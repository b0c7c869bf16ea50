"""A model of how OpenAPI Generator 7.14.0 names client methods, for the name-pinning tests.

The tests check this model against the real generator's output, then use it to predict the names a
pinned spec generates (cheaper than generating every case). The product only pins; it never predicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Tuple

from conductor_regen.analysis.operations import ClientOperation, OperationKey, spec_operations
from conductor_regen.generator.naming import python_method_name, underscore


def api_module_name(class_name: str) -> str:
    """The module (file stem) of an API class: `HumanTaskApi` -> `human_task_api`."""
    return underscore(class_name)


@dataclass(frozen=True)
class NameShift:
    """An operation both clients have under a different Python name or class."""

    method: str
    path: str
    old: str  # "WorkflowResourceApi.search"
    new: str  # "WorkflowResourceApi.search1"

    @property
    def line(self) -> str:
        """`GET /workflow/search: WorkflowResourceApi.search -> WorkflowResourceApi.search1`."""
        return f"{self.method} {self.path}: {self.old} -> {self.new}"


def predict_client_operations(document: Mapping[str, Any]) -> Dict[OperationKey, ClientOperation]:
    """The operations the generator would make of `document`, with its per-class de-duplication."""
    per_class: Dict[str, List[str]] = {}
    sites: Dict[OperationKey, List[Tuple[str, str]]] = {}
    for key, op in spec_operations(document).items():
        base = python_method_name(op.operation_id, op.method, op.path)
        for class_name in op.class_names:
            taken = per_class.setdefault(class_name, [])
            # DefaultCodegen.addOperationToGroup: one pass over the class's earlier names, in order.
            unique, counter = base, 0
            for earlier in taken:
                if unique == earlier:
                    unique, counter = f"{base}_{counter}", counter + 1
            taken.append(unique)
            sites.setdefault(key, []).append((class_name, unique))
    result: Dict[OperationKey, ClientOperation] = {}
    for key in sorted(sites):
        ordered = sorted(sites[key])  # read_client_operations lists a multi-tag op by module order too
        class_name, name = ordered[0]
        result[key] = ClientOperation(key[0], key[1], api_module_name(class_name), class_name, name,
                                      tuple(c for c, _ in ordered[1:]))
    return result


def shifted_names(previous: Mapping[OperationKey, ClientOperation],
                  new_ops: Mapping[OperationKey, ClientOperation]) -> List[NameShift]:
    """Operations in both clients whose Python name or class changed, sorted by operation."""
    shifts = []
    for key in sorted(previous.keys() & new_ops.keys()):
        old, new = previous[key], new_ops[key]
        if (old.class_name, old.name) != (new.class_name, new.name):
            shifts.append(NameShift(key[0], key[1], old.qualified_name, new.qualified_name))
    return shifts
