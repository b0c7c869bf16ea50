"""The swap journal: what a swap intended and how far it got, durable across crashes."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Tuple

from conductor_regen.atomic_io import atomic_write_json, fsync_dir
from conductor_regen.errors import SdkError
from conductor_regen.checkout.target import JOURNAL_NAME, SdkTarget

STATUSES = ("swapping", "committed")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# (st_dev, st_ino): renames keep a folder's identity, so after a crash we can tell which
# tree sits where without trusting the recorded state (the crash may precede its update).
Identity = Tuple[int, int]


@dataclass(frozen=True)
class FolderEntry:
    """One managed folder in a swap: its identities before the swap and its progress."""

    name: str
    state: str
    old: Optional[Identity]
    new: Optional[Identity]


@dataclass(frozen=True)
class Journal:
    """A swap in progress (`swapping`) or finished but not yet cleaned up (`committed`)."""

    run_id: str
    status: str
    folders: tuple[FolderEntry, ...]
    started: str

    def with_state(self, name: str, state: str) -> Journal:
        """Return a copy with folder `name` moved to `state`."""
        return replace(
            self, folders=tuple(replace(f, state=state) if f.name == name else f for f in self.folders)
        )

    def with_status(self, status: str) -> Journal:
        """Return a copy with the overall status changed."""
        return replace(self, status=status)


def check_run_id(run_id: str) -> str:
    """Refuse run ids that are not plain folder names (they become paths under the SDK)."""
    if not _RUN_ID.match(run_id):
        raise SdkError(f"invalid run id {run_id!r}", "run ids are letters, digits, '.', '_' and '-'")
    return run_id


def new_run_id() -> str:
    """A run id unique enough for one SDK: UTC time, pid and randomness."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{os.getpid()}-{os.urandom(3).hex()}"


def identity(path: Path) -> Optional[Identity]:
    """The (device, inode) of `path` itself (links not followed), or None if absent."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def journal_path(target: SdkTarget) -> Path:
    """Where `target`'s swap journal lives (beside the managed folders)."""
    return target.package_dir / JOURNAL_NAME


def new_journal(run_id: str, folders: tuple[FolderEntry, ...]) -> Journal:
    """A fresh `swapping` journal with every folder pending."""
    return Journal(
        run_id=check_run_id(run_id),
        status="swapping",
        folders=folders,
        started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _identity_from(value: Any) -> Optional[Identity]:
    if value is None:
        return None
    dev, ino = value
    return (int(dev), int(ino))


def read_journal(target: SdkTarget) -> Optional[Journal]:
    """Load the journal, or None if no swap is outstanding."""
    path = journal_path(target)
    try:
        data = json.loads(path.read_text("utf-8"))
        journal = Journal(
            run_id=check_run_id(str(data["run_id"])),
            status=str(data["status"]),
            started=str(data.get("started", "")),
            folders=tuple(
                FolderEntry(
                    name=str(f["name"]),
                    state=str(f["state"]),
                    old=_identity_from(f.get("old")),
                    new=_identity_from(f.get("new")),
                )
                for f in data["folders"]
            ),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SdkError(
            f"the swap journal {path} is unreadable ({exc})",
            "compare the managed folders with the latest backup by hand, then delete the journal",
        ) from exc
    if journal.status not in STATUSES:
        raise SdkError(
            f"the swap journal {path} has unknown status {journal.status!r}",
            "delete it after checking the SDK by hand",
        )
    return journal


def write_journal(target: SdkTarget, journal: Journal) -> None:
    """Durably replace the journal with `journal`."""
    atomic_write_json(
        journal_path(target),
        {
            "version": 1,
            "run_id": journal.run_id,
            "status": journal.status,
            "started": journal.started,
            "folders": [
                {"name": f.name, "state": f.state, "old": f.old, "new": f.new} for f in journal.folders
            ],
        },
    )


def remove_journal(target: SdkTarget) -> None:
    """Delete the journal (and any temp file a killed write left) once nothing is outstanding."""
    for path in target.package_dir.glob(f".{JOURNAL_NAME}.tmp-*"):
        path.unlink()
    try:
        journal_path(target).unlink()
    except FileNotFoundError:
        return
    fsync_dir(target.package_dir)
