"""The call binding check and the keyword codemod: Python's binding rules, and a facade SDK whose
positional calls a reordering spec would silently misbind (the rules themselves: tests/unit/test_call_binding_rules.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Tuple

import pytest
from support.sdk_copies import commit_all, new_sdk, pkg, run_core, sdk_digest, settings_for
from support.paths import SPEC_V1

from conductor_regen.analysis.binding import check_bindings
from conductor_regen.commands.diff import SdkDiff, diff_sdk
from conductor_regen.analysis.signatures import SHIFTED
from conductor_regen.errors import VerificationError
from conductor_regen.progress import StepLog
from conductor_regen.commands.plan import RegenOptions
from conductor_regen.commands.regenerate import regenerate
from conductor_regen.commands.report import Report
from conductor_regen.checkout.target import resolve_sdk
from conductor_regen.analysis.source_tree import SourceTree, staged_tree

pytestmark = pytest.mark.e2e  # runs the real generator and a nested pytest

PACKAGE = "conductor.asyncio_client"


# --- a facade SDK and a reordering spec ------------------------------------------------------------

FACADE = '''from typing import Any, Dict, Optional

from conductor.asyncio_client.http.api import WorkflowResourceApi


class WorkflowResourceApiAdapter:
    """Facade over the generated WorkflowResourceApi."""

    def __init__(self, api_client=None) -> None:
        self._api = WorkflowResourceApi(api_client)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    async def start_workflow1(self, name: str, request_body: Dict[str, Any], version: Optional[int] = None,
                              **kwargs: Any) -> str:
        # Positional, as hand-written facades often are: the generated order is (name, version, body).
        return await self._api.start_workflow1(name, version, request_body, **kwargs)
'''
CALL_LINE = 18  # the positional call above, in adapters/api/workflow_resource_api.py


def _version_required(spec: Path, out: Path) -> Path:
    """v1 with POST /api/workflow/{name}'s `version` required: the generator orders it before the body."""
    document = json.loads(spec.read_text())
    for param in document["paths"]["/api/workflow/{name}"]["post"]["parameters"]:
        if param["name"] == "version":
            param["required"] = True
    out.write_text(json.dumps(document, indent=2))
    return out


