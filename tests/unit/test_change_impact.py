"""Impact rules, judged from what SDK code does at run time: small hand-written old/new generated clients
and SDK code (subclass adapters, facades, Orkes-style clients) through the real binding check and analysis."""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import pytest
from support.mini_client import PACKAGE, MiniSdk, Op, only, spec_for

from conductor_regen.analysis.changes import Change, render_markdown
from conductor_regen.analysis.impact import (BREAKS, COMPATIBLE_USE, REPAIRED, UNCHECKED, UNUSED, removed_callers,
                                             removed_line, summary)

Apis = Dict[str, Tuple[str, Sequence[Op]]]
HTTP = f"{PACKAGE}.http"


@pytest.fixture
def sdk(tmp_path: Path) -> MiniSdk:
    return MiniSdk(tmp_path / "sdk")


def _breaks(changes: Sequence[Change]) -> List[Tuple[str, str]]:
    return sorted((c.kind, c.operation) for c in changes if c.impact == BREAKS)


# --- a field type an adapter already declares wider -------------------------------------------------

TASK_OLD = 'input_data: Optional[Dict[str, Dict[str, Any]]] = Field(default=None, alias="inputData")\n'
TASK_NEW = 'input_data: Optional[Dict[str, Any]] = Field(default=None, alias="inputData")\n'
WORKER = f'''
    from {PACKAGE}.adapters.models.task_adapter import TaskAdapter


    def input_of(task: TaskAdapter) -> object:
        return task.input_data
'''


def _adapter(model: str, module: str, body: str) -> str:
    """A model adapter: `class XAdapter(X):` with `body` (unindented lines) as its class body."""
    return (f"from typing import Any, Dict, Optional\nfrom pydantic import Field\n"
            f"from {HTTP}.models.{module} import {model}\n\n\nclass {model}Adapter({model}):\n"
            + textwrap.indent(body, "    "))


def _task_sdk(sdk: MiniSdk, adapter_body: str) -> List[Change]:
    sdk.clients({}, {}, {"task": ("Task", TASK_OLD)}, {"task": ("Task", TASK_NEW)})
    sdk.write("adapters/models/task_adapter.py", _adapter("Task", "task", adapter_body))
    sdk.write("worker/worker.py", WORKER)
    return sdk.analyze()


def test_a_type_change_the_adapter_already_declares_is_not_a_break(sdk: MiniSdk) -> None:
    changes = _task_sdk(sdk, 'input_data: Optional[Dict[str, Any]] = Field(default=None, alias="inputData")\n')
    change = only(changes, "Task.inputData")
    assert (change.kind, change.severity) == ("field-type-changed", "breaking")  # for the generated model itself
    assert change.impact == COMPATIBLE_USE, change
    assert "TaskAdapter declares input_data: Optional[Dict[str, Any]]" in change.impact_detail
    assert "worker/worker.py:5" in change.impact_detail and change.where
    assert _breaks(changes) == []


def test_the_same_change_without_the_adapters_declaration_breaks(sdk: MiniSdk) -> None:
    changes = _task_sdk(sdk, "pass\n")
    assert only(changes, "Task.inputData").impact == BREAKS


def test_an_adapter_declaring_a_narrower_type_does_not_shield(sdk: MiniSdk) -> None:
    changes = _task_sdk(sdk, 'input_data: Optional[Dict[str, Dict[str, Any]]] = Field(default=None, alias="inputData")\n')
    assert only(changes, "Task.inputData").impact == BREAKS


# --- dropped validation: bounds, pattern, enum -------------------------------------------------------

