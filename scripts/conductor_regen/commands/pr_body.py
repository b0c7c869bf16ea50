"""The commit message (and pull request body) of a run on a branch, from the run's JSON report.

One Markdown text a reviewer reads top to bottom: what truly breaks SDK code first (the method,
file:line, what to do), then what the server removed and the client keeps (deprecated), then what
else needs a look, then compatible changes, the counts, the gate's verdict, and the command that
reproduces it. The subject line says what changed: the spec's info.version and sha256 prefix.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

from conductor_regen.analysis.changes import INFO, SEVERITIES, Change, Severity
from conductor_regen.analysis.impact import BREAKS, GROUPS, REPAIRED, UNCHECKED, removed_line
from conductor_regen.generator.provenance import public_source

_REMOVED_KINDS = ("operation-removed", "api-removed", "model-removed", "field-removed")
_LISTED = 60  # entries per section before "... and N more"
_SUBJECT = "Regenerate the async client from spec {version} (sha256 {sha})"


INPUT_TRAILER = "Conductor-Regen-Input"  # the run's input key (drift.run_input), a git trailer of the commit
GATE_FAILED = ", gate failed"  # the subject's end when the committed tree failed the gate (--keep-failed)
_TRAILER = re.compile(rf"(?m)^{INPUT_TRAILER}: ([0-9a-f]{{64}})\s*\Z")  # the message's last line


@dataclasses.dataclass(frozen=True)
class CommitText:
    """A run's commit: the subject line and the Markdown body (also the pull request's title and body), and the
    key of the run's input, a trailer of the commit message only."""

    subject: str
    body: str
    input_key: str = ""

    @property
    def message(self) -> str:
        """What `git commit --file -` gets."""
        trailer = f"\n{INPUT_TRAILER}: {self.input_key}\n" if self.input_key else ""
        return f"{self.subject}\n\n{self.body}{trailer}"

    @classmethod
    def from_message(cls, message: str) -> "CommitText":
        """`message` read back from a commit: its subject, body and input key (empty without the trailer)."""
        subject, _, rest = message.partition("\n")
        trailer = _TRAILER.search(rest)
        body = rest[:trailer.start()] if trailer is not None else rest
        return cls(subject, body.strip("\n") + "\n", trailer.group(1) if trailer is not None else "")

    @property
    def gate_failed(self) -> bool:
        """Does the committed tree fail the gate (kept with --keep-failed)?"""
        return self.subject.endswith(GATE_FAILED)


def _change(data: Mapping[str, Any]) -> Change:
    """A change back from a report's `changes[]` entry."""
    known = {f.name for f in dataclasses.fields(Change)} - {"severity"}
    severity: Severity = next((s for s in SEVERITIES if s == data.get("severity")), INFO)
    values = {k: tuple(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v)
              for k, v in data.items() if k in known}
    return Change(severity, **values)  # type: ignore[arg-type]


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _more(lines: List[str], total: int) -> List[str]:
    if total > len(lines):
        lines.append(f"- ... and {total - len(lines)} more (the full report lists them)")
    return lines


def what_to_do(change: Change) -> str:
    """The fix a maintainer makes in SDK code for a change that breaks it."""
    if change.impact_detail.startswith("does not bind"):
        return "pass the arguments the new signature takes" + (
            f" ({_code(change.old)} -> {_code(change.new)})" if change.old and change.new else "")
    if change.impact_detail.startswith("unresolved"):
        return "the client no longer has it: call what replaces it, or keep it with `--removed keep`"
    if change.kind in ("operation-removed", "api-removed"):
        return ("the new server answers 404: stop calling it (remove or deprecate the SDK method, or move it to "
                "the operation that replaces it)")
    if change.kind == "operation-return-changed":
        return (f"change the method's return annotation, or map the new response ({_code(change.new)}) to what "
                "it promises")
    return "update the SDK code there to the new shape" + (
        f" ({_code(change.old)} -> {_code(change.new)})" if change.old and change.new else "")


