"""Durable writes: a file is either its old content or its new content, never half of each."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (renames, creations) to disk."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return  # platforms without directory fds (Windows) cannot do this; nothing to flush
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)


def fsync_tree(top: Path) -> int:
    """fsync every regular file and folder under `top` (links are not followed); return how many."""
    count = 0
    for dirpath, _dirnames, filenames in os.walk(top):
        for name in filenames:
            try:
                fd = os.open(os.path.join(dirpath, name), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except OSError:
                continue  # a symlink (O_NOFOLLOW refuses it) has no data of its own to flush
            try:
                os.fsync(fd)
                count += 1
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))
        count += 1
    return count


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a fsynced temp file and a rename, then fsync the folder."""
    # A dot-prefixed temp name so readers that look for `path` never see a partial file.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_json(path: Path, data: Any) -> None:
    """Atomically write `data` as indented, key-sorted JSON."""
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))
