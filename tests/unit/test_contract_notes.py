"""After the gate: each new contract failure is an action note with the method's file:line, what changed in
the spec and the two ways on; accepted failures are listed apart, in the report's own section."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict

from conductor_regen.commands.report import ReportDraft, action_notes
from conductor_regen.matrix.contract import classify as c
from conductor_regen.matrix.contract.junit import write_junit
from conductor_regen.matrix.contract.notes import ACCEPTED_BREAK, review_notes

MODULE = "conductor.asyncio_client.orkes.orkes_workflow_client"
CLIENT = '''class OrkesWorkflowClient:
    def __init__(self, api):
        self.api = api

    async def get_workflow(self, workflow_id):
        return await self.api.get(workflow_id)

    async def execute_workflow(self, request):
        return await self.api.execute_workflow(request)
'''
VALID = {"method": "POST", "path": "/api/workflow/execute/w/1", "query": [], "operation": None, "errors": [],
         "status": 200}


def record(name: str, rule: str = "", detail: str = "") -> Dict[str, Any]:
    return {"id": f"OrkesWorkflowClient.{name}", "client": "OrkesWorkflowClient", "method": name, "module": MODULE,
            "status": "returned", "requests": [VALID],
            "returned": {"returned": "X", "promised": "Y", "rule": rule, "detail": detail, "unjudged": ""}}


def sdk(tmp_path: Path) -> Path:
    package = tmp_path / "src" / "conductor" / "asyncio_client"
    (package / "orkes").mkdir(parents=True)
    (package / "orkes" / "orkes_workflow_client.py").write_text(CLIENT)
    return package


CHANGES = ({"kind": "operation-return-changed", "operation": "POST /workflow/execute/{name}/{version}",
            "detail": "WorkflowRun -> SignalResponse", "methods": ["OrkesWorkflowClient.execute_workflow"]},)


def test_a_new_return_failure_names_the_method_its_line_the_change_and_the_choices(tmp_path: Path) -> None:
    package = sdk(tmp_path)
    result = c.evaluate({"methods": [record("execute_workflow", c.WRONG_TYPE,
                                            "returns SignalResponseAdapter, promises WorkflowRunAdapter"),
                                     record("get_workflow")]})
    write_junit(result, tmp_path / "contract.xml")
    [note] = review_notes(tmp_path / "contract.xml", tmp_path, package, CHANGES, "`regenerate --accept REASON`")
    assert note.startswith("review: OrkesWorkflowClient.execute_workflow "
                           "(src/conductor/asyncio_client/orkes/orkes_workflow_client.py:8): wrong return type: "
                           "returns SignalResponseAdapter, promises WorkflowRunAdapter; the spec changed "
                           "POST /workflow/execute/{name}/{version} (WorkflowRun -> SignalResponse); choices: ")
    assert note.endswith("go ahead deliberately: `regenerate --accept REASON`")
    assert action_notes([note]) == [note]


def test_pre_existing_failures_are_no_notes_and_accepted_ones_are_listed_apart(tmp_path: Path) -> None:
    package = sdk(tmp_path)
    failing = record("execute_workflow", c.WRONG_TYPE, "returns SignalResponseAdapter, promises WorkflowRunAdapter")
    before = frozenset({("OrkesWorkflowClient.execute_workflow", "wrong return type")})
    write_junit(c.evaluate({"methods": [failing]}, baseline=before), tmp_path / "contract.xml")
    assert review_notes(tmp_path / "contract.xml", tmp_path, package, CHANGES, "x") == []

    accepted = c.evaluate({"methods": [failing]})
    accepted = dataclasses.replace(accepted, accepted=((accepted.verdicts[0], "users migrate in 2.0"),))
    write_junit(accepted, tmp_path / "contract.xml")
    [note] = review_notes(tmp_path / "contract.xml", tmp_path, package, CHANGES, "x")
    assert note.startswith(ACCEPTED_BREAK + "OrkesWorkflowClient.execute_workflow (src/")
    assert note.endswith("; reason: users migrate in 2.0")
    draft = ReportDraft("regenerate", str(tmp_path))
    draft.note([note, "kept field X.y (deprecated)"])
    markdown = draft.finish("succeeded", ()).to_markdown()
    accepted_at, notes_at = markdown.index("## Accepted breaks"), markdown.index("## Notes")
    assert "OrkesWorkflowClient.execute_workflow" in markdown[accepted_at:notes_at]
    assert "OrkesWorkflowClient.execute_workflow" not in markdown[notes_at:]
