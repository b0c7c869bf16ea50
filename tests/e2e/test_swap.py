"""The journaled swap: atomic exchange, and no loss when killed or interrupted at any step."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Dict

import pytest
from support.fake_sdk import NEW_HTTP, Snapshot, make_sdk, snapshot, spawn, target_of, wait_for, write_files

from conductor_regen.errors import SdkError
from conductor_regen.file_tree import copy_entry
from conductor_regen.checkout.journal import journal_path
from conductor_regen.checkout.target import SdkTarget
from conductor_regen.checkout.swap import (
    NO_RENAMEAT2_ENV,
    PAUSE_ENV,
    PAUSE_MARKER_ENV,
    SwapPlan,
    apply_swap,
    discard_staging,
    exchange,
    prepare_staging,
    recover,
    staging_dir,
    staging_root,
)

RUN = "20250101T000000Z-test"

# Runs a swap of all managed folders in a child process; REGEN_TEST_PAUSE_* make it stop mid-way.
SWAP_CHILD = r"""
import sys
from pathlib import Path
from conductor_regen.config import SdkConfig
from conductor_regen.errors import RegenError
from conductor_regen.checkout.target import resolve_sdk
from conductor_regen.checkout.swap import apply_swap, staging_dir
target = resolve_sdk(SdkConfig(root=Path(sys.argv[1])))
run_id = sys.argv[2]
try:
    apply_swap(target, staging_dir(target, run_id), run_id, target.managed)
except RegenError as exc:
    print(type(exc).__name__, getattr(exc, "committed", None), exc.render())
    sys.exit(exc.exit_code)
