"""The real `contract` nox session on copies of the example SDK: real venv, real mock server on 127.0.0.1.

One nox envdir for the session: the first run builds the venv (uv, a few seconds), later runs
reuse it (`-r`: the session installs nothing it already has; a changed checkout is reinstalled).
The run on a copy with a broken binding is made once for the module: one test reads its verdict,
another takes its JUnit file as a baseline.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, Optional

import pytest
from support.module_runs import ModuleRun, run_on_example_copy
from support.paths import REPO, SPEC_V1

from conductor_regen.matrix.sessions import ALL_SESSIONS
from conductor_regen.generator.provenance import IN_SDK

pytestmark = pytest.mark.e2e  # runs nox sessions


NOXFILE = REPO / "noxfile.py"
PACKAGE = "src/conductor/asyncio_client"
LAST_LINE = re.compile(r"^contract: (\d+) of (\d+) SDK methods exercised, (\d+) sent spec-valid requests, "
                       r"(\d+) returned what they promise, (\d+) new failures$", re.M)


def contract(envdir: Path, sdk: Path, junit: Path, *args: str,
             env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    # -r, not -R: the session itself skips installing requirements it has (and installs them when it has not).
    cmd = [sys.executable, "-m", "nox", "-f", str(NOXFILE), "--envdir", str(envdir), "-r", "-s", "contract",
           "--", "--sdk", str(sdk), "--junit-dir", str(junit), *args]
    return subprocess.run(cmd, cwd=envdir, capture_output=True, text=True, timeout=300, check=False, env=env)


def last_line(proc: subprocess.CompletedProcess[str]) -> tuple[int, ...]:
    matches = LAST_LINE.findall(proc.stdout)
    assert matches, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.rstrip().splitlines()[-1].startswith("contract: ")
    return tuple(int(x) for x in matches[-1])


def cases(junit: Path) -> Dict[str, str]:
    """{`Client.method`: passed | failure | skipped} from the session's JUnit file."""
    out = {}
    for case in ET.parse(junit / "contract.xml").getroot().iter("testcase"):
        kind = "failure" if case.find("failure") is not None else "skipped" if case.find("skipped") is not None \
            else "passed"
        out[f"{case.get('classname')}.{case.get('name')}"] = kind
    return out


def tree(root: Path) -> Dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_example_sdk_passes_deterministically_and_is_left_untouched(envdir: Path, sdk: Path, tmp_path: Path) -> None:
    before = tree(sdk)
    proc = contract(envdir, sdk, tmp_path / "j1", "--spec", str(SPEC_V1))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert last_line(proc) == (25, 25, 25, 25, 0)
    result = cases(tmp_path / "j1")
    assert len(result) == 25 and set(result.values()) == {"passed"}
    assert "OrkesWorkflowClient.start_workflow_by_name" in result
    again = contract(envdir, sdk, tmp_path / "j2", "--spec", str(SPEC_V1))
    assert again.returncode == 0
    assert (tmp_path / "j1" / "contract.xml").read_bytes() == (tmp_path / "j2" / "contract.xml").read_bytes()
    assert tree(sdk) == before


def test_wrong_resource_path_is_rejected_and_the_api_named(envdir: Path, sdk: Path, tmp_path: Path) -> None:
    api = sdk / PACKAGE / "http" / "api" / "workflow_resource_api.py"
    text = api.read_text()
    assert text.count("resource_path='/workflow") >= 5
    api.write_text(text.replace("resource_path='/workflow", "resource_path='/api/workflow"))
    proc = contract(envdir, sdk, tmp_path / "j", "--spec", str(SPEC_V1))
    assert proc.returncode != 0
    exercised, total, valid, kept, new = last_line(proc)
    assert (exercised, total) == (25, 25) and new == 6 and valid == 19 and kept == 19
    assert "OrkesWorkflowClient.get_workflow [WorkflowResourceApi]: request rejected (unknown path): " \
           "GET /api/api/workflow/contract" in proc.stdout
    assert "rejected requests by API: WorkflowResourceApi 6" in proc.stdout
    failed = {k for k, v in cases(tmp_path / "j").items() if v == "failure"}
    assert failed == {f"OrkesWorkflowClient.{m}" for m in ("get_workflow", "pause_workflow", "search_workflows",
                                                          "start_workflow", "start_workflow_by_name",
                                                          "terminate_workflow")}


def break_binding(sdk: Path) -> None:
    """A hand-written client calls a generated method with a keyword it does not take."""
    client = sdk / PACKAGE / "orkes" / "orkes_workflow_client.py"
    text = client.read_text()
    assert "pause_workflow(workflow_id=workflow_id)" in text
    client.write_text(text.replace("pause_workflow(workflow_id=workflow_id)", "pause_workflow(workflowid=workflow_id)"))


