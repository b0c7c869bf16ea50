"""The run report: a dataclass rendered to JSON (for machines) and Markdown (for people)."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Dict, Iterable, List, Literal, Optional, Sequence, Tuple

from conductor_regen.analysis.changes import INFO, SEVERITIES, Change, Severity, render_markdown
from conductor_regen.analysis.impact import count_by_impact, removed_line, summary
from conductor_regen.matrix.contract.notes import ACCEPTED_BREAK
from conductor_regen.progress import StepResult

# The JSON reports' format (`invoke regenerate --report`, the backup's report.json, `invoke diff --report`):
# bumped whenever a documented key (docs/compatibility.md, "The JSON reports") changes meaning or goes away.
SCHEMA = "conductor-regen.report/1"

# How a run ended: swapped and gated, undone after the swap, stopped before it, planned only, or nothing to do.
Outcome = Literal["succeeded", "rolled-back", "failed", "dry-run", "no-op"]


@dataclasses.dataclass(frozen=True)
class FileChanges:
    """Files of the managed folders, relative to the SDK's package dir."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        """How many files differ."""
        return len(self.added) + len(self.removed) + len(self.changed)


@dataclasses.dataclass(frozen=True)
class Report:
    """Everything a run did. Only step seconds (and the backup id's timestamp) vary between runs."""

    command: str
    outcome: Outcome
    sdk: str
    spec: Dict[str, Any]
    generator: Dict[str, Any]
    fixups: tuple[str, ...]
    steps: tuple[StepResult, ...]
    files: FileChanges = FileChanges()
    backup_id: Optional[str] = None
    error: Optional[str] = None
    changes: tuple[Dict[str, Any], ...] = ()
    tests: tuple[Dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    # The call binding check: calls bound, findings, keyword rewrites, pre-existing, unresolved receivers.
    binding: Dict[str, Any] = dataclasses.field(default_factory=dict)
    plan: tuple[str, ...] = ()  # a dry run's plan (steps, file counts, files added outside)

    def to_json(self) -> str:
        """Stable JSON (sorted keys, file lists sorted), with the format's `schema` and the changes' `summary`."""
        data = dataclasses.asdict(self)
        data["files"] = {k: sorted(v) for k, v in data["files"].items()}
        data["schema"] = SCHEMA
        data["summary"] = summary([_change(c) for c in self.changes])
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def to_markdown(self) -> str:
        """Human rendering: summary, steps, files, provenance."""
        out: List[str] = [f"# Regeneration report: {self.outcome}", ""]
        changes = [_change(c) for c in self.changes]
        if any(c.impact for c in changes):
            # What this run means for the SDK's code, before anything else: one line per impact group.
            out += [f"- {group}: {n}" for group, n in count_by_impact(changes).items()]
            out += [f"- {removed_line(changes)}", ""]
        out += [f"- command: `{self.command}`", f"- SDK: `{self.sdk}`"]
        out.append(f"- spec: `{self.spec.get('source', '?')}` (info.version {self.spec.get('version', '?')}, "
                   f"sha256 `{str(self.spec.get('sha256', ''))[:16]}`)")
        out.append(f"- generator: OpenAPI Generator {self.generator.get('version', '?')} "
                   f"({self.generator.get('backend', '?')})")
        out.append(f"- fixups: {', '.join(self.fixups) or 'none'}")
        out.append(f"- backup: `{self.backup_id}`" if self.backup_id else "- backup: none")
        if self.error:
            out += ["", f"**Error:** {self.error}"]
        if self.plan:
            out += ["", "## Plan", "", "```", *self.plan, "```"]
        out += ["", "## Steps", "", "| step | status | seconds | detail |", "|---|---|---:|---|"]
        out += [f"| {s.name} | {s.status} | {s.seconds:.1f} | {s.detail} |" for s in self.steps]
        out += ["", "## Files", "",
                f"{len(self.files.added)} added, {len(self.files.removed)} removed, "
                f"{len(self.files.changed)} changed", ""]
        out += _listing("added", self.files.added) + _listing("removed", self.files.removed)
        out += _listing("changed", self.files.changed)
        if self.changes:
            out += render_markdown(changes).splitlines() + [""]
        if self.binding:
            out += _binding_section(self.binding)
        if self.tests:
            # verdict: "new" or "pre-existing" when a failure was compared with the pristine tree.
            out += ["## Tests", "", "| session | python | result | verdict | detail |", "|---|---|---|---|---|"]
            out += [f"| {t.get('session', '')} | {t.get('python', '')} | {t.get('result', '')} | "
                    f"{t.get('verdict') or '-'} | {t.get('detail', '')} |" for t in self.tests]
            out.append("")
        accepted = [n for n in self.notes if n.startswith(ACCEPTED_BREAK)]
        if accepted:  # breaks a maintainer went ahead with, apart from everything else
            out += ["## Accepted breaks", ""] + [f"- {n[len(ACCEPTED_BREAK):]}" for n in accepted] + [""]
        others = [n for n in self.notes if not n.startswith(ACCEPTED_BREAK)]
        if others:
            out += ["## Notes", ""] + [f"- {n}" for n in others] + [""]
        return "\n".join(out).rstrip() + "\n"


@dataclasses.dataclass
class ReportDraft:
    """A run's report while the run is under way: filled in as steps finish, then finished with its outcome."""

    command: str
    sdk: str
    spec: Dict[str, str] = dataclasses.field(default_factory=dict)
    generator: Dict[str, str] = dataclasses.field(default_factory=dict)
    fixups: Tuple[str, ...] = ()
    notes: Tuple[str, ...] = ()
    files: FileChanges = FileChanges()
    changes: Tuple[Dict[str, Any], ...] = ()
    binding: Dict[str, Any] = dataclasses.field(default_factory=dict)
    plan: Tuple[str, ...] = ()
    backup_id: Optional[str] = None
    tests: Tuple[Dict[str, Any], ...] = ()

    def note(self, notes: Iterable[str]) -> None:
        """Add notes, in order, after those collected so far."""
        self.notes += tuple(notes)

    def finish(self, outcome: Outcome, steps: Iterable[StepResult], error: Optional[str] = None) -> Report:
        """The finished report: what was drafted, the steps as they ran, the outcome and any error."""
        return Report(command=self.command, outcome=outcome, sdk=self.sdk, spec=dict(self.spec),
                      generator=dict(self.generator), fixups=self.fixups, steps=tuple(steps), files=self.files,
                      backup_id=self.backup_id, error=error, changes=self.changes, tests=self.tests,
                      notes=self.notes, binding=dict(self.binding), plan=self.plan)


def _listing(title: str, names: Sequence[str], limit: int = 200) -> List[str]:
    if not names:
        return []
    rows = [f"- `{n}`" for n in sorted(names)[:limit]]
    if len(names) > limit:
        rows.append(f"- ... and {len(names) - limit} more")
    return [f"### {title}", ""] + rows + [""]


def _binding_section(binding: Dict[str, Any]) -> List[str]:
    """Call binding figures, then each finding, rewrite, pre-existing problem and unresolved receiver."""
    out = ["## Call binding", "",
           f"{binding.get('calls', 0)} SDK call(s) into the generated client bound against the new signatures: "
           f"{len(binding.get('findings', []))} finding(s), {len(binding.get('rewritten', []))} rewritten to "
           f"keywords, {len(binding.get('preexisting', []))} pre-existing problem(s), "
           f"{len(binding.get('unresolved', []))} unresolved receiver(s)", ""]
    for title, key in (("would not bind", "findings"), ("rewritten", "rewritten"),
                       ("already failing before this run", "preexisting"), ("receiver not resolved", "unresolved")):
        items = binding.get(key) or []
        if items:
            out += [f"### {title}", ""] + [f"- {item}" for item in items] + [""]
    return out


def _change(data: Dict[str, Any]) -> Change:
    """A change back from its report dict (fields the dict lacks keep their defaults; lists become tuples)."""
    known = {f.name for f in dataclasses.fields(Change)} - {"severity"}
    severity: Severity = next((s for s in SEVERITIES if s == data.get("severity")), INFO)
    values: Dict[str, Any] = {k: tuple(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v)
                              for k, v in data.items() if k in known}
    return Change(severity, **values)


def changes_document(changes: Sequence[Change], command: str, spec: Dict[str, Any]) -> str:
    """`invoke diff --report`'s JSON: the same `schema`, `summary` and `changes[]` as a run's report."""
    from conductor_regen.analysis.changes import to_json_list

    data = {"schema": SCHEMA, "command": command, "spec": spec, "summary": summary(changes),
            "changes": to_json_list(changes)}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


# Notes a maintainer has to act on (review, fix or decide); all the others are only in the report.
_ACTION = re.compile(r"^(warning|unresolved|would not bind|carried over|review|accepted break)\b|deprecated|"
                     r"did not import|cannot",
                     re.I)


def action_notes(notes: Sequence[str]) -> List[str]:
    """The notes that need action, each once, in order."""
    seen: set[str] = set()
    out: List[str] = []
    for note in notes:
        if note not in seen and _ACTION.search(note):
            seen.add(note)
            out.append(note)
    return out
