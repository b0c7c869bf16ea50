"""One run per SDK: an OS lock (flock) on a lock file, so a crashed run never leaves it held.

The kernel releases a flock when its holder dies, however it dies, so there is no stale-lock
guesswork and no check-then-unlink race between two runs taking over the same leftover file.
The file's content (pid, host, start time) only tells a refused run who holds the lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional

from conductor_regen.errors import SdkError
from conductor_regen.checkout.signals import deferred
from conductor_regen.checkout.target import SdkTarget

log = logging.getLogger(__name__)

LOCK_NAME = ".regen.lock"
_ATTEMPTS = 5
_MAX_INFO_BYTES = 4096


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


def _parse(raw: bytes) -> Optional[dict[str, Any]]:
    try:
        info = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        return None
    return info


def _read_fd(fd: int) -> bytes:
    return os.pread(fd, _MAX_INFO_BYTES, 0)


def _same_file(fd: int, path: Path) -> bool:
    """True if `path` still names the file open as `fd` (a releasing run unlinks it)."""
    try:
        now = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def _held(path: Path, raw: bytes) -> SdkError:
    info = _parse(raw)
    hint = f"wait for it to finish (the lock is released when it exits; {path} itself is harmless)"
    if info is None:
        return SdkError("another regeneration is starting on this SDK", hint)
    where = "" if info.get("host") == socket.gethostname() else f" on host {info.get('host')}"
    return SdkError(
        f"another regeneration is running on this SDK (pid {info['pid']}{where} since {info.get('started', '?')})",
        hint,
    )


def _open_locked(path: Path) -> int:
    """Open the lock file and flock it; SdkError if another process holds it."""
    for _ in range(_ATTEMPTS):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise SdkError(f"cannot create the lock file {path}: {exc.strerror}",
                           "check that the SDK's package folder is writable") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raw = _read_fd(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise _held(path, raw) from None
            raise SdkError(f"cannot lock {path}: {exc.strerror}",
                           "the filesystem must support flock (a local disk does)") from exc
        if _same_file(fd, path):
            return fd
        os.close(fd)  # we locked a file its holder had just unlinked on release: try the new one
    raise SdkError(f"could not acquire the lock {path}", "another run keeps taking it; wait for it to finish")


def _package_fd(target: SdkTarget) -> int:
    try:
        return os.open(target.package_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise SdkError(f"cannot open {target.package_dir}: {exc.strerror}",
                       "check that the SDK's package folder exists and is readable") from exc


def _flock_package(target: SdkTarget, mode: int) -> Optional[int]:
    """flock the package folder itself (`mode` LOCK_EX or LOCK_SH); None when someone holds it the other way.

    The folder, not a file: a reader must not create a file in the checkout, and the folder keeps its
    inode while the managed folders inside it are swapped.
    """
    fd = _package_fd(target)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        raise SdkError(f"cannot lock {target.package_dir}: {exc.strerror}",
                       "the filesystem must support flock (a local disk does)") from exc
    return fd


@contextmanager
def sdk_read_lock(target: SdkTarget) -> Iterator[None]:
    """Hold a shared lock while a read-only command reads the SDK: no run can swap the tree meanwhile.

    Refuses while a run holds the SDK (it may be halfway through a swap), and when a killed run left a
    swap to finish: a verdict read from such a tree would be wrong.
    """
    from conductor_regen.checkout.journal import journal_path

    fd = _flock_package(target, fcntl.LOCK_SH)
    if fd is None:
        raw = lock_path(target).read_bytes()[:_MAX_INFO_BYTES] if lock_path(target).is_file() else b""
        held = _held(lock_path(target), raw)
        raise SdkError(held.message + "; its tree may be half swapped",
                       "wait for it to finish, then run this command again")
    try:
        if journal_path(target).exists():
            raise SdkError(f"an interrupted run left a swap to finish in {target.package_dir}",
                           "finish or undo it first with `invoke restore` (or any command that writes to the SDK)")
        yield
    finally:
        os.close(fd)


@contextmanager
def sdk_lock(target: SdkTarget) -> Iterator[Path]:
    """Hold the SDK's run lock for the duration of the block; a dead holder's lock is taken over."""
    path = lock_path(target)
    fd = _open_locked(path)
    try:
        previous = _read_fd(fd)
        if previous.strip():
            # A lock file nobody holds: its run was killed before it could remove it.
            log.warning("removing stale lock %s left by a run that is gone: %s",
                        path, previous.decode("utf-8", "replace").strip())
        payload = json.dumps({
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }).encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, payload, 0)
        os.fsync(fd)
        # Readers (diff, test) hold the package folder shared; a run waits for none of them: it says so.
        folder = _flock_package(target, fcntl.LOCK_EX)
        if folder is None:
            raise SdkError("a read-only command (diff or test) is reading this SDK",
                           "wait for it to finish (a run would change the tree it reads), then run again")
    except BaseException:
        if _same_file(fd, path):
            path.unlink()
        os.close(fd)
        raise
    log.debug("acquired %s", path)
    try:
        yield path
    finally:
        # Unlink while still holding the lock, so nobody can lock the file we are removing
        # and believe it is the live one (_open_locked checks the path against its fd).
        # A signal arriving meanwhile (SIGTERM) is acted on once the lock is gone, not halfway.
        with deferred(act=False):
            try:
                if _same_file(fd, path):
                    path.unlink()
            except OSError:
                pass  # a leftover lock file is harmless: nobody holds its flock
            finally:
                os.close(fd)
                os.close(folder)
            log.debug("released %s", path)
