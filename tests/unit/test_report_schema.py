"""The JSON reports' keys, as docs/compatibility.md documents them for CI, checked against real reports
(a run's `Report.to_json` and `invoke diff --report`'s file, both from a real analysis)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import pytest
from support.mini_client import PACKAGE, MiniSdk, Op, spec_for
from support.paths import REPO

from conductor_regen.commands.diff import SdkDiff, write_diff_report
from conductor_regen.commands.report import SCHEMA, ReportDraft
from conductor_regen.analysis.changes import Change, to_json_list
from conductor_regen.analysis.impact import GROUPS

DOC = REPO / "docs" / "compatibility.md"


def _documented() -> Dict[str, Set[str]]:
    """{"both": keys, "run": keys} from the table between the report-keys markers (dotted paths)."""
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- report-keys", 1)[1].split("<!-- /report-keys -->", 1)[0]
    found: Dict[str, Set[str]] = {"both": set(), "run": set()}
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[1] not in found:
            continue
        found[cells[1]] |= set(re.findall(r"`([\w.\[\]]+)`", cells[0]))
    return found


def _keys(data: Dict[str, Any]) -> Set[str]:
    """The dotted keys the table documents: top level, `summary.*` and `changes[].*`."""
    keys = set(data)
    keys |= {f"summary.{k}" for k in data["summary"]}
    for change in data["changes"]:
        keys |= {f"changes[].{k}" for k in change}
    return keys


@pytest.fixture(scope="module")
def changes(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Change, ...]:
    """A tagged analysis with a kept removed operation that a public method calls (every key filled)."""
    apis = {"integration_resource_api": ("IntegrationResourceApi", [
        Op("get_token_usage", "GET", "/integrations/{name}/metrics", "name: StrictStr", "int"),
        Op("get_integration", "GET", "/integrations/{name}", "name: StrictStr", "int")])}
    sdk = MiniSdk(tmp_path_factory.mktemp("schema") / "sdk")
    sdk.clients(apis, apis)
    sdk.write("orkes/orkes_integration_client.py", f'''
        from {PACKAGE}.http.api.integration_resource_api import IntegrationResourceApi


        class OrkesIntegrationClient:
            def __init__(self, api_client=None) -> None:
                self.integration_api = IntegrationResourceApi(api_client)

            async def get_token_usage(self, name: str) -> int:
                return await self.integration_api.get_token_usage(name)
    ''')
    found = tuple(sdk.analyze(spec_for(apis, drop=("get_token_usage",))))
    assert any(c.methods and c.where and c.old and c.new for c in found)
    return found


def _run_report(changes: Tuple[Change, ...]) -> Dict[str, Any]:
    draft = ReportDraft(command="invoke regenerate", sdk="/sdk", spec={"source": "s.json", "version": "v2"})
    draft.changes = tuple(to_json_list(changes))
    data: Dict[str, Any] = json.loads(draft.finish("dry-run", ()).to_json())
    return data


def test_the_run_report_has_exactly_the_documented_keys(changes: Tuple[Change, ...]) -> None:
    documented = _documented()
    data = _run_report(changes)
    assert data["schema"] == SCHEMA and f"`\"{SCHEMA}\"`" in DOC.read_text(encoding="utf-8")
    assert _keys(data) == documented["both"] | documented["run"]


def test_the_diff_report_has_exactly_the_shared_keys(changes: Tuple[Change, ...], tmp_path: Path) -> None:
    path = tmp_path / "diff.json"
    write_diff_report(SdkDiff(changes, (), "v2"), path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert _keys(data) == _documented()["both"]
    assert data["schema"] == SCHEMA and data["command"] == "invoke diff" and data["spec"] == {"version": "v2"}
    assert data["changes"] == _run_report(changes)["changes"], "one shape for both reports"


def test_summary_values_follow_the_changes(changes: Tuple[Change, ...]) -> None:
    data = _run_report(changes)
    summary = data["summary"]
    assert list(summary["impact"]) == sorted(GROUPS) and sum(summary["impact"].values()) == len(changes)
    assert sum(summary["severity"].values()) == len(changes)
    assert summary["removed_operation_callers"] == ["OrkesIntegrationClient.get_token_usage"]
    removed = next(c for c in data["changes"] if c["kind"] == "operation-removed")
    assert removed["methods"] == ["OrkesIntegrationClient.get_token_usage"] and isinstance(removed["where"], list)


def test_every_impact_tag_and_kind_is_documented(changes: Tuple[Change, ...]) -> None:
    text = DOC.read_text(encoding="utf-8")
    for group in GROUPS:
        assert f"| `{group}` |" in text, group
    kinds: List[str] = ["parameter-renamed", "field-validation-dropped", "field-validation-changed",
                        *{c.kind for c in changes}]
    for kind in kinds:
        assert f"`{kind}`" in text, kind