def _break_lines(changes: Sequence[Change]) -> List[str]:
    """One entry per SDK method (or place) that breaks: where, each change behind it, what to do."""
    groups: Dict[Tuple[str, ...], List[Change]] = {}
    for c in changes:
        groups.setdefault(c.methods or c.where or (c.operation,), []).append(c)
    out: List[str] = []
    for n, (key, members) in enumerate(groups.items()):
        if n == _LISTED:
            out.append(f"- ... and {len(groups) - _LISTED} more (the full report lists them)")
            break
        wheres = sorted({w for c in members for w in c.where})
        where = ", ".join(_code(w) for w in wheres[:3]) + (f" (+{len(wheres) - 3} more)" if len(wheres) > 3 else "")
        who = ", ".join(_code(m) for m in key) if members[0].methods else "hand-written SDK code"
        out.append(f"- **{who}**" + (f" at {where}" if where else ""))
        out += [f"  - {_code(c.operation)} ({c.kind}): {_one_line(c.detail)}" for c in members]
        todo = list(dict.fromkeys(what_to_do(c) for c in members))
        out += [f"  - what to do: {t}" for t in todo]
    return out


def _kept(change: Change) -> bool:
    """Removed from the server's API, and kept in the new client (deprecated) or on the model's adapter."""
    return change.kind in _REMOVED_KINDS and (bool(change.new) or "kept" in change.impact_detail
                                              or "keeps it" in change.detail)


def _entry(c: Change) -> str:
    text = f"- {_code(c.operation)} ({c.kind}): {_one_line(c.detail)}"
    return text + (f" — {_one_line(c.impact_detail)}" if c.impact_detail else "")


def _kept_entry(c: Change) -> str:
    kept = f"kept as {_code(c.new)} (deprecated)" if c.new else _one_line(c.impact_detail or c.detail)
    called = f"; called by {', '.join(_code(m) for m in c.methods)}" if c.methods else ""
    return f"- {_code(c.operation)} ({c.kind}): {kept}{called}"


def _section(title: str, changes: Sequence[Change], lead: str = "", entry: Callable[[Change], str] = _entry
             ) -> List[str]:
    if not changes:
        return []
    lines = [entry(c) for c in changes[:_LISTED]]
    return [f"## {title} ({len(changes)})", "", *([lead, ""] if lead else []), *_more(lines, len(changes)), ""]


def _gate(report: Mapping[str, Any], kept_failed: bool) -> List[str]:
    steps = {s.get("name"): s for s in report.get("steps", [])}
    passed = report.get("outcome") == "succeeded"
    out = [f"## Gate: {'passed' if passed else 'failed'}", ""]
    if not passed and report.get("error"):
        out += [f"**{_one_line(str(report['error']))}**", ""]
    for name in ("import gate", "tests"):
        step = steps.get(name)
        if step:
            detail = f" — {_one_line(str(step.get('detail') or ''))}" if step.get("detail") else ""
            out.append(f"- {name}: {step.get('status')}{detail}")
    for test in report.get("tests", []):
        verdict = f", {test['verdict']}" if test.get("verdict") else ""
        python = f" ({test['python']})" if test.get("python") not in (None, "", "-") else ""
        out.append(f"- session {test.get('session')}{python}: {test.get('result')}{verdict}")
    reviews = [n for n in report.get("notes", []) if str(n).startswith(("review", "accepted break"))]
    out += [f"- {_one_line(str(n))}" for n in reviews[:_LISTED]]
    if kept_failed:
        out += ["", "This branch keeps the tree that failed the gate (`--keep-failed`), to be reviewed and fixed "
                "here: do not merge it as it is."]
    return out + [""]


