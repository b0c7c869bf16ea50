"""Name pinning: old operations keep their Python names, new ones get names that do not collide.

The naming rules are checked against the real generator (OpenAPI Generator 7.14.0), not just
against our re-implementation of them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

import pytest

from conductor_regen.generator.naming import api_class_name, operation_id_for, python_method_name, split_suffix
from conductor_regen.compat.pinning import pin_operation_ids, pin_step
from conductor_regen.analysis.operations import ClientOperation, read_client_operations
from conductor_regen.generator.pipeline import prepare_spec
from conductor_regen.progress import StepLog
from support.generated_trees import OLD_HTTP, generate_document, generate_pinned, invoke_generate, repaired, settings
from support.paths import REAL_SPEC, SPEC_V1, SPEC_V2
from support.predicted_names import NameShift, api_module_name, predict_client_operations, shifted_names

# operationId -> Python method, each one observed in generated output.
OBSERVED_NAMES = [
    ("search", "search"), ("search_1", "search1"), ("search1", "search1"), ("search_2", "search2"),
    ("search__1", "search1"), ("search_1_a", "search1_a"), ("get_1_1", "get11"), ("getAll_1", "get_all1"),
    ("getV2_1", "get_v21"), ("searchWorkflows", "search_workflows"), ("search_workflows", "search_workflows"),
    ("SearchWorkflows", "search_workflows"), ("getHTTPStatus", "get_http_status"), ("get_HTTP", "get_http"),
    ("HTTPGet", "h_ttp_get"), ("jump-to-task", "jump_to_task"), ("jump.to.task", "jump_to_task"),
    ("jump to task", "jump_to_task"), ("v2Search", "v2_search"), ("searchV2", "search_v2"),
    ("getByID", "get_by_id"), ("getIDs", "get_ids"), ("executeWorkflowAsAPI", "execute_workflow_as_api"),
    ("signalWorkflowTaskASync", "signal_workflow_task_a_sync"), ("_private", "private"),
    ("a1B2c3", "a1_b2c3"), ("foo_Bar", "foo_bar"), ("return", "call_return"), ("Return", "call_return"),
    ("1abc", "call_1abc"), ("self", "call_self"), ("async", "call_async"), ("print", "call_print"),
    ("property", "call_property"), ("schema", "call_schema"), ("None", "call_none"), ("json", "call_json"),
    ("field", "call_field"), ("call_return", "call_return"), ("foo 1", "foo_1"), ("search 0", "search_0"),
    ("a:b", "a_b"), ("a;b#c", "a_bc"), ("a$b", "ab"), ("a(b)", "a_b"), ("a[b]", "a_b"), ("a/b", "a_b"),
    ("ABC", "a_bc"), ("get_execution_status", "get_execution_status"), ("Ünïcode", "ncode"),
]


def _ok() -> Dict[str, Any]:
    return {"200": {"description": "ok"}}


def _doc(ops: Iterable[Tuple[str, str, Optional[str], Tuple[str, ...]]]) -> Dict[str, Any]:
    """A minimal spec: (method, path, operationId or None, tags) per operation."""
    paths: Dict[str, Any] = {}
    for method, path, op_id, tags in ops:
        op: Dict[str, Any] = {"responses": _ok()}
        if op_id is not None:
            op["operationId"] = op_id
        if tags:
            op["tags"] = list(tags)
        paths.setdefault(path, {})[method.lower()] = op
    return {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": paths}


def _ops(*rows: Tuple[str, str, str, str]) -> Dict[Tuple[str, str], ClientOperation]:
    """Previous-client operations from (method, path, class, name)."""
    return {(m, p): ClientOperation(m, p, api_module_name(c), c, n) for m, p, c, n in rows}


def _names(ops: Mapping[Tuple[str, str], ClientOperation]) -> Dict[Tuple[str, str], str]:
    return {k: op.qualified_name for k, op in ops.items()}


# --- the naming rules -----------------------------------------------------------------------------


@pytest.mark.parametrize("operation_id, name", OBSERVED_NAMES)
def test_python_method_name(operation_id: str, name: str) -> None:
    assert python_method_name(operation_id) == name


def test_missing_operation_id_is_made_from_path_and_method() -> None:
    assert python_method_name(None, "get", "/p1/{x-y}/a_b") == "p1_xyab_get"
    assert python_method_name("", "post", "/workflow/{name}") == "workflow_name_post"


@pytest.mark.parametrize("name", ["search", "search1", "get_execution_status", "call_return", "h_ttp_get",
                                  "search1_a", "search_0", "foo_1_2", "start_workflow1"])
def test_operation_id_for_round_trips(name: str) -> None:
    op_id = operation_id_for(name)
    assert op_id is not None and python_method_name(op_id) == name


def test_operation_id_for_a_name_the_generator_cannot_make() -> None:
    assert operation_id_for("Search") is None
    assert operation_id_for("_x") is None


def test_class_names_and_suffixes() -> None:
    assert api_class_name("workflow-resource") == "WorkflowResourceApi"
    assert api_class_name("human-task") == "HumanTaskApi"
    assert api_class_name("user form") == "UserFormApi"
    assert api_class_name(None) == "DefaultApi"
    assert api_module_name("HumanTaskApi") == "human_task_api"
    assert split_suffix("start_workflow12") == ("start_workflow", 12)
    assert split_suffix("search") == ("search", None) and split_suffix("12") == ("12", None)


def test_predicted_v1_client_is_the_committed_one() -> None:
    assert predict_client_operations(repaired(SPEC_V1)) == read_client_operations(OLD_HTTP)


def test_generator_agrees_with_the_rules(generator_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """One generator run over every observed id, plus per-class de-duplication and multi-tag operations."""
    rows = [("GET", f"/p{i}", op_id, (f"tag{i % 7}",)) for i, (op_id, _) in enumerate(OBSERVED_NAMES)]
    rows += [
        ("POST", "/dup/a", "x", ("t",)), ("GET", "/dup/a", "x", ("t",)),  # GET is processed first
        ("DELETE", "/dup/b", "x", ("t",)), ("PUT", "/dup/b", "x", ("t",)),
        ("GET", "/dup/c", "x_0", ("t",)), ("GET", "/dup/d", "y", ("t", "u")), ("GET", "/dup/e", "y", ("u",)),
        ("GET", "/dup/f", None, ()), ("GET", "/dup/g", "y", ()), ("GET", "/p1/{x-y}/a_b", None, ("t",)),
    ]
    doc = _doc(rows)
    package = generate_document(doc, tmp_path_factory.mktemp("rules") / "out", generator_cache)
    generated = read_client_operations(package)
    assert predict_client_operations(doc) == generated
    dedup = {k: generated[k].name for k in generated if k[1].startswith("/dup/")}
    assert dedup[("GET", "/dup/a")] == "x" and dedup[("POST", "/dup/a")] == "x_0"
    assert (dedup[("PUT", "/dup/b")], dedup[("DELETE", "/dup/b")]) == ("x_1", "x_2")
    assert generated[("GET", "/dup/d")].classes == ("TApi", "UApi")
    assert dedup[("GET", "/dup/e")] == "y_0"


# --- pinning --------------------------------------------------------------------------------------


def test_pins_the_three_shifted_v2_names() -> None:
    v2 = repaired(SPEC_V2)
    before = copy.deepcopy(v2)
    pinned, lines = pin_operation_ids(v2, read_client_operations(OLD_HTTP))
    assert v2 == before  # pure
    assert lines == (
        "GET /metadata/workflow/{name}: operationId get_1 -> get (keeps MetadataResourceApi.get)",
        "GET /tasks/search: operationId search_2 -> search1 (keeps TaskResourceApi.search1)",
        "GET /workflow/search: operationId search_1 -> search (keeps WorkflowResourceApi.search)",
    )
    assert pinned["paths"]["/workflow/search"]["get"]["operationId"] == "search"
    assert pinned["paths"]["/human/tasks/search"] is v2["paths"]["/human/tasks/search"]  # untouched: shared
    again, again_lines = pin_operation_ids(pinned, read_client_operations(OLD_HTTP))
    assert again == pinned and again_lines == ()  # idempotent
    predicted = predict_client_operations(pinned)
    assert shifted_names(read_client_operations(OLD_HTTP), predicted) == []


def test_without_pinning_the_shifts_are_reported() -> None:
    shifts = shifted_names(read_client_operations(OLD_HTTP), predict_client_operations(repaired(SPEC_V2)))
    assert shifts == [
        NameShift("GET", "/metadata/workflow/{name}", "MetadataResourceApi.get", "MetadataResourceApi.get1"),
        NameShift("GET", "/tasks/search", "TaskResourceApi.search1", "TaskResourceApi.search2"),
        NameShift("GET", "/workflow/search", "WorkflowResourceApi.search", "WorkflowResourceApi.search1"),
    ]
    assert shifts[0].line == "GET /metadata/workflow/{name}: MetadataResourceApi.get -> MetadataResourceApi.get1"


def test_no_previous_client_means_no_pinning() -> None:
    v2 = repaired(SPEC_V2)
    pinned, lines = pin_operation_ids(v2, {})
    assert pinned == v2 and pinned is not v2 and lines == ()


def test_new_operation_taking_a_pinned_name_gets_a_fresh_one() -> None:
    previous = _ops(("GET", "/w/search", "WApi", "search"))
    doc = _doc([("GET", "/w/search", "search_1", ("w",)), ("GET", "/w/search/v2", "search", ("w",)),
                ("GET", "/x/search", "search", ("x",))])  # another class: no collision
    pinned, lines = pin_operation_ids(doc, previous)
    assert _names(predict_client_operations(pinned)) == {
        ("GET", "/w/search"): "WApi.search", ("GET", "/w/search/v2"): "WApi.search1",
        ("GET", "/x/search"): "XApi.search"}
    assert lines == (
        "GET /w/search: operationId search_1 -> search (keeps WApi.search)",
        "GET /w/search/v2: new name WApi.search1, operationId search -> search1 (search is kept by GET /w/search)",
    )
    assert pin_operation_ids(pinned, previous)[0] == pinned


def test_fresh_names_skip_every_taken_number() -> None:
    previous = _ops(("GET", "/a", "TApi", "get"), ("GET", "/b", "TApi", "get1"), ("GET", "/c", "TApi", "get2"))
    doc = _doc([("GET", "/a", "get_1", ("t",)), ("GET", "/b", "get_2", ("t",)), ("GET", "/c", "get_3", ("t",)),
                ("GET", "/new", "get", ("t",))])
    pinned, _ = pin_operation_ids(doc, previous)
    assert predict_client_operations(pinned)[("GET", "/new")].name == "get3"


def test_a_moved_operation_cannot_take_a_name_its_new_class_keeps() -> None:
    previous = _ops(("GET", "/a", "AApi", "get"), ("GET", "/b", "BApi", "get"))
    doc = _doc([("GET", "/a", "get_1", ("b",)), ("GET", "/b", "get", ("b",))])
    pinned, lines = pin_operation_ids(doc, previous)
    assert _names(predict_client_operations(pinned)) == {("GET", "/a"): "BApi.get1", ("GET", "/b"): "BApi.get"}
    assert lines == ("GET /a: cannot keep AApi.get (get is taken by GET /b)",)


def test_a_moved_operation_keeps_its_name_when_free() -> None:
    previous = _ops(("GET", "/a", "AApi", "list_all"))
    pinned, lines = pin_operation_ids(_doc([("GET", "/a", "listAll_1", ("b",))]), previous)
    assert _names(predict_client_operations(pinned)) == {("GET", "/a"): "BApi.list_all"}
    assert lines == ("GET /a: operationId listAll_1 -> list_all (keeps AApi.list_all)",)


def test_names_the_generator_cannot_make_are_reported() -> None:
    previous = _ops(("GET", "/a", "TApi", "Search"))  # a hand edit, not generator output
    pinned, lines = pin_operation_ids(_doc([("GET", "/a", "search", ("t",))]), previous)
    assert lines == ("GET /a: cannot keep TApi.Search (no operationId generates Search)",)
    assert pinned["paths"]["/a"]["get"]["operationId"] == "search"


def test_operations_without_an_id_keep_their_generated_name() -> None:
    previous = _ops(("GET", "/x", "TApi", "x_get"))
    pinned, lines = pin_operation_ids(_doc([("GET", "/x", None, ("t",))]), previous)
    assert lines == () and "operationId" not in pinned["paths"]["/x"]["get"]


def test_dedup_names_are_pinned_with_the_space_form() -> None:
    previous = _ops(("GET", "/a", "TApi", "x"), ("POST", "/a", "TApi", "x_0"))
    doc = _doc([("GET", "/a", "x", ("t",)), ("POST", "/a", "x_1", ("t",))])
    pinned, lines = pin_operation_ids(doc, previous)
    assert pinned["paths"]["/a"]["post"]["operationId"] == "x 0"
    assert _names(predict_client_operations(pinned)) == {("GET", "/a"): "TApi.x", ("POST", "/a"): "TApi.x_0"}


def test_new_numbered_names_are_reported() -> None:
    previous = _ops(("GET", "/a", "TApi", "get"))
    _, lines = pin_operation_ids(_doc([("GET", "/a", "get", ("t",)), ("GET", "/b", "get_3", ("t",))]), previous)
    assert lines == ("GET /b: new name TApi.get3 carries the server's numbering (operationId get_3)",)


def test_pin_step(tmp_path: Path) -> None:
    steps = StepLog()
    spec = prepare_spec(str(SPEC_V2), settings(tmp_path), steps, env={})
    pinned, lines = pin_step(spec, OLD_HTTP, steps)
    assert len(lines) == 3 and pinned.document["paths"]["/workflow/search"]["get"]["operationId"] == "search"
    assert pinned.loaded is spec.loaded and spec.document["paths"]["/workflow/search"]["get"]["operationId"] == "search_1"
    assert (steps.steps[-1].name, steps.steps[-1].status) == ("pin method names", "ok")
    assert steps.steps[-1].detail == "25 operations known, 3 operationId(s) pinned, 0 other note(s)"
    assert pin_step(spec, tmp_path, steps) == (spec, ())
    assert steps.steps[-1].status == "skipped"
    assert pin_step(spec, OLD_HTTP, steps, enabled=False) == (spec, ())
    assert steps.steps[-1].detail == "--no-pin-names"


# --- the real generator on the pinned v2 spec -----------------------------------------------------


@pytest.fixture(scope="session")
def pinned_v2(generator_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v2 generated the proposed way: prepare_spec, pin to the example SDK, generate_verified."""
    return generate_pinned(SPEC_V2, OLD_HTTP, tmp_path_factory.mktemp("pinned") / "out",
                           generator_cache)


