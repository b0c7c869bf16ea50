"""The driver's return check (`in_sdk_venv/returns.py`) on small hand-made models and functions.

The models mimic generated ones (camelCase aliases) and their SDK adapters (subclasses in another
"package"); each test names the rule it pins and the exact wording of its detail.
"""

from __future__ import annotations

import enum
from typing import Any, Dict, List, Optional, Tuple, Union

import pytest
from pydantic import BaseModel, ConfigDict, Field

from conductor_regen.matrix.contract.in_sdk_venv import returns as rt
from conductor_regen.matrix.contract.in_sdk_venv.synthesis import type_hints


class WorkflowRun(BaseModel):
    """Like a generated model."""

    model_config = ConfigDict(populate_by_name=True)
    workflow_id: Optional[str] = Field(default=None, alias="workflowId")
    status: Optional[str] = None
    variables: Optional[Dict[str, Any]] = None
    tasks: Optional[List["Task"]] = None


class Task(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    task_id: Optional[str] = Field(default=None, alias="taskId")
    status: Optional[str] = None


class WorkflowRunAdapter(WorkflowRun):
    """Like an SDK adapter: a subclass of the generated model."""

    @property
    def current_task(self) -> Optional[Task]:
        return (self.tasks or [None])[-1]


class CompletedRunAdapter(WorkflowRunAdapter):
    """An adapter subclass of the promised adapter."""


class SignalResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    workflow_id: Optional[str] = Field(default=None, alias="workflowId")
    target_workflow_status: Optional[str] = Field(default=None, alias="targetWorkflowStatus")


class SignalResponseAdapter(SignalResponse):
    pass


class Color(enum.Enum):
    RED = "red"


RUN = {"workflowId": "w1", "status": "COMPLETED", "variables": {"a": 1}, "tasks": [{"taskId": "t1", "status": "X"}]}
TYPED = [(RUN, False)]  # one success response, its schema not free-form


def run(**data: Any) -> WorkflowRunAdapter:
    return WorkflowRunAdapter.model_validate({**RUN, **data})


def check(value: Any, hint: Any, sent: Any = TYPED) -> Dict[str, str]:
    return rt.check(value, hint, sent, globals())


# --- the type rule ---------------------------------------------------------------------------------

def test_a_generated_model_where_an_adapter_is_promised_is_the_wrong_type() -> None:
    got = check(SignalResponseAdapter(workflowId="w1"), WorkflowRunAdapter)
    assert got["rule"] == rt.WRONG_TYPE == "wrong return type"
    assert got["detail"] == "returns SignalResponseAdapter, promises WorkflowRunAdapter"
    # The adapter's generated base where the adapter is promised is wrong too (it lacks the adapter's API).
    base = check(WorkflowRun.model_validate(RUN), WorkflowRunAdapter)
    assert base["detail"] == "returns WorkflowRun, promises WorkflowRunAdapter"


def test_an_adapter_subclass_of_the_promised_class_keeps_the_promise() -> None:
    assert check(CompletedRunAdapter.model_validate(RUN), WorkflowRunAdapter)["rule"] == ""
    assert check(run(), WorkflowRun)["rule"] == ""  # the adapter where its generated base is promised


def test_optional() -> None:
    assert check(None, Optional[WorkflowRunAdapter], [])["rule"] == ""
    assert check(run(), Optional[WorkflowRunAdapter])["rule"] == ""
    wrong = check(SignalResponse(), Optional[WorkflowRunAdapter])
    assert wrong["detail"] == "returns SignalResponse, promises Optional[WorkflowRunAdapter]"
    none = check(None, WorkflowRunAdapter, [])
    assert none["detail"] == "returns None, promises WorkflowRunAdapter"
    assert check(1, Union[str, int])["rule"] == "" and check(1.5, Union[str, int])["rule"] == rt.WRONG_TYPE


def test_list_and_dict_element_types() -> None:
    assert check([run(), run()], List[WorkflowRunAdapter], [([RUN, RUN], False)])["rule"] == ""
    assert check([], List[WorkflowRunAdapter])["rule"] == ""
    mixed = check([run(), SignalResponse()], List[WorkflowRunAdapter], [([RUN, RUN], False)])
    assert mixed["detail"] == "returns List[SignalResponse | WorkflowRunAdapter], promises List[WorkflowRunAdapter]"
    assert check({"a": run()}, List[WorkflowRunAdapter])["detail"].startswith("returns Dict[str, WorkflowRunAdapter]")
    assert check({"a": [run()]}, Dict[str, List[WorkflowRunAdapter]], [({"a": [RUN]}, False)])["rule"] == ""
    bad_value = check({"a": [SignalResponse()]}, Dict[str, List[WorkflowRunAdapter]])
    assert bad_value["detail"] == ("returns Dict[str, List[SignalResponse]], "
                                   "promises Dict[str, List[WorkflowRunAdapter]]")
    assert check({1: run()}, Dict[str, WorkflowRunAdapter])["rule"] == rt.WRONG_TYPE  # key type
    assert check(("a", 1), Tuple[str, int])["rule"] == "" and check(("a", "b"), Tuple[str, int])["rule"]


@pytest.mark.parametrize("value, hint, kept", [
    ("x", str, True), (b"x", str, False),
    (1, int, True), (True, int, False),  # a bool is not an int here
    (True, bool, True), (1, bool, False),
    (1, float, True), (1.5, float, True), ("1.5", float, False),  # an int is a float (PEP 484)
    (b"x", bytes, True), (bytearray(b"x"), bytes, True), ("x", bytes, False),
    (None, None, True), ({}, None, False), ("", type(None), False),
    (Color.RED, Color, True), ("red", Color, False),
])
def test_primitives(value: Any, hint: Any, kept: bool) -> None:
    got = check(value, hint, [])
    assert (got["rule"] == "") is kept, got


def test_none_promised() -> None:
    got = check({"id": "x"}, None)
    assert got["detail"] == "returns Dict[str, str], promises None"


def test_quoted_annotations_resolve_in_the_method_module() -> None:
    assert check(SignalResponse(), "Optional['WorkflowRunAdapter']")["detail"] == (
        "returns SignalResponse, promises Optional['WorkflowRunAdapter']")
    assert check(run(), "Optional['WorkflowRunAdapter']")["rule"] == ""
    assert check(SignalResponse(), "NoSuchName")["unjudged"].startswith("the annotation promises nothing")


# --- the data rule ---------------------------------------------------------------------------------

def test_a_field_left_none_drops_response_data() -> None:
    dropped = WorkflowRunAdapter(workflowId="w1", variables={"a": 1}, tasks=[Task(taskId="t1", status="X")])
    got = check(dropped, WorkflowRunAdapter)
    assert got["rule"] == rt.DROPPED == "drops response data"
    assert got["detail"] == "WorkflowRunAdapter.status is None, the response had 'COMPLETED'"
    assert check(run(), WorkflowRunAdapter)["rule"] == ""  # every value reached it, through the aliases


def test_a_response_key_no_field_takes_is_dropped() -> None:
    got = check(run(), WorkflowRunAdapter, [({**RUN, "responseType": "TARGET_WORKFLOW"}, False)])
    assert got["detail"] == "WorkflowRunAdapter has no field for 'responseType', the response had 'TARGET_WORKFLOW'"
    assert check(run(), WorkflowRunAdapter, [({**RUN, "responseType": None}, False)])["rule"] == ""  # no value


def test_maps_and_lists_are_compared_element_by_element() -> None:
    lost_key = run(variables={})
    assert check(lost_key, WorkflowRunAdapter)["detail"] == (
        "WorkflowRunAdapter.variables has no key 'a', the response had 1")
    element = check([run(), run(status=None)], List[WorkflowRunAdapter], [([RUN, RUN], False)])
    assert element["detail"] == "result[1].status is None, the response had 'COMPLETED'"
    in_map = check({"k": [run(status=None)]}, Dict[str, List[WorkflowRunAdapter]], [({"k": [RUN]}, False)])
    assert in_map["detail"] == "result['k'][0].status is None, the response had 'COMPLETED'"
    # A shorter list is not judged: SDK methods filter what the server sent.
    assert check([], List[WorkflowRunAdapter], [([RUN], False)])["rule"] == ""


def test_a_model_inside_a_field_only_has_to_be_there() -> None:
    inner = run(tasks=[Task(taskId="t1")])  # the task lost its status: its own adapter's business
    assert check(inner, WorkflowRunAdapter)["rule"] == ""
    gone = run(tasks=None)
    assert check(gone, WorkflowRunAdapter)["detail"] == "WorkflowRunAdapter.tasks is None, the response had a list of 1"


def test_optional_none_for_a_response_object_drops_it() -> None:
    got = check(None, Optional[WorkflowRunAdapter])
    assert got["detail"] == "returns None, the response had an object"
    assert check(None, Optional[WorkflowRunAdapter], [([RUN], False)])["rule"] == ""  # a list: filtered to nothing


def test_the_response_compared_is_the_one_shaped_like_the_value() -> None:
    other = {"name": "def", "version": 1}
    assert check(run(), WorkflowRunAdapter, [(RUN, False), (other, False)])["rule"] == ""
    assert check(run(status=None), WorkflowRunAdapter, [(other, False), (RUN, False)])["rule"] == rt.DROPPED
    assert check(run(), WorkflowRunAdapter, [("a text", False)])["rule"] == ""  # nothing of its shape


# --- what is not judged ----------------------------------------------------------------------------

def test_no_annotation_or_any_is_not_judged_by_type_but_must_keep_the_data() -> None:
    async def unannotated(self):  # type: ignore[no-untyped-def]
        ...

    hint = rt.return_hint(unannotated, type_hints(unannotated))
    got = check(SignalResponse(workflowId="w1"), hint, [({"workflowId": "w1"}, False)])
    assert (got["rule"], got["unjudged"]) == ("", "the annotation promises nothing (no annotation)")
    assert check(SignalResponse(), Any, [])["unjudged"] == "the annotation promises nothing (Any)"
    lost = check(SignalResponse(), object, [({"workflowId": "w1"}, False)])
    assert lost["detail"] == "SignalResponse.workflow_id is None, the response had 'w1'"


def test_a_mismatch_on_a_free_form_response_is_not_judged() -> None:
    got = check({"contract-key": "x"}, bool, [({"contract-key": "x"}, True)])
    assert got["rule"] == ""
    assert got["unjudged"] == "returns Dict[str, str], promises bool, but the spec leaves the response free-form"
    # One typed response among them: judged.
    assert check({"k": "x"}, bool, [({"k": "x"}, True), ({"k": "x"}, False)])["rule"] == rt.WRONG_TYPE


def test_return_hint_reads_the_method_annotation() -> None:
    class Client:
        async def get(self) -> Optional[WorkflowRunAdapter]:
            ...

        async def nothing(self) -> None:
            ...

    method = Client().get
    assert rt.render(rt.return_hint(method, type_hints(method))) == "Optional[WorkflowRunAdapter]"
    assert rt.return_hint(Client().nothing, type_hints(Client().nothing)) is type(None)
