"""Reading what the matrix did: nox's JSON report, JUnit files, baseline verdicts and summaries."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from conductor_regen.errors import VerificationError

NEW, PREEXISTING = "new", "pre-existing"


@dataclasses.dataclass(frozen=True)
class JunitSummary:
    """Counts and the first problem from one JUnit XML file."""

    passed: int = 0
    failed: int = 0  # failures and errors
    skipped: int = 0
    seconds: float = 0.0
    first_failure: str = ""  # test id
    message: str = ""  # first line of its failure message
    summary: str = ""  # a suite's own one-line summary (property "summary"; the contract session writes one)
    failures: Tuple[Tuple[str, str], ...] = ()  # (test id, first message line) of every failure


def _first_line(text: str) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


# Messages that say nothing about the cause (pytest's collection errors, mypy's report).
_GENERIC_MESSAGES = frozenset({"collection failure", "mypy produced messages"})


def _failure_message(problem: ET.Element) -> str:
    message = _first_line(problem.get("message") or "")
    text = problem.text or ""
    if message and message not in _GENERIC_MESSAGES:
        return message
    # pytest puts the exception in lines starting with "E   "; mypy lists its errors.
    e_lines = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ") and ln[1:].strip()]
    if e_lines:
        return e_lines[0]
    return _first_line(text) or message


def parse_junit(path: Path) -> JunitSummary:
    """Read a pytest (or mypy) JUnit XML file; raise VerificationError if it cannot be read."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise VerificationError(f"cannot read JUnit file {path}: {exc}") from exc
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    passed = failed = skipped = 0
    seconds = 0.0
    failures: List[Tuple[str, str]] = []
    for suite in suites:
        try:
            seconds += float(suite.get("time") or 0)
        except ValueError:
            pass
        for case in suite.iter("testcase"):
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if problem is not None:
                failed += 1
                classname = case.get("classname") or ""
                name = case.get("name") or "?"
                failures.append((f"{classname}::{name}" if classname else name, _failure_message(problem)))
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    summary = next((p.get("value") or "" for suite in suites for p in suite.iter("property")
                    if p.get("name") == "summary"), "")
    first, message = failures[0] if failures else ("", "")
    return JunitSummary(passed, failed, skipped, round(seconds, 3), first, message, summary, tuple(failures))


@dataclasses.dataclass(frozen=True)
class SessionResult:
    """What one nox session (one session x one Python) did."""

    session: str
    python: str  # "" for sessions that use nox's own interpreter
    result: str  # passed | failed | skipped
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    first_failure: str = ""
    message: str = ""  # first line of the first failure, or nox's reason
    summary: str = ""  # the session's own summary line from its JUnit file (the contract's figures)
    failures: Tuple[Tuple[str, str], ...] = ()  # (test id, message) of every failure the JUnit file lists
    # Against a pristine tree: "new" (some failure is new), "pre-existing" (all of them were there
    # before), "" (not judged: passed, skipped, or no baseline).
    verdict: str = ""
    preexisting: int = 0  # failures that the pristine tree had too
    baseline: str = ""  # where the pristine verdict came from ("backup <id>", "git HEAD <sha>")

    @property
    def full_name(self) -> str:
        """The session as `nox -s` names it (`async_unit-3.12`, `lint`)."""
        return f"{self.session}-{self.python}" if self.python else self.session

    @property
    def failure_ids(self) -> Tuple[str, ...]:
        """Ids of what failed: the JUnit test ids, or the session itself when it left none."""
        if self.result != "failed":
            return ()
        return tuple(i for i, _ in self.failures) or (f"session {self.full_name}",)

    @property
    def blocking(self) -> bool:
        """A failure that counts: not one the pristine tree had too."""
        return self.result == "failed" and self.verdict != PREEXISTING

    @property
    def detail(self) -> str:
        """One line: '37 passed', 'FAILED test: message', or the skip reason (after the session's summary)."""
        if self.result == "skipped":
            return f"skipped: {self.message}" if self.message else "skipped"
        lead = f"{self.summary}; " if self.summary else ""
        if self.result == "failed" and self.verdict:
            new = (self.failed if self.failures else 1) - self.preexisting
            head = f"{new} new, {self.preexisting} pre-existing (vs {self.baseline})"
            return f"{lead}{head}: {self._first_failure_line()}"
        if self.result == "failed":
            return f"{lead}{self._first_failure_line()}"
        if self.summary:
            return self.summary
        counts = f"{self.passed} passed" + (f", {self.skipped} skipped" if self.skipped else "")
        return counts

    def _first_failure_line(self) -> str:
        if self.first_failure:
            return f"FAILED {self.first_failure}: {self.message}" if self.message else f"FAILED {self.first_failure}"
        return f"FAILED: {self.message or 'see the nox output'}"

    def as_row(self) -> Dict[str, str]:
        """The report's test row: session, python, result, verdict, detail."""
        return {"session": self.session, "python": self.python or "-", "result": self.result,
                "verdict": self.verdict, "detail": self.detail}


