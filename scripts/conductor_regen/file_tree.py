"""Walk, digest, copy, measure and delete file trees without ever following a symlink."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import stat
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator, Mapping, Tuple

from conductor_regen.errors import VerificationError

log = logging.getLogger(__name__)

# Bytecode caches are rebuilt on import; keeping them would make every verification after an
# import report spurious differences, so they are neither backed up nor compared.
IGNORED_DIRS = frozenset({"__pycache__"})

SYMLINK_PREFIX = "symlink:"


def iter_entries(base: Path) -> Iterator[Tuple[str, Path]]:
    """Yield (posix relpath, path) for every regular file and symlink under `base`, in a stable order."""
    stack = [(base, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
        subdirs = []
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            path = Path(entry.path)
            if entry.is_symlink():
                yield rel, path
            elif entry.is_dir(follow_symlinks=False):
                if entry.name not in IGNORED_DIRS:
                    subdirs.append((path, f"{rel}/"))
            elif entry.is_file(follow_symlinks=False):
                yield rel, path
            else:
                # FIFOs and sockets have no content to keep and reading a FIFO would block.
                log.warning("skipping special file %s", path)
        stack.extend(reversed(subdirs))


def digest_entry(path: Path) -> str:
    """Return the sha256 of a file, or `symlink:<target>` for a symlink (never followed)."""
    if path.is_symlink():
        return SYMLINK_PREFIX + os.readlink(path)
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            sha.update(chunk)
    return sha.hexdigest()


def content_fingerprint(files: Mapping[str, Path], salt: str = "") -> str:
    """Hash of relative paths and contents (symlinks by target): the same tree anywhere, the same hash."""
    digest = hashlib.sha256(f"{salt}\0".encode())
    for rel in sorted(files):
        digest.update(f"{rel}\0{digest_entry(files[rel])}\n".encode())
    return digest.hexdigest()


def digest_tree(base: Path, names: Iterable[str]) -> dict[str, str]:
    """Map `<name>/<relpath>` to its digest for each existing entry `base/<name>`."""
    files: dict[str, str] = {}
    for name in names:
        top = base / name
        if not os.path.lexists(top):
            continue
        if top.is_dir() and not top.is_symlink():
            for rel, path in iter_entries(top):
                files[f"{name}/{rel}"] = digest_entry(path)
        else:
            files[name] = digest_entry(top)
    return files


def copy_entry(src: Path, dst: Path) -> None:
    """Copy a folder, file or symlink to `dst` (which must not exist), links kept as links."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
    elif src.is_dir():
        shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns(*IGNORED_DIRS))
    else:
        shutil.copy2(src, dst, follow_symlinks=False)


def write_text_no_follow(path: Path, text: str) -> None:
    """Write a file in an SDK or staged tree, refusing to write through a symlink.

    A link in a managed folder may point anywhere (a file outside the SDK, or a live file while
    we edit a staged copy): writing through it would change what no backup covers. O_NOFOLLOW
    makes the check and the open one step.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise VerificationError(
                f"refusing to write through the symlink {path} (it points to {os.readlink(path)})",
                "replace the link with a real file; regeneration never writes through links",
            ) from None
        raise
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def tree_size(paths: Iterable[Path]) -> int:
    """Sum the sizes of the files under `paths` (missing paths count as zero)."""
    total = 0
    for top in paths:
        if not os.path.lexists(top):
            continue
        if top.is_dir() and not top.is_symlink():
            for _, path in iter_entries(top):
                total += path.lstat().st_size
        else:
            total += top.lstat().st_size
    return total


def remove_path(path: Path) -> None:
    """Delete a file, symlink or folder; a missing path is not an error."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def relative_parts(name: str) -> tuple[str, ...] | None:
    """Split a plain relative posix name into parts, or None if it is not one."""
    if not name or "\x00" in name or "\\" in name:
        return None
    pure = PurePosixPath(name)
    if pure.is_absolute():
        return None
    parts = tuple(p for p in pure.parts if p != ".")
    if not parts or ".." in parts:
        return None
    return parts


def safe_join(base: Path, relative: str) -> Path:
    """Join a name taken from untrusted input (a spec) to `base`, refusing anything that escapes it."""
    parts = relative_parts(relative)
    if parts is None:
        raise VerificationError(
            f"refusing path {relative!r}: it is not a plain relative name",
            "the spec or generator produced an unsafe file name; fix the spec",
        )
    joined = base.joinpath(*parts)
    real_base = base.resolve()
    resolved = joined.resolve()
    if resolved != real_base and real_base not in resolved.parents:
        raise VerificationError(
            f"refusing path {relative!r}: it leads to {resolved}, outside {base}",
            "a symlink in the tree points elsewhere; remove it",
        )
    return joined
