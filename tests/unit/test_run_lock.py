"""The per-SDK run lock: exclusive, released on every exit path, and recoverable when stale."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.fake_sdk import spawn, wait_for

from conductor_regen.errors import SdkError
from conductor_regen.checkout.lock import lock_path, pid_alive, sdk_lock
from conductor_regen.checkout.target import SdkTarget

HOLD_LOCK = r"""
import sys, time
from pathlib import Path
from conductor_regen.config import SdkConfig
from conductor_regen.checkout.target import resolve_sdk
from conductor_regen.checkout.lock import sdk_lock
target = resolve_sdk(SdkConfig(root=Path(sys.argv[1])))
with sdk_lock(target):
    Path(sys.argv[2]).write_text("locked")
    time.sleep(60)
"""


def dead_pid() -> int:
    """A pid that belonged to a process which has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not pid_alive(proc.pid)
    return proc.pid


def test_lock_file_content_and_release(target: SdkTarget) -> None:
    with sdk_lock(target) as path:
        assert path == target.package_dir / ".regen.lock"
        info = json.loads(path.read_text())
        assert info["pid"] == os.getpid()
        assert info["host"] == socket.gethostname()
        assert info["started"].endswith("+00:00")
    assert not path.exists()


def test_released_on_exception(target: SdkTarget) -> None:
    with pytest.raises(RuntimeError):
        with sdk_lock(target):
            raise RuntimeError("boom")
    assert not lock_path(target).exists()


def test_released_on_keyboard_interrupt(target: SdkTarget) -> None:
    with pytest.raises(KeyboardInterrupt):
        with sdk_lock(target):
            raise KeyboardInterrupt
    assert not lock_path(target).exists()


def test_same_process_cannot_take_it_twice(target: SdkTarget) -> None:
    with sdk_lock(target):
        with pytest.raises(SdkError) as info:
            with sdk_lock(target):
                pass
        assert f"pid {os.getpid()}" in info.value.message
    assert not lock_path(target).exists()


@pytest.mark.e2e
def test_concurrent_run_is_refused_then_stale_lock_is_taken_over(
    target: SdkTarget, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "locked"
    child = spawn(HOLD_LOCK, str(target.root), str(marker))
    try:
        wait_for(marker, child)
        with pytest.raises(SdkError) as info:
            with sdk_lock(target):
                pass
        assert info.value.message.startswith("another regeneration is running on this SDK")
        assert f"pid {child.pid} since" in info.value.message
        assert str(lock_path(target)) in info.value.hint
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    # kill -9 left the lock behind; its owner is gone, so the next run takes it over.
    assert lock_path(target).exists()
    with caplog.at_level(logging.WARNING, logger="conductor_regen.checkout.lock"):
        with sdk_lock(target):
            assert json.loads(lock_path(target).read_text())["pid"] == os.getpid()
    assert "stale lock" in caplog.text
    assert not lock_path(target).exists()


def test_stale_lock_with_dead_pid(target: SdkTarget, caplog: pytest.LogCaptureFixture) -> None:
    pid = dead_pid()
    lock_path(target).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": "then"}))
    with caplog.at_level(logging.WARNING, logger="conductor_regen.checkout.lock"):
        with sdk_lock(target):
            pass
    assert "stale lock" in caplog.text and str(pid) in caplog.text
    assert not lock_path(target).exists()


def test_lock_file_nobody_holds_is_taken_over_whatever_it_says(target: SdkTarget) -> None:
    # The kernel knows whether anyone holds the flock: the file's content is only a label.
    for content in (json.dumps({"pid": dead_pid(), "host": "some-other-host", "started": "t"}), ""):
        lock_path(target).write_text(content)
        with sdk_lock(target):
            assert json.loads(lock_path(target).read_text())["pid"] == os.getpid()
        assert not lock_path(target).exists()


def test_release_leaves_a_lock_file_that_is_no_longer_ours(target: SdkTarget) -> None:
    with sdk_lock(target) as path:
        replacement = path.with_name("other")
        replacement.write_text(json.dumps({"pid": 1, "host": "x", "started": "t"}))
        os.replace(replacement, path)
    assert path.exists()


RACE = r"""
import json, logging, os, sys, time
from pathlib import Path
from conductor_regen.config import SdkConfig
from conductor_regen.errors import SdkError
from conductor_regen.checkout.target import resolve_sdk
from conductor_regen.checkout.lock import sdk_lock
logging.disable(logging.CRITICAL)
target = resolve_sdk(SdkConfig(root=Path(sys.argv[1])))
stale, until, out = sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])
held = []
while time.monotonic() < until:
    try:
        with sdk_lock(target) as path:
            start = time.monotonic()
            time.sleep(0.001)
            held.append((start, time.monotonic()))
            # Leave a stale lock behind, as a run killed right now would, for the others to take over.
            tmp = path.with_name(f"stale-{os.getpid()}")
            tmp.write_text(stale)
            os.replace(tmp, path)
    except SdkError:
        pass
out.write_text(json.dumps(held))
"""


@pytest.mark.e2e  # four processes race for four seconds
def test_processes_racing_for_a_stale_lock_never_both_hold_it(target: SdkTarget, tmp_path: Path) -> None:
    stale = json.dumps({"pid": dead_pid(), "host": socket.gethostname(), "started": "t"})
    lock_path(target).write_text(stale)
    outs = [tmp_path / f"out{n}" for n in range(4)]
    until = time.monotonic() + 4.0  # CLOCK_MONOTONIC is system-wide: the racers share it
    racers = [spawn(RACE, str(target.root), stale, str(until), str(out)) for out in outs]
    for racer in racers:
        racer.wait(timeout=60)
    held = sorted(tuple(h) for out in outs for h in json.loads(out.read_text()))
    assert len(held) > 50, "the racers hardly ever took the stale lock over"
    overlaps = [(a, b) for a, b in zip(held, held[1:]) if b[0] < a[1]]
    assert not overlaps, f"{len(overlaps)} times two processes held the lock at once, e.g. {overlaps[0]}"


# --- read-only commands: a shared lock, never a verdict from a half-swapped tree ------------------

def _listing(target: SdkTarget) -> list:
    return sorted(p.name for p in target.package_dir.iterdir())


def test_a_reader_is_refused_while_a_run_holds_the_sdk(target: SdkTarget) -> None:
    from conductor_regen.checkout.lock import sdk_read_lock

    with sdk_lock(target):
        with pytest.raises(SdkError) as caught:
            with sdk_read_lock(target):
                pass
    line = caught.value.render()
    assert f"pid {os.getpid()}" in line and "half swapped" in line


def test_a_run_is_refused_while_a_reader_reads_and_readers_share(target: SdkTarget) -> None:
    from conductor_regen.checkout.lock import sdk_read_lock

    before = _listing(target)
    with sdk_read_lock(target), sdk_read_lock(target):  # two readers at once
        assert _listing(target) == before  # a reader writes nothing into the checkout
        with pytest.raises(SdkError) as caught:
            with sdk_lock(target):
                pass
        assert "read-only command" in caught.value.render()
        assert _listing(target) == before  # the refused run left no lock file behind
    with sdk_lock(target):  # free again once the readers are done
        pass


def test_a_reader_is_refused_while_a_killed_runs_swap_is_unfinished(target: SdkTarget) -> None:
    from conductor_regen.checkout.journal import journal_path
    from conductor_regen.checkout.lock import sdk_read_lock

    journal_path(target).write_text("{}")
    with pytest.raises(SdkError) as caught:
        with sdk_read_lock(target):
            pass
    assert "interrupted run left a swap to finish" in caught.value.render()