def _counts(changes: Sequence[Change], summary: Mapping[str, Any], files: Mapping[str, Any]) -> List[str]:
    impact: Dict[str, int] = dict(summary.get("impact") or {})
    severity: Dict[str, int] = dict(summary.get("severity") or {})
    out = ["## Counts", ""]
    out += [f"- {group}: {impact.get(group, 0)}" for group in GROUPS]
    out.append(f"- {removed_line(changes)}")
    out.append(f"- {severity.get('breaking', 0)} breaking, {severity.get('compatible', 0)} compatible, "
               f"{severity.get('info', 0)} info (for any user of the generated client)")
    out.append(f"- files: {len(files.get('added', []))} added, {len(files.get('removed', []))} removed, "
               f"{len(files.get('changed', []))} changed")
    return out + [""]


def reproduce_command(argv: Sequence[str], program: str, spec: str, branch: str) -> str:
    """The command that made the run, as typed from the task's name on, with credentials dropped from URLs."""
    if "regenerate" in argv:
        words = list(argv[list(argv).index("regenerate"):])
    else:
        words = ["regenerate", "--spec", spec, "--branch", branch, "--commit"]
    clean = []
    for word in words:
        flag, eq, value = word.partition("=")
        clean.append(f"{flag}={public_source(value)}" if eq and flag.startswith("-") else public_source(word))
    return f"{program} {shlex.join(clean)}"


def commit_text(report: Mapping[str, Any], reproduce: str, kept_failed: bool = False,
                input_key: str = "") -> CommitText:
    """The subject and Markdown body of a run's commit, from its JSON report (`Report.to_json()`)."""
    spec = report.get("spec") or {}
    version, sha = str(spec.get("version") or "?"), str(spec.get("sha256") or "")
    subject = _SUBJECT.format(version=version, sha=sha[:12] or "?")
    if report.get("outcome") != "succeeded":
        subject += GATE_FAILED
    changes = [_change(c) for c in report.get("changes", [])]
    breaks = [c for c in changes if c.impact == BREAKS]
    kept = [c for c in changes if _kept(c) and c not in breaks]
    kept_and_called = [c for c in changes if _kept(c) and c in breaks]
    look = [c for c in changes if c not in breaks and c not in kept and (
        c.impact in (UNCHECKED, REPAIRED) or c.severity == "breaking")]
    rest = [c for c in changes if c not in breaks and c not in kept and c not in look]
    files = report.get("files") or {}
    generator = report.get("generator") or {}
    body = [f"Regenerated the async client from the server's spec **{version}** (sha256 `{sha[:16]}`) with "
            f"OpenAPI Generator {generator.get('version', '?')}: {len(files.get('added', []))} file(s) added, "
            f"{len(files.get('removed', []))} removed, {len(files.get('changed', []))} changed.", ""]
    if breaks:
        body += [f"## Breaks SDK code ({len(breaks)})", "",
                 "SDK methods that fail against the new server or client; fix them before merging.", ""]
        body += _break_lines(breaks) + [""]
    else:
        body += ["## Breaks SDK code (0)", "", "Nothing hand-written breaks.", ""]
    body += _section("Removed from the server, kept in the client (deprecated)", kept_and_called + kept,
                     "The client still has them, marked deprecated, so SDK code imports and binds; the new server "
                     "answers them with 404 (any SDK method calling one is listed above).", _kept_entry)
    body += _section("Needs a look", look, "Not checked client-side any more, repaired by the run, or breaking "
                     "only for code that uses the generated client directly.")
    body += _section("Compatible changes", rest)
    body += _counts(changes, _summary(report, changes), files)
    body += _gate(report, kept_failed)
    body += ["## Reproduce", "", "```console", f"$ {reproduce}", "```", "",
             f"spec: {_code(public_source(str(spec.get('source') or '?')))}, info.version {version}, "
             f"sha256 {_code(sha)}"]
    return CommitText(subject, "\n".join(body).rstrip() + "\n", input_key)


def _summary(report: Mapping[str, Any], changes: Sequence[Change]) -> Mapping[str, Any]:
    """The report's `summary` (JSON reports carry it), else counted here."""
    if isinstance(report.get("summary"), Mapping):
        return report["summary"]  # type: ignore[no-any-return]
    from conductor_regen.analysis.impact import summary

    return summary(changes)

