"""Put the managed folders back exactly as a backup recorded them, through the same crash-safe swap."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conductor_regen.atomic_io import atomic_write_bytes
from conductor_regen.sdk.backups import (
    OUTSIDE_TREE,
    Backup,
    added_outside,
    compare_files,
    load_manifest,
    saved_outside,
    verify_backup,
    verify_tree,
)
from conductor_regen.errors import BackupError, RegenError
from conductor_regen.file_tree import copy_entry, digest_entry, digest_tree
from conductor_regen.sdk.journal import new_run_id
from conductor_regen.sdk.target import SdkTarget, check_disk_space, safe_join
from conductor_regen.sdk.swap import apply_swap, discard_staging, prepare_staging

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did: files put back, of which changed or missing, and files removed."""

    backup_id: str
    folders: tuple[str, ...]
    restored: int
    changed: int
    removed: int
    removed_outside: tuple[str, ...] = ()  # files the run had added outside the managed folders
    put_back_outside: tuple[str, ...] = ()  # files outside the managed folders the backup had saved


def _problems_line(problems: list[str]) -> str:
    return "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")


def restore_backup(target: SdkTarget, backup: Backup, store: Path, moved: bool = False) -> RestoreResult:
    """Replace the managed folders with the backup's copies; call under sdk_lock after recover().

    The backup must have been taken from this checkout's resolved path, unless `moved` says
    the checkout was moved since (another checkout may share the folder name).
    """
    store_dir = Path(store).resolve() / target.name
    if backup.path.resolve().parent != store_dir:
        raise BackupError(
            f"backup {backup.id} is not a backup of {target.name} in {store}",
            "pick one listed for this SDK",
        )
    manifest = load_manifest(backup)
    recorded = str(manifest.get("sdk_root", ""))
    if not moved and recorded != str(target.root):
        raise BackupError(
            f"backup {backup.id} was taken from {recorded or 'an unknown checkout'}, not {target.root}",
            "pick a backup of this checkout; pass --moved only if this checkout was moved from there",
        )
    names = tuple(str(n) for n in manifest["managed"])
    for name in names:
        safe_join(target.package_dir, name)
    outside = _outside_paths(target, added_outside(manifest))
    saved = saved_outside(manifest)
    saved_paths = _outside_paths(target, list(saved))
    damaged = verify_backup(backup) + [
        f"changed: {OUTSIDE_TREE}/{rel}" for rel, digest in saved.items()
        if not (backup.path / OUTSIDE_TREE / rel).is_file() or digest_entry(backup.path / OUTSIDE_TREE / rel) != digest
    ]
    if damaged:
        raise BackupError(f"backup {backup.id} is damaged: {_problems_line(damaged)}", "restore an older backup")

    expected: dict[str, str] = manifest["files"]
    live = digest_tree(target.package_dir, names)
    changed = sum(1 for path, digest in expected.items() if live.get(path) != digest)
    removed = len(live.keys() - expected.keys())

    check_disk_space(target.package_dir, int(manifest.get("size_bytes", 0)) + 1024 * 1024)
    run_id = new_run_id()
    staging = prepare_staging(target, run_id)
    try:
        for name in names:
            source = backup.tree_dir / name
            if os.path.lexists(source):
                copy_entry(source, staging / name)
        staged_problems = compare_files(manifest, staging)
        if staged_problems:
            raise BackupError(
                f"copying backup {backup.id} failed verification: {_problems_line(staged_problems)}",
                "check the disk, then run the restore again",
            )
        apply_swap(target, staging, run_id, names)
    except BaseException:
        discard_staging(target, run_id)  # keeps it if an outstanding swap still needs it
        raise

    problems = verify_tree(backup, target)
    if problems:
        raise BackupError(
            f"the restored tree does not match backup {backup.id}: {_problems_line(problems)}",
            "run the restore again; if it persists, copy the backup's tree/ folder back by hand",
        )
    gone = _remove_outside(outside)
    back = _put_back_outside(backup, saved, saved_paths)
    log.info("restored %d files from backup %s (%d changed, %d removed)", len(expected), backup.id, changed, removed)
    return RestoreResult(
        backup_id=backup.id, folders=names, restored=len(expected), changed=changed, removed=removed,
        removed_outside=gone, put_back_outside=back,
    )


def _put_back_outside(backup: Backup, saved: dict[str, str], paths: list[tuple[str, Path]]) -> tuple[str, ...]:
    """Write back the files outside the managed folders the backup saved (atomically, never through a link)."""
    back: list[str] = []
    for rel, path in paths:
        if path.is_symlink() or (path.exists() and not path.is_file()):
            log.warning("not putting back %s: something else is there now", rel)
            continue
        if path.is_file() and digest_entry(path) == saved[rel]:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, (backup.path / OUTSIDE_TREE / rel).read_bytes())
        back.append(rel)
        log.info("put back %s", rel)
    return tuple(back)


def touched_outside(target: SdkTarget, manifest: dict[str, Any]) -> list[str]:
    """The SDK-root-relative files outside the managed folders restoring this manifest removes or
    overwrites; BackupError if the manifest names one outside the SDK."""
    listed = added_outside(manifest) + list(saved_outside(manifest))
    return [rel for rel, _ in _outside_paths(target, listed)]


def _outside_paths(target: SdkTarget, listed: list[str]) -> list[tuple[str, Path]]:
    """Resolve the manifest's added-outside names inside the SDK root; refuse the backup if one escapes."""
    out: list[tuple[str, Path]] = []
    managed = target.managed_paths()
    for rel in listed:
        parent, _, name = rel.rpartition("/")
        try:
            # The file itself is never followed (it is unlinked, not opened), only its folder.
            folder = safe_join(target.root, parent) if parent else target.root
        except RegenError as exc:
            raise BackupError(f"backup lists an added file outside the SDK: {rel!r}", "choose another backup") from exc
        # Nothing this tool writes lives in git's own folder: a manifest naming it is not ours.
        if not name or name in (".", "..") or "\\" in name or ".git" in rel.split("/"):
            raise BackupError(f"backup lists an added file with a bad name: {rel!r}", "choose another backup")
        path = folder / name
        if any(path == m or m in path.parents for m in managed):
            continue  # the swap has already put the managed folders back
        out.append((rel, path))
    return out


def _remove_outside(outside: list[tuple[str, Path]]) -> tuple[str, ...]:
    """Delete the files a run added outside the managed folders, if they are still there."""
    gone: list[str] = []
    for rel, path in outside:
        if path.is_symlink() or path.is_file():
            path.unlink()
            gone.append(rel)
            log.info("removed %s (added by the run)", rel)
        elif os.path.lexists(path):
            log.warning("not removing %s: it is no longer a file", rel)
    return tuple(gone)


def outside_leftovers(target: SdkTarget, backup: Backup) -> tuple[str, ...]:
    """Files the backup's run added outside the managed folders that are still there."""
    listed = _outside_paths(target, added_outside(load_manifest(backup)))
    return tuple(rel for rel, path in listed if os.path.lexists(path))