_NOX_STATUS = {"success": "passed", "skipped": "skipped", "failed": "failed", "aborted": "failed"}


def _split_name(entry: Mapping[str, Any]) -> Tuple[str, str, str]:
    """(full name as in `nox -s`, session, python) of a report entry."""
    name = str(entry.get("name") or "")
    signatures = [str(s) for s in entry.get("signatures") or []]
    full = signatures[0] if signatures else name
    python = str((entry.get("args") or {}).get("python") or "")
    if not python and name and full.startswith(f"{name}-"):
        python = full[len(name) + 1:]
    return full, name or full, python


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(errors="replace").splitlines() if line.strip())


def results_from_report(report: Mapping[str, Any], junit_dir: Path) -> List[SessionResult]:
    """Combine nox's --report JSON with each session's JUnit XML (or flake8 text) output."""
    results: List[SessionResult] = []
    for entry in report.get("sessions") or []:
        full, session, python = _split_name(entry)
        result = _NOX_STATUS.get(str(entry.get("result")), "failed")
        reason = _first_line(str(entry.get("reason") or ""))
        seconds = round(float(entry.get("duration") or 0.0), 1)
        xml, txt = junit_dir / f"{full}.xml", junit_dir / f"{full}.txt"
        if result != "skipped" and xml.is_file():
            j = parse_junit(xml)
            message = j.message if j.first_failure else reason
            results.append(SessionResult(session, python, result, j.passed, j.failed, j.skipped,
                                         seconds, j.first_failure, message if result == "failed" else "",
                                         summary=j.summary, failures=j.failures if result == "failed" else ()))
        elif result != "skipped" and txt.is_file():  # flake8's report: one problem per line
            problems = _count_lines(txt)
            first = _first_line(txt.read_text(errors="replace"))
            results.append(SessionResult(session, python, result, 0 if problems else 1, problems, 0,
                                         seconds, first.split(": ", 1)[0] if first else "",
                                         first.split(": ", 1)[-1] if first else reason))
        else:
            results.append(SessionResult(session, python, result, seconds=seconds,
                                         message=reason if result != "passed" else ""))
    return results


def gate_detail(rows: Sequence[Mapping[str, str]]) -> str:
    """The gate's figures for the steps table: each session's result, the contract's own summary line."""
    parts = []
    for row in rows:
        detail = row.get("detail", "")
        if detail.startswith(("contract: ", "lint: ", "typecheck: ")):  # the session's own summary line
            parts.append(detail if len(detail) <= 200 else detail[:197] + "...")
        else:
            name = row.get("session", "?") + (f"-{row['python']}" if row.get("python", "-") != "-" else "")
            verdict = f" ({row['verdict']})" if row.get("verdict") else ""
            parts.append(f"{name} {row.get('result', '?')}{verdict}")
    return "; ".join(parts)


def _is_known(failure: Tuple[str, str], known: Mapping[str, str], import_errors: "set[str]") -> bool:
    """Failed on the pristine tree too: the same test id, or a module that fails to import the same way.

    The second case is a test module this run added (e.g. an adapter test) that cannot even be
    collected for the reason the pristine tree's modules could not (Python 3.9 lacking typing.Self).
    """
    test_id, message = failure
    return test_id in known or ("::" not in test_id and bool(message) and message in import_errors)


