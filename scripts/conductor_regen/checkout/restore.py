"""Put the managed folders back exactly as a backup recorded them, through the same crash-safe swap."""

from __future__ import annotations

import logging
import os
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conductor_regen.atomic_io import atomic_write_bytes
from conductor_regen.checkout.backups import (
    ACCEPTED_FINDINGS,
    ADDED_OUTSIDE,
    OUTSIDE_TREE,
    SAVED_OUTSIDE,
    Backup,
    added_outside,
    compare_files,
    load_manifest,
    outside_problem,
    saved_outside,
    verify_backup,
    verify_tree,
)
from conductor_regen.errors import BackupError
from conductor_regen.file_tree import copy_entry, digest_entry, digest_tree, iter_entries
from conductor_regen.checkout.journal import new_run_id
from conductor_regen.checkout.target import SdkTarget, check_disk_space
from conductor_regen.checkout.swap import apply_swap, discard_staging, prepare_staging

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
    # Both sides resolved: the store, or the SDK's folder in it, may be a symlink (create_backup follows it too).
    store_dir = (Path(store) / target.name).resolve()
    if backup.path.resolve().parent != store_dir:
        raise BackupError(
            f"backup {backup.id} is not a backup of {target.name} in {store}",
            "pick one listed for this SDK",
        )
    manifest = trusted_manifest(target, backup)
    recorded = str(manifest.get("sdk_root", ""))
    if not moved and recorded != str(target.root):
        raise BackupError(
            f"backup {backup.id} was taken from {recorded or 'an unknown checkout'}, not {target.root}",
            "pick a backup of this checkout; pass --moved only if this checkout was moved from there",
        )
    names = tuple(str(n) for n in manifest["managed"])
    outside = _outside_paths(target, added_outside(manifest))
    saved = saved_outside(manifest)
    saved_paths = _outside_paths(target, list(saved))
    damaged = verify_backup(backup) + [
        f"changed: {OUTSIDE_TREE}/{rel}" for rel, digest in saved.items()
        if not _is_regular(backup.path / OUTSIDE_TREE / rel)
        or digest_entry(backup.path / OUTSIDE_TREE / rel) != digest
    ] + _escaping_links(target, backup, names)
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


def trusted_manifest(target: SdkTarget, backup: Backup) -> dict[str, Any]:
    """The backup's manifest, refused (BackupError naming the backup and the entry) if it names anything
    this tool never writes: a managed folder the SDK's layout does not have, or a file outside the
    managed folders other than a scaffolded adapter test or `.conductor-regen/accepted-findings.json`
    (`regenerate --accept` rewrites it), reached through real folders. Hashes do not matter: they say a
    backup is intact, not that it is ours."""
    manifest = load_manifest(backup)
    hint = (f"its manifest {backup.manifest_path} is damaged or was edited; nothing was changed: restore "
            "another backup (`invoke backups` lists them) or delete this one")

    def refuse(key: str, entry: object, why: str) -> BackupError:
        return BackupError(f"backup {backup.id} lists {key} entry {entry!r}, which this tool never writes: {why}",
                           hint)

    seen: set[str] = set()
    for name in manifest["managed"]:
        if not isinstance(name, str) or name not in target.managed:
            raise refuse("managed", name, f"this SDK's managed folders are {', '.join(target.managed)} (sdk.managed)")
        if name in seen:
            raise refuse("managed", name, "it is listed twice")
        seen.add(name)
    if not isinstance(manifest.get("size_bytes", 0), int):
        raise refuse("size_bytes", manifest.get("size_bytes"), "not a number of bytes")
    try:
        listed = [(ADDED_OUTSIDE, rel) for rel in added_outside(manifest)]
        listed += [(SAVED_OUTSIDE, rel) for rel in saved_outside(manifest)]
    except BackupError as exc:
        raise BackupError(f"backup {backup.id}: {exc.message}", hint) from exc
    for key, rel in listed:
        problem = outside_problem(rel, target.root)
        if problem:
            raise refuse(key, rel, problem)
    return manifest


def _is_regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _escaping_links(target: SdkTarget, backup: Backup, names: tuple[str, ...]) -> list[str]:
    """The backup's links that would be a managed folder or lead out of the SDK once restored
    (the one symlink policy: create_backup never keeps such a link)."""
    root = target.root.resolve()
    bad: list[str] = []
    for name in names:
        top = backup.tree_dir / name
        if top.is_symlink():
            bad.append(f"link: {name} -> {os.readlink(top)}")
            continue
        links = [(f"{name}/{rel}", p) for rel, p in iter_entries(top) if p.is_symlink()] if top.is_dir() else []
        for rel, link in links:
            try:
                lands = ((target.package_dir / rel).parent / os.readlink(link)).resolve()
            except (OSError, RuntimeError):  # a loop
                lands = Path("/")
            if lands != root and root not in lands.parents:
                bad.append(f"link: {rel} -> {os.readlink(link)}")
    return bad


def touched_outside(target: SdkTarget, backup: Backup) -> list[str]:
    """The SDK-root-relative files outside the managed folders restoring `backup` removes or overwrites;
    BackupError if its manifest names one this tool never writes (see trusted_manifest)."""
    manifest = trusted_manifest(target, backup)
    listed = added_outside(manifest) + list(saved_outside(manifest))
    return [rel for rel, _ in _outside_paths(target, listed)]


def _outside_paths(target: SdkTarget, listed: list[str]) -> list[tuple[str, Path]]:
    """The files of a trusted manifest's outside lists (see trusted_manifest), as paths in the SDK."""
    out: list[tuple[str, Path]] = []
    managed = target.managed_paths()
    for rel in listed:
        path = target.root.joinpath(*rel.split("/"))  # a plain name through real folders: trusted_manifest
        if any(path == m or m in path.parents for m in managed):
            continue  # the swap has already put the managed folders back
        out.append((rel, path))
    return out


def _remove_outside(outside: list[tuple[str, Path]]) -> tuple[str, ...]:
    """Delete the files a run added outside the managed folders, if they are still regular files."""
    gone: list[str] = []
    for rel, path in outside:
        if _is_regular(path):
            path.unlink()
            gone.append(rel)
            log.info("removed %s (added by the run)", rel)
            if rel == ACCEPTED_FINDINGS:
                # The run made .conductor-regen/ for it unless the SDK had one: an empty one goes too.
                with suppress(OSError):
                    path.parent.rmdir()
        elif os.path.lexists(path):
            log.warning("not removing %s: it is no longer a regular file", rel)
    return tuple(gone)


def outside_leftovers(target: SdkTarget, backup: Backup) -> tuple[str, ...]:
    """Files outside the managed folders a restore of `backup` would still change: those its run added that
    are still there, and those it saved that are missing or differ from the saved copy (as _put_back_outside)."""
    manifest = trusted_manifest(target, backup)
    added = _outside_paths(target, added_outside(manifest))
    saved = saved_outside(manifest)
    return tuple([rel for rel, path in added if os.path.lexists(path)] + [
        rel for rel, path in _outside_paths(target, list(saved))
        if not os.path.lexists(path) or (_is_regular(path) and digest_entry(path) != saved[rel])])
