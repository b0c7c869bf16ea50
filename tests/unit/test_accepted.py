"""Accepted findings: a reviewed new finding is listed but does not fail; the file is deterministic and checked."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conductor_regen.errors import ConfigError
from conductor_regen.matrix.accepted import (ACCEPTED_FILE, entries_for, load_accepted, with_accepted,
                                              write_accepted)
from conductor_regen.matrix.findings import Finding, ToolVerdict, judge, to_junit

PKG = "src/conductor/asyncio_client"
RETURN = Finding(f"{PKG}/orkes/orkes_workflow_client.py", 71, 16, "return-value",
                 'Incompatible return value type (got "SignalResponse", expected "WorkflowRunAdapter")',
                 "OrkesWorkflowClient.execute_workflow")
UNDEFINED = Finding(f"{PKG}/orkes/orkes_secret_client.py", 9, 16, "name-defined",
                    'Name "undefined_helper" is not defined', "OrkesSecretClient.get_secret")
OLD = Finding(f"{PKG}/orkes/orkes_base_client.py", 3, 1, "import-untyped", "untyped import", "")


def _verdict(tmp_path: Path, *current: Finding) -> ToolVerdict:
    return judge(list(current), [OLD], root=tmp_path, tool="mypy (x)", baseline="backup b", http_rel=f"{PKG}/http")


def test_an_accepted_finding_is_listed_and_does_not_fail(tmp_path: Path) -> None:
    verdict = _verdict(tmp_path, RETURN, OLD)
    assert verdict.counts() == "1 new, 0 fixed, 1 pre-existing"
    path = write_accepted(tmp_path, entries_for("mypy", verdict.failing, "server sends a WorkflowRun"))
    assert path == tmp_path / ACCEPTED_FILE
    accepted = with_accepted(verdict, load_accepted(tmp_path))
    assert accepted.failing == ()
    assert accepted.counts() == "0 new, 1 accepted, 0 fixed, 1 pre-existing"
    assert accepted.summary_line("typecheck").startswith("typecheck: mypy: 0 new, 1 accepted, 0 fixed, 1 pre-existing")
    assert any(line.startswith("  accepted: ") and "execute_workflow" in line and "server sends a WorkflowRun" in line
               for line in accepted.lines("typecheck"))
    suite = ET.fromstring(to_junit(accepted, "typecheck"))
    assert (suite.get("failures"), suite.get("skipped")) == ("0", "1")
    # A second, different new finding still fails, and is named.
    both = with_accepted(_verdict(tmp_path, RETURN, UNDEFINED, OLD), load_accepted(tmp_path))
    assert both.failing == (UNDEFINED,)
    assert both.counts() == "1 new, 1 accepted, 0 fixed, 1 pre-existing"


def test_an_entry_accepts_one_finding_only_its_tool_and_survives_a_moved_line(tmp_path: Path) -> None:
    write_accepted(tmp_path, entries_for("mypy", [RETURN], "reviewed"))
    entries = load_accepted(tmp_path)
    moved = Finding(RETURN.file, 90, 16, RETURN.rule, RETURN.message, RETURN.symbol)
    twice = with_accepted(_verdict(tmp_path, moved, RETURN), entries)
    assert len(twice.failing) == 1 and len(twice.accepted) == 1
    other_tool = judge([RETURN], [], root=tmp_path, tool="ruff (x)", baseline="", http_rel=f"{PKG}/http")
    assert with_accepted(other_tool, entries).failing == (RETURN,)


def test_an_entry_that_matches_nothing_new_is_reported_stale(tmp_path: Path) -> None:
    write_accepted(tmp_path, entries_for("mypy", [RETURN], "reviewed"))
    verdict = with_accepted(_verdict(tmp_path, OLD), load_accepted(tmp_path))
    assert verdict.failing == () and verdict.accepted == ()
    assert verdict.counts() == "0 new, 0 fixed, 1 pre-existing"
    (stale,) = verdict.stale
    assert "OrkesWorkflowClient.execute_workflow" in stale
    assert any(line.startswith("  stale: ") for line in verdict.lines("typecheck"))


def test_the_file_is_sorted_without_who_or_when_and_the_same_bytes_each_time(tmp_path: Path) -> None:
    entries = entries_for("mypy", [UNDEFINED, RETURN], "reviewed")
    write_accepted(tmp_path, entries)
    first = (tmp_path / ACCEPTED_FILE).read_bytes()
    write_accepted(tmp_path, list(reversed(entries)))
    assert (tmp_path / ACCEPTED_FILE).read_bytes() == first
    data = json.loads(first)
    assert [e["file"] for e in data["accepted"]] == sorted(e["file"] for e in data["accepted"])
    assert set(data["accepted"][0]) == {"tool", "file", "rule", "message", "symbol", "reason"}


@pytest.mark.parametrize("text", ["{", "[]", '{"accepted": [{"tool": "mypy"}]}',
                                  '{"accepted": [{"tool": "mypy", "file": "f", "rule": "r", "message": "m", '
                                  '"symbol": "", "reason": " "}]}'])
def test_a_broken_file_is_one_error_with_a_hint(tmp_path: Path, text: str) -> None:
    path = tmp_path / ACCEPTED_FILE
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_accepted(tmp_path)
    assert "accepted-findings.json" in info.value.render()
    with pytest.raises(ConfigError):
        write_accepted(tmp_path, entries_for("mypy", [RETURN], "  "))


def test_the_gates_lint_and_typecheck_rows_become_review_notes(tmp_path: Path) -> None:
    from conductor_regen.commands.report import action_notes
    from conductor_regen.matrix.lint import review_notes

    accepted = with_accepted(_verdict(tmp_path, RETURN, OLD), entries_for("mypy", [RETURN], "reviewed"))
    failing = _verdict(tmp_path, RETURN, UNDEFINED, OLD)
    rows = [
        {"session": "typecheck", "result": "passed", "detail": accepted.summary_line("typecheck")},
        {"session": "lint", "result": "failed",
         "detail": f"{failing.summary_line('lint')}; FAILED {UNDEFINED.file}::name-defined: new: {UNDEFINED.render()}"},
        {"session": "async_tests", "result": "passed", "detail": "1 passed"},
    ]
    notes = review_notes(rows, tmp_path)
    assert len(notes) == 2
    assert notes[0].startswith("review: typecheck: 1 new finding(s) accepted in .conductor-regen/accepted-findings.json")
    assert notes[1].startswith("review: lint: 2 new finding(s), first ") and "undefined_helper" in notes[1]
    assert f"nox -s lint -- --sdk {tmp_path} --accept REASON" in notes[1]
    assert action_notes(notes) == notes  # shown in the quiet output
    assert review_notes([{"session": "lint", "result": "passed", "detail": failing.summary_line("lint")
                          .replace("2 new", "0 new")}], tmp_path) == []
