"""The SDK's pristine tree (its state before the last regeneration), whose verdicts `verdict_cache` keeps.

Gates judge a regenerated tree against the same check on the pristine one, so a failure that was
already there is shown as pre-existing instead of rolling a run back. The pristine tree is the
newest backup of the SDK (its managed folders, with everything else as it is now and the files
that run added outside removed), else the SDK's git HEAD, else there is none (absolute verdicts).
Its fingerprint is a hash of its content, not of paths or mtimes, so a copy or a restored tree
hits the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import shutil
import tarfile
from pathlib import Path
from typing import Dict, Iterator, Mapping, Optional, Tuple

from conductor_regen.child_env import GIT_TIMEOUT, Limit, child_env, run
from conductor_regen.checkout.backups import Backup, added_outside, list_backups, load_manifest
from conductor_regen.checkout.restore import trusted_manifest
from conductor_regen.errors import RegenError
from conductor_regen import file_tree
from conductor_regen.file_tree import iter_entries
from conductor_regen.checkout.target import RESERVED_PREFIX, SdkTarget, is_run_file
from conductor_regen.matrix.accepted import ACCEPTED_FILE

log = logging.getLogger(__name__)

# Tool caches, virtualenvs and build output are not part of the tree a check judges; nor is this tool's record of
# accepted findings, which only the live tree's verdict reads (were it part of the tree, accepting a finding
# would make the baseline stale: the next run would check the pristine tree again, and cold).
SKIPPED_DIRS = frozenset({".git", ".hg", ".nox", ".tox", ".venv", "venv", ".mypy_cache", ".pytest_cache",
                          ".ruff_cache", "node_modules", "build", "dist", ".benchmarks", "__pycache__",
                          ACCEPTED_FILE.parts[0]})
_FINGERPRINT_VERSION = "pristine-v1"


@dataclasses.dataclass(frozen=True)
class Pristine:
    """Where the pristine tree comes from, its content fingerprint, and how to copy it out."""

    source: str  # "backup <id>" or "git HEAD <sha>"
    fingerprint: str
    files: Tuple[Tuple[str, Path], ...] = ()  # from a backup: (SDK-relative path, file to copy)
    git_tree: str = ""  # from git: `<commit>:<prefix>`, what `git archive` writes
    git_dir: Optional[Path] = None

    def materialize(self, dest: Path) -> Path:
        """Write the pristine tree into the empty folder `dest` and return it."""
        dest.mkdir(parents=True, exist_ok=True)
        if self.git_dir is not None:
            proc = run(["git", "-C", str(self.git_dir), "archive", "--format=tar", self.git_tree],
                       Limit(GIT_TIMEOUT, f"`git archive {self.git_tree}`", hint="pass --absolute to judge "
                             "without a baseline"), env=child_env())
            if proc.returncode != 0:
                raise RegenError(f"git archive {self.git_tree} failed: {proc.stderr.decode(errors='replace')}",
                                 "pass --absolute to judge without a baseline")
            try:
                with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
                    tar.extractall(dest, filter="data")
            except tarfile.FilterError as exc:  # a link out of the tree, a device: never written out
                raise RegenError(f"the pristine tree ({self.source}) has an entry it cannot be copied with: {exc}",
                                 "pass --absolute to judge without a baseline, or commit the tree without it") from exc
            return dest
        for rel, path in self.files:
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                os.symlink(os.readlink(path), out)
            else:
                shutil.copy2(path, out)
        return dest


def _live_files(root: Path, skip: Tuple[Path, ...], package_dir: Path) -> Iterator[Tuple[str, Path]]:
    """SDK-relative files of the live tree, without tool caches, the `skip` folders and a run's own files."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and not d.startswith(RESERVED_PREFIX)
                             and not d.endswith(".egg-info") and here / d not in skip)
        for name in sorted(filenames):
            # A worktree's `.git` is a file naming its own folder under the main clone: not the SDK's content.
            # A run's lock and journal (held while its gate asks for this tree) change with every run.
            path = here / name
            if not name.endswith((".pyc", ".pyo")) and name != ".git" and not is_run_file(path, package_dir):
                yield path.relative_to(root).as_posix(), path


def content_fingerprint(files: Mapping[str, Path]) -> str:
    """The pristine tree's fingerprint: `file_tree.content_fingerprint`, salted with this cache's version."""
    return file_tree.content_fingerprint(files, _FINGERPRINT_VERSION)


def _newest_backup(target: SdkTarget, backups_dir: Path) -> Optional[Backup]:
    """The newest complete backup taken of this very SDK (not a pre-restore snapshot)."""
    for backup in list_backups(backups_dir, target.name):
        if not backup.complete or backup.outcome == "pre-restore":
            continue
        try:
            manifest = load_manifest(backup)
        except RegenError:
            continue
        if Path(str(manifest.get("sdk_root", ""))) == target.root:
            return backup
    return None


def from_backup(target: SdkTarget, backup: Backup) -> Pristine:
    """The SDK as it was when `backup` was taken: its managed folders, the rest live, minus what it added."""
    manifest = trusted_manifest(target, backup)  # a manifest's names must not take the copy out of its folder
    names = tuple(str(n) for n in manifest["managed"])
    package = target.package_dir.relative_to(target.root).as_posix()
    added = set(added_outside(manifest))
    live = _live_files(target.root, tuple(target.package_dir / n for n in names), target.package_dir)
    files: Dict[str, Path] = {rel: path for rel, path in live if rel not in added}
    for name in names:
        source = backup.tree_dir / name
        if source.is_dir() and not source.is_symlink():
            files.update((f"{package}/{name}/{rel}", path) for rel, path in iter_entries(source))
        elif os.path.lexists(source):
            files[f"{package}/{name}"] = source
    return Pristine(f"backup {backup.id}", content_fingerprint(files), tuple(sorted(files.items())))


def _git(root: Path, *args: str) -> Optional[str]:
    try:
        proc = run(["git", "-C", str(root), *args], Limit(GIT_TIMEOUT, f"`git {' '.join(args)}` in {root}",
                   hint="check the repository (a stale lock?), or pass --absolute"), text=True, env=child_env())
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def from_git(root: Path) -> Optional[Pristine]:
    """The SDK's git HEAD, if it is a git checkout with a commit."""
    commit = _git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    prefix = _git(root, "rev-parse", "--show-prefix")
    if not commit or prefix is None:
        return None
    tree_ish = f"{commit}:{prefix}"
    tree = _git(root, "rev-parse", tree_ish)
    if not tree:
        return None
    fingerprint = hashlib.sha256(f"{_FINGERPRINT_VERSION}\0git\0{tree}".encode()).hexdigest()
    return Pristine(f"git HEAD {commit[:12]}", fingerprint, git_tree=tree_ish, git_dir=root)


def find_pristine(target: SdkTarget, backups_dir: Optional[Path]) -> Optional[Pristine]:
    """The newest backup of the SDK, else its git HEAD, else None (judge absolutely)."""
    backup = _newest_backup(target, backups_dir) if backups_dir is not None else None
    if backup is not None:
        return from_backup(target, backup)
    return from_git(target.root)
