"""Data on stdout, talk on stderr, for the commands that run the generator: `diff > changes.md` gets the
Markdown report alone (`--format json`: the JSON `diff --report` writes), `regenerate --report -` prints
its JSON report, and --quiet leaves only the data. Through both programs, as real subprocesses on
committed copies of the example SDK, with the real generator (shared cache).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import pytest
from support.paths import SPEC_V2
from support.programs import PROGRAMS, one_error_line, run_as
from support.sdk_copies import cli_env, git, new_sdk, pkg, sdk_digest, write

SCHEMA = "conductor-regen.report/1"


@pytest.fixture
def env(tmp_path: Path, generator_cache: Path) -> Dict[str, str]:
    return cli_env(tmp_path / "backups", generator_cache)


@pytest.mark.parametrize("program", PROGRAMS)
def test_diff_prints_only_its_report_on_stdout(program: str, tmp_path: Path, env: Dict[str, str]) -> None:
    sdk = new_sdk(tmp_path)
    filed = tmp_path / "out" / "changes.json"

    markdown = run_as(program, "diff", "--spec", str(SPEC_V2), "--sdk", str(sdk), "--report", str(filed),
                      env=env, cwd=tmp_path, timeout=600)

    assert markdown.code == 0, markdown
    # `diff > changes.md`: stdout is the Markdown report, byte for byte what --report files beside the JSON.
    assert markdown.stdout == filed.with_suffix(".md").read_text() and markdown.stdout.startswith("#"), markdown
    assert "✓ generate" in markdown.stderr and f"report: {filed} (+ .md)" in markdown.stderr, markdown

    as_json = run_as(program, "diff", "--spec", str(SPEC_V2), "--sdk", str(sdk), "--format", "json", "--quiet",
                     env=env, cwd=tmp_path, timeout=600)

    assert as_json.code == 0 and as_json.stderr == "", as_json
    printed = json.loads(as_json.stdout)
    assert printed == json.loads(filed.read_text())
    assert printed["schema"] == SCHEMA and printed["command"] == f"{program} diff" and printed["changes"], printed


@pytest.mark.parametrize("program", PROGRAMS)
def test_diff_refuses_an_unknown_format_before_any_work(program: str, tmp_path: Path, env: Dict[str, str]) -> None:
    r = run_as(program, "diff", "--spec", str(SPEC_V2), "--sdk", str(tmp_path), "--format", "yaml",
               env=env, cwd=tmp_path)

    assert r.code == 2, r
    assert "--format 'yaml' is not a diff format" in one_error_line(r) and "markdown, json" in r.stderr


@pytest.mark.parametrize("program", PROGRAMS)
def test_regenerate_report_dash_prints_the_json_report(program: str, tmp_path: Path, env: Dict[str, str]) -> None:
    sdk = new_sdk(tmp_path)
    before = sdk_digest(sdk)

    r = run_as(program, "regenerate", "--spec", str(SPEC_V2), "--sdk", str(sdk), "--dry-run", "--report", "-",
               env=env, cwd=tmp_path, timeout=600)

    assert r.code == 0, r
    report = json.loads(r.stdout)  # stdout is the JSON report alone
    assert report["schema"] == SCHEMA and report["outcome"] == "dry-run", report
    assert report["command"] == f"{program} regenerate" and "http/api/human_task_api.py" in report["files"]["added"]
    assert "plan:" in r.stderr and "✓ generate" in r.stderr, r  # the talk
    markdown = Path(r.stderr.splitlines()[-1].split("report: ", 1)[1])
    assert markdown.read_text().startswith("# Regeneration report: dry-run"), r
    assert sdk_digest(sdk) == before and not (tmp_path / "-").exists()
    assert list((Path(env["REGEN_CACHE_DIR"]) / "reports").glob("stdout-*")) == []  # the scratch file is gone


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_quiet_dry_run_prints_only_the_report_path(program: str, tmp_path: Path, env: Dict[str, str]) -> None:
    sdk = new_sdk(tmp_path)

    r = run_as(program, "regenerate", "--spec", str(SPEC_V2), "--sdk", str(sdk), "--dry-run", "--quiet",
               env=env, cwd=tmp_path, timeout=600)

    assert r.code == 0 and r.stderr == "", r
    [line] = r.stdout.splitlines()
    assert line.startswith("report: ") and line.endswith("-dry-run.md") and Path(line[8:]).is_file(), r


def test_report_dash_prints_a_rolled_back_runs_report_too(tmp_path: Path, env: Dict[str, str]) -> None:
    sdk = new_sdk(tmp_path)
    write(pkg(sdk) / "orkes" / "broken_client.py",
          "from conductor.asyncio_client.http.models.workflow import Workflow\n"
          "assert 'idempotency_key' not in Workflow.model_fields\n")
    git(sdk, "add", "-A")
    git(sdk, "commit", "-qm", "broken client")
    before = sdk_digest(sdk)

    r = run_as("conductor-regen", "regenerate", "--spec", str(SPEC_V2), "--sdk", str(sdk), "--yes", "--skip-tests",
               "--report", "-", env=env, cwd=tmp_path, timeout=600)

    assert r.code == 1, r
    assert json.loads(r.stdout)["outcome"] == "rolled-back", r
    assert r.stderr.splitlines()[-1].startswith("ERROR: "), r
    assert sdk_digest(sdk) == before
