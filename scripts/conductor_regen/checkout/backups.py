"""The backup store: one self-describing folder per run, written so a half-written one is obvious."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Literal, Optional, Tuple, get_args

from conductor_regen.atomic_io import atomic_write_bytes, atomic_write_json
from conductor_regen.errors import BackupError, ConfigError, RegenError
from conductor_regen.file_tree import copy_entry, digest_entry, digest_tree, iter_entries, remove_path
from conductor_regen.checkout.target import SdkTarget, check_disk_space, check_managed_paths, managed_size
from conductor_regen.file_tree import safe_join

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
TREE = "tree"
# Written first, so even an incomplete backup says which checkout (resolved path) it belongs to.
ORIGIN = "sdk_root.txt"
# How the run that took a backup ended (pending until it does); manual and pre-restore backups are snapshots.
BackupOutcome = Literal["pending", "succeeded", "rolled-back", "failed", "manual", "pre-restore"]
OUTCOMES: Tuple[BackupOutcome, ...] = get_args(BackupOutcome)
INCOMPLETE = "incomplete"
_STAMP = "%Y%m%dT%H%M%SZ"
_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")
# Manifest key: files a run added outside the managed folders (SDK-root-relative), e.g. adapter tests.
ADDED_OUTSIDE = "added_outside"
# The only files a run adds outside the managed folders: a test per new adapter, written by
# compat/scaffold/adapter_tests.py (sdk/ cannot import it; tests/unit/test_backup_trust.py checks they agree).
# A manifest naming anything else outside the managed folders was not written by this tool.
ADDED_OUTSIDE_DIR = "tests/unit/orkes"
_ADDED_OUTSIDE_FILE = re.compile(re.escape(ADDED_OUTSIDE_DIR) + r"/test_async_[A-Za-z_][A-Za-z0-9_]*_adapter\.py")
# And the gate's sessions rewrite this one under `regenerate --accept` (matrix/accepted.py's ACCEPTED_FILE).
ACCEPTED_FINDINGS = ".conductor-regen/accepted-findings.json"
# Manifest key and folder: files outside the managed folders saved with the backup (SDK-root-relative
# -> sha256), so a restore that removes or overwrites one keeps a copy in its pre-restore backup.
SAVED_OUTSIDE = "saved_outside"
OUTSIDE_TREE = "outside"
_RESERVED_FILES = frozenset({MANIFEST, TREE, ORIGIN, OUTSIDE_TREE})


@dataclass(frozen=True)
class Backup:
    """One backup folder as found on disk; `complete` is False when its manifest is missing."""

    id: str
    path: Path
    created: datetime
    spec_version: str
    outcome: str
    size_bytes: int
    file_count: int
    complete: bool = True
    sdk_root: str = ""  # the resolved path of the checkout it was taken from ("" if unknown)

    @property
    def tree_dir(self) -> Path:
        """The copy of the managed folders."""
        return self.path / TREE

    @property
    def manifest_path(self) -> Path:
        """The manifest; written last, so its presence means the backup is complete."""
        return self.path / MANIFEST


def slugify(text: str) -> str:
    """Reduce a spec version to characters safe in a folder name."""
    slug = _SLUG_BAD.sub("-", text).strip("-.")[:64]
    return slug or "unknown"


def _sdk_store(store: Path, target_name: str) -> Path:
    if not target_name or "/" in target_name or target_name in (".", ".."):
        raise BackupError(f"invalid SDK name {target_name!r} for the backup store")
    return store / target_name


def _reserve_folder(sdk_store: Path, base_id: str) -> Path:
    """Create a fresh backup folder; mkdir is atomic, so two runs in one second get distinct ids."""
    sdk_store.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = sdk_store / (base_id if n == 1 else f"{base_id}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise BackupError(f"too many backups named {base_id} in {sdk_store}", "prune old backups")


def load_manifest(backup: Backup) -> dict[str, Any]:
    """Read a backup's manifest; BackupError if the backup is incomplete or the manifest damaged."""
    try:
        data = json.loads(backup.manifest_path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(
            f"backup {backup.id} is incomplete (no {MANIFEST}): it was interrupted while being written",
            "choose another backup; prune removes incomplete ones",
        ) from exc
    except (OSError, ValueError) as exc:
        raise BackupError(f"backup {backup.id} has an unreadable manifest: {exc}", "choose another backup") from exc
    if not (isinstance(data, dict) and isinstance(data.get("files"), dict) and isinstance(data.get("managed"), list)):
        raise BackupError(f"backup {backup.id} has a malformed manifest", "choose another backup")
    return data


def _from_folder(path: Path) -> Backup:
    manifest = path / MANIFEST
    try:
        data = json.loads(manifest.read_text("utf-8"))
        return Backup(
            id=path.name,
            path=path,
            created=datetime.fromisoformat(data["created"]),
            spec_version=str(data.get("spec_version", "")),
            outcome=str(data.get("outcome", "pending")),
            size_bytes=int(data.get("size_bytes", 0)),
            file_count=len(data["files"]),
            sdk_root=str(data.get("sdk_root", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        pass
    # No usable manifest: describe what is on disk so it can be listed and pruned. The folder's
    # mtime (not the id's whole second) orders it correctly against backups made the same second.
    created = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    tree = path / TREE
    entries = list(iter_entries(tree)) if tree.is_dir() else []
    try:
        origin = (path / ORIGIN).read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        origin = ""
    return Backup(
        id=path.name,
        path=path,
        created=created,
        spec_version="",
        outcome=INCOMPLETE,
        size_bytes=sum(p.lstat().st_size for _, p in entries),
        file_count=len(entries),
        complete=False,
        sdk_root=origin,
    )


def create_backup(
    store: Path,
    target: SdkTarget,
    spec_version: str,
    spec_bytes: Optional[bytes] = None,
    outside: Iterable[str] = (),
    run_writes: Iterable[str] = (),
) -> Backup:
    """Copy the managed folders (the layout's, nothing else: restore refuses any other name) and the
    regular files among `outside` (SDK-root-relative) into a new backup folder. `run_writes`: files outside
    them the run may rewrite, saved if they exist, else recorded as added (a restore removes them)."""
    check_managed_paths(target)
    names = list(target.managed)
    store = Path(store).resolve()
    # The SDK's folder in the store may be a symlink: followed here as restore follows it (both resolve).
    sdk_store = _sdk_store(store, target.name)
    if sdk_store.is_symlink() and not sdk_store.is_dir():
        raise BackupError(f"the backup folder {sdk_store} is a symlink to a missing folder",
                          "create the folder it points to, or remove the link")
    sdk_store = sdk_store.resolve()
    for live in target.managed_paths():
        for where in (store, sdk_store):
            if where == live or live in where.parents:
                raise BackupError(
                    f"the backup store {where} is inside the managed folder {live}",
                    "set backups_dir to a folder outside the SDK's managed folders",
                )
    # The tree plus slack for the manifest and reports.
    check_disk_space(sdk_store, managed_size(target) + 1024 * 1024)
    now = datetime.now(timezone.utc)
    folder = _reserve_folder(sdk_store, f"{now.strftime(_STAMP)}-{slugify(spec_version)}")
    try:
        atomic_write_bytes(folder / ORIGIN, (str(target.root) + "\n").encode("utf-8"))
        present: list[str] = []
        for name in names:
            live = target.package_dir / name
            if os.path.lexists(live):
                copy_entry(live, folder / TREE / name)
                present.append(name)
        if spec_bytes is not None:
            atomic_write_bytes(folder / "spec.json", spec_bytes)
        saved, added = _save_outside(target, folder / OUTSIDE_TREE, outside, run_writes)
        files = digest_tree(folder / TREE, present)
        size = sum(p.lstat().st_size for name in present for _, p in _entries_of(folder / TREE / name))
        if hasattr(os, "sync"):
            os.sync()  # copies must be on disk before the manifest claims the backup is complete
        manifest = {
            "files": files,
            "managed": names,
            "absent": [n for n in names if n not in present],
            "created": now.isoformat(),
            "sdk_root": str(target.root),
            "spec_version": spec_version,
            "outcome": "pending",
            "size_bytes": size,
        }
        if saved:
            manifest[SAVED_OUTSIDE] = saved
        if added:
            manifest[ADDED_OUTSIDE] = added
        atomic_write_json(folder / MANIFEST, manifest)
    except BaseException as exc:
        # Without a manifest the folder is already recognisably incomplete; removing it is tidiness.
        try:
            remove_path(folder)
        except OSError:
            log.warning("could not remove the incomplete backup %s", folder)
        if isinstance(exc, OSError):
            raise BackupError(f"could not write backup {folder}: {exc}", "check permissions and free space") from exc
        raise
    backup = _from_folder(folder)
    log.info("backed up %d files (%d bytes) to %s", backup.file_count, backup.size_bytes, folder)
    return backup


def _save_outside(target: SdkTarget, dest: Path, rels: Iterable[str],
                  run_writes: Iterable[str] = ()) -> Tuple[dict[str, str], list[str]]:
    """Copy the regular files among `rels` and `run_writes` (SDK-root-relative) under `dest`: their digests,
    and the `run_writes` absent now. BackupError for a path restore would refuse (a backup records only what
    restore accepts), or a file the run may write that is there but not a regular file (a link, a folder)."""
    saved: dict[str, str] = {}
    writes, absent = list(run_writes), []
    for rel in [*rels, *writes]:
        problem = outside_problem(rel, target.root)
        if not problem:
            path = target.root.joinpath(*rel.split("/"))  # one of the plain names, through real folders
            regular = path.is_file() and not path.is_symlink()
            if rel in writes and os.path.lexists(path) and not regular:
                problem = "not a regular file: the run would replace it, and a restore could not put it back"
        if problem:
            raise BackupError(f"refusing to back up {rel!r} outside the managed folders: {problem}",
                              f"make {rel} a regular file in a real folder (no symlink), then run again")
        if regular:
            copy_entry(path, dest / rel)
            saved[rel] = digest_entry(dest / rel)
        elif rel in writes:
            absent.append(rel)
    return saved, absent


def saved_outside(manifest: dict[str, Any]) -> dict[str, str]:
    """The files outside the managed folders a backup saved (SDK-root-relative -> sha256)."""
    found = manifest.get(SAVED_OUTSIDE, {})
    if not isinstance(found, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in found.items()):
        raise BackupError(f"the manifest's {SAVED_OUTSIDE} is malformed", "choose another backup")
    return dict(found)


def _entries_of(top: Path) -> list[tuple[str, Path]]:
    if top.is_dir() and not top.is_symlink():
        return list(iter_entries(top))
    return [(top.name, top)]


def list_backups(store: Path, target_name: str, sdk_root: Optional[Path] = None) -> list[Backup]:
    """All backups of one SDK, newest first, incomplete ones included (complete=False).

    Backups are filed by the checkout's folder name, so two checkouts both named
    conductor-python share a folder: with `sdk_root`, only the backups taken from that
    resolved path are listed (None: any path, for a checkout that was moved).
    """
    sdk_store = _sdk_store(Path(store), target_name)
    if not sdk_store.is_dir():
        return []
    found = [
        _from_folder(entry)
        for entry in sdk_store.iterdir()
        if entry.is_dir() and not entry.is_symlink() and not entry.name.startswith(".")
    ]
    if sdk_root is not None:
        found = [b for b in found if b.sdk_root == str(sdk_root)]
    return sorted(found, key=lambda b: (b.created, b.id), reverse=True)


def get_backup(store: Path, target_name: str, backup_id: Optional[str] = None,
               sdk_root: Optional[Path] = None) -> Backup:
    """Return backup `backup_id`, or the latest complete one when None (of `sdk_root` if given)."""
    backups = list_backups(store, target_name, sdk_root)
    if backup_id is None:
        for backup in backups:
            if backup.complete:
                return backup
        moved = sdk_root is not None and any(b.complete for b in list_backups(store, target_name))
        raise BackupError(
            f"no complete backup of {target_name}" + (f" at {sdk_root}" if sdk_root else "") + f" in {store}",
            "backups of another checkout with this name exist: pass --moved if this checkout was moved"
            if moved else "a backup is taken automatically before each regeneration",
        )
    for backup in backups:
        if backup.id == backup_id:
            if not backup.complete:
                load_manifest(backup)  # raises the "incomplete" error
            return backup
    available = ", ".join(b.id for b in backups if b.complete) or "none"
    if sdk_root is not None and any(b.id == backup_id for b in list_backups(store, target_name)):
        raise BackupError(
            f"backup {backup_id!r} was taken from another checkout named {target_name}, not {sdk_root}",
            f"if this checkout was moved, pass --moved to use it; available: {available}",
        )
    raise BackupError(f"no backup {backup_id!r} of {target_name} in {store}", f"available: {available}")


def set_outcome(backup: Backup, outcome: BackupOutcome) -> Backup:
    """Record how the run that took `backup` ended."""
    if outcome not in OUTCOMES:
        raise BackupError(f"unknown backup outcome {outcome!r}", f"use one of: {', '.join(OUTCOMES)}")
    manifest = load_manifest(backup)
    manifest["outcome"] = outcome
    atomic_write_json(backup.manifest_path, manifest)
    return replace(backup, outcome=outcome)


def added_outside(manifest: dict[str, Any]) -> list[str]:
    """The SDK-root-relative files the backup's run added outside the managed folders (restore removes them)."""
    found = manifest.get(ADDED_OUTSIDE, [])
    if not isinstance(found, list) or not all(isinstance(p, str) for p in found):
        raise BackupError(f"the manifest's {ADDED_OUTSIDE} is not a list of paths", "choose another backup")
    return list(found)


def outside_problem(rel: str, sdk_root: Optional[Path] = None) -> str:
    """Why `rel` is not a file this tool writes outside the managed folders ("" when it is one): only
    `tests/unit/orkes/test_async_<module>_adapter.py` and `.conductor-regen/accepted-findings.json`, and
    (given `sdk_root`) through real folders."""
    if rel.startswith("/") or ".." in rel.split("/"):
        return "an absolute path or one through '..' may lead outside the SDK"
    if not (_ADDED_OUTSIDE_FILE.fullmatch(rel) or rel == ACCEPTED_FINDINGS):
        return (f"outside the managed folders this tool only writes "
                f"{ADDED_OUTSIDE_DIR}/test_async_<module>_adapter.py and {ACCEPTED_FINDINGS}")
    if sdk_root is not None:
        folder = sdk_root
        for part in rel.split("/")[:-1]:
            folder = folder / part
            if folder.is_symlink():
                return f"{folder} is a symlink"
    return ""


def record_added_outside(backup: Backup, paths: Iterable[str], remove: bool = False) -> list[str]:
    """Add `paths` to (or, with `remove`, drop them from) the backup's list of files added outside;
    BackupError for a path restore would refuse (so a run never records what its rollback cannot undo)."""
    manifest = load_manifest(backup)
    current = added_outside(manifest)
    wanted = [str(p) for p in paths]
    root = Path(str(manifest.get("sdk_root", ""))) if manifest.get("sdk_root") else None
    for rel in [] if remove else wanted:
        problem = outside_problem(rel, root)
        if problem:
            raise BackupError(f"refusing to add {rel!r} outside the managed folders: {problem}",
                              "replace a symlinked tests folder with a real one, or report this as a bug")
    updated = [p for p in current if p not in wanted] if remove else current + [p for p in wanted if p not in current]
    if updated != current:
        manifest[ADDED_OUTSIDE] = updated
        # Atomic, and before the files exist: whatever a crash leaves, restore knows what to remove.
        atomic_write_json(backup.manifest_path, manifest)
    return updated


def attach(backup: Backup, name: str, data: bytes) -> Path:
    """Store a report file (report.md, report.json, ...) in the backup folder."""
    if "/" in name or name in _RESERVED_FILES or name.startswith(".") or not name:
        raise BackupError(f"cannot attach {name!r} to a backup", "use a plain file name like report.md")
    path = backup.path / name
    atomic_write_bytes(path, data)
    return path


def prune_backups(store: Path, target_name: str, keep: int, sdk_root: Optional[Path] = None) -> list[Backup]:
    """Delete all but the `keep` newest complete backups (and older incomplete ones); return them."""
    if keep < 1:
        raise ConfigError(f"cannot keep {keep} backups", "keep at least 1: the newest backup is never pruned")
    backups = list_backups(store, target_name, sdk_root)
    complete = [b for b in backups if b.complete]
    # A run that never recorded an outcome (killed, or still at work) needs its backup to be
    # undone, until a later run finished on top of it; the newest successful run's backup is
    # what undoing that run restores.
    finished = [b.created for b in complete if b.outcome in ("succeeded", "rolled-back", "failed", "pre-restore")]
    protected = {b.id for b in complete if b.outcome == "pending" and (not finished or b.created > finished[0])}
    protected.update([b.id for b in complete if b.outcome == "succeeded"][:1])
    doomed = [b for b in complete[keep:] if b.id not in protected]
    # An incomplete backup newer than everything may be one being written right now.
    doomed += [b for b in backups[1:] if not b.complete]
    return _delete(doomed)


def _delete(doomed: list[Backup]) -> list[Backup]:
    """Delete backups oldest first; return them."""
    removed: list[Backup] = []
    for backup in sorted(doomed, key=lambda b: (b.created, b.id)):
        try:
            # Manifest first: a deletion cut short then reads as "incomplete", never as valid.
            remove_path(backup.manifest_path)
            remove_path(backup.path)
        except OSError as exc:
            raise BackupError(f"could not delete backup {backup.path}: {exc}", "check permissions") from exc
        log.debug("pruned backup %s", backup.id)
        removed.append(backup)
    return removed


def verify_tree(backup: Backup, target: SdkTarget) -> list[str]:
    """List differences between the backup's manifest and the live managed folders."""
    manifest = load_manifest(backup)
    return compare_files(manifest, target.package_dir)


def verify_backup(backup: Backup) -> list[str]:
    """List differences between the backup's manifest and its own tree (a damaged backup)."""
    return compare_files(load_manifest(backup), backup.tree_dir)


def compare_files(manifest: dict[str, Any], base: Path) -> list[str]:
    """Compare `base/<managed>` against a manifest's digests; one line per difference."""
    names = [str(n) for n in manifest["managed"]]
    try:
        for name in names:
            safe_join(base, name)
        actual = digest_tree(base, names)
    except (OSError, RegenError) as exc:
        return [f"unreadable: {exc}"]
    expected: dict[str, str] = manifest["files"]
    problems = [f"missing: {p}" for p in sorted(expected.keys() - actual.keys())]
    both = expected.keys() & actual.keys()
    problems += [f"changed: {p}" for p in sorted(p for p in both if expected[p] != actual[p])]
    problems += [f"unexpected: {p}" for p in sorted(actual.keys() - expected.keys())]
    absent = {str(n) for n in manifest.get("absent", [])}
    for name in names:
        exists = os.path.lexists(base / name)
        if name in absent and exists:
            problems.append(f"unexpected: {name} (absent at backup time)")
        elif name not in absent and not exists:
            problems.append(f"missing: {name}")
    return problems


# --- restore points and retention ---------------------------------------------------------------
# Backups a restore takes of the tree it replaces; they are never what "undo the last run" goes back to.
SNAPSHOT_OUTCOMES = frozenset({"pre-restore"})
# Manifest key: the pre-restore backup a restore saved when it undid this backup's run.
UNDONE_BY = "undone_by"


def restore_point(store: Path, target_name: str, sdk_root: Optional[Path] = None) -> Backup:
    """The state before the newest run: the newest complete backup not taken by a restore."""
    for backup in list_backups(store, target_name, sdk_root):
        if backup.complete and backup.outcome not in SNAPSHOT_OUTCOMES:
            return backup
    # Only restore snapshots, or nothing at all: get_backup picks the newest or says why there is none.
    return get_backup(store, target_name, None, sdk_root)


def undone_by(backup: Backup) -> str:
    """The pre-restore backup saved when a restore undid this backup's run ('' when never undone)."""
    return str(load_manifest(backup).get(UNDONE_BY, ""))


def mark_undone(backup: Backup, by: Backup) -> None:
    """Record that restoring `backup` replaced the tree saved as `by` (the way forward again)."""
    manifest = load_manifest(backup)
    manifest[UNDONE_BY] = by.id
    atomic_write_json(backup.manifest_path, manifest)


def retain_runs(store: Path, target_name: str, keep_runs: int, sdk_root: Optional[Path] = None) -> list[Backup]:
    """Delete backups older than the `keep_runs`-th newest run backup; 0 keeps everything.

    Everything from that run on is kept (its pre-restore and manual backups too), so the default
    restore point and the way forward from it are never pruned.
    """
    if keep_runs < 0:
        raise ConfigError(f"cannot keep {keep_runs} runs' backups", "use 0 (keep all) or more")
    backups = list_backups(store, target_name, sdk_root)
    runs = [b for b in backups if b.complete and b.outcome not in SNAPSHOT_OUTCOMES | {"manual"}]
    if keep_runs == 0 or len(runs) <= keep_runs:
        return []
    oldest_kept = backups.index(runs[keep_runs - 1])
    keep = set(b.id for b in backups[: oldest_kept + 1])
    try:
        keep.add(restore_point(store, target_name, sdk_root).id)
    except BackupError:
        pass
    removed = _delete([b for b in backups[oldest_kept + 1:] if b.id not in keep])
    if removed:
        log.info("pruned %d old backup(s), keeping the last %d runs (setting backups_keep)", len(removed), keep_runs)
    return removed
