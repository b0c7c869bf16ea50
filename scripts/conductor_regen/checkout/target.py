"""The SDK checkout a run works on: where it is, which folders it may touch, and whether it is safe to."""

from __future__ import annotations

import logging
import os
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from conductor_regen.child_env import GIT_TIMEOUT, Limit, child_env, run
from conductor_regen.config import SdkConfig
from conductor_regen.errors import ConfigError, SdkError
from conductor_regen.file_tree import iter_entries, relative_parts, tree_size

log = logging.getLogger(__name__)

# Names a run creates in the package folder for itself; a managed folder must not collide.
RESERVED_PREFIX = ".regen"
# The swap journal's name (journal.py owns the file; it imports this module, hence the copy).
JOURNAL_NAME = ".regen-journal.json"


def is_run_file(path: Path, package_dir: Path) -> bool:
    """A file a run keeps in the package folder for itself (its lock, its journal): never the SDK's content,
    and different in every run, so no fingerprint of the tree may count it."""
    return path.parent == package_dir and path.name.startswith(RESERVED_PREFIX)

_SDK_HINT = (
    "point --sdk (or CONDUCTOR_SDK_ROOT, or sdk.root in invoke.yaml) at the root of a "
    "conductor-python checkout"
)
_SYMLINK_HINT = "replace the link with a real folder; regeneration never follows symlinks out of the SDK"


@dataclass(frozen=True)
class SdkTarget:
    """A resolved SDK checkout: absolute root, package folder and the managed folder names."""

    root: Path
    package_dir: Path
    managed: tuple[str, ...]

    @property
    def name(self) -> str:
        """The SDK root folder's name (backups are grouped by it)."""
        return self.root.name

    @property
    def http_dir(self) -> Path:
        """The generated client folder the guide replaces."""
        return self.package_dir / "http"

    def managed_paths(self) -> tuple[Path, ...]:
        """Absolute paths of the managed folders, in configured order."""
        return tuple(self.package_dir / name for name in self.managed)


def _check_managed_names(names: tuple[str, ...]) -> tuple[str, ...]:
    cleaned: list[str] = []
    for name in names:
        parts = relative_parts(name)
        if parts is None or parts[0].startswith(RESERVED_PREFIX):
            raise ConfigError(
                f"managed folder name {name!r} is not a plain relative name",
                "use names like 'http' or 'adapters' relative to sdk.package_dir, without '..' or a leading '/'",
            )
        cleaned.append("/".join(parts))
    for i, a in enumerate(cleaned):
        for b in cleaned[i + 1 :]:
            if a == b or b.startswith(a + "/") or a.startswith(b + "/"):
                raise ConfigError(
                    f"managed folders {a!r} and {b!r} overlap",
                    "list each folder once, and never a folder together with one inside it",
                )
    if not cleaned:
        raise ConfigError("no managed folders configured", "set sdk.managed, e.g. http,adapters,orkes")
    return tuple(cleaned)


def resolve_sdk(config: SdkConfig) -> SdkTarget:
    """Validate the configured SDK checkout and return it with absolute paths."""
    if config.root is None:
        raise SdkError(
            "no SDK selected",
            "pass --sdk PATH, run from inside the checkout, set CONDUCTOR_SDK_ROOT, or set sdk.root in invoke.yaml",
        )
    package_parts = relative_parts(config.package_dir)
    if package_parts is None:
        raise ConfigError(
            f"sdk.package_dir {config.package_dir!r} is not a relative path inside the SDK",
            "use the default 'src/conductor/asyncio_client'",
        )
    managed = _check_managed_names(tuple(config.managed))
    _check_printable(str(config.root))
    given = Path(os.path.expanduser(str(config.root)))
    if not given.is_dir():
        what = "is not a directory" if given.exists() else "does not exist"
        raise SdkError(f"SDK root {given} {what}", _SDK_HINT)
    root = given.resolve()
    _check_printable(str(root))  # a link may lead to such a path too
    package_dir = root.joinpath(*package_parts)
    http = package_dir / "http"
    # A crash inside the three-rename fallback can leave http/ moved aside: with a swap journal
    # present the checkout is ours to recover (every command does that first, under the lock).
    if not http.is_dir() and not (package_dir / JOURNAL_NAME).is_file():
        raise SdkError(f"{root} is not a Conductor Python SDK checkout: {http} is missing", _SDK_HINT)
    target = SdkTarget(root=root, package_dir=package_dir, managed=managed)
    check_no_escape(target, package_dir)
    check_managed_paths(target)
    return target


