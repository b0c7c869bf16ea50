"""`invoke backup` and `invoke prune-backups`: under the run lock, after recovery, like every writer."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

from conductor_regen.commands.transaction import locked_sdk
from conductor_regen.config import Settings
from conductor_regen.generator.provenance import IN_SDK, read_provenance
from conductor_regen.checkout.backups import Backup, create_backup, prune_backups, set_outcome
from conductor_regen.checkout.target import SdkTarget


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
    from conductor_regen.errors import BackupError
    from conductor_regen.checkout.backups import list_backups, restore_point

    root: Optional[Path] = None if moved else target.root
    found = list_backups(settings.backups_dir, target.name, root)
    if not found:
        return found, ""
    try:
        return found, restore_point(settings.backups_dir, target.name, root).id
    except BackupError:
        return found, ""
