"""Verdicts from driver records, the summary line, --baseline and the JUnit file (no venv, no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest

from conductor_regen.matrix.results import SessionResult, gate_detail, parse_junit
from conductor_regen.matrix.contract import classify as c
from conductor_regen.matrix.contract.junit import failed_rules, to_xml, write_junit
from conductor_regen.errors import ConfigError

OPS = (
    (("GET", "/workflow/{workflowId}"), "WorkflowResourceApi", False),
    (("GET", "/workflow/search"), "WorkflowResourceApi", False),
    (("DELETE", "/secrets/{key}"), "SecretResourceApi", True),  # kept by the keep policy
    (("GET", "/api/tasks/{taskId}"), "TaskResourceApi", False),  # a hand-broken resource path
)


def request(method: str, path: str, *error_kinds: str, status: int = 200) -> Dict[str, Any]:
    errors = [{"kind": k, "kinds": [k, "RequestValidationError"], "message": f"{k} happened", "cause": ""}
              for k in error_kinds]
    return {"method": method, "path": path, "query": [], "operation": None, "errors": errors,
            "status": status if not errors else 400}


def record(method_id: str, status: str = "returned", requests: List[Dict[str, Any]] = (),  # type: ignore[assignment]
           **extra: Any) -> Dict[str, Any]:
    client, _, method = method_id.partition(".")
    return {"id": method_id, "client": client, "method": method, "status": status,
            "requests": list(requests), **extra}


def exception(kind: str, message: str, *frames: str) -> Dict[str, Any]:
    return {"type": kind, "kinds": [kind, "Exception"], "message": message, "frames": list(frames)}


def verdict(rec: Dict[str, Any]) -> c.Verdict:
    return c.classify(rec, OPS, "/api")


def test_valid_requests() -> None:
    v = verdict(record("OrkesWorkflowClient.get_workflow", requests=[request("GET", "/api/workflow/abc")]))
    assert (v.kind, v.failed, v.requests) == (c.VALID, False, ("GET /api/workflow/abc -> 200",))


@pytest.mark.parametrize("kind, rule", [
    ("PathNotFound", "unknown path"), ("ServerNotFound", "unknown path"),
    ("OperationNotFound", "method not allowed"), ("MissingRequiredParameter", "other (MissingRequiredParameter)"),
    ("UnknownQueryParameter", "extra parameter"), ("SecurityValidationError", "security"),
])
def test_rule_of_a_single_class(kind: str, rule: str) -> None:
    assert c.rule_of([kind]) == rule


@pytest.mark.parametrize("kinds, rule", [
    (["MissingRequiredParameter", "MissingParameterError", "RequestValidationError"], "missing parameter"),
    (["InvalidParameter", "ParameterValidationError", "RequestValidationError"], "parameter schema"),
    (["MissingRequiredRequestBody", "MissingRequestBodyError", "RequestBodyValidationError"], "missing body"),
    (["InvalidRequestBody", "RequestBodyValidationError", "RequestValidationError"], "body schema"),
])
def test_rule_of_follows_the_base_classes(kinds: List[str], rule: str) -> None:
    assert c.rule_of(kinds) == rule


def test_wrong_path_is_rejected_and_names_the_api_that_sent_it() -> None:
    v = verdict(record("OrkesTaskClient.get_task", "raised", [request("GET", "/api/api/tasks/t1", "ServerNotFound",
                                                                      status=404)],
                       exception=exception("NotFoundException", "(404)", "orkes/orkes_task_client.py:3")))
    assert (v.kind, v.rule, v.api, v.failed) == (c.REJECTED, "unknown path", "TaskResourceApi", True)
    assert "GET /api/api/tasks/t1: no path of the spec matches" == v.detail
    assert v.headline == "request rejected (unknown path)"


def test_first_rejected_request_decides() -> None:
    v = verdict(record("OrkesWorkflowClient.x", requests=[
        request("GET", "/api/workflow/search"),
        request("GET", "/api/workflow/search", "UnknownQueryParameter"),
        request("GET", "/api/workflow/abc", "InvalidRequestBody")]))
    assert (v.kind, v.rule) == (c.REJECTED, "extra parameter")


def test_call_to_a_kept_removed_operation_is_reported_not_failed() -> None:
    v = verdict(record("OrkesSecretClient.delete_secret", "raised",
                       [request("DELETE", "/api/secrets/k", "PathNotFound", status=404)],
                       exception=exception("NotFoundException", "(404)")))
    assert (v.kind, v.failed) == (c.REMOVED, False)
    assert v.detail.startswith("DELETE /secrets/{key}")


def test_unknown_path_of_an_operation_that_is_not_kept_is_a_failure() -> None:
    v = verdict(record("OrkesSecretClient.get", "raised", [request("GET", "/api/secrets/k", "PathNotFound")]))
    assert (v.kind, v.api) == (c.REJECTED, "")


def test_argument_check_of_a_generated_method_is_binding() -> None:
    exc = exception("ValidationError", "1 validation error for WorkflowResourceApi.jump_to_task ... missing",
                    "orkes/orkes_workflow_client.py:247", c.VALIDATE_CALL)
    v = verdict(record("OrkesWorkflowClient.jump_to_task", "raised", exception=exc))
    assert (v.kind, v.failed) == (c.BINDING, True)
    assert v.headline == "failed before sending (binding)"


def test_binding_error_after_a_valid_request_still_fails() -> None:
    exc = exception("ValidationError", "... unexpected_keyword_argument", "orkes/x.py:2", c.VALIDATE_CALL)
    v = verdict(record("OrkesPromptClient.clone", "raised", [request("GET", "/api/workflow/abc")], exception=exc))
    assert v.kind == c.BINDING


def test_response_side_validation_error_after_a_valid_request_is_a_note() -> None:
    exc = exception("ValidationError", "1 validation error for TaskDefAdapter", "orkes/orkes_task_client.py:52",
                    c.VALIDATE_CALL, "http/api/task_resource_api.py:1524", "http/api_client.py:427")
    v = verdict(record("OrkesTaskClient.get_task", "raised", [request("GET", "/api/workflow/abc")], exception=exc))
    assert (v.kind, v.failed) == (c.VALID, False)
    assert v.notes and v.notes[0].startswith("after the requests: ValidationError")


@pytest.mark.parametrize("kind, message, binding", [
    ("TypeError", "pause_workflow() got an unexpected keyword argument 'workflowid'", True),
    ("TypeError", "f() missing 1 required positional argument: 'body'", True),
    ("TypeError", "f() takes 2 positional arguments but 3 were given", True),
    ("TypeError", "'NoneType' object is not iterable", False),
    ("AttributeError", "'WorkflowResourceApiAdapter' object has no attribute 'search'", True),
    ("AttributeError", "'NoneType' object has no attribute 'tasks'", False),
    ("ValidationError", "1 validation error for SchemaDefAdapter type Field required [type=missing, ...]", True),
    ("ValidationError", "1 validation error for X name Input should be a valid string [type=string_type]", False),
    ("KeyError", "'grantedAccess'", False),
])
def test_binding_errors_before_sending(kind: str, message: str, binding: bool) -> None:
    v = verdict(record("OrkesX.m", "raised", exception=exception(kind, message, "orkes/orkes_x.py:1")))
    assert (v.kind == c.BINDING) is binding
    if not binding:
        assert v.kind == c.NOT_EXERCISED and v.detail.startswith("raised before sending")


@pytest.mark.parametrize("rec, detail", [
    (record("A.skipped", "skipped", reason="no arguments: cannot build X"), "no arguments: cannot build X"),
    (record("A.timeout", "timeout", reason="still running after 5 s"), "sent nothing: still running after 5 s"),
    (record("A.local"), "sent no request (a local helper)"),
])
def test_not_exercised_says_why(rec: Dict[str, Any], detail: str) -> None:
    v = verdict(rec)
    assert (v.kind, v.detail, v.failed) == (c.NOT_EXERCISED, detail, False)


def _result(baseline: Any = None) -> c.ContractResult:
    records = {
        "setup": [{"id": "token", "status": "returned", "requests": []},
                  {"id": "orkes_event_client.import", "status": "setup-failed",
                   "exception": exception("ImportError", "cannot import name 'EventHandler'")}],
        "methods": [
            record("OrkesWorkflowClient.get_workflow", requests=[request("GET", "/api/workflow/abc")],
                   returned={"returned": "WorkflowAdapter", "promised": "WorkflowAdapter", "rule": "", "detail": ""}),
            record("OrkesWorkflowClient.search", requests=[request("GET", "/api/workflow/search", "PathNotFound")]),
            record("OrkesSecretClient.delete_secret", requests=[request("DELETE", "/api/secrets/k", "PathNotFound")]),
            record("OrkesWorkflowClient.pause", "raised",
                   exception=exception("TypeError", "pause() got an unexpected keyword argument 'x'")),
            record("OrkesWorkflowClient.helper"),
        ],
    }
    return c.evaluate(records, OPS, "/api", baseline)


def test_counts_and_the_last_line_without_a_baseline() -> None:
    result = _result()
    assert (result.total, result.exercised, result.valid, result.kept_promise) == (5, 4, 1, 1)
    assert [v.id for v in result.failures] == ["setup.orkes_event_client.import", "OrkesWorkflowClient.pause",
                                               "OrkesWorkflowClient.search"]
    assert result.summary_line() == ("contract: 4 of 5 SDK methods exercised, 1 sent spec-valid requests, "
                                     "1 returned what they promise, 3 new failures")
    lines = result.lines()
    assert lines[-2] == "verdicts: 1 valid, 1 rejected, 1 binding, 0 return, 1 removed, 1 not-exercised"
    assert lines[-1] == ("returns: 1 kept their promise (0 with a type not judged), 0 wrong return type, "
                         "0 drops response data")
    assert any(line.startswith("OrkesSecretClient.delete_secret: calls an operation the spec removed") for line in lines)


def test_baseline_excuses_pre_existing_failures_only() -> None:
    result = _result(frozenset({("OrkesWorkflowClient.search", "request rejected (unknown path)"),
                                ("setup.orkes_event_client.import", "setup failed")}))
    assert [v.id for v in result.new_failures] == ["OrkesWorkflowClient.pause"]
    assert result.summary_line().endswith("1 new failures")
    assert any(line.startswith("pre-existing OrkesWorkflowClient.search") for line in result.lines())
    assert any(line.startswith("new OrkesWorkflowClient.pause") for line in result.lines())


def test_a_failure_is_pre_existing_only_by_the_same_rule() -> None:
    """The same method failing by another rule on the baseline (the id alone) does not excuse it."""
    result = _result(frozenset({("OrkesWorkflowClient.search", "failed before sending (binding)"),
                                ("OrkesWorkflowClient.pause", "failed before sending (binding)")}))
    assert [v.id for v in result.new_failures] == ["setup.orkes_event_client.import", "OrkesWorkflowClient.search"]


def test_junit_has_one_case_per_method_and_is_its_own_baseline(tmp_path: Path) -> None:
    result = _result()
    path = tmp_path / "contract.xml"
    write_junit(result, path)
    text = path.read_text()
    assert text.count("<testcase ") == 6  # 5 methods + the Orkes module that did not import
    assert 'classname="OrkesWorkflowClient" name="pause"' in text
    assert '<skipped message="not exercised: sent no request (a local helper)"' in text
    assert to_xml(result) == path.read_bytes()  # no timestamps: the same result, the same bytes
    failures = failed_rules(path)
    assert failures == {(v.id, v.headline) for v in result.failures}
    assert ("OrkesWorkflowClient.search", "request rejected (unknown path)") in failures
    assert _result(failures).new_failures == ()


def test_unreadable_baseline_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<testsuite")
    with pytest.raises(ConfigError):
        failed_rules(bad)


def test_template_regex_takes_one_segment_per_parameter() -> None:
    assert c.template_regex("/workflow/{workflowId}").match("/workflow/abc")
    assert not c.template_regex("/workflow/{workflowId}").match("/workflow/abc/pause")
    assert c.sending_operation("GET", "/api/workflow/search", "/api", OPS)[1] == "WorkflowResourceApi"  # type: ignore[index]
    assert c.sending_operation("GET", "/api/workflow/search", "/api", OPS)[0][1] == "/workflow/search"  # type: ignore[index]
    assert c.sending_operation("GET", "/other/x", "/api", OPS) is None


def test_the_gate_reads_the_contract_summary_from_junit(tmp_path: Path) -> None:
    write_junit(_result(), tmp_path / "contract.xml")
    summary = parse_junit(tmp_path / "contract.xml")
    assert summary.summary == _result().summary_line() == _result().junit_summary()
    assert (summary.passed, summary.failed, summary.skipped) == (2, 3, 1)
    row = SessionResult("contract", "", "failed", summary.passed, summary.failed, summary.skipped, 1.0,
                           summary.first_failure, summary.message, summary.summary).as_row()
    assert row["detail"].startswith(summary.summary + "; FAILED setup::orkes_event_client.import")
    detail = gate_detail([row, {"session": "async_tests", "python": "3.11", "result": "passed",
                                   "detail": "35 passed"}])
    assert detail.startswith(f"{summary.summary}; FAILED setup::") and detail.endswith("; async_tests-3.11 passed")