@pytest.fixture(scope="module")
def facade_sdk(generator_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    """A committed SDK whose http/ came from the version-required spec, with a positional facade adapter."""
    base = tmp_path_factory.mktemp("facade")
    cache = generator_cache
    spec_a = _version_required(SPEC_V1, base / "spec-a.json")
    root = new_sdk(base)
    report, error, _ = run_core(root, base / "backups", cache, spec_a)
    assert error is None, error
    (pkg(root) / "adapters" / "api" / "workflow_resource_api.py").write_text(FACADE)
    commit_all(root, "facade adapter on the version-required client")
    assert _sdk_tests(root).returncode == 0, "the facade SDK is green on its own client"
    return base, root


def _copy(base: Path, root: Path, name: str) -> Path:
    import shutil

    dest = base / name
    shutil.copytree(root, dest, symlinks=True)
    return dest


def _sdk_tests(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(root / "src")}
    return subprocess.run([sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider",
                           "-p", "no:benchmark"], cwd=root, env=env, capture_output=True, text=True)


@dataclasses.dataclass(frozen=True)
class Rewritten:
    """One full v1 run on a copy of the facade SDK, `invoke diff` on the same copy just before it."""

    root: Path
    diffed: SdkDiff
    report: Report
    steps: StepLog


@pytest.fixture(scope="module")
def rewritten(generator_cache: Path, facade_sdk: Tuple[Path, Path]) -> Rewritten:
    """`invoke diff` first (it must touch nothing), then the run, on the same SDK and spec: the codemod and
    impact tests below judge this one run (none edits its copy)."""
    base, template = facade_sdk
    root = _copy(base, template, "with-codemod")
    settings = settings_for(root, base / "backups-1", generator_cache)
    before = sdk_digest(root)
    diffed = diff_sdk(pkg(root) / "http", str(SPEC_V1), settings, StepLog(), env={}, target=resolve_sdk(settings.sdk))
    assert sdk_digest(root) == before, "invoke diff touches nothing"
    report, error, steps = run_core(root, base / "backups-1", generator_cache, SPEC_V1)
    assert error is None, error
    assert report is not None
    return Rewritten(root, diffed, report, steps)


def test_reorder_is_rewritten_to_keywords_and_the_sdk_stays_green(rewritten: Rewritten) -> None:
    root, report, steps = rewritten.root, rewritten.report, rewritten.steps
    assert report.outcome == "succeeded"
    adapter = (pkg(root) / "adapters" / "api" / "workflow_resource_api.py").read_text()
    assert "self._api.start_workflow1(name=name, version=version, request_body=request_body, **kwargs)" in adapter
    assert adapter.replace("name=name, version=version, request_body=request_body",
                           "name, version, request_body") == FACADE, "only the call changed"
    where = f"src/conductor/asyncio_client/adapters/api/workflow_resource_api.py:{CALL_LINE}"
    assert any(n.startswith(f"local edit: {where}: WorkflowResourceApi.start_workflow1") for n in report.notes)
    assert report.binding["rewritten"] and not report.binding["findings"]
    step = next(s for s in steps.steps if s.name == "check bindings")
    assert "1 rewritten to keywords" in step.detail
    # The generated order really did change, so the old positional call would have sent the version as body.
    generated = (pkg(root) / "http" / "api" / "workflow_resource_api.py").read_text()
    assert "async def start_workflow1(\n        self,\n        name: StrictStr,\n        request_body:" in generated
    done = _sdk_tests(root)
    assert done.returncode == 0, done.stdout[-2000:]


def _run_with(root: Path, backups: Path, cache: Path, **sdk: object) -> Tuple[Exception, StepLog]:
    """A core run with some `sdk.*` settings changed; it must fail with a VerificationError."""
    settings = settings_for(root, backups, cache)
    settings = dataclasses.replace(settings, sdk=dataclasses.replace(settings.sdk, **sdk))
    steps = StepLog()
    with pytest.raises(VerificationError) as caught:
        regenerate(resolve_sdk(settings.sdk), RegenOptions(spec=str(SPEC_V1), yes=True, skip_tests=True),
                   settings, steps, lambda _p: True, None, env={})
    return caught.value, steps


def test_without_the_codemod_the_run_refuses_before_the_swap(generator_cache: Path, facade_sdk: Tuple[Path, Path],
                                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    base, template = facade_sdk
    root = _copy(base, template, "no-codemod")
    before = sdk_digest(root)
    error, steps = _run_with(root, base / "backups-2", generator_cache, keyword_calls=False)
    where = f"src/conductor/asyncio_client/adapters/api/workflow_resource_api.py:{CALL_LINE}"
    assert where in error.message and SHIFTED in error.message
    assert "live: WorkflowResourceApi.start_workflow1(name, version, request_body" in error.message
    assert "new: WorkflowResourceApi.start_workflow1(name, request_body, version=…" in error.message
    assert "--no-keyword-calls" in error.hint
    assert [s.name for s in steps.steps if s.status == "failed"] == ["check bindings"]
    assert sdk_digest(root) == before, "nothing may change when the run refuses"
    assert not (base / "backups-2").exists() or not any((base / "backups-2").rglob("manifest.json"))


def test_a_call_outside_the_managed_folders_is_refused_with_a_hint(generator_cache: Path, facade_sdk: Tuple[Path, Path],
                                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    base, template = facade_sdk
    root = _copy(base, template, "unmanaged")
    before = sdk_digest(root)
    error, _ = _run_with(root, base / "backups-3", generator_cache, managed=("http", "orkes"))
    assert f"adapters/api/workflow_resource_api.py:{CALL_LINE}" in error.message
    assert "outside the managed folders" in error.hint and "sdk.managed" in error.hint
    assert sdk_digest(root) == before


def test_binding_check_resolves_wiring_facades_and_locals(facade_sdk: Tuple[Path, Path]) -> None:
    """On the live tree itself: Orkes clients through OrkesBaseClient, the facade's `self._api`, constructors."""
    _base, root = facade_sdk
    tree = SourceTree(PACKAGE, pkg(root))
    result = check_bindings(tree, tree, root)
    targets: Dict[str, str] = {c.where.split("asyncio_client/", 1)[1]: c.target for c in result.calls}
    assert targets[f"adapters/api/workflow_resource_api.py:{CALL_LINE}"] == "WorkflowResourceApi.start_workflow1"
    assert "TaskResourceApi.poll" in targets.values()  # self.task_api.poll(...) through OrkesBaseClient
    assert any(t.endswith("()") for t in targets.values()), "model constructors are bound too"
    assert result.findings == ()
    # The same SDK against the plain v1 client (version optional again): the facade call shifts.
    from support.generated_trees import OLD_HTTP

    staged = staged_tree(root / "nothing", pkg(root), PACKAGE, http=OLD_HTTP)
    findings = check_bindings(tree, staged, root).findings
    assert [(f.site.where.rsplit("/", 1)[1], f.repairable, f.managed) for f in findings] == \
        [(f"workflow_resource_api.py:{CALL_LINE}", True, True)]


# --- impact of each change on SDK code -------------------------------------------------------------

def test_report_tags_the_reordered_operation_as_repaired_and_diff_counts_the_same(rewritten: Rewritten) -> None:
    from conductor_regen.analysis.changes import Change
    from conductor_regen.analysis.impact import GROUPS, REPAIRED, count_by_impact

    diffed, report = rewritten.diffed, rewritten.report
    assert diffed.binding is not None and diffed.binding.rewritten_at
    changes = [Change(**c) for c in report.changes]
    assert count_by_impact(changes) == count_by_impact(diffed.changes)
    assert [c.impact for c in changes] == [c.impact for c in diffed.changes]
    moved = next(c for c in changes if c.operation == "POST /workflow/{name}")
    assert moved.kind == "operation-signature-changed" and moved.impact == REPAIRED
    assert f"workflow_resource_api.py:{CALL_LINE}" in moved.impact_detail and "codemod" in moved.impact_detail
    assert "request_body" in moved.detail and "_request_timeout" not in moved.detail, "no _request_* noise"
    # The Markdown report opens with one count line per group, and lists the first non-empty group first.
    text = report.to_markdown()
    lines = text.splitlines()
    assert lines[2:2 + len(GROUPS)] == [f"- {g}: {n}" for g, n in count_by_impact(changes).items()]
    assert lines[2 + len(GROUPS)] == "- 0 public methods call operations the server no longer has"
    positions = [text.index(f"### {g} (") for g in GROUPS if count_by_impact(changes)[g]]
    assert positions and positions == sorted(positions)
    assert count_by_impact(changes)[REPAIRED] >= 1


def test_a_dry_run_reports_the_findings_instead_of_stopping(generator_cache: Path, facade_sdk: Tuple[Path, Path],
                                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    base, template = facade_sdk
    root = _copy(base, template, "dry-run")
    before = sdk_digest(root)
    settings = settings_for(root, base / "backups-5", generator_cache)
    settings = dataclasses.replace(settings, sdk=dataclasses.replace(settings.sdk, keyword_calls=False))
    report = regenerate(resolve_sdk(settings.sdk), RegenOptions(spec=str(SPEC_V1), dry_run=True, skip_tests=True),
                        settings, StepLog(), lambda _p: True, None, env={})
    assert report.outcome == "dry-run" and sdk_digest(root) == before
    [finding] = report.binding["findings"]
    assert f"workflow_resource_api.py:{CALL_LINE}: WorkflowResourceApi.start_workflow1: {SHIFTED}" in finding
    assert "### would not bind" in report.to_markdown()
    moved = next(c for c in report.changes if c["operation"] == "POST /workflow/{name}")
    assert moved["impact"] == "breaks SDK code" and f":{CALL_LINE}" in moved["impact_detail"]
