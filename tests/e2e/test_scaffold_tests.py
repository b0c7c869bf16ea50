"""A unit test for each new API adapter (guide 5.5), written outside the managed folders and undone by restore.

Real trees: the example SDK, the real generator (shared session caches), the real swap, backup, gates
and restore. The written test files are run with pytest against the tree they belong to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
import pytest
from support.sdk_copies import (
    backup_dirs,
    cli_env,
    debris,
    git,
    manifest,
    new_sdk,
    pkg,
    run_cli,
    run_core,
    sdk_digest,
    settings_for,
    target_for,
    write,
)
from support.paths import SPEC_V2
from support.staged_sdk import copy_example, package_dir, shadow_src, stage

from conductor_regen.compat.keep import keep_removed
from conductor_regen.errors import VerificationError
from conductor_regen.checkout.backups import create_backup
from conductor_regen.commands.backup_store import restore_sdk
from conductor_regen.commands.transaction import write_outside
from conductor_regen.checkout.restore import restore_backup
from conductor_regen.compat.scaffold.adapters import scaffold_adapters
from conductor_regen.compat.scaffold.adapter_tests import OutsideFile, adapter_tests
from conductor_regen.matrix.sessions import SESSIONS, select_paths

TEST_REL = "tests/unit/orkes/test_async_human_task_api_adapter.py"


@pytest.fixture
def regen_cache(generator_cache: Path) -> Path:
    return generator_cache


def run_pytest(root: Path, *paths: str) -> subprocess.CompletedProcess:
    """The SDK's own pytest (its pyproject puts src on the path), leaving no bytecode or cache behind."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:benchmark", *paths],
                          capture_output=True, text=True, env=env, cwd=root)


def staged_with_test(tmp_path: Path, v2_http: Path) -> Path:
    """A shadow SDK (src + tests) holding the staged v2 tree and the adapter test written for it."""
    root = copy_example(tmp_path)
    staging = stage(root, v2_http, tmp_path / "staging")
    keep_removed(package_dir(root) / "http", staging / "http", package_dir(root), staging)
    scaffold_adapters(staging / "http", staging)
    [made] = adapter_tests(staging / "http", staging, package_dir(root), root)
    assert made.path == TEST_REL and made.about == "HumanTaskApiAdapter"
    shadow = tmp_path / "shadow"
    shadow_src(root, staging, shadow)
    for name in ("tests", "pyproject.toml"):
        (shadow / name).symlink_to(root / name)
    write(root / made.path, made.content)
    return shadow


def test_the_written_test_passes_and_fails_when_the_adapter_breaks(tmp_path: Path, v2_http: Path) -> None:
    shadow = staged_with_test(tmp_path, v2_http)
    done = run_pytest(shadow, TEST_REL)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr

    # An adapter that no longer subclasses the generated API fails the test.
    adapter = package_dir(shadow) / "adapters/api/human_task_api.py"
    adapter.write_text(adapter.read_text().replace("(HumanTaskApi)", ""))
    done = run_pytest(shadow, TEST_REL)
    assert done.returncode == 1 and "issubclass" in done.stdout, done.stdout

    # So does a public method of the generated API that is not a coroutine function.
    adapter.write_text(adapter.read_text().replace("class HumanTaskApiAdapter:",
                                                   "class HumanTaskApiAdapter(HumanTaskApi):"))
    api = package_dir(shadow) / "http/api/human_task_api.py"
    api.write_text(api.read_text() + "\n    def sync_helper(self) -> None:\n        return None\n")
    done = run_pytest(shadow, TEST_REL)
    assert done.returncode == 1 and "AssertionError: sync_helper" in done.stdout, done.stdout


def test_facade_adapters_get_a_test_that_checks_the_held_api(tmp_path: Path, v2_http: Path) -> None:
    from test_scaffold import GETATTR_FACADE, make_facades

    root = copy_example(tmp_path)
    make_facades(package_dir(root), GETATTR_FACADE)
    staging = stage(root, v2_http, tmp_path / "staging")
    keep_removed(package_dir(root) / "http", staging / "http", package_dir(root), staging)
    scaffold_adapters(staging / "http", staging)
    [made] = adapter_tests(staging / "http", staging, package_dir(root), root)
    assert "    adapter = HumanTaskApiAdapter(ApiClient())\n    assert isinstance(adapter._api, HumanTaskApi)\n" \
        in made.content
    shadow = tmp_path / "shadow"
    shadow_src(root, staging, shadow)
    (shadow / "pyproject.toml").symlink_to(root / "pyproject.toml")
    write(shadow / made.path, made.content)
    done = run_pytest(shadow, made.path)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr


def test_no_test_where_one_exists_or_the_sdk_has_no_test_folder(tmp_path: Path, v2_http: Path) -> None:
    root = copy_example(tmp_path)
    staging = stage(root, v2_http, tmp_path / "staging")
    scaffold_adapters(staging / "http", staging)
    write(root / TEST_REL, "# mine\n")
    assert adapter_tests(staging / "http", staging, package_dir(root), root) == []
    (root / TEST_REL).unlink()
    os.rename(root / "tests/unit/orkes", tmp_path / "orkes-elsewhere")
    assert adapter_tests(staging / "http", staging, package_dir(root), root) == []
    # Only adapters new in the staged tree get one: the live SDK's own adapters are left alone.
    os.rename(tmp_path / "orkes-elsewhere", root / "tests/unit/orkes")
    assert [f.path for f in adapter_tests(staging / "http", staging, package_dir(root), root)] == [TEST_REL]


