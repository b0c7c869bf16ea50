"""`invoke backup`, `backups`, `prune-backups` and `restore`: the backup store's commands, each under the run
lock and after recovery, like every writer; restore also finishes an interrupted run first."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Optional, Tuple

from conductor_regen.checkout.backups import Backup, create_backup, prune_backups, retain_runs, set_outcome
from conductor_regen.checkout.restore import restore_backup
from conductor_regen.checkout.target import SdkTarget
from conductor_regen.checkout.work_dirs import sweep_work_dirs
from conductor_regen.commands.transaction import locked_sdk
from conductor_regen.config import Settings
from conductor_regen.errors import Aborted, BackupError
from conductor_regen.generator.provenance import IN_SDK, read_provenance


def backup_sdk(target: SdkTarget, settings: Settings) -> tuple[Backup, Optional[str]]:
    """Back up the managed folders on their own; returns the backup and what recovery did, if anything."""
    # Under the lock and after recovery (locked_sdk), so the backup never records a half-swapped tree as complete.
    with locked_sdk(target) as recovered:
        prov = read_provenance(target.http_dir / IN_SDK)
        made = create_backup(settings.backups_dir, target, prov.spec_version if prov else "manual")
        return set_outcome(made, "manual"), recovered


def prune_sdk(target: SdkTarget, settings: Settings, keep: int, moved: bool = False) -> List[Backup]:
    """Prune this checkout's backups under the lock: a running job's rollback backup is never deleted."""
    with locked_sdk(target):
        root: Optional[Path] = None if moved else target.root
        return prune_backups(settings.backups_dir, target.name, keep, root)


def list_sdk_backups(target: SdkTarget, settings: Settings, moved: bool = False) -> Tuple[List[Backup], str]:
    """`invoke backups`: this checkout's backups, oldest first, and the id `invoke restore` goes back to ("" if none)."""
    from conductor_regen.checkout.backups import list_backups, restore_point

    root: Optional[Path] = None if moved else target.root
    found = list_backups(settings.backups_dir, target.name, root)
    if not found:
        return found, ""
    try:
        return found, restore_point(settings.backups_dir, target.name, root).id
    except BackupError:
        return found, ""


def restore_sdk(target: SdkTarget, settings: Settings, backup_id: Optional[str],
                ask: Callable[[str], bool], moved: bool = False) -> List[str]:
    """`invoke restore`: finish an interrupted run, then undo the last run (or restore --backup ID) and verify."""
    from conductor_regen.checkout.backups import get_backup, mark_undone, restore_point, undone_by, verify_tree
    from conductor_regen.checkout.restore import outside_leftovers, touched_outside

    lines: List[str] = []
    with locked_sdk(target) as recovered:
        if recovered:
            lines.append(recovered)
        sweep_work_dirs(settings.cache_dir)
        try:
            root = None if moved else target.root
            chosen = (get_backup(settings.backups_dir, target.name, backup_id, root) if backup_id
                      else restore_point(settings.backups_dir, target.name, root))
        except BackupError as exc:
            if recovered and backup_id is None:
                # The interrupted run never got as far as a backup, so it never touched the tree.
                raise BackupError(exc.message, f"{recovered}; the tree is as it was, nothing needs restoring") \
                    from exc
            raise
        # A manifest naming what this tool never writes is refused before anything, the pre-restore backup included.
        touched = touched_outside(target, chosen)
        if not verify_tree(chosen, target) and not outside_leftovers(target, chosen):
            # Restoring again would only flip back and forth: a second restore undoes nothing.
            forward = undone_by(chosen)
            lines.append(f"nothing to restore: the tree already matches backup {chosen.id}"
                         + (" (the state before the last run)" if backup_id is None else ""))
            if forward:
                lines.append(f"to go forward again: invoke restore --backup {forward}")
            return lines
        if not ask(f"{', '.join(target.managed)} of {target.root} from backup {chosen.id}"):
            raise Aborted("restore declined; nothing was changed", "pass --yes to skip the question")
        # The live tree may hold work nobody saved: keep it too, so a restore never loses anything,
        # including the files outside the managed folders it is about to remove or overwrite.
        current = set_outcome(create_backup(settings.backups_dir, target, "pre-restore", outside=touched),
                              "pre-restore")
        lines.append(f"saved the current tree as backup {current.id} (go forward again with --backup {current.id})")
        result = restore_backup(target, chosen, settings.backups_dir, moved=moved)
        mark_undone(chosen, current)
        retain_runs(settings.backups_dir, target.name, settings.backups_keep, root)
    lines.append(f"restored backup {result.backup_id}: {result.restored} files put back "
                 f"({result.changed} changed or missing), {result.removed} added file(s) removed; "
                 "verified against its manifest")
    if result.removed_outside:
        lines.append(f"removed {len(result.removed_outside)} file(s) the run had added outside the managed "
                     f"folders: {', '.join(result.removed_outside)}")
    if result.put_back_outside:
        lines.append(f"put back {len(result.put_back_outside)} file(s) outside the managed folders as the backup "
                     f"saved them: {', '.join(result.put_back_outside)}")
    return lines
