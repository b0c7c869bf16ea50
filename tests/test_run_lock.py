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
from fake_sdk import make_sdk, spawn, target_of, wait_for

from conductor_regen.errors import SdkError
from conductor_regen.run_lock import lock_path, pid_alive, sdk_lock
from conductor_regen.sdk_target import SdkTarget

HOLD_LOCK = r"""
import sys, time
from pathlib import Path
from conductor_regen.config import SdkConfig
from conductor_regen.sdk_target import resolve_sdk
from conductor_regen.run_lock import sdk_lock
target = resolve_sdk(SdkConfig(root=Path(sys.argv[1])))
with sdk_lock(target):
    Path(sys.argv[2]).write_text("locked")
    time.sleep(60)
"""


@pytest.fixture
def target(tmp_path: Path) -> SdkTarget:
    return target_of(make_sdk(tmp_path))


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
    with caplog.at_level(logging.WARNING, logger="conductor_regen.run_lock"):
        with sdk_lock(target):
            assert json.loads(lock_path(target).read_text())["pid"] == os.getpid()
    assert "stale lock" in caplog.text
    assert not lock_path(target).exists()


def test_stale_lock_with_dead_pid(target: SdkTarget, caplog: pytest.LogCaptureFixture) -> None:
    pid = dead_pid()
    lock_path(target).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "started": "then"}))
    with caplog.at_level(logging.WARNING, logger="conductor_regen.run_lock"):
        with sdk_lock(target):
            pass
    assert "stale lock" in caplog.text and str(pid) in caplog.text
    assert not lock_path(target).exists()


def test_lock_from_another_host_is_not_guessed_at(target: SdkTarget) -> None:
    lock_path(target).write_text(json.dumps({"pid": dead_pid(), "host": "some-other-host", "started": "t"}))
    with pytest.raises(SdkError, match="some-other-host"):
        with sdk_lock(target):
            pass
    assert lock_path(target).exists()


def test_unreadable_lock_is_respected_while_fresh_and_taken_over_when_old(target: SdkTarget) -> None:
    lock_path(target).write_text("")  # a run killed between creating and writing its lock
    with pytest.raises(SdkError, match="starting"):
        with sdk_lock(target):
            pass
    old = time.time() - 60
    os.utime(lock_path(target), (old, old))
    with sdk_lock(target):
        pass
    assert not lock_path(target).exists()


def test_release_leaves_a_lock_that_is_no_longer_ours(target: SdkTarget) -> None:
    with sdk_lock(target) as path:
        path.write_text(json.dumps({"pid": 1, "host": "x", "started": "t"}))
    assert path.exists()