def with_baseline(results: Sequence[SessionResult], before: Mapping[str, Sequence[Any]],
                  source: str) -> List[SessionResult]:
    """Mark each failed session's failures new or pre-existing, given what failed on the pristine tree.

    `before` maps a session's full name to the pristine tree's failures there, each a test id or
    an (id, message) pair; a session missing from it is not judged. A failure is pre-existing when
    its id failed before, or when it is a module that fails to import with a message a module
    of the pristine tree failed with. The first failure shown becomes the first new one.
    """
    judged: List[SessionResult] = []
    for r in results:
        old = before.get(r.full_name)
        if r.result != "failed" or old is None:
            judged.append(r)
            continue
        pairs = [(str(o), "") if isinstance(o, str) else (str(o[0]), str(o[1])) for o in old]
        known = dict(pairs)
        import_errors = {m for i, m in pairs if "::" not in i and m}
        records = r.failures or tuple((i, r.message) for i in r.failure_ids)
        fresh = [f for f in records if not _is_known(f, known, import_errors)]
        verdict = NEW if fresh else PREEXISTING
        first, message = fresh[0] if fresh else (r.first_failure, r.message)
        # The contract counts every failure as new on its own; after judging, its line says what is new.
        summary = re.sub(r"\b\d+ new failures\b", f"{len(fresh)} new failures", r.summary)
        judged.append(dataclasses.replace(r, verdict=verdict, preexisting=len(records) - len(fresh),
                                          baseline=source, first_failure=first, message=message, summary=summary))
    return judged


def blocking_failures(results: Sequence[SessionResult], absolute: bool = False) -> List[SessionResult]:
    """The failed sessions that fail a run: new failures only (every failure with `absolute`)."""
    return [r for r in results if r.blocking or (absolute and r.result == "failed")]


def matrix_passed(results: Sequence[SessionResult], absolute: bool = False) -> bool:
    """The one pass rule (regenerate's gate and `invoke test`): a session ran, and no failure counts."""
    return not blocking_failures(results, absolute) and any(r.result != "skipped" for r in results)


def format_summary(results: Sequence[SessionResult]) -> List[str]:
    """A plain-text table of the results, then a totals line."""
    header = ("session", "python", "result", "verdict", "passed", "failed", "skipped", "seconds", "detail")
    rows = [header]
    for r in results:
        counted = r.result != "skipped"
        detail = r.summary if r.result == "passed" else r.detail  # the contract's figures when it passed
        if len(detail) > 160:
            detail = detail[:157] + "..."
        rows.append((r.session, r.python or "-", r.result, r.verdict or "-",
                     str(r.passed) if counted else "-", str(r.failed) if counted else "-",
                     str(r.skipped) if counted else "-", f"{r.seconds:.1f}", detail))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    numeric = {4, 5, 6, 7}
    lines = []
    for row in rows:
        cells = [row[i].rjust(widths[i]) if i in numeric else row[i].ljust(widths[i])
                 for i in range(len(widths))]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
    counts = {k: sum(1 for r in results if r.result == k) for k in ("passed", "failed", "skipped")}
    pre = sum(1 for r in results if r.result == "failed" and r.verdict == PREEXISTING)
    lines.append(f"{len(results)} session(s): {counts['passed']} passed, {counts['failed']} failed"
                 + (f" ({pre} with pre-existing failures only)" if pre else "")
                 + f", {counts['skipped']} skipped")
    return lines


_SESSION_START = re.compile(r"^nox > Running session (\S+)", re.M)


def session_output(output: str, name: str) -> str:
    """The part of nox's captured output that one session (`async_tests-3.11`) wrote."""
    starts = [(m.start(), m.group(1)) for m in _SESSION_START.finditer(output)]
    for n, (start, session) in enumerate(starts):
        if session == name:
            end = starts[n + 1][0] if n + 1 < len(starts) else len(output)
            return output[start:end].rstrip()
    return ""
