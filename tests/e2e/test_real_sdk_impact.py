"""The real SDK (../shared/sdk, commit 225f598f) and the real spec: "breaks SDK code" holds only the true breaks.

`invoke diff` and `invoke regenerate --dry-run`, each on a fresh copy, must agree that exactly these
changes break SDK code: `execute_workflow` now returns `SignalResponse` where
`OrkesWorkflowClient.execute_workflow` (and its alias `execute_workflow_with_return_strategy`)
promise a `WorkflowRunAdapter`, and the three token-usage operations the server dropped, which the
integration client still calls (kept in the client, deprecated: 404 against the new server). The 13
false alarms of before (`Dict[str, Dict[str, Any]] -> Dict[str, Any]` and dropped `ge`/`le` bounds on
fields whose adapters declare the wider type) are not breaks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set, Tuple

import pytest
from support.paths import REAL_SDK, REAL_SPEC
from support.sdk_copies import CliResult, cli_env, real_sdk_checkout, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # runs the real generator on the real SDK

BREAKS = "breaks SDK code"
TRUE_BREAKS = {
    ("operation-return-changed", "POST /workflow/execute/{name}/{version}"),
    ("operation-removed", "GET /integrations/provider/{name}/integration/{integration_name}/metrics"),
    ("operation-removed", "GET /integrations/provider/{name}/metrics"),
    ("operation-removed", "POST /integrations/provider/{name}/integration/{integration_name}/metrics"),
}
CALLERS = ["OrkesIntegrationClient.get_token_usage_for_integration",
           "OrkesIntegrationClient.get_token_usage_for_integration_provider",
           "OrkesIntegrationClient.register_token_usage"]
REMOVED_LINE = "3 public methods call operations the server no longer has"


Ran = Tuple[CliResult, Dict[str, Any]]


@pytest.fixture(scope="module")
def runs(generator_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Ran]]:
    """`invoke diff --report` and `invoke regenerate --dry-run --report`, each on its own fresh copy."""
    if not (REAL_SPEC.is_file() and REAL_SDK.is_file()):
        pytest.skip("../shared (the real spec and SDK) is not here")
    out: Dict[str, Ran] = {}
    for command, extra in (("diff", ()), ("regenerate", ("--dry-run", "--skip-tests"))):
        base = tmp_path_factory.mktemp(f"real-impact-{command}")
        root = real_sdk_checkout(base)
        report = base / "report.json"
        result = run_cli(command, "--sdk", str(root), "--spec", str(REAL_SPEC), *extra, "--report", str(report),
                         env=cli_env(base / "backups", generator_cache), timeout=900)
        assert result.code == 0, result
        out[command] = (result, json.loads(report.read_text(encoding="utf-8")))
    yield out


def _breaks(report: Dict[str, Any]) -> Set[Tuple[str, str]]:
    return {(c["kind"], c["operation"]) for c in report["changes"] if c["impact"] == BREAKS}


@pytest.mark.parametrize("command", ["diff", "regenerate"])
def test_breaks_sdk_code_holds_exactly_the_true_breaks(runs: Dict[str, Ran], command: str) -> None:
    result, report = runs[command]
    assert _breaks(report) == TRUE_BREAKS
    assert report["summary"]["impact"][BREAKS] == len(TRUE_BREAKS)
    assert report["summary"]["removed_operation_callers"] == CALLERS
    execute = next(c for c in report["changes"] if c["kind"] == "operation-return-changed"
                   and c["operation"] == "POST /workflow/execute/{name}/{version}")
    assert (execute["old"], execute["new"]) == ("WorkflowRun", "SignalResponse")
    assert {"OrkesWorkflowClient.execute_workflow",
            "OrkesWorkflowClient.execute_workflow_with_return_strategy"} <= set(execute["methods"])
    assert "promising WorkflowRunAdapter" in execute["impact_detail"]
    assert any(w.endswith("orkes/orkes_workflow_client.py:71") for w in execute["where"])
    for change in report["changes"]:
        if change["kind"] == "operation-removed" and change["impact"] == BREAKS:
            assert "the new client keeps it (deprecated)" in change["detail"], change
            assert len(change["methods"]) == 1 and change["methods"][0] in CALLERS, change


def test_the_false_alarms_of_before_are_not_breaks(runs: Dict[str, Ran]) -> None:
    _result, report = runs["diff"]
    by: Dict[str, List[Dict[str, Any]]] = {}
    for change in report["changes"]:
        by.setdefault(change["operation"], []).append(change)
    for field in ("WorkflowDef.inputTemplate", "Task.inputData", "Task.outputData", "StartWorkflowRequest.input",
                  "WorkflowTask.inputParameters", "ExtendedWorkflowDef.variables"):
        [change] = by[field]
        assert change["impact"] == "used by SDK, compatible" and " declares " in change["impact_detail"], change
    for field in ("StartWorkflowRequest.priority", "WorkflowDef.schemaVersion"):  # adapters declare plain `int`
        [change] = by[field]
        assert change["kind"] == "field-validation-dropped" and change["impact"] == "used by SDK, compatible"
    # The pattern check is gone (its validator method too), and SDK code builds that request.
    [name] = by["SaveScheduleRequest.name"]
    assert (name["kind"], name["impact"]) == ("field-validation-dropped", "used by SDK, no longer checked client-side")
    assert "pattern" in name["detail"] and "equivalent" not in name["detail"]
    assert not any("name_validate_regular_expression" in c["operation"] for c in report["changes"])
    # A renamed path parameter is one change, not a removal plus an addition.
    [renamed] = by["GET /event/execution/{event}"]
    assert (renamed["kind"], renamed["old"], renamed["new"]) == ("parameter-renamed", "event", "event_handler_name")
    assert "GET /event/execution/{eventHandlerName}" not in by


def test_the_counts_are_printed_by_diff_and_by_the_compare_step(runs: Dict[str, Ran]) -> None:
    diffed, _ = runs["diff"]
    assert f"- {BREAKS}: 4\n" in diffed.stdout and f"- {REMOVED_LINE}\n" in diffed.stdout, diffed
    ran, report = runs["regenerate"]
    compare = next(s for s in report["steps"] if s["name"] == "compare APIs")
    assert compare["detail"].startswith(f"4 {BREAKS};") and compare["detail"].endswith(f"; {REMOVED_LINE}")
    line = next(line for line in ran.output.splitlines() if "compare APIs" in line)
    assert REMOVED_LINE in line, ran
    assert report["schema"] == "conductor-regen.report/1" and report["outcome"] == "dry-run"