REQUEST_OLD = '''
    name: StrictStr
    priority: Optional[Annotated[int, Field(le=99, strict=True, ge=0)]] = None
    code: Annotated[str, Field(strict=True)]
    kind: Optional[StrictStr] = None

    @field_validator('code')
    def code_validate_regular_expression(cls, value):
        """Validates the regular expression"""
        if not re.match(r"^\\w*$", value):
            raise ValueError(r"must validate the regular expression /^\\w*$/")
        return value

    @field_validator('kind')
    def kind_validate_enum(cls, value):
        """Validates the enum"""
        if value is None:
            return value
        if value not in set(['A', 'B']):
            raise ValueError("must be one of enum values ('A', 'B')")
        return value
'''
REQUEST_NEW = '''
    name: StrictStr
    priority: Optional[StrictInt] = None
    code: StrictStr
    kind: Optional[StrictStr] = None

    @field_validator('kind')
    def kind_validate_enum(cls, value):
        """Validates the enum"""
        if value is None:
            return value
        if value not in set(['A', 'B', 'C']):
            raise ValueError("must be one of enum values ('A', 'B', 'C')")
        return value
'''
SCHEDULER = f'''
    from {PACKAGE}.adapters.models.start_request_adapter import StartRequestAdapter


    def request(name: str) -> StartRequestAdapter:
        return StartRequestAdapter(name=name, priority=1, code=name, kind="A")
'''


def _request_sdk(sdk: MiniSdk, adapter_body: str = "pass\n") -> List[Change]:
    sdk.clients({}, {}, {"start_request": ("StartRequest", REQUEST_OLD)},
                {"start_request": ("StartRequest", REQUEST_NEW)})
    sdk.write("adapters/models/start_request_adapter.py", _adapter("StartRequest", "start_request", adapter_body))
    sdk.write("orkes/scheduler.py", SCHEDULER)
    return sdk.analyze()


def test_dropped_bounds_pattern_and_a_wider_enum_are_no_longer_checked_client_side(sdk: MiniSdk) -> None:
    changes = _request_sdk(sdk)
    priority = only(changes, "StartRequest.priority")
    assert (priority.kind, priority.severity, priority.impact) == ("field-validation-dropped", "compatible", UNCHECKED)
    assert "ge=0 dropped; le=99 dropped" in priority.detail and "no longer checked client-side" in priority.detail
    assert "orkes/scheduler.py:5" in priority.impact_detail
    code = only(changes, "StartRequest.code")
    assert (code.kind, code.impact) == ("field-validation-dropped", UNCHECKED)
    assert "pattern /^\\w*$/ dropped" in code.detail and "equivalent" not in code.detail
    kind = only(changes, "StartRequest.kind")
    assert (kind.kind, kind.impact) == ("field-validation-dropped", UNCHECKED) and "also accepts C" in kind.detail
    # The removed validator method is explained by the field's change, not listed again by griffe.
    assert not [c for c in changes if c.kind == "python-api-changed"]
    assert _breaks(changes) == []
    assert f"- {UNCHECKED}: 3" in render_markdown(changes)


def test_an_adapter_declaration_shields_annotation_bounds_but_not_inherited_validators(sdk: MiniSdk) -> None:
    changes = _request_sdk(sdk, "priority: Optional[int] = None\ncode: str\n")
    priority = only(changes, "StartRequest.priority")
    assert priority.impact == COMPATIBLE_USE and "StartRequestAdapter declares priority" in priority.impact_detail
    # pydantic runs the base class's @field_validator on the adapter too: that check really is gone.
    assert only(changes, "StartRequest.code").impact == UNCHECKED


def test_a_tightened_check_is_a_breaking_validation_change(sdk: MiniSdk) -> None:
    sdk.clients({}, {}, {"limit": ("Limit", "count: Optional[Annotated[int, Field(strict=True, ge=0)]] = None\n")},
                {"limit": ("Limit", "count: Optional[Annotated[int, Field(strict=True, ge=1)]] = None\n")})
    change = only(sdk.analyze(), "Limit.count")
    assert (change.kind, change.severity) == ("field-validation-changed", "breaking")
    assert "ge=0 -> ge=1" in change.detail


# --- a return type swapped for another -------------------------------------------------------------

RUN_MODELS = {"workflow_run": ("WorkflowRun", "status: Optional[StrictStr] = None\n"),
              "signal_response": ("SignalResponse", "signal: Optional[StrictStr] = None\n")}
IMPORTS = (f"from {HTTP}.models.workflow_run import WorkflowRun\n"
           f"from {HTTP}.models.signal_response import SignalResponse\n")