# --- through regenerate ---------------------------------------------------------------------------

def test_regenerate_writes_the_test_records_it_and_restore_removes_it(tmp_path: Path, regen_cache: Path) -> None:
    root = new_sdk(tmp_path)
    backups = tmp_path / "backups"
    before = sdk_digest(root)

    report, error, steps = run_core(root, backups, regen_cache, SPEC_V2)

    assert error is None, error
    assert report is not None and report.outcome == "succeeded"
    assert (root / TEST_REL).is_file()
    [backup] = backup_dirs(backups)
    assert manifest(backup)["added_outside"] == [TEST_REL]
    assert any(n.startswith(f"added {TEST_REL} (a test for the new HumanTaskApiAdapter") for n in report.notes)
    assert [s.name for s in steps.steps].index("add adapter tests") == \
        [s.name for s in steps.steps].index("swap") + 1
    # What the test gate's async_tests session runs: 34 tests before, plus the new one.
    done = run_pytest(root, *select_paths(root, SESSIONS["async_tests"].paths).found)
    assert done.returncode == 0 and "35 passed" in done.stdout, done.stdout + done.stderr

    settings = settings_for(root, backups, regen_cache)
    lines = restore_sdk(target_for(settings), settings, None, lambda _what: True)
    assert f"removed 1 file(s) the run had added outside the managed folders: {TEST_REL}" in lines, lines
    assert sdk_digest(root) == before
    assert debris(root) == []


def test_write_outside_records_first_and_never_overwrites(tmp_path: Path) -> None:
    root = new_sdk(tmp_path, mutate=lambda r: write(r / "tests/unit/orkes/test_async_mine.py", "# mine\n"))
    store = tmp_path / "backups"
    settings = settings_for(root, store, tmp_path / "cache")
    target = target_for(settings)
    backup = create_backup(store, target, "v2")
    files = [OutsideFile("tests/unit/orkes/test_async_mine.py", "# theirs\n", "MineAdapter"),
             OutsideFile(TEST_REL, "# new\n", "HumanTaskApiAdapter")]

    notes = write_outside(target, backup, files)

    assert (root / "tests/unit/orkes/test_async_mine.py").read_text() == "# mine\n"
    assert (root / TEST_REL).read_text() == "# new\n"
    assert manifest(backup.path)["added_outside"] == [TEST_REL]
    assert len(notes) == 1 and notes[0].startswith(f"added {TEST_REL} ")
    # Restore removes what the run added, and only that.
    result = restore_backup(target, backup, store)
    assert result.removed_outside == (TEST_REL,)
    assert not (root / TEST_REL).exists() and (root / "tests/unit/orkes/test_async_mine.py").is_file()
    assert git(root, "status", "--porcelain") == ""


BROKEN_CLIENT = '''\
"""Imports fine on the v1 client, raises at import on v2 (Workflow gains idempotencyKey)."""
from conductor.asyncio_client.http.models.workflow import Workflow

assert "idempotency_key" not in Workflow.model_fields
'''


def test_a_failed_import_gate_rolls_the_test_file_back(tmp_path: Path, regen_cache: Path) -> None:
    root = new_sdk(tmp_path, mutate=lambda r: write(pkg(r) / "orkes/broken_client.py", BROKEN_CLIENT))
    backups = tmp_path / "backups"
    before = sdk_digest(root)

    report, error, steps = run_core(root, backups, regen_cache, SPEC_V2)

    assert report is None and isinstance(error, VerificationError) and "fail to import" in error.message
    status = {s.name: s.status for s in steps.steps}
    assert status["add adapter tests"] == "ok" and status["import gate"] == "failed" and status["roll back"] == "ok"
    assert f"removed {TEST_REL}" in next(s.detail for s in steps.steps if s.name == "roll back")
    assert sdk_digest(root) == before
    [backup] = backup_dirs(backups)
    assert manifest(backup)["outcome"] == "rolled-back" and manifest(backup)["added_outside"] == [TEST_REL]
    filed = json.loads((backup / "report.json").read_text())
    assert any(TEST_REL in n for n in filed["notes"])


def test_restore_never_removes_a_listed_file_outside_the_sdk(tmp_path: Path, regen_cache: Path) -> None:
    root = new_sdk(tmp_path)
    backups = tmp_path / "backups"
    env = cli_env(backups, regen_cache)
    assert run_cli("backup", "--sdk", str(root), env=env).code == 0
    [backup] = backup_dirs(backups)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    data = manifest(backup)
    data["added_outside"] = ["../victim.txt"]
    (backup / "manifest.json").write_text(json.dumps(data))
    before = sdk_digest(root)

    r = run_cli("restore", "--yes", "--sdk", str(root), env=env)

    assert r.code != 0 and "outside the SDK" in r.the_error(), r
    assert victim.read_text() == "keep me\n"
    assert sdk_digest(root) == before
