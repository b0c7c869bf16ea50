"""Data on stdout, talk on stderr, through both programs: a command's listing or result is all stdout holds
(so `TASK > file` and pipes get only that); steps, notes, warnings, prompts and the resolved settings go to
stderr, and --quiet drops them. Real subprocesses; nothing here reaches the generator (see
tests/e2e/test_cli_output.py for diff and regenerate runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import pytest
from support.programs import PROGRAMS, one_error_line, run_as
from support.sdk_copies import backup_dirs, pkg, sdk_digest

from conductor_regen.spec.fixups import list_fixups


pytestmark = pytest.mark.e2e  # every test runs the CLI in subprocesses


def unusable_spec(tmp_path: Path) -> Path:
    spec = tmp_path / "empty.json"
    spec.write_text('{"openapi": "3.0.1", "info": {"title": "x", "version": "1"}, "paths": {}}')
    return spec


@pytest.mark.parametrize("program", PROGRAMS)
def test_resolved_settings_are_talk(program: str, env: Dict[str, str], tmp_path: Path) -> None:
    r = run_as(program, "fixups", "--verbose", env=env, cwd=tmp_path)

    assert r.code == 0, r
    assert [line.split()[0] for line in r.stdout.splitlines()] == [f.name for f in list_fixups()], r
    assert r.stderr.startswith("resolved settings:\n") and "fetch.timeout = 30.0" in r.stderr, r
    quiet = run_as(program, "fixups", "--quiet", env=env, cwd=tmp_path)
    assert (quiet.code, quiet.stdout, quiet.stderr) == (0, r.stdout, ""), quiet


@pytest.mark.parametrize("program", PROGRAMS)
def test_step_lines_go_to_stderr_and_quiet_leaves_only_the_error(program: str, committed_sdk: Path, env: Dict[str, str],
                                                                  tmp_path: Path) -> None:
    spec = tmp_path / "missing.json"

    r = run_as(program, "regenerate", "--spec", str(spec), "--sdk", str(committed_sdk), "--yes", env=env, cwd=tmp_path)

    assert r.code == 1, r
    assert r.stdout == "", r  # a failed run has no data
    steps = [line for line in r.stderr.splitlines() if not line.startswith("ERROR:")]
    assert any("✓ pre-flight checks" in line for line in steps) and any("✗ obtain spec" in line for line in steps), r
    assert r.stderr.splitlines()[-1].startswith(f"ERROR: spec file not found: {spec}"), r

    quiet = run_as(program, "regenerate", "--spec", str(spec), "--sdk", str(committed_sdk), "--yes", "--quiet",
                   env=env, cwd=tmp_path)
    assert quiet.code == 1, quiet
    assert one_error_line(quiet) == r.stderr.splitlines()[-1]


def test_a_run_prints_its_result_on_stdout_and_its_steps_on_stderr(committed_sdk: Path, env: Dict[str, str],
                                                                    tmp_path: Path) -> None:
    program = "conductor-regen"  # both programs: the other tests here, and tests/e2e/test_cli_output.py
    r = run_as(program, "fix-imports", "--sdk", str(committed_sdk), env=env, cwd=tmp_path)  # nothing to rewrite

    assert r.code == 0, r
    assert r.stdout.splitlines()[0] == "0 file(s) changed", r
    assert "- swap skipped" in r.stderr and r.stderr.splitlines()[-1].startswith("done in "), r
    assert "done in" not in r.stdout and "✓" not in r.stdout, r
    quiet = run_as(program, "fix-imports", "--sdk", str(committed_sdk), "--quiet", env=env, cwd=tmp_path)
    assert (quiet.code, quiet.stdout, quiet.stderr) == (0, r.stdout, ""), quiet


@pytest.mark.parametrize("program", PROGRAMS)
def test_validate_spec_prints_its_findings_as_data(program: str, env: Dict[str, str], tmp_path: Path) -> None:
    spec = unusable_spec(tmp_path)

    r = run_as(program, "validate-spec", "--spec", str(spec), "--quiet", env=env, cwd=tmp_path)

    assert r.code == 1, r
    assert "error [no-paths] the spec defines no paths" in r.stdout.splitlines(), r
    assert r.stderr.startswith("ERROR: 2 error(s) in "), r


@pytest.mark.parametrize("program", PROGRAMS)
def test_backups_lists_on_stdout_and_explains_on_stderr(program: str, committed_sdk: Path, env: Dict[str, str],
                                                        tmp_path: Path) -> None:
    made = run_as(program, "backup", "--sdk", str(committed_sdk), env=env, cwd=tmp_path)
    assert made.code == 0 and made.stdout.startswith("backup ") and made.stderr == "", made

    r = run_as(program, "backups", "--sdk", str(committed_sdk), env=env, cwd=tmp_path)

    assert r.code == 0, r
    header, row = r.stdout.splitlines()
    assert header.split() == ["ID", "CREATED", "SPEC", "SIZE", "(B)", "OUTCOME"] and row.startswith("*"), r
    assert r.stderr.startswith(f"* `{program} restore` goes back to "), r
    quiet = run_as(program, "backups", "--sdk", str(committed_sdk), "--quiet", env=env, cwd=tmp_path)
    assert (quiet.stdout, quiet.stderr) == (r.stdout, ""), quiet


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_question_is_asked_on_stderr_and_no_answer_changes_nothing(program: str, committed_sdk: Path,
                                                                      env: Dict[str, str], tmp_path: Path) -> None:
    assert run_as(program, "backup", "--sdk", str(committed_sdk), env=env, cwd=tmp_path).code == 0
    rest = pkg(committed_sdk) / "http" / "rest.py"
    rest.write_text(rest.read_text() + "# later\n")
    edited = sdk_digest(committed_sdk)

    r = run_as(program, "restore", "--sdk", str(committed_sdk), "--quiet", env=env, cwd=tmp_path)  # stdin at EOF: no

    assert r.code == 1, r
    assert r.stdout == "", r
    assert r.stderr.startswith("Restore http, adapters, orkes of ") and "? [y/N] " in r.stderr, r
    assert "restore declined; nothing was changed (pass --yes to skip the question)" in r.stderr, r
    # A choice, not a failure (no ERROR line), and it kept its word: no file touched, no snapshot taken.
    assert r.error_lines() == [], r
    assert sdk_digest(committed_sdk) == edited
    assert len(backup_dirs(tmp_path / "backups")) == 1

    yes = run_as(program, "restore", "--sdk", str(committed_sdk), env=env, cwd=tmp_path, input="y\n")
    assert yes.code == 0, yes
    assert yes.stdout.splitlines()[-1].startswith("restored backup "), yes
    assert "? [y/N] " in yes.stderr and "? [y/N]" not in yes.stdout, yes


@pytest.mark.parametrize("program", PROGRAMS)
def test_detect_edits_keeps_stdout_json(program: str, committed_sdk: Path, env: Dict[str, str], tmp_path: Path) -> None:
    r = run_as(program, "detect-edits", "--sdk", str(committed_sdk), env=env, cwd=tmp_path)

    assert r.code == 0, r
    json.loads(r.stdout)
    assert r.stderr.strip(), r  # what it found, as talk
    quiet = run_as(program, "detect-edits", "--sdk", str(committed_sdk), "-q", env=env, cwd=tmp_path)
    assert (quiet.stdout, quiet.stderr) == (r.stdout, ""), quiet