def _workflow_apis(returns: str, params: str = "name: StrictStr, version: StrictInt, body: Dict[str, Any]") -> Apis:
    return {"workflow_resource_api": ("WorkflowResourceApi", [
        Op("execute_workflow", "POST", "/workflow/execute/{name}/{version}", params, returns),
        Op("terminate", "DELETE", "/workflow/{name}", "name: StrictStr", returns)])}


ORKES_CLIENT = f'''
    from typing import Any
    from {HTTP}.api.workflow_resource_api import WorkflowResourceApi
    from {HTTP}.models.workflow_run import WorkflowRun


    class OrkesWorkflowClient:
        def __init__(self, api_client=None) -> None:
            self.workflow_api = WorkflowResourceApi(api_client)

        async def execute_workflow(self, name: str, version: int, body: dict) -> WorkflowRun:
            return await self.workflow_api.execute_workflow(name=name, version=version, body=body)

        async def execute_workflow_with_return_strategy(self, name: str, version: int, body: dict) -> WorkflowRun:
            """An alias: returns what execute_workflow returns."""
            return await self.execute_workflow(name, version, body)

        async def terminate(self, name: str) -> None:
            await self.workflow_api.terminate(name=name)
'''


def test_a_return_change_breaks_the_methods_that_return_the_value_and_their_aliases(sdk: MiniSdk) -> None:
    sdk.clients(_workflow_apis("WorkflowRun"), _workflow_apis("SignalResponse"), RUN_MODELS, api_imports=IMPORTS)
    sdk.write("orkes/orkes_workflow_client.py", ORKES_CLIENT)
    changes = sdk.analyze()
    execute = only(changes, "POST /workflow/execute/{name}/{version}", "operation-return-changed")
    assert (execute.old, execute.new) == ("WorkflowRun", "SignalResponse")
    assert execute.impact == BREAKS, execute
    assert "OrkesWorkflowClient.execute_workflow returns it promising WorkflowRun at" in execute.impact_detail
    assert execute.methods == ("OrkesWorkflowClient.execute_workflow",
                               "OrkesWorkflowClient.execute_workflow_with_return_strategy")
    assert any(w.endswith("orkes/orkes_workflow_client.py:11") for w in execute.where)
    # The same change where the result is dropped changes no behaviour.
    terminate = only(changes, "DELETE /workflow/{name}", "operation-return-changed")
    assert terminate.impact == COMPATIBLE_USE and "the result is not used" in terminate.impact_detail
    assert _breaks(changes) == [("operation-return-changed", "POST /workflow/execute/{name}/{version}")]


def test_reading_the_result_breaks_and_a_promise_that_accepts_the_new_type_does_not(sdk: MiniSdk) -> None:
    sdk.clients(_workflow_apis("WorkflowRun"), _workflow_apis("SignalResponse"), RUN_MODELS, api_imports=IMPORTS)
    sdk.write("orkes/client.py", f'''
        from typing import Any
        from {HTTP}.api.workflow_resource_api import WorkflowResourceApi


        class Client:
            def __init__(self, api_client=None) -> None:
                self.api = WorkflowResourceApi(api_client)

            async def status(self, name: str) -> str:
                run = await self.api.execute_workflow(name, 1, {{}})
                return run.status

            async def anything(self, name: str) -> Any:
                return await self.api.terminate(name)
    ''')
    changes = sdk.analyze()
    execute = only(changes, "POST /workflow/execute/{name}/{version}", "operation-return-changed")
    assert execute.impact == BREAKS and "Client.status reads .status at" in execute.impact_detail
    assert execute.methods == ("Client.status",)
    terminate = only(changes, "DELETE /workflow/{name}", "operation-return-changed")
    assert terminate.impact == COMPATIBLE_USE and "returned as a type that accepts it" in terminate.impact_detail


FACADE = f'''
    from typing import Any
    from {HTTP}.api.workflow_resource_api import WorkflowResourceApi


    class WorkflowResourceApiAdapter:
        """Facade over the generated WorkflowResourceApi."""

        def __init__(self, api_client=None) -> None:
            self._api = WorkflowResourceApi(api_client)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._api, name)

        async def execute_workflow(self, name: str, version: int, body: dict) -> "WorkflowRun":
            return await self._api.execute_workflow(name, version, body)
'''