@pytest.fixture(scope="module")
def broken_binding_run(envdir: Path, tmp_path_factory: pytest.TempPathFactory) -> ModuleRun:
    """The contract on a copy of the example SDK with a wrong keyword (`break_binding`), run once for the module."""
    return run_on_example_copy(tmp_path_factory, "broken-binding",
                               lambda sdk, junit: contract(envdir, sdk, junit, "--spec", str(SPEC_V1)), break_binding)


def test_wrong_keyword_fails_before_sending(broken_binding_run: ModuleRun) -> None:
    proc = broken_binding_run.proc
    assert proc.returncode != 0
    assert last_line(proc) == (25, 25, 24, 24, 1)
    assert re.search(r"^OrkesWorkflowClient\.pause_workflow: failed before sending \(binding\): "
                     r"ValidationError: .*workflowid", proc.stdout, re.M), proc.stdout
    assert cases(broken_binding_run.junit)["OrkesWorkflowClient.pause_workflow"] == "failure"


def test_baseline_excuses_a_pre_existing_failure_but_not_a_new_one(envdir: Path, broken_binding_run: ModuleRun,
                                                                   tmp_path: Path) -> None:
    # The baseline is the broken copy's own run; this test edits a copy of that copy.
    assert broken_binding_run.proc.returncode != 0
    baseline = tmp_path / "baseline.xml"
    shutil.copy(broken_binding_run.junit / "contract.xml", baseline)
    sdk = tmp_path / "sdk"
    shutil.copytree(broken_binding_run.sdk, sdk)
    same = contract(envdir, sdk, tmp_path / "j1", "--spec", str(SPEC_V1), "--baseline", str(baseline))
    assert same.returncode == 0, same.stdout[-2000:]
    assert last_line(same) == (25, 25, 24, 24, 0)
    assert "pre-existing OrkesWorkflowClient.pause_workflow" in same.stdout
    metadata = sdk / PACKAGE / "http" / "api" / "metadata_resource_api.py"
    metadata.write_text(metadata.read_text().replace("resource_path='/metadata/taskdefs/{tasktype}'",
                                                     "resource_path='/api/metadata/taskdefs/{tasktype}'"))
    worse = contract(envdir, sdk, tmp_path / "j2", "--spec", str(SPEC_V1), "--baseline", str(baseline))
    assert worse.returncode != 0
    assert last_line(worse) == (25, 25, 23, 23, 1)
    assert "new OrkesMetadataClient.get_task_def [MetadataResourceApi]" in worse.stdout


def test_spec_comes_from_the_sdk_provenance(envdir: Path, sdk: Path, tmp_path: Path) -> None:
    proc = contract(envdir, sdk, tmp_path / "j")
    assert proc.returncode != 0
    assert "records no spec" in proc.stdout + proc.stderr and "pass --spec" in proc.stdout + proc.stderr
    (sdk / PACKAGE / "http" / IN_SDK).write_text(json.dumps({
        "spec_source": str(SPEC_V1), "spec_sha256": "", "spec_version": "v1", "input_sha256": "",
        "generator_backend": "jar", "generator_version": "7.14.0", "generator_options": [], "fixups": []}))
    proc = contract(envdir, sdk, tmp_path / "j")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"spec: {SPEC_V1}" in proc.stderr


def test_listed_with_a_docstring() -> None:
    listing = subprocess.run([sys.executable, "-m", "nox", "-f", str(NOXFILE), "-l"], capture_output=True,
                             text=True, check=True).stdout
    assert re.search(r"^\* contract|^- contract \[contract\] -> Request contract: ", listing, re.M), listing
    assert "contract" in ALL_SESSIONS


PLANTED = '''

    async def get_workflow_by_task(self, task_id: str) -> WorkflowAdapter:
        """Planted: promises a workflow, returns what the task API gives (a task)."""
        return await self.task_api.get_task(task_id)

    async def get_workflow_brief(self, workflow_id: str) -> WorkflowAdapter:
        """Planted: keeps the workflow's id and drops the rest of the response."""
        workflow = await self.workflow_api.get_execution_status(workflow_id=workflow_id)
        return WorkflowAdapter(workflow_id=workflow.workflow_id)
'''


def plant(sdk: Path) -> None:
    """Two hand-written methods that break the response contract: a wrong return type, dropped data."""
    client = sdk / PACKAGE / "orkes" / "orkes_workflow_client.py"
    client.write_text(client.read_text().rstrip("\n") + "\n" + PLANTED)