print("done")
"""

Trees = Dict[str, Snapshot]


def trees(target: SdkTarget, base: Path) -> Trees:
    return {name: snapshot(base / name) for name in target.managed}


def stage(target: SdkTarget, plan: str) -> Trees:
    """Assemble a new tree in staging and return what each folder should look like after the swap.

    "exchange": every managed folder is replaced. "mixed": http is replaced, adapters is
    dropped by the new tree, and orkes (removed from the live tree first) is created.
    """
    staging = prepare_staging(target, RUN)
    for name in target.managed:
        copy_entry(target.package_dir / name, staging / name)
    write_files(staging, NEW_HTTP)
    (staging / "http" / "models" / "workflow.py").unlink()
    (staging / "orkes" / "orkes_clients.py").write_text("class OrkesClients:\n    new = True\n")
    if plan == "mixed":
        shutil.rmtree(staging / "adapters")
        shutil.rmtree(target.package_dir / "orkes")
    else:
        (staging / "adapters" / "extra.py").write_text("# new\n")
    return trees(target, staging)


@pytest.fixture
def target(tmp_path: Path) -> SdkTarget:
    return target_of(make_sdk(tmp_path))


def assert_settled(target: SdkTarget) -> None:
    assert not journal_path(target).exists()
    assert not staging_root(target).exists()
    assert sorted(p.name for p in target.package_dir.iterdir()) == sorted(
        ["__init__.py", *(n for n in target.managed if (target.package_dir / n).exists())]
    )


# --- exchange ---


@pytest.mark.parametrize("fallback", [False, True], ids=["renameat2", "renames"])
def test_exchange_swaps_two_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fallback: bool) -> None:
    if fallback:
        monkeypatch.setenv(NO_RENAMEAT2_ENV, "1")
    a, b = tmp_path / "a", tmp_path / "b"
    write_files(a, {"x.py": "a"})
    write_files(b, {"y.py": "b", "sub/z.py": "bz"})
    ino_a, ino_b = a.stat().st_ino, b.stat().st_ino
    exchange(a, b)
    assert snapshot(a) == {"y.py": b"b", "sub/z.py": b"bz"}
    assert snapshot(b) == {"x.py": b"a"}
    assert (a.stat().st_ino, b.stat().st_ino) == (ino_b, ino_a)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_exchange_of_a_missing_path_fails_and_changes_nothing(tmp_path: Path) -> None:
    a = tmp_path / "a"
    write_files(a, {"x.py": "a"})
    with pytest.raises(OSError):
        exchange(a, tmp_path / "missing")
    assert snapshot(a) == {"x.py": b"a"}


# --- complete swaps ---


@pytest.mark.parametrize("plan", ["exchange", "mixed"])
def test_swap_replaces_folders_and_cleans_up(target: SdkTarget, plan: str) -> None:
    expected = stage(target, plan)
    apply_swap(target, staging_dir(target, RUN), RUN, SwapPlan(target.managed))
    assert trees(target, target.package_dir) == expected
    if plan == "mixed":
        assert not (target.package_dir / "adapters").exists()
        assert (target.package_dir / "orkes" / "orkes_clients.py").exists()
    assert_settled(target)
    assert recover(target) is None


def test_swap_refuses_while_a_journal_is_outstanding(target: SdkTarget) -> None:
    stage(target, "exchange")
    journal_path(target).write_text(json.dumps({"run_id": "other", "status": "swapping", "folders": []}))
    with pytest.raises(SdkError, match="interrupted swap"):
        apply_swap(target, staging_dir(target, RUN), RUN, target.managed)


def test_swap_refuses_a_foreign_staging_folder(target: SdkTarget, tmp_path: Path) -> None:
    with pytest.raises(SdkError, match="staging"):
        apply_swap(target, tmp_path, RUN, target.managed)


def test_swap_refuses_a_staged_symlink(target: SdkTarget, tmp_path: Path) -> None:
    staging = prepare_staging(target, RUN)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", staging / "http")
    before = trees(target, target.package_dir)
    with pytest.raises(SdkError, match="symlink"):
        apply_swap(target, staging, RUN, ["http"])
    assert trees(target, target.package_dir) == before
    assert not journal_path(target).exists()


def test_recover_removes_staging_left_before_any_swap(target: SdkTarget) -> None:
    stage(target, "exchange")  # a run killed while assembling its new tree
    before = snapshot(target.http_dir)
    message = recover(target)
    assert message is not None and "staging" in message
    assert snapshot(target.http_dir) == before
    assert_settled(target)
    assert recover(target) is None


# --- crashes and interrupts in a child process ---


def start_paused_swap(target: SdkTarget, tmp_path: Path, pause: str, **env: str) -> "subprocess.Popen[str]":
    marker = tmp_path / "paused"
    child = spawn(SWAP_CHILD, str(target.root), RUN, **{PAUSE_ENV: pause, PAUSE_MARKER_ENV: str(marker)}, **env)
    wait_for(marker, child)
    return child


@pytest.mark.e2e
@pytest.mark.parametrize(
    "plan,pause,fallback",
    [
        ("exchange", "1", False),
        ("exchange", "2", False),
        ("exchange", "3", False),
        ("exchange", "commit", False),
        ("mixed", "1", False),
        ("mixed", "2", False),
        ("mixed", "3", False),
        ("exchange", "2", True),
    ],
)
def test_kill_9_mid_swap_loses_nothing(
    target: SdkTarget, tmp_path: Path, plan: str, pause: str, fallback: bool
) -> None:
    new = stage(target, plan)
    old = trees(target, target.package_dir)
    env = {NO_RENAMEAT2_ENV: "1"} if fallback else {}
    child = start_paused_swap(target, tmp_path, pause, **env)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    # Every folder holds one whole tree, the first `done` ones the new tree, the rest the old.
    done = len(target.managed) if pause == "commit" else int(pause)
    live = trees(target, target.package_dir)
    for i, name in enumerate(target.managed):
        assert live[name] == (new[name] if i < done else old[name]), name
    assert target.http_dir.is_dir()
    journal = json.loads(journal_path(target).read_text())
    if pause == "commit":
        assert journal["status"] == "committed"
    else:
        # Killed before the journal recorded the move: recovery must not trust the state field.
        assert journal["status"] == "swapping"
        assert journal["folders"][done - 1]["state"] == "pending"

    message = recover(target)
    assert message is not None
    if pause == "commit":
        assert "finished" in message
        assert trees(target, target.package_dir) == new
    else:
        assert "rolled back" in message
        assert trees(target, target.package_dir) == old
    assert_settled(target)
    assert recover(target) is None


@pytest.mark.e2e
def test_kill_9_in_the_gap_of_the_rename_fallback(target: SdkTarget, tmp_path: Path) -> None:
    old = trees(target, target.package_dir)
    stage(target, "exchange")
    child = start_paused_swap(target, tmp_path, "1", **{NO_RENAMEAT2_ENV: "1"})
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    # Reproduce a crash between the fallback's first and second rename of the next folder:
    # the live adapters folder has been moved aside and nothing has taken its place yet.
    aside = staging_root(target) / f"{RUN}.aside" / "adapters"
    aside.parent.mkdir(parents=True, exist_ok=True)
    os.rename(target.package_dir / "adapters", aside)
    assert not (target.package_dir / "adapters").exists()

    assert "rolled back" in (recover(target) or "")
    assert trees(target, target.package_dir) == old
    assert_settled(target)


@pytest.mark.e2e
def test_recover_survives_a_crash_during_recover(target: SdkTarget, tmp_path: Path) -> None:
    old = trees(target, target.package_dir)
    stage(target, "exchange")
    child = start_paused_swap(target, tmp_path, "3")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    # A first recovery got as far as putting orkes back, then died.
    exchange(target.package_dir / "orkes", staging_dir(target, RUN) / "orkes")
    assert trees(target, target.package_dir)["orkes"] == old["orkes"]

    assert "rolled back" in (recover(target) or "")
    assert trees(target, target.package_dir) == old
    assert_settled(target)


@pytest.mark.e2e
def test_recover_refuses_a_tree_it_does_not_recognise(target: SdkTarget, tmp_path: Path) -> None:
    stage(target, "exchange")
    child = start_paused_swap(target, tmp_path, "1")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    # Someone replaced http by hand after the crash: same content, but not a tree we moved.
    # (The original is kept so the copy cannot reuse its inode number.)
    os.rename(target.http_dir, tmp_path / "kept")
    shutil.copytree(tmp_path / "kept", target.http_dir, symlinks=True)
    with pytest.raises(SdkError, match="neither"):
        recover(target)
    assert journal_path(target).exists()  # kept for a human to look at


@pytest.mark.e2e
def test_discard_staging_keeps_what_an_outstanding_swap_needs(target: SdkTarget, tmp_path: Path) -> None:
    old = trees(target, target.package_dir)
    stage(target, "exchange")
    child = start_paused_swap(target, tmp_path, "2")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    discard_staging(target, RUN)  # e.g. a caller's `finally:` after the swap blew up
    assert staging_dir(target, RUN).exists()
    assert "rolled back" in (recover(target) or "")
    assert trees(target, target.package_dir) == old
    discard_staging(target, "unrelated-run")
    assert_settled(target)


def test_ctrl_c_mid_swap_rolls_back(target: SdkTarget, tmp_path: Path) -> None:
    old = trees(target, target.package_dir)
    stage(target, "exchange")
    child = start_paused_swap(target, tmp_path, "2")
    os.kill(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=10)
    assert child.returncode == 130, (out, err)
    assert out.startswith("SwapInterrupted False ERROR: interrupted during the swap; the previous tree was put back")
    assert trees(target, target.package_dir) == old
    assert_settled(target)


def test_ctrl_c_after_commit_keeps_the_new_tree(target: SdkTarget, tmp_path: Path) -> None:
    new = stage(target, "exchange")
    child = start_paused_swap(target, tmp_path, "commit")
    os.kill(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=10)
    assert child.returncode == 130, (out, err)
    assert out.startswith("SwapInterrupted True ERROR: interrupted while deleting the replaced trees")
    assert trees(target, target.package_dir) == new
    assert "finished" in (recover(target) or "")
    assert trees(target, target.package_dir) == new
    assert_settled(target)