def test_a_facade_that_returns_the_value_breaks_even_when_its_call_was_rewritten_to_keywords(sdk: MiniSdk) -> None:
    from conductor_regen.compat.keyword_calls import rewrite_findings

    new = _workflow_apis("SignalResponse", "name: StrictStr, body: Dict[str, Any], version: Optional[StrictInt] = None")
    sdk.clients(_workflow_apis("WorkflowRun"), new, RUN_MODELS, api_imports=IMPORTS)
    sdk.write("adapters/api/workflow_resource_api.py", FACADE)
    # As assembly does: the managed folder is staged, the codemod rewrites the staged copy, the check runs again.
    shutil.copytree(sdk.package_dir / "adapters", sdk.staging / "adapters")
    first = sdk.binding()
    assert [f.repairable for f in first.findings] == [True]
    notes = rewrite_findings(first.findings, sdk.staging)
    binding = dataclasses.replace(sdk.binding(), rewritten=tuple(notes),
                                  rewritten_at=tuple(f.site.where for f in first.findings))
    assert binding.findings == ()
    changes = sdk.analyze(binding=binding)
    moved = only(changes, "POST /workflow/execute/{name}/{version}", "operation-signature-changed")
    assert moved.impact == REPAIRED and "codemod" in moved.impact_detail
    returned = only(changes, "POST /workflow/execute/{name}/{version}", "operation-return-changed")
    assert returned.impact == BREAKS, returned
    assert returned.methods == ("WorkflowResourceApiAdapter.execute_workflow",)


# --- operations the server no longer has, kept in the client -----------------------------------------

INTEGRATION_OPS = [Op("get_token_usage", "GET", "/integrations/{name}/metrics", "name: StrictStr", "int"),
                   Op("register_token_usage", "POST", "/integrations/{name}/metrics", "name: StrictStr, tokens: int"),
                   Op("get_integration", "GET", "/integrations/{name}", "name: StrictStr", "int")]
INTEGRATIONS: Apis = {"integration_resource_api": ("IntegrationResourceApi", INTEGRATION_OPS),
                      "metrics_resource_api": ("MetricsResourceApi", [Op("metrics", "GET", "/metrics", "", "int")])}
ORKES_INTEGRATION = f'''
    from {HTTP}.api.integration_resource_api import IntegrationResourceApi


    class OrkesIntegrationClient:
        def __init__(self, api_client=None) -> None:
            self.integration_api = IntegrationResourceApi(api_client)

        async def get_token_usage(self, name: str) -> int:
            return await self.integration_api.get_token_usage(name)

        async def _register(self, name: str, tokens: int) -> None:
            await self.integration_api.register_token_usage(name, tokens)

        async def register_token_usage(self, name: str, tokens: int) -> None:
            await self._register(name, tokens)

        async def get_integration(self, name: str) -> int:
            return await self.integration_api.get_integration(name)
'''


def _kept_sdk(sdk: MiniSdk) -> List[Change]:
    # The new client still has the three operations and the metrics API (kept by assembly); the spec does not.
    sdk.clients(INTEGRATIONS, INTEGRATIONS)
    sdk.write("orkes/orkes_integration_client.py", ORKES_INTEGRATION)
    sdk.write("adapters/api/metrics_resource_api.py", f'''
        from {HTTP}.api.metrics_resource_api import MetricsResourceApi


        class MetricsResourceApiAdapter(MetricsResourceApi): ...
    ''')
    return sdk.analyze(spec_for(INTEGRATIONS, drop=("get_token_usage", "register_token_usage", "metrics")))


