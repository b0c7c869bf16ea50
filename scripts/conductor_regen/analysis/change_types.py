"""The change record every comparison produces, and its severities (shared by `changes` and its helpers).

A `Change` is one user-visible difference between two generated clients. Its fields are the JSON
report's `changes[]` objects (docs/compatibility.md documents them as a stable interface): the
comparison fills `severity`, `kind`, `operation`, `detail`, `old` and `new`; the impact tagging
(`impact.py`) fills `impact`, `impact_detail`, `where` and `methods` once SDK usage is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Final, Literal, Tuple, get_args

# Breaking: SDK users' code may stop working; compatible: additions and widenings; info: no effect on callers.
Severity = Literal["breaking", "compatible", "info"]
SEVERITIES: Tuple[Severity, ...] = get_args(Severity)
BREAKING: Final = "breaking"
COMPATIBLE: Final = "compatible"
INFO: Final = "info"
SEVERITY_ORDER: Dict[Severity, int] = {BREAKING: 0, COMPATIBLE: 1, INFO: 2}


@dataclass(frozen=True)
class Change:
    """One user-visible difference between two clients."""

    severity: Severity
    kind: str  # operation-renamed, model-removed, ...
    operation: str  # "GET /workflow/search", a model ("Workflow") or a field ("Workflow.idempotencyKey")
    detail: str
    impact: str = ""  # one of impact.GROUPS once SDK usage is known
    impact_detail: str = ""  # file:line of the SDK code concerned, or how it was repaired
    old: str = ""  # what it was: a method, a parameter, a return type, a field annotation ("" when not one value)
    new: str = ""  # what it is now, in the same terms
    where: Tuple[str, ...] = ()  # every file:line of SDK code concerned (impact_detail quotes the first few)
    methods: Tuple[str, ...] = ()  # public SDK methods whose behaviour changes ("Class.method")

    def sort_key(self) -> Tuple[int, str, str, str]:
        """Breaking first, then by kind, subject and detail."""
        return (SEVERITY_ORDER.get(self.severity, 9), self.kind, self.operation, self.detail)