def _check_printable(path: str) -> None:
    """Refuse an SDK path holding a control character (a newline, a tab, ...), before any work.

    Such a path breaks the tools a run hands it to (PYTHONPATH, nox, pytest, git's output), so the
    gate would fail on it and call that a new test failure; refusing it up front is the honest answer.
    """
    bad = sorted({c for c in path if unicodedata.category(c) == "Cc"})
    if bad:
        names = ", ".join(_CONTROL_NAMES.get(c, f"U+{ord(c):04X}") for c in bad)
        raise SdkError(f"the SDK path {path!r} holds a control character ({names})",
                       "move or rename the checkout to a path without control characters, then pass that to --sdk")


_CONTROL_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL byte"}


def check_no_escape(target: SdkTarget, path: Path) -> None:
    """Raise SdkError if `path`, with symlinks resolved, lies outside the SDK root."""
    root = target.root.resolve()
    resolved = Path(path).resolve()
    if resolved != root and root not in resolved.parents:
        raise SdkError(f"{path} resolves to {resolved}, outside the SDK at {root}", _SYMLINK_HINT)


def check_managed_paths(target: SdkTarget) -> None:
    """Raise SdkError if a managed folder is a symlink, leads out of the SDK or holds a link that does."""
    for path in target.managed_paths():
        if path.is_symlink():
            raise SdkError(f"managed folder {path} is a symlink", _SYMLINK_HINT)
        check_no_escape(target, path)
        if path.is_dir():
            # One policy for links: they may stay inside the SDK (kept as links, never written
            # through); a link out of it would put files no backup covers in reach of a run.
            for _, entry in iter_entries(path):
                if entry.is_symlink():
                    check_no_escape(target, entry)


def git_dirty_paths(target: SdkTarget) -> list[str]:
    """Return root-relative paths with uncommitted changes in the managed folders ([] without git)."""
    rels = [p.relative_to(target.root).as_posix() for p in target.managed_paths()]
    # -z avoids quoting of odd names; GIT_OPTIONAL_LOCKS=0 keeps `status` from writing the index.
    cmd = ["git", "status", "--porcelain", "-z", "--", *rels]
    env = child_env({"GIT_OPTIONAL_LOCKS": "0"})
    limit = Limit(GIT_TIMEOUT, f"`git status` in {target.root}",
                  hint="check the repository (a lock or a huge untracked tree?), or pass --allow-dirty", error=SdkError)
    try:
        proc = run(cmd, limit, cwd=target.root, env=env)
    except FileNotFoundError:
        log.info("git is not installed; skipping the uncommitted-changes check")
        return []
    if proc.returncode != 0:
        log.info(
            "%s is not a git work tree (git: %s); skipping the uncommitted-changes check",
            target.root,
            proc.stderr.decode("utf-8", "replace").strip().splitlines()[:1],
        )
        return []
    records = proc.stdout.decode("utf-8", "surrogateescape").split("\x00")
    dirty: list[str] = []
    skip_next = False
    for record in records:
        if skip_next:
            skip_next = False  # the source name of a rename/copy record
            continue
        if len(record) < 4:
            continue
        status, path = record[:2], record[3:]
        dirty.append(path)
        skip_next = "R" in status or "C" in status
    return dirty


def check_clean(target: SdkTarget, allow_dirty: bool) -> list[str]:
    """Refuse to touch managed folders holding uncommitted work unless `allow_dirty`; return them."""
    dirty = git_dirty_paths(target)
    if not dirty:
        return dirty
    shown = ", ".join(dirty[:5]) + (f" (+{len(dirty) - 5} more)" if len(dirty) > 5 else "")
    if allow_dirty:
        log.warning("continuing with %d uncommitted change(s) in managed folders: %s", len(dirty), shown)
        return dirty
    raise SdkError(
        f"{len(dirty)} uncommitted change(s) in the managed folders: {shown}",
        "commit or stash them first (the guide says to commit before regenerating), or pass --allow-dirty",
    )


def managed_size(target: SdkTarget) -> int:
    """Bytes held by the managed folders (what a backup or a staged copy needs)."""
    return tree_size(target.managed_paths())


def check_disk_space(path: Path, needed_bytes: int) -> None:
    """Raise SdkError if the filesystem holding `path` has less than `needed_bytes` free."""
    probe = Path(path)
    # The folder may not exist yet; its nearest existing parent is on the same filesystem.
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed_bytes:
        raise SdkError(
            f"not enough free space at {path}: {needed_bytes / 1e6:.1f} MB needed, {free / 1e6:.1f} MB free",
            "free some disk space or prune old backups, then run again",
        )