def test_generated_pinned_v2_keeps_every_old_name(pinned_v2: Path) -> None:
    old, new = read_client_operations(OLD_HTTP), read_client_operations(pinned_v2)
    assert new[("GET", "/workflow/search")].qualified_name == "WorkflowResourceApi.search"
    assert new[("GET", "/tasks/search")].qualified_name == "TaskResourceApi.search1"
    assert new[("GET", "/metadata/workflow/{name}")].qualified_name == "MetadataResourceApi.get"
    assert shifted_names(old, new) == []
    added = {k: new[k].qualified_name for k in new.keys() - old.keys()}
    assert added == {("POST", "/human/tasks/search"): "HumanTaskApi.search",
                     ("GET", "/human/tasks/{taskId}"): "HumanTaskApi.get",
                     ("POST", "/workflow/{workflowId}/jump/{taskReferenceName}"): "WorkflowResourceApi.jump_to_task"}
    for cls in {op.class_name for op in new.values()}:
        names = [op.name for op in new.values() if cls in op.classes]
        assert len(names) == len(set(names)), cls


# --- the real Orkes spec (slow) -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not REAL_SPEC.is_file(), reason="the real Orkes spec is not in ../shared/specs")
def test_real_spec_names_are_predicted_and_pinned(generator_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    package = invoke_generate(REAL_SPEC, tmp_path_factory.mktemp("real") / "out", generator_cache)
    generated = read_client_operations(package)
    doc = repaired(REAL_SPEC)
    assert len(generated) > 250
    assert predict_client_operations(doc) == generated
    # The server adds GET /workflow/search-v2 and numbers it before the old searches, springdoc style:
    # it takes `search_1` (WorkflowResourceApi.search1), so the old ones shift to search_2 and search_3.
    shifted = json.loads(json.dumps(doc))
    renumber = {"search_1": "search_2", "search_2": "search_3"}
    for item in shifted["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") in renumber:
                op["operationId"] = renumber[op["operationId"]]
    shifted["paths"]["/workflow/search-v2"] = {"get": {"operationId": "search_1", "tags": ["workflow-resource"],
                                                       "responses": _ok()}}
    assert {s.line for s in shifted_names(generated, predict_client_operations(shifted))} == {
        "GET /tasks/search: TaskResourceApi.search2 -> TaskResourceApi.search3",
        "GET /workflow/search: WorkflowResourceApi.search1 -> WorkflowResourceApi.search2"}
    pinned, lines = pin_operation_ids(shifted, generated)
    predicted = predict_client_operations(pinned)
    assert shifted_names(generated, predicted) == []
    assert predicted[("GET", "/workflow/search-v2")].qualified_name == "WorkflowResourceApi.search2"
    assert lines == (
        "GET /tasks/search: operationId search_3 -> search2 (keeps TaskResourceApi.search2)",
        "GET /workflow/search: operationId search_2 -> search1 (keeps WorkflowResourceApi.search1)",
        "GET /workflow/search-v2: new name WorkflowResourceApi.search2, operationId search_1 -> search2 "
        "(search1 is kept by GET /workflow/search)",
    )
