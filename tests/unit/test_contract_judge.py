"""Judging a contract run: return verdicts, the pristine tree's baseline (by rule, cached), accepted findings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict, List

import pytest
from support.paths import EXAMPLE_SDK, REPO, SPEC_V1

from conductor_regen.errors import ConfigError
from conductor_regen.file_tree import iter_entries
from conductor_regen.matrix.accepted import ACCEPTED_FILE, entries_for, load_accepted, write_accepted
from conductor_regen.matrix.contract import classify as c
from conductor_regen.matrix.contract import judge as j
from conductor_regen.matrix.contract import run as contract_run
from conductor_regen.matrix.contract.inputs import ContractInputs, prepare
from conductor_regen.matrix.findings import Finding
from conductor_regen.config_sources import resolve_session_settings
from conductor_regen.matrix.pristine import Pristine

PKG = "src/conductor/asyncio_client"
MODULE = "conductor.asyncio_client.orkes.orkes_workflow_client"
VALID = {"method": "POST", "path": "/api/workflow/execute/w/1", "query": [], "operation": None, "errors": [],
         "status": 200}


def returned(rule: str = "", detail: str = "", unjudged: str = "") -> Dict[str, str]:
    return {"returned": "X", "promised": "Y", "rule": rule, "detail": detail, "unjudged": unjudged}


def method(name: str, back: Dict[str, str], requests: List[Dict[str, Any]] = [VALID]) -> Dict[str, Any]:  # noqa: B006
    return {"id": f"OrkesWorkflowClient.{name}", "client": "OrkesWorkflowClient", "method": name, "module": MODULE,
            "status": "returned", "requests": list(requests), "returned": back}


WRONG = method("execute_workflow", returned(c.WRONG_TYPE, "returns SignalResponseAdapter, promises WorkflowRunAdapter"))
DROPS = method("execute_workflow", returned(c.DROPPED, "WorkflowRunAdapter has no field for 'responseType', "
                                                       "the response had 'TARGET_WORKFLOW'"))
KEPT = method("get_workflow", returned())
UNJUDGED = method("has_secret", returned(unjudged="the annotation promises nothing (Any)"))
LOCAL = method("local_helper", returned(), requests=[])


def test_a_wrong_return_type_is_a_return_failure_with_its_rule() -> None:
    v = c.classify(WRONG)
    assert (v.kind, v.rule, v.failed, v.headline) == (c.RETURN, "wrong return type", True, "wrong return type")
    assert v.detail == "returns SignalResponseAdapter, promises WorkflowRunAdapter"
    assert (v.sent_valid, v.kept_promise) == (True, False)
    assert c.classify(DROPS).headline == "drops response data"


def test_r_counts_exercised_methods_that_kept_their_promise() -> None:
    result = c.evaluate({"methods": [WRONG, KEPT, UNJUDGED, LOCAL]})
    # V: its requests were spec-valid even when the return failed; R: what kept its promise (not judged
    # by type counts); a method that sent nothing is not exercised and counts in neither.
    assert (result.exercised, result.valid, result.kept_promise) == (3, 3, 2)
    assert result.summary_line() == ("contract: 3 of 4 SDK methods exercised, 3 sent spec-valid requests, "
                                     "2 returned what they promise, 1 new failures")
    line = next(x for x in result.lines() if "execute_workflow" in x)
    assert line == ("OrkesWorkflowClient.execute_workflow: wrong return type: returns SignalResponseAdapter, "
                    "promises WorkflowRunAdapter")
    assert c.classify(UNJUDGED).notes == ("return type not judged: the annotation promises nothing (Any)",)


def test_a_method_failing_by_another_rule_on_the_baseline_is_new() -> None:
    pristine = c.evaluate({"methods": [DROPS, KEPT]})
    before = frozenset((v.id, v.headline) for v in pristine.failures)
    now = c.evaluate({"methods": [WRONG, KEPT]}, baseline=before, baseline_source="backup b")
    assert [v.id for v in now.new_failures] == ["OrkesWorkflowClient.execute_workflow"]
    assert now.lines()[0] == "contract: judged against backup b (1 failure(s) there)"
    same = c.evaluate({"methods": [DROPS, KEPT]}, baseline=before, baseline_source="backup b")
    assert same.new_failures == () and same.junit_summary().endswith("0 new failures; 1 pre-existing (vs backup b)")


def test_a_return_failure_is_not_new_where_the_baseline_never_showed_its_return() -> None:
    # The old client's model rejected a value the new spec allows (priority 635 > le=99): it raised after
    # its spec-valid request, so what it would have returned was never seen. The wrong type is not "new".
    raised = {**method("update_task_sync", {}), "status": "raised",
              "exception": {"type": "ValidationError", "message": "1 validation error for WorkflowAdapter priority "
                                                                 "Input should be less than or equal to 99"}}
    unseen = c.classify(raised)
    assert unseen.kind == c.VALID and unseen.return_unseen and not c.classify(KEPT).return_unseen
    before = frozenset({(unseen.id, c.RETURN_UNSEEN)})
    wrong = method("update_task_sync", returned(c.WRONG_TYPE, "returns WorkflowAdapter, promises str"))
    assert c.evaluate({"methods": [wrong]}, baseline=before, baseline_source="backup b").new_failures == ()
    # Only a return failure is excused so: a rejected request of the same method is still new.
    assert c.evaluate({"methods": [WRONG]}, baseline=frozenset({("OrkesWorkflowClient.execute_workflow",
                                                                  c.RETURN_UNSEEN)})).new_failures == ()
    rejected = {**method("update_task_sync", {}), "requests": [{**VALID, "errors": [{"kind": "MissingParameter"}],
                                                               "status": 400}]}
    assert len(c.evaluate({"methods": [rejected]}, baseline=before).new_failures) == 1


def test_a_junit_baseline_remembers_a_return_never_seen(tmp_path: Path) -> None:
    from conductor_regen.matrix.contract.junit import failed_rules, write_junit

    raised = {**method("update_task_sync", {}), "status": "raised",
              "exception": {"type": "ValidationError", "message": "priority Input should be less than or equal to 99"}}
    write_junit(c.evaluate({"methods": [raised, KEPT, DROPS]}), tmp_path / "contract.xml")
    assert failed_rules(tmp_path / "contract.xml") == {
        ("OrkesWorkflowClient.update_task_sync", c.RETURN_UNSEEN),
        ("OrkesWorkflowClient.execute_workflow", c.DROPPED)}


# --- the pristine tree's baseline ------------------------------------------------------------------

@pytest.fixture
def inputs(tmp_path: Path) -> ContractInputs:
    settings = resolve_session_settings(EXAMPLE_SDK, {}, REPO)
    return prepare(EXAMPLE_SDK, str(SPEC_V1), tmp_path / "work", settings, {})


def example_pristine(fingerprint: str = "f1") -> Pristine:
    files = tuple(sorted((rel, path) for rel, path in iter_entries(EXAMPLE_SDK) if "__pycache__" not in rel))
    return Pristine("backup b1", fingerprint, files)


def test_the_pristine_baseline_runs_the_driver_on_a_copy_once(inputs: ContractInputs, tmp_path: Path) -> None:
    runs: List[ContractInputs] = []

    def run(twin: ContractInputs) -> bool:
        runs.append(twin)
        assert twin.input_file == inputs.input_file and twin.spec_file == inputs.spec_file  # the same spec
        assert twin.import_root != inputs.import_root and (twin.import_root / "conductor").is_dir()
        assert twin.operations == inputs.operations  # read from the copy, the same tree here
        twin.output_file.write_text(json.dumps({"methods": [DROPS, KEPT]}))
        return True

    cache = tmp_path / "cache"
    first = j.from_pristine(example_pristine(), inputs, PKG, run, cache_dir=cache)
    assert first == j.Baseline("backup b1", frozenset({("OrkesWorkflowClient.execute_workflow",
                                                        "drops response data")}))
    again = j.from_pristine(example_pristine(), inputs, PKG, run, cache_dir=cache)
    assert again == first and len(runs) == 1  # cached by the tree's fingerprint, the spec and the code
    other = j.from_pristine(example_pristine("f2"), inputs, PKG, run, cache_dir=cache)
    assert other == first and len(runs) == 2
    assert not runs[0].import_root.exists()  # the copy is gone


def test_a_pristine_run_that_does_not_finish_gives_no_baseline(inputs: ContractInputs, tmp_path: Path) -> None:
    assert j.from_pristine(example_pristine(), inputs, PKG, lambda twin: False, cache_dir=tmp_path) is None


def test_the_cache_key_follows_the_spec_content_and_the_code(inputs: ContractInputs) -> None:
    key = j.cache_key(inputs)
    assert key == j.cache_key(inputs)
    inputs.spec_file.write_text(inputs.spec_file.read_text().replace('"paths"', '"paths" ', 1))
    assert j.cache_key(inputs) != key
    assert j.code_digest() in key.split("\0")


def test_a_missing_baseline_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        contract_run.baseline_file(tmp_path / "nope.xml")


# --- accepted findings -----------------------------------------------------------------------------

def test_accepting_a_new_failure_lists_it_and_it_no_longer_fails(tmp_path: Path) -> None:
    result = c.evaluate({"methods": [WRONG, KEPT]})
    accepted, count, path = j.accept(result, (), "the server sends a SignalResponse now", tmp_path,
                                     "conductor.asyncio_client", PKG)
    assert (count, path) == (1, tmp_path / ACCEPTED_FILE)
    assert accepted.new_failures == () and [v.id for v, _ in accepted.accepted] == [
        "OrkesWorkflowClient.execute_workflow"]
    [entry] = load_accepted(tmp_path)
    assert (entry.tool, entry.file, entry.rule, entry.symbol) == (
        "contract", f"{PKG}/orkes/orkes_workflow_client.py", "wrong return type", "OrkesWorkflowClient.execute_workflow")
    # A later run reads it: listed as accepted (JUnit: skipped), not failing; the summary counts no new failure.
    again = j.with_accepted(c.evaluate({"methods": [WRONG, KEPT]}), load_accepted(tmp_path),
                            "conductor.asyncio_client", PKG)
    assert again.new_failures == () and again.summary_line().endswith("0 new failures")
    assert any(line.startswith("accepted OrkesWorkflowClient.execute_workflow: wrong return type: ")
               and line.endswith(" -- the server sends a SignalResponse now") for line in again.lines())
    # The same method failing by another rule is not accepted by it; the entry is then stale.
    other = j.with_accepted(c.evaluate({"methods": [DROPS, KEPT]}), load_accepted(tmp_path),
                            "conductor.asyncio_client", PKG)
    assert [v.id for v in other.new_failures] == ["OrkesWorkflowClient.execute_workflow"]
    assert other.stale and "wrong return type" in other.stale[0]
    assert any(line.startswith("stale: accepted ") for line in other.lines())


def test_contract_entries_leave_lint_and_typecheck_entries_alone(tmp_path: Path) -> None:
    mypy = Finding(f"{PKG}/orkes/orkes_workflow_client.py", 71, 16, "return-value", "Incompatible return value",
                   "OrkesWorkflowClient.execute_workflow")
    write_accepted(tmp_path, entries_for("mypy", [mypy], "reviewed"))
    result = j.with_accepted(c.evaluate({"methods": [WRONG]}), load_accepted(tmp_path), "conductor.asyncio_client", PKG)
    assert result.stale == () and len(result.new_failures) == 1  # a mypy entry neither accepts nor goes stale here
    _, count, _ = j.accept(result, load_accepted(tmp_path), "ok", tmp_path, "conductor.asyncio_client", PKG)
    assert count == 1 and sorted(e.tool for e in load_accepted(tmp_path)) == ["contract", "mypy"]


def test_a_pre_existing_failure_is_not_accepted_and_nothing_is_written(tmp_path: Path) -> None:
    result = c.evaluate({"methods": [WRONG]}, baseline=frozenset({("OrkesWorkflowClient.execute_workflow",
                                                                   "wrong return type")}))
    done, count, path = j.accept(result, (), "why", tmp_path, "conductor.asyncio_client", PKG)
    assert (count, path, done.accepted) == (0, None, ())
    assert not (tmp_path / ACCEPTED_FILE).exists()


def test_finish_judges_accepts_and_writes_junit(inputs: ContractInputs, tmp_path: Path) -> None:
    sdk = tmp_path / "sdk"
    shutil.copytree(EXAMPLE_SDK, sdk, ignore=shutil.ignore_patterns("__pycache__"))
    inputs.output_file.write_text(json.dumps({"methods": [WRONG, KEPT]}))
    judging = contract_run.judging(sdk, {"REGEN_BACKUPS_DIR": str(tmp_path / "b")}, tmp_path)
    junit = tmp_path / "contract.xml"
    done = contract_run.finish(inputs, junit, None, judging, accept="reviewed")
    assert done.accepted_now == 1 and done.result.new_failures == ()
    assert 'type="accepted" message="accepted: reviewed"' in junit.read_text()
    with pytest.raises(ConfigError, match="reason"):
        contract_run.finish(inputs, junit, None, judging, accept="  ")


def test_junit_names_a_new_failure_first(tmp_path: Path) -> None:
    from conductor_regen.matrix.contract.junit import write_junit
    from conductor_regen.matrix.results import parse_junit

    early = method("abort", returned(c.DROPPED, "x is None"))  # sorts before execute_workflow
    result = c.evaluate({"methods": [early, WRONG, KEPT]},
                        baseline=frozenset({("OrkesWorkflowClient.abort", "drops response data")}))
    write_junit(result, tmp_path / "contract.xml")
    summary = parse_junit(tmp_path / "contract.xml")
    assert summary.failed == 2 and summary.first_failure == "OrkesWorkflowClient::execute_workflow"
    assert summary.message.startswith("wrong return type: returns SignalResponseAdapter")
