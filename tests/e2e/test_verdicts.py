"""Baseline-aware test verdicts: real nox sessions on a copy of the example SDK and on its pristine tree.

The pristine tree is the newest backup (managed folders) with the rest of the checkout live,
else the checkout's git HEAD. A failure the pristine tree had too is "pre-existing" and does not
fail the gate; a failure it did not have is "new" and does.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import List, Optional

import pytest

from conductor_regen.matrix.interpreters import PYTHONS
from conductor_regen.matrix.results import SessionResult, format_summary, with_baseline
from conductor_regen.matrix.runner import Judge, gate
from conductor_regen.checkout.backups import create_backup, record_added_outside
from conductor_regen.matrix.pristine import Pristine, content_fingerprint, find_pristine
from conductor_regen.verdict_cache import cached
from conductor_regen.checkout.target import SdkTarget
from conductor_regen.matrix.verdicts import KIND, judge_against
from support.sdk_copies import copy_example_sdk
from test_noxfile_sessions import EXAMPLE_SDK, PY, clean_env

PACKAGE = "src/conductor/asyncio_client"
KNOWN_BROKEN = "tests/unit/orkes/test_async_known_broken.py"
BROKEN_TEST = "tests.unit.orkes.test_async_known_broken::test_was_already_broken"

pytestmark = [pytest.mark.e2e,  # runs nox sessions
              pytest.mark.skipif(PY not in PYTHONS, reason=f"the matrix has no Python {PY}")]



def _target(root: Path) -> SdkTarget:
    return SdkTarget(root=root, package_dir=root / PACKAGE, managed=("http", "adapters", "orkes"))


@pytest.fixture
def sdk(tmp_path: Path) -> Path:
    """The example SDK with one test that already fails (outside the managed folders)."""
    copy = copy_example_sdk(tmp_path / "sdk")
    (copy / KNOWN_BROKEN).write_text("def test_was_already_broken():\n    assert 1 == 2, 'known bug'\n")
    return copy


def _break_get_secret(sdk: Path) -> None:
    """A change in a managed folder (what a regeneration makes) that breaks one existing test."""
    client = sdk / PACKAGE / "orkes" / "orkes_secret_client.py"
    text = client.read_text()
    assert "return await self.secret_api.get_secret(key)" in text
    client.write_text(text.replace("return await self.secret_api.get_secret(key)", "return 'not the secret'"))


def _recording(judge: Judge, ran: List[SessionResult]) -> Judge:
    """`judge`, keeping the results it is given: the sessions' own, as `run_matrix` returned them, before any
    verdict."""
    def record(results: List[SessionResult]) -> List[SessionResult]:
        ran.extend(results)
        return judge(results)
    return record


def _gate(sdk: Path, envdir: Path, tmp_path: Path, find: "Optional[Pristine] | None" = None, *,
          use_backup: bool = True,
          ran: Optional[List[SessionResult]] = None) -> tuple[bool, tuple[dict[str, str], ...]]:
    target = _target(sdk)
    backups = tmp_path / "backups"
    judge = judge_against(lambda: find or find_pristine(target, backups if use_backup else None),
                          cache_dir=tmp_path / "cache", envdir=envdir)  # not this clone's .nox
    return gate(sdk, ("async_unit",), (PY,), envdir=envdir, junit_dir=tmp_path / "junit", env=clean_env(),
                   judge=judge if ran is None else _recording(judge, ran))


def test_a_pre_existing_failure_is_excused_and_a_new_one_is_not(sdk: Path, envdir: Path, tmp_path: Path) -> None:
    create_backup(tmp_path / "backups", _target(sdk), "v1")  # the pristine tree: one known failure
    _break_get_secret(sdk)

    ok, rows = _gate(sdk, envdir, tmp_path)
    assert ok is False
    (row,) = rows
    assert (row["result"], row["verdict"]) == ("failed", "new")
    assert row["detail"].startswith("1 new, 1 pre-existing (vs backup ")
    assert "test_async_secret_client::test_get_secret" in row["detail"]  # the new one is shown, not the old
    # The pristine run is cached by the pristine tree's content fingerprint.
    pristine = find_pristine(_target(sdk), tmp_path / "backups")
    assert pristine is not None
    assert cached(tmp_path / "cache", KIND, pristine.fingerprint, f"async_unit-{PY}") == [
        [BROKEN_TEST, "AssertionError: known bug"]]

    # Undo the break: only the known failure is left, and it does not fail the gate.
    shutil.copy2(EXAMPLE_SDK / PACKAGE / "orkes" / "orkes_secret_client.py",
                 sdk / PACKAGE / "orkes" / "orkes_secret_client.py")
    ran: List[SessionResult] = []
    ok, rows = _gate(sdk, envdir, tmp_path, ran=ran)
    assert ok is True, rows
    assert (rows[0]["result"], rows[0]["verdict"]) == ("failed", "pre-existing")
    assert rows[0]["detail"].startswith("0 new, 1 pre-existing")
    # The summary of that run's own results, judged against a baseline given as bare test ids.
    assert [(r.session, r.python, r.result) for r in ran] == [("async_unit", PY, "failed")]
    lines = format_summary(with_baseline(ran, {f"async_unit-{PY}": [BROKEN_TEST]}, "backup x"))
    assert "pre-existing" in lines[1] and "with pre-existing failures only" in lines[-1]


def test_without_a_pristine_tree_every_failure_counts(sdk: Path, envdir: Path, tmp_path: Path) -> None:
    ok, rows = _gate(sdk, envdir, tmp_path, use_backup=False)  # no backup, not a git checkout
    assert ok is False
    assert (rows[0]["verdict"], rows[0]["detail"]) == ("", f"FAILED {BROKEN_TEST}: AssertionError: known bug")


def test_git_head_is_the_pristine_tree_without_a_backup(sdk: Path, envdir: Path, tmp_path: Path) -> None:
    git = ["git", "-C", str(sdk), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "pristine"], check=True)
    _break_get_secret(sdk)
    pristine = find_pristine(_target(sdk), tmp_path / "no-backups")
    assert pristine is not None and pristine.source.startswith("git HEAD ")
    ok, rows = _gate(sdk, envdir, tmp_path, use_backup=False)
    assert ok is False and rows[0]["verdict"] == "new"
    assert rows[0]["detail"].startswith("1 new, 1 pre-existing (vs git HEAD ")


def tree_fingerprint(root: Path) -> str:
    """The fingerprint of every file under `root` (the example SDK copies have no caches or .git)."""
    return content_fingerprint({p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()})


def test_the_pristine_tree_is_the_backup_plus_the_live_rest_minus_what_the_run_added(sdk: Path,
                                                                                     tmp_path: Path) -> None:
    target = _target(sdk)
    before = tree_fingerprint(sdk)
    backup = create_backup(tmp_path / "backups", target, "v1")
    _break_get_secret(sdk)
    added = sdk / "tests/unit/orkes/test_async_new_adapter.py"  # where and how the scaffolder names them
    added.write_text("def test_x():\n    pass\n")
    record_added_outside(backup, ["tests/unit/orkes/test_async_new_adapter.py"])
    pristine = find_pristine(target, tmp_path / "backups")
    assert pristine is not None and pristine.source == f"backup {backup.id}"
    assert pristine.fingerprint == before != tree_fingerprint(sdk)
    copy = pristine.materialize(tmp_path / "copy")
    assert tree_fingerprint(copy) == before  # the same tree anywhere has the same fingerprint
    assert not (copy / "tests/unit/orkes/test_async_new_adapter.py").exists()


def test_regenerate_rolls_back_only_on_a_new_failure(generator_cache: Path, tmp_path: Path, envdir: Path,
                                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    """The real gate in `regenerate`: the known failure is excused and shown; the run succeeds."""
    from support.sdk_copies import new_sdk, perturb, run_core
    from support.paths import SPEC_V2

    def known_broken(root: Path) -> None:
        perturb(root)
        (root / KNOWN_BROKEN).write_text("def test_was_already_broken():\n    assert 1 == 2, 'known bug'\n")

    root = new_sdk(tmp_path, mutate=known_broken)
    backups, cache = tmp_path / "backups", generator_cache
    target = _target(root.resolve())

    def run_tests(t: SdkTarget) -> tuple[bool, tuple[dict[str, str], ...]]:
        judge = judge_against(lambda: find_pristine(target, backups), cache_dir=tmp_path / "baselines",
                              envdir=envdir)
        return gate(t.root, ("async_unit",), (PY,), envdir=envdir, junit_dir=tmp_path / "junit",
                       env=clean_env(), judge=judge)

    report, error, steps = run_core(root, backups, cache, SPEC_V2, run_tests=run_tests)
    assert error is None and report is not None, error
    assert report.outcome == "succeeded"
    assert [(t["result"], t["verdict"]) for t in report.tests] == [("failed", "pre-existing")]
    assert {s.name: s.detail for s in steps.steps}["tests"] == f"async_unit-{PY} failed (pre-existing)"
    assert "| async_unit | " + PY + " | failed | pre-existing | 0 new, 1 pre-existing" in report.to_markdown()


def test_regenerate_judges_the_contract_on_the_pristine_tree_against_the_run_spec(
        generator_cache: Path, tmp_path: Path) -> None:
    """A contract failure the SDK already had is pre-existing even when the pristine tree records no spec."""
    from support.sdk_copies import cli_env, new_sdk, run_cli
    from support.paths import SPEC_V2
    from test_contract_session import break_binding

    root = new_sdk(tmp_path, mutate=break_binding)  # the example SDK records no provenance
    env = cli_env(tmp_path / "backups", generator_cache)
    done = run_cli("regenerate", "--spec", str(SPEC_V2), "--sdk", str(root), "--yes", "--session", "contract",
                   env=env, timeout=600)
    assert done.code == 0, done.output
    # The contract judges itself against the pristine tree (this run's backup), by rule, with the run's spec.
    assert re.search(r"tests .*contract: .*, 0 new failures; [1-9]\d* pre-existing \(vs backup ", done.output), done.output
    report = json.loads(next((tmp_path / "backups").rglob("report.json")).read_text())
    assert report["outcome"] == "succeeded"
    assert [(t["session"], t["result"]) for t in report["tests"]] == [("contract", "passed")]
    assert "pre-existing (vs backup " in report["tests"][0]["detail"]
