"""End-to-end tests of the regeneration core on committed copies of the example SDK.

No mocks: the real OpenAPI Generator (output shared through a session cache dir), the real swap,
backups, import gate and rollback. Each test checks real effects through sha256 digests of the whole
SDK checkout (everything but .git), before and after.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Set

import pytest
from support.sdk_copies import (
    MANAGED,
    PACKAGE,
    PROVENANCE,
    Digest,
    backup_dirs,
    cli_env,
    commit_all,
    debris,
    diff,
    files_only,
    folders_digest,
    git,
    invoke_cmd,
    managed_digest,
    manifest,
    mask_report,
    new_sdk,
    perturb,
    pkg,
    run_cli,
    never_confirm,
    run_core,
    sdk_digest,
    settings_for,
    target_for,
    tree_digest,
    wait_for_file,
    write,
)
from support.paths import SPEC_V1, SPEC_V2

from conductor_regen.commands.plan import RegenOptions
from conductor_regen.commands.regenerate import regenerate
from conductor_regen.errors import VerificationError
from conductor_regen.progress import StepLog

pytestmark = pytest.mark.e2e  # runs the real generator and kill -9s runs


@pytest.fixture
def regen_cache(generator_cache: Path) -> Path:
    return generator_cache


@pytest.fixture
def v2_tree(expected_v2: Dict[str, Digest]) -> Dict[str, Digest]:
    return expected_v2


# --- 1. v1 on the committed v1 tree ----------------------------------------------------------------

def test_v1_on_v1_tree_adds_only_provenance_then_reruns_as_noop(tmp_path: Path, regen_cache: Path) -> None:
    root = new_sdk(tmp_path)
    backups = tmp_path / "backups"
    before = sdk_digest(root)

    report, error, steps = run_core(root, backups, regen_cache)
    assert error is None, error
    assert report is not None and report.outcome == "succeeded"

    after = sdk_digest(root)
    assert diff(before, after) == ([f"{PACKAGE}/{PROVENANCE}"], [], [])
    assert report.files.added == (PROVENANCE,) and not report.files.removed and not report.files.changed
    prov = json.loads((pkg(root) / PROVENANCE).read_text())
    assert prov["spec_version"] == "v1"
    assert prov["spec_sha256"] == hashlib.sha256(SPEC_V1.read_bytes()).hexdigest()
    assert git(root, "status", "--porcelain") == f"?? {PACKAGE}/{PROVENANCE}\n"
    assert debris(root) == []

    [backup] = backup_dirs(backups)
    for name in ("manifest.json", "spec.json", "report.json", "report.md"):
        assert (backup / name).is_file(), name
    assert manifest(backup)["outcome"] == "succeeded"
    assert manifest(backup)["spec_version"] == "v1"
    # The backup holds the tree as it was before the run, byte for byte.
    assert folders_digest(backup / "tree") == managed_digest_of(before)
    filed = json.loads((backup / "report.json").read_text())
    assert filed["outcome"] == "succeeded" and filed["backup_id"] == backup.name == report.backup_id
    assert (backup / "report.md").read_text().startswith("# Regeneration report: succeeded")
    assert json.loads((backup / "spec.json").read_text())["info"]["version"] == "v1"
    status = {s.name: s.status for s in steps.steps}
    assert status["generate"] == status["back up"] == status["swap"] == status["import gate"] == "ok", status
    assert status["tests"] == "skipped"

    # Rerun on the committed result: nothing to do, the generator is not even run.
    commit_all(root, "regenerated v1")
    committed = sdk_digest(root)
    report2, error2, steps2 = run_core(root, backups, regen_cache)
    assert error2 is None, error2
    assert report2 is not None and report2.outcome == "no-op"
    [gen] = [s for s in steps2.steps if s.name == "generate"]
    assert gen.status == "skipped"
    assert not any(s.name in ("swap", "back up") for s in steps2.steps)
    assert sdk_digest(root) == committed
    assert len(backup_dirs(backups)) == 1

    # A changed setting that changes the generator's input is not a no-op, though the spec is the same.
    s = settings_for(root, backups, regen_cache)
    other = dataclasses.replace(s, fixups=dataclasses.replace(s.fixups, strip_path_prefix="/apix"))
    steps4 = StepLog()
    report4 = regenerate(target_for(other), RegenOptions(spec=str(SPEC_V1), yes=True, skip_tests=True, dry_run=True),
                         other, steps4, never_confirm, None, env={})
    assert report4.outcome == "dry-run" and report4.plan, report4.outcome
    assert [s.status for s in steps4.steps if s.name == "generate"] == ["ok"]
    assert sdk_digest(root) == committed

    # Forced past the provenance check, a dry run generates again; the same tree ends as a no-op, as every writer's
    # does (one transaction), saying why, with the plan's file counts and nothing touched.
    report3, error3, steps3 = run_core(root, backups, regen_cache, force=True, dry_run=True)
    assert error3 is None, error3
    assert report3 is not None and report3.outcome == "no-op" and report3.plan == ()
    assert report3.files.total == 0
    [swap] = [s for s in steps3.steps if s.name == "swap"]
    assert (swap.status, swap.detail) == ("skipped", "the new tree is identical to the live one")
    assert sdk_digest(root) == committed and len(backup_dirs(backups)) == 1


def outside_managed(whole: Digest) -> Digest:
    """The part of a whole-SDK digest outside the managed folders."""
    return {k: v for k, v in whole.items()
            if not any(k == f"{PACKAGE}/{n}" or k.startswith(f"{PACKAGE}/{n}/") for n in MANAGED)}


def managed_digest_of(whole: Digest) -> Dict[str, Digest]:
    """Split a whole-SDK digest into per-managed-folder digests (as managed_digest returns them)."""
    out: Dict[str, Digest] = {n: {} for n in MANAGED}
    for key, value in whole.items():
        if key.startswith(PACKAGE + "/"):
            head, _, rest = key[len(PACKAGE) + 1:].partition("/")
            if head in out and rest:
                out[head][rest] = value
    return out


# --- 4. a failing test gate ------------------------------------------------------------------------

FAILED_TESTS = ({"session": "async_tests", "python": "3.11", "result": "failed", "detail": "FAILED x: boom"},)


def _failing_gate(root: Path, seen: List[bool]):
    def run_tests(target):  # type: ignore[no-untyped-def]
        assert target.root == root.resolve()
        # The gate must run against the swapped-in tree.
        seen.append((pkg(root) / PROVENANCE).is_file() and not (pkg(root) / "http" / "stale_module.py").exists())
        return False, FAILED_TESTS
    return run_tests


def test_failing_test_gate_rolls_back_byte_for_byte(tmp_path: Path, regen_cache: Path) -> None:
    root = new_sdk(tmp_path, mutate=perturb)
    backups = tmp_path / "backups"
    before = sdk_digest(root)
    seen: List[bool] = []

    report, error, steps = run_core(root, backups, regen_cache, run_tests=_failing_gate(root, seen))

    assert report is None and isinstance(error, VerificationError)
    assert "boom" in error.message
    assert seen == [True]
    assert sdk_digest(root) == before
    assert debris(root) == []
    status = {s.name: s.status for s in steps.steps}
    assert status["swap"] == "ok" and status["tests"] == "failed" and status["roll back"] == "ok"

    [backup] = backup_dirs(backups)
    assert manifest(backup)["outcome"] == "rolled-back"
    filed = json.loads((backup / "report.json").read_text())
    assert filed["outcome"] == "rolled-back"
    assert "boom" in filed["error"]
    assert filed["tests"] == list(FAILED_TESTS)
    md = (backup / "report.md").read_text()
    assert md.startswith("# Regeneration report: rolled-back") and "FAILED x: boom" in md


def test_failing_test_gate_with_keep_failed_leaves_the_new_tree(tmp_path: Path, regen_cache: Path) -> None:
    root = new_sdk(tmp_path, mutate=perturb)
    backups = tmp_path / "backups"
    before = sdk_digest(root)
    pristine = new_sdk(tmp_path, "pristine")

    report, error, _ = run_core(root, backups, regen_cache, run_tests=_failing_gate(root, []), keep_failed=True)

    assert report is None and isinstance(error, VerificationError)
    after = sdk_digest(root)
    added, removed, changed = diff(before, after)
    assert added == [f"{PACKAGE}/{PROVENANCE}"]
    assert removed == [f"{PACKAGE}/http/stale_module.py"]
    assert changed == [f"{PACKAGE}/http/rest.py"]
    # What was kept is the generated tree: rest.py is back to generator output.
    assert (pkg(root) / "http/rest.py").read_bytes() == (pkg(pristine) / "http/rest.py").read_bytes()
    assert debris(root) == []
    [backup] = backup_dirs(backups)
    assert manifest(backup)["outcome"] == "failed"
    assert json.loads((backup / "report.json").read_text())["outcome"] == "failed"


# --- 5. import-gate failure ------------------------------------------------------------------------

BROKEN_CLIENT = '''\
"""Imports fine against the v1 client, raises at import against v2 (Workflow gains idempotencyKey)."""
from conductor.asyncio_client.http.models.workflow import Workflow

assert hasattr(Workflow, "model_fields") and "idempotency_key" not in Workflow.model_fields
'''


def plant_broken_client(root: Path) -> None:
    write(pkg(root) / "orkes" / "broken_client.py", BROKEN_CLIENT)


def test_import_gate_failure_after_swap_rolls_back(tmp_path: Path, regen_cache: Path) -> None:
    root = new_sdk(tmp_path, mutate=plant_broken_client)
    backups = tmp_path / "backups"
    # The planted module is fine on the live v1 client: only the swap can break it.
    probe = subprocess.run([sys.executable, "-c", "import conductor.asyncio_client.orkes.broken_client"],
                           env=dict(os.environ, PYTHONPATH=str(root / "src"), PYTHONDONTWRITEBYTECODE="1"),
                           capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    before = sdk_digest(root)
    report = tmp_path / "out" / "report.json"

    r = run_cli("regenerate", "--spec", str(SPEC_V2), "--sdk", str(root), "--yes", "--skip-tests",
                "--report", str(report), env=cli_env(backups, regen_cache))

    assert r.code != 0, r
    line = r.the_error()
    assert "fail to import after the swap" in line and "the backup was restored" in line, line
    assert sdk_digest(root) == before
    assert debris(root) == []
    [backup] = backup_dirs(backups)
    assert manifest(backup)["outcome"] == "rolled-back"
    filed = json.loads((backup / "report.json").read_text())
    assert filed["outcome"] == "rolled-back" and "import" in filed["error"]
    status = {s["name"]: s["status"] for s in filed["steps"]}
    assert status["import gate"] == "failed" and status["roll back"] == "ok"
    # --report writes the report where it was asked for, for a rolled-back run too.
    assert json.loads(report.read_text())["outcome"] == "rolled-back"


# --- 6. kill -9 / Ctrl-C in the middle of the swap -------------------------------------------------

def _start_paused_run(tmp_path: Path, root: Path, regen_cache: Path, point: str, **extra: str):
    marker = tmp_path / "paused.pid"
    env = cli_env(tmp_path / "backups", regen_cache, REGEN_TEST_PAUSE_AFTER_EXCHANGE=point,
                  REGEN_TEST_PAUSE_MARKER=str(marker), **extra)
    out = open(tmp_path / "run.out", "wb")
    proc = subprocess.Popen(
        invoke_cmd("regenerate", "--spec", str(SPEC_V2), "--sdk", str(root), "--yes", "--skip-tests"),
        env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    wait_for_file(marker, proc)
    return proc, int(marker.read_text())


def _kill_all(proc: "subprocess.Popen[bytes]", paused_pid: int) -> None:
    for kill in (lambda: os.kill(paused_pid, signal.SIGKILL), lambda: os.killpg(proc.pid, signal.SIGKILL)):
        try:
            kill()
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


@pytest.mark.parametrize("point,extra", [
    ("1", {}),
    ("commit", {}),
], ids=["after-exchange", "after-commit"])
def test_sigkill_mid_swap_leaves_a_complete_tree_and_recovers(tmp_path: Path, regen_cache: Path,
                                                              v2_tree: Dict[str, Digest], point: str,
                                                              extra: Dict[str, str]) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)
    old = managed_digest(root)

    proc, paused = _start_paused_run(tmp_path, root, regen_cache, point, **extra)
    try:
        assert paused == proc.pid  # the invoke process itself runs the swap
    finally:
        _kill_all(proc, paused)
    assert proc.returncode == -signal.SIGKILL

    # Right after the crash every managed folder is one complete tree: the old or the new one.
    now = managed_digest(root)
    for name in MANAGED:
        assert now[name] in (old[name], v2_tree[name]), name
    assert now["http"] == v2_tree["http"]  # the http exchange had happened in both pause points
    assert (pkg(root) / ".regen-journal.json").is_file()
    assert (pkg(root) / ".regen.lock").is_file()  # held by a pid that is gone

    # The next run (a dry run is enough) takes over the stale lock and recovers.
    # (--allow-dirty: after a committed swap the recovered tree is the new, uncommitted one.)
    r = run_cli("regenerate", "--spec", str(SPEC_V2), "--sdk", str(root), "--dry-run", "--allow-dirty",
                env=cli_env(tmp_path / "backups", regen_cache))
    assert r.code == 0, r
    assert "removing stale lock" in r.output
    assert debris(root) == []
    if point == "commit":
        # The swap had committed: recovery finishes it forward and the new tree stays.
        assert "finished cleaning up run" in r.output, r
        assert managed_digest(root) == v2_tree
        assert outside_managed(sdk_digest(root)) == outside_managed(before)
    else:
        assert "rolled back interrupted run" in r.output, r
        assert sdk_digest(root) == before


@pytest.mark.parametrize("point", [
    "1",
    "commit",
])
def test_ctrl_c_mid_swap_exits_130_with_the_old_tree(tmp_path: Path, regen_cache: Path, point: str) -> None:
    root = new_sdk(tmp_path)
    backups = tmp_path / "backups"
    before = sdk_digest(root)
    marker = tmp_path / "paused.pid"

    proc, paused = _start_paused_run(tmp_path, root, regen_cache, point)
    interrupts = 0
    try:
        # The pause hook fires in every swap of the process while its env var is set, so the rollback's
        # own swap (restore_backup -> apply_swap) pauses too: answer that with a second Ctrl-C, as a user
        # would. (See the report: the hook should fire once per process.)
        while proc.poll() is None and interrupts < 3:
            marker.unlink()
            os.kill(paused, signal.SIGINT)
            interrupts += 1
            deadline = time.monotonic() + 60
            while proc.poll() is None and not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            if marker.exists():
                wait_for_file(marker, proc)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            _kill_all(proc, paused)
    output = (tmp_path / "run.out").read_text()

    assert proc.returncode == 130, output
    errors = [line for line in output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "interrupted" in errors[0], output
    assert "Traceback" not in output
    assert sdk_digest(root) == before, output
    assert debris(root) == []
    assert len(backup_dirs(backups)) == 1


# --- 13. incremental mode --------------------------------------------------------------------------

_MODEL_IMPORT = re.compile(r"^from conductor\.asyncio_client\.http\.models\.(\w+) import ", re.M)


def models_imported(http: Path, start: str) -> Set[str]:
    """Model files `start` imports, transitively, as 'models/<name>.py'."""
    todo, seen = [http / start], set()
    while todo:
        for name in _MODEL_IMPORT.findall(todo.pop().read_text()):
            rel = f"models/{name}.py"
            if rel not in seen:
                seen.add(rel)
                todo.append(http / rel)
    return seen


def test_only_updates_one_api_module_and_the_models_it_needs(tmp_path: Path, regen_cache: Path,
                                                             v2_tree: Dict[str, Digest]) -> None:
    root = new_sdk(tmp_path)
    backups = tmp_path / "backups"
    before = sdk_digest(root)
    old_http = files_only(managed_digest(root)["http"])

    report, error, _ = run_core(root, backups, regen_cache, SPEC_V2, only=("workflow_resource_api",))

    assert error is None, error
    assert report is not None and report.outcome == "succeeded"
    new_http = files_only(managed_digest(root)["http"])
    added, removed, changed = diff(old_http, new_http)
    assert removed == []
    assert "api/workflow_resource_api.py" in changed
    models = models_imported(pkg(root) / "http", "api/workflow_resource_api.py")
    assert "models/workflow.py" in models
    allowed = {"api/workflow_resource_api.py", "api/__init__.py", "models/__init__.py"} | models
    assert set(added) | set(changed) <= allowed
    # Everything it brought in is exactly what a full v2 run produces.
    for rel in set(added) | set(changed) - {"api/__init__.py", "models/__init__.py"}:
        assert new_http[rel] == v2_tree["http"][rel], rel
    # The other API modules and everything outside http/ are untouched.
    for rel, digest in old_http.items():
        if rel.startswith("api/") and rel != "api/workflow_resource_api.py":
            assert new_http[rel] == digest, rel
    assert "human_task_api.py" not in " ".join(new_http)
    # Outside http/, only the WorkflowDef adapter changes: v2's workflow_def.py drops `restartable`,
    # which SDK code still uses, so the keep policy declares it on the adapter.
    kept = f"{PACKAGE}/adapters/models/workflow_def_adapter.py"
    assert {k: v for k, v in sdk_digest(root).items() if not k.startswith(f"{PACKAGE}/http") and k != kept} == \
        {k: v for k, v in before.items() if not k.startswith(f"{PACKAGE}/http") and k != kept}
    assert "    restartable: Optional[StrictBool] = None\n" in (root / kept).read_text()
    assert ".regen-provenance.json" not in new_http  # a partial update claims no spec
    assert set(report.files.changed) == {f"http/{c}" for c in changed} | {"adapters/models/workflow_def_adapter.py"}


def test_full_run_after_only_run_is_not_a_noop(tmp_path: Path, regen_cache: Path) -> None:
    root = new_sdk(tmp_path)
    pristine = new_sdk(tmp_path, "pristine")
    backups = tmp_path / "backups"
    report, error, _ = run_core(root, backups, regen_cache, SPEC_V1)
    assert error is None and report is not None and report.outcome == "succeeded"
    commit_all(root, "v1")
    report, error, _ = run_core(root, backups, regen_cache, SPEC_V2, only=("workflow_resource_api",))
    assert error is None and report is not None and report.outcome == "succeeded"
    commit_all(root, "v2 workflow api only")

    report, error, _ = run_core(root, backups, regen_cache, SPEC_V1)

    assert error is None, error
    assert report is not None and report.outcome == "succeeded", report.outcome if report else None
    http = pkg(root) / "http"
    assert (http / "models/workflow.py").read_bytes() == (pkg(pristine) / "http/models/workflow.py").read_bytes()


# --- 14. determinism -------------------------------------------------------------------------------

def test_two_copies_regenerate_to_identical_trees_and_reports(tmp_path: Path, regen_cache: Path) -> None:
    """Two independent real generator runs (no cache) on two copies: same bytes, same report.

    use_cache=False runs the generator every time; the session's cache dir only lends the import gate the SDK
    environment it holds, so the runs do not build one each."""
    runs = []
    for name in ("a", "b"):
        root = new_sdk(tmp_path / name, mutate=perturb)
        backups = tmp_path / name / "backups"
        report, error, _ = run_core(root, backups, regen_cache, SPEC_V1, use_cache=False)
        assert error is None, error
        assert report is not None and report.outcome == "succeeded"
        [backup] = backup_dirs(backups)
        runs.append((root, report, backup))
    (root_a, rep_a, bk_a), (root_b, rep_b, bk_b) = runs

    assert managed_digest(root_a) == managed_digest(root_b)
    assert sdk_digest(root_a) == sdk_digest(root_b)
    assert mask_report(rep_a.to_json()) == mask_report(rep_b.to_json())
    assert mask_report((bk_a / "report.json").read_text()) == mask_report((bk_b / "report.json").read_text())
    assert (bk_a / "spec.json").read_bytes() == (bk_b / "spec.json").read_bytes()
    assert tree_digest(bk_a / "tree") == tree_digest(bk_b / "tree")
    # Masking hid only what may vary: the reports are otherwise the real thing.
    masked = mask_report(rep_a.to_json())
    assert masked["outcome"] == "succeeded" and masked["files"]["removed"] == ["http/stale_module.py"]