def isolated_env(tmp_path: Path) -> Dict[str, str]:
    """Backups and the baseline cache in the test's folder (not this checkout's .cache)."""
    import os

    return {**os.environ, "REGEN_BACKUPS_DIR": str(tmp_path / "backups"), "REGEN_CACHE_DIR": str(tmp_path / "cache")}


def test_returns_are_checked_against_the_pristine_tree_by_rule(envdir: Path, sdk: Path, tmp_path: Path) -> None:
    """A wrong return type and dropped data are new failures with their rules; the committed tree's failure is
    pre-existing (the automatic baseline is git HEAD); --absolute counts it; --accept accepts the new ones."""
    from support.sdk_copies import commit_all, git

    env = isolated_env(tmp_path)
    break_binding(sdk)  # a failure the pristine tree (git HEAD) has too
    git(sdk, "init", "-q")
    commit_all(sdk, "pristine, with a binding bug")
    plant(sdk)

    proc = contract(envdir, sdk, tmp_path / "j", "--spec", str(SPEC_V1), env=env)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert re.search(r"^nox > baseline: git HEAD [0-9a-f]{12}, checked against the same spec", proc.stderr, re.M), \
        proc.stderr[-2000:]
    out = proc.stdout
    assert re.search(r"^new OrkesWorkflowClient\.get_workflow_by_task: wrong return type: "
                     r"returns TaskAdapter, promises WorkflowAdapter$", out, re.M), out
    assert re.search(r"^new OrkesWorkflowClient\.get_workflow_brief: drops response data: "
                     r"WorkflowAdapter\.\w+ is None, the response had .+$", out, re.M), out
    assert re.search(r"^pre-existing OrkesWorkflowClient\.pause_workflow: failed before sending \(binding\)", out, re.M)
    # 27 methods: 26 sent spec-valid requests (not pause_workflow), 24 kept their promise, 2 new failures.
    assert last_line(proc) == (27, 27, 26, 24, 2)
    suite = ET.parse(tmp_path / "j" / "contract.xml").getroot()
    types = {f"{c.get('classname')}.{c.get('name')}": c.find("failure").get("type")  # type: ignore[union-attr]
             for c in suite.iter("testcase") if c.find("failure") is not None}
    assert types == {"OrkesWorkflowClient.get_workflow_by_task": "return",
                     "OrkesWorkflowClient.get_workflow_brief": "return",
                     "OrkesWorkflowClient.pause_workflow": "binding"}

    # Absolute: the pristine tree's failure counts too.
    absolute = contract(envdir, sdk, tmp_path / "ja", "--spec", str(SPEC_V1), "--absolute", env=env)
    assert absolute.returncode != 0 and last_line(absolute) == (27, 27, 26, 24, 3)

    # Accepting the new ones: they are listed apart, the run passes, the file is written in the SDK.
    accept = contract(envdir, sdk, tmp_path / "jb", "--spec", str(SPEC_V1), "--accept", "planted on purpose", env=env)
    assert accept.returncode == 0, accept.stdout[-3000:] + accept.stderr[-3000:]
    assert "contract: accepted 2 failure(s) in " in accept.stdout and last_line(accept)[-1] == 0
    entries = json.loads((sdk / ".conductor-regen" / "accepted-findings.json").read_text())["accepted"]
    assert sorted((e["tool"], e["symbol"], e["rule"]) for e in entries) == [
        ("contract", "OrkesWorkflowClient.get_workflow_brief", "drops response data"),
        ("contract", "OrkesWorkflowClient.get_workflow_by_task", "wrong return type")]
    again = contract(envdir, sdk, tmp_path / "jc", "--spec", str(SPEC_V1), env=env)
    assert again.returncode == 0, again.stdout[-3000:]
    assert re.search(r"^accepted OrkesWorkflowClient\.get_workflow_by_task: wrong return type: .* -- planted on purpose$",
                     again.stdout, re.M), again.stdout

    # One planted method fixed: its entry is named stale; the other stays accepted.
    client = sdk / PACKAGE / "orkes" / "orkes_workflow_client.py"
    client.write_text(client.read_text().replace("return await self.task_api.get_task(task_id)",
                                                 "return await self.get_workflow(task_id)"))
    fixed = contract(envdir, sdk, tmp_path / "jd", "--spec", str(SPEC_V1), env=env)
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert re.search(r"^stale: accepted .*wrong return type .*\(in OrkesWorkflowClient\.get_workflow_by_task\), "
                     r"no longer found", fixed.stdout, re.M), fixed.stdout
    assert last_line(fixed) == (27, 27, 26, 25, 0)