def test_a_removed_operation_that_public_methods_still_call_breaks_them(sdk: MiniSdk) -> None:
    changes = _kept_sdk(sdk)
    usage = only(changes, "GET /integrations/{name}/metrics", "operation-removed")
    assert usage.severity == "breaking" and "the new client keeps it (deprecated)" in usage.detail
    assert usage.impact == BREAKS and usage.methods == ("OrkesIntegrationClient.get_token_usage",)
    assert "the server no longer has it" in usage.impact_detail and "404" in usage.impact_detail
    # A private helper makes the call: the public method that calls the helper is the one that breaks.
    register = only(changes, "POST /integrations/{name}/metrics", "operation-removed")
    assert register.impact == BREAKS and register.methods == ("OrkesIntegrationClient.register_token_usage",)
    # Kept, imported by its adapter, called by nobody: the keep repaired the import, nothing fails.
    api = only(changes, "MetricsResourceApi", "api-removed")
    assert api.impact == REPAIRED and "not called" in api.impact_detail
    assert only(changes, "GET /metrics", "operation-removed").impact == UNUSED
    assert _breaks(changes) == [("operation-removed", "GET /integrations/{name}/metrics"),
                                ("operation-removed", "POST /integrations/{name}/metrics")]
    assert removed_callers(changes) == ("OrkesIntegrationClient.get_token_usage",
                                        "OrkesIntegrationClient.register_token_usage")
    assert removed_line(changes) == "2 public methods call operations the server no longer has"
    assert "- 2 public methods call operations the server no longer has\n" in render_markdown(changes)
    assert summary(changes)["removed_operation_callers"] == list(removed_callers(changes))


def test_without_the_new_spec_a_kept_operation_is_no_change(sdk: MiniSdk) -> None:
    sdk.clients(INTEGRATIONS, INTEGRATIONS)
    sdk.write("orkes/orkes_integration_client.py", ORKES_INTEGRATION)
    changes = sdk.analyze(None)
    assert changes == [] and removed_line(changes) == "0 public methods call operations the server no longer has"


# --- a renamed path parameter ----------------------------------------------------------------------

def _events(param: str, path: str) -> Apis:
    return {"event_execution_resource_api": ("EventExecutionResourceApi", [
        Op("get_event_handlers_for_event2", "GET", path, f"{param}: StrictStr", "int"),
        Op("get_event_handlers", "GET", "/event/{event}", "event: StrictStr", "int")])}


@pytest.mark.parametrize(("call", "impact"), [("get_event_handlers_for_event2(event=event)", BREAKS),
                                              ("get_event_handlers(event=event)", UNUSED)])
def test_a_renamed_path_parameter_is_one_change(sdk: MiniSdk, call: str, impact: str) -> None:
    old, new = _events("event", "/event/execution/{event}"), _events("event_handler_name",
                                                                     "/event/execution/{eventHandlerName}")
    sdk.clients(old, new)
    sdk.write("orkes/orkes_event_client.py", f'''
        from {HTTP}.api.event_execution_resource_api import EventExecutionResourceApi


        class OrkesEventClient:
            def __init__(self, api_client=None) -> None:
                self.api = EventExecutionResourceApi(api_client)

            async def handlers(self, event: str) -> int:
                return await self.api.{call}
    ''')
    changes = sdk.analyze(spec_for(new))
    assert [(c.kind, c.operation) for c in changes] == [("parameter-renamed", "GET /event/execution/{event}")]
    [change] = changes
    assert (change.severity, change.old, change.new) == ("breaking", "event", "event_handler_name")
    assert "path parameter {event} -> {eventHandlerName}" in change.detail
    assert "Python parameter event -> event_handler_name" in change.detail and "is gone" not in change.detail
    assert change.impact == impact, change


# --- a new field: required breaks every constructor call, optional does not ---------------------------

def test_a_new_required_field_is_breaking_and_a_new_optional_one_compatible(sdk: MiniSdk) -> None:
    old = 'name: StrictStr\n'
    new = 'name: StrictStr\ncode: StrictStr\nnote: Optional[StrictStr] = None\n'
    sdk.clients({}, {}, {"start_request": ("StartRequest", old)}, {"start_request": ("StartRequest", new)})
    changes = sdk.analyze()
    assert only(changes, "StartRequest.code", "field-added").severity == "breaking"
    assert only(changes, "StartRequest.note", "field-added").severity == "compatible"
