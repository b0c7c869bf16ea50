"""One run per SDK: an exclusive lock file that a crashed run cannot leave stuck forever."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional

from .errors import SdkError
from .sdk_target import SdkTarget

log = logging.getLogger(__name__)

LOCK_NAME = ".regen.lock"

# A lock that cannot be parsed is normally one being written this very moment; only after
# this long do we treat it as debris from a run killed between create and write.
UNREADABLE_GRACE_SECONDS = 5.0


def lock_path(target: SdkTarget) -> Path:
    """Where the lock file of `target` lives."""
    return target.package_dir / LOCK_NAME


def pid_alive(pid: int) -> bool:
    """True if a process with `pid` exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


def _read(path: Path) -> Optional[bytes]:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _parse(raw: bytes) -> Optional[dict[str, Any]]:
    try:
        info = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        return None
    return info


def _try_create(path: Path, payload: bytes) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def _refuse_if_held(path: Path, raw: bytes) -> None:
    """Raise SdkError unless the existing lock `raw` is stale and may be taken over."""
    info = _parse(raw)
    if info is None:
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return
        if age < UNREADABLE_GRACE_SECONDS:
            raise SdkError(
                "another regeneration is starting on this SDK",
                f"wait for it, or remove {path} if no run is in progress",
            )
        return
    pid, host, started = info["pid"], info.get("host"), info.get("started", "?")
    if host != socket.gethostname():
        # We cannot probe a pid on another machine (shared or network checkout).
        raise SdkError(
            f"another regeneration may be running on this SDK (pid {pid} on host {host} since {started})",
            f"wait for it, or remove {path} if that process is gone",
        )
    if pid_alive(pid):
        raise SdkError(
            f"another regeneration is running on this SDK (pid {pid} since {started})",
            f"wait for it, or remove {path} if that process is gone",
        )


@contextmanager
def sdk_lock(target: SdkTarget) -> Iterator[Path]:
    """Hold the SDK's run lock for the duration of the block; stale locks are taken over."""
    path = lock_path(target)
    payload = json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
    ).encode("utf-8")
    for _ in range(3):
        if _try_create(path, payload):
            break
        raw = _read(path)
        if raw is None:
            continue  # released between our attempt and the read
        _refuse_if_held(path, raw)
        # Re-read right before unlinking so a lock another process just took is not deleted.
        if _read(path) == raw:
            log.warning("removing stale lock %s left by a run that is gone: %s", path, raw.decode("utf-8", "replace"))
            try:
                path.unlink()
            except FileNotFoundError:
                pass
    else:
        raise SdkError(
            f"could not acquire the lock {path}",
            "another run keeps taking it; wait for it to finish",
        )
    log.debug("acquired %s", path)
    try:
        yield path
    finally:
        # Only remove the file if it is still ours.
        if _read(path) == payload:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        log.debug("released %s", path)
