"""Replace the managed folders with staged ones so that an interruption at any instant loses nothing.

Each managed folder is swapped with its staged replacement by an atomic exchange
(Linux renameat2 RENAME_EXCHANGE), so the live path always holds one complete tree.
A journal beside the folders records the (device, inode) of every tree before the
first move; after a crash `recover()` finds each tree by identity and puts the old
ones back, so it never depends on the journal having been updated after a move.

Once a swap is committed the old trees are deleted: from then on the only way back
is the backup taken before the run (`restore`).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

from conductor_regen.atomic_io import fsync_dir, fsync_tree
from conductor_regen.errors import Aborted, RegenError, SdkError
from conductor_regen.file_tree import remove_path
from conductor_regen.checkout.failures import describe
from conductor_regen.checkout.journal import (
    FolderEntry,
    check_run_id,
    identity,
    journal_path,
    new_journal,
    read_journal,
    remove_journal,
    write_journal,
)
from conductor_regen.checkout.signals import deferred, exit_code, label, signal_of
from conductor_regen.checkout.target import SdkTarget, check_no_escape
from conductor_regen.file_tree import safe_join

log = logging.getLogger(__name__)

STAGING_NAME = ".regen-staging"
AT_FDCWD = -100
RENAME_EXCHANGE = 2
# errnos meaning "this kernel/filesystem cannot exchange", as opposed to a real failure.
_UNSUPPORTED = frozenset({errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})

# Forces the three-rename fallback (for filesystems that misreport support, and for tests).
NO_RENAMEAT2_ENV = "REGEN_SWAP_NO_RENAMEAT2"
# Test hook, never set in normal use: "<n>" pauses right after the n-th folder move (before the
# journal records it), "commit" right after the commit is recorded, "first-rename" inside the
# three-rename fallback after its first rename (the live folder is missing then). The process
# writes its pid to REGEN_TEST_PAUSE_MARKER (default: <package_dir>/.regen-test-paused) and
# sleeps until killed, so crash-safety tests can SIGKILL or SIGINT it at the most awkward moment.
PAUSE_ENV = "REGEN_TEST_PAUSE_AFTER_EXCHANGE"
PAUSE_MARKER_ENV = "REGEN_TEST_PAUSE_MARKER"


def _load_renameat2() -> Optional[Callable[..., int]]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        func: Any = libc.renameat2  # glibc >= 2.28
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func  # type: ignore[no-any-return]


_renameat2 = _load_renameat2()


class SwapInterrupted(Aborted):
    """Ctrl-C (or SIGTERM, SIGHUP) during a swap; `committed` says whether the new trees ended up in place."""

    # An interruption, not a declined prompt: an ERROR line and the shell's status for the signal.
    exit_code = 130
    render = RegenError.render

    def __init__(self, message: str, hint: str = "", committed: bool = False, signum: int = 2) -> None:
        super().__init__(message, hint)
        self.committed = committed
        self.signum = signum
        self.exit_code = exit_code(signum)


def _interrupted(exc: BaseException) -> tuple[str, int]:
    """("interrupted" or "interrupted by SIGTERM", the signal): Ctrl-C reads as it always did."""
    signum = signal_of(exc)
    return ("interrupted" if signum == 2 else f"interrupted by {label(signum)}"), signum


@dataclass(frozen=True)
class SwapPlan:
    """The package-relative folders a swap replaces (a folder missing from staging is removed)."""

    folders: tuple[str, ...]


def exchange(a: Path, b: Path, aside: Optional[Path] = None) -> None:
    """Swap two existing paths: atomically via renameat2, else by three renames through `aside`."""
    if _renameat2 is not None and not os.environ.get(NO_RENAMEAT2_ENV):
        if _renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
            return
        err = ctypes.get_errno()
        if err not in _UNSUPPORTED:
            raise OSError(err, os.strerror(err), str(a), None, str(b))
        log.info("atomic exchange unsupported here (%s); falling back to renames", errno.errorcode.get(err, err))
    aside = aside if aside is not None else b.with_name(f".{b.name}.exchange-aside")
    if os.path.lexists(aside):
        raise FileExistsError(errno.EEXIST, "exchange scratch path already exists", str(aside))
    aside.parent.mkdir(parents=True, exist_ok=True)
    # The gap between these renames is what the journal covers: the trees are found by identity.
    os.rename(a, aside)
    _maybe_pause("first-rename", None, a.parent)
    os.rename(b, a)
    os.rename(aside, b)


def staging_root(target: SdkTarget) -> Path:
    """The folder holding every run's staging area (beside the live trees: same filesystem)."""
    return target.package_dir / STAGING_NAME


def staging_dir(target: SdkTarget, run_id: str) -> Path:
    """Where the caller assembles run `run_id`'s new trees, one subfolder per managed name."""
    return staging_root(target) / check_run_id(run_id)


def prepare_staging(target: SdkTarget, run_id: str) -> Path:
    """Create and return an empty staging folder for `run_id`."""
    path = staging_dir(target, run_id)
    path.mkdir(parents=True)
    return path


def discard_staging(target: SdkTarget, run_id: str) -> None:
    """Delete a run's staging folder, unless an outstanding swap of that run still needs it."""
    try:
        journal = read_journal(target)
        outstanding = journal is not None and journal.run_id == run_id
    except SdkError:
        outstanding = True  # an unreadable journal may be this run's; keep what it may need
    if outstanding:
        # After a failed rollback the staging area holds the previous trees: recover() needs them.
        log.warning("keeping %s: the swap of run %s is still outstanding", staging_dir(target, run_id), run_id)
        return
    _remove_staging(target, run_id)


def _remove_staging(target: SdkTarget, run_id: str) -> None:
    # Leftovers are only ever scratch copies: failing to delete one (a read-only folder, say) is
    # worth a warning, never a reason to fail this run or block the next one.
    for path in (staging_dir(target, run_id), _aside_dir(target, run_id)):
        _remove_leftover(path)
    _remove_root_if_empty(target)


def _remove_leftover(path: Path) -> bool:
    try:
        remove_path(path)
    except OSError as exc:
        log.warning("could not remove %s (%s: %s); delete it by hand when convenient",
                    path, exc.strerror or exc, exc.filename or path)
        return False
    return True


def _aside_dir(target: SdkTarget, run_id: str) -> Path:
    return staging_root(target) / f"{check_run_id(run_id)}.aside"


def _remove_root_if_empty(target: SdkTarget) -> None:
    try:
        staging_root(target).rmdir()
    except OSError:
        pass  # missing, or holds another run's leftovers that recover() will take care of


def _places(target: SdkTarget, run_id: str, name: str) -> tuple[Path, Path, Path, Path]:
    """Every path a folder's trees can be at during a swap or its rollback."""
    aside = _aside_dir(target, run_id) / name
    return (
        target.package_dir / name,
        staging_dir(target, run_id) / name,
        aside,
        aside.with_name(aside.name + ".rollback"),
    )


def _sync_parents(*paths: Path) -> None:
    for parent in {p.parent for p in paths}:
        if parent.exists():
            fsync_dir(parent)


def _maybe_pause(point: str, target: Optional[SdkTarget], folder: Optional[Path] = None) -> None:
    if os.environ.get(PAUSE_ENV) != point:
        return
    del os.environ[PAUSE_ENV]  # once per process: the rollback's own swap must not pause again
    where = target.package_dir if target is not None else folder or Path.cwd()
    marker = Path(os.environ.get(PAUSE_MARKER_ENV) or where / ".regen-test-paused")
    marker.write_text(str(os.getpid()))
    while True:
        time.sleep(60)


def _plan_entries(target: SdkTarget, staging: Path, run_id: str, names: Iterable[str]) -> tuple[FolderEntry, ...]:
    entries: list[FolderEntry] = []
    for name in names:
        live, staged, _, _ = _places(target, run_id, name)
        for path in (live, staged):
            if path.is_symlink():
                raise SdkError(f"{path} is a symlink", "swapped folders must be real folders inside the SDK")
        safe_join(target.package_dir, name)
        safe_join(staging, name)
        check_no_escape(target, live)
        old, new = identity(live), identity(staged)
        if old is not None and new is not None and old[0] != new[0]:
            raise SdkError(
                f"{staged} is on a different filesystem than {live}",
                "the staging folder must live inside the SDK package folder",
            )
        if old is None and new is None:
            continue
        entries.append(FolderEntry(name=name, state="pending", old=old, new=new))
    return tuple(entries)


def _move_in(target: SdkTarget, run_id: str, entry: FolderEntry) -> None:
    live, staged, aside, _ = _places(target, run_id, entry.name)
    if entry.old is not None and entry.new is not None:
        exchange(live, staged, aside)
    elif entry.new is not None:
        live.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staged, live)
    else:
        staged.parent.mkdir(parents=True, exist_ok=True)
        os.rename(live, staged)
    _sync_parents(live, staged)


def apply_swap(
    target: SdkTarget, staging: Path, run_id: str, folders: Union[SwapPlan, Iterable[str]]
) -> None:
    """Swap each folder in `folders` with `staging/<folder>` under a journal, then delete the old trees."""
    names = tuple(folders.folders if isinstance(folders, SwapPlan) else folders)
    expected = staging_dir(target, run_id)
    if Path(staging).resolve() != expected.resolve():
        raise SdkError(
            f"staging folder {staging} is not {expected}", "assemble new trees in staging_dir(target, run_id)"
        )
    if read_journal(target) is not None:
        raise SdkError(
            f"an interrupted swap is still recorded in {journal_path(target)}",
            "run recovery first (regenerate and restore do this automatically)",
        )
    entries = _plan_entries(target, expected, run_id, names)
    # The old trees are deleted once the swap commits: the new ones must be on disk before that,
    # or a power loss could leave empty live files and no journal to notice (see docs/regenerate.md).
    for entry in entries:
        if entry.new is not None:
            fsync_tree(expected / entry.name)
    journal = new_journal(run_id, entries)
    try:
        write_journal(target, journal)
        for number, entry in enumerate(entries, start=1):
            _move_in(target, run_id, entry)
            _maybe_pause(str(number), target)
            journal = journal.with_state(entry.name, "exchanged")
            write_journal(target, journal)
        write_journal(target, journal.with_status("committed"))
    except BaseException as exc:
        _undo_after_failure(target, exc)
        raise
    log.info("swapped %s in %s", ", ".join(e.name for e in entries) or "nothing", target.package_dir)
    try:
        _maybe_pause("commit", target)
        _finish(target, run_id)
    except KeyboardInterrupt as exc:
        what, signum = _interrupted(exc)
        raise SwapInterrupted(
            f"{what} while deleting the replaced trees; the new tree is in place",
            "the next run removes the leftovers; restore the backup if you did not want the new tree",
            committed=True, signum=signum,
        ) from exc
    except OSError as exc:
        log.warning("swap done, but cleaning up %s failed (%s); the next run retries", expected, exc)


def _undo_after_failure(target: SdkTarget, exc: BaseException) -> None:
    """Recover after a swap failed part way, then raise the error the caller should see."""
    try:
        # Whole, whatever signal arrives meanwhile (a second Ctrl-C, a CI runner's SIGTERM).
        with deferred(act=False):
            outcome = _recover(target)
    except KeyboardInterrupt as again:
        raise SwapInterrupted(
            "interrupted again while undoing an interrupted swap",
            f"the journal {journal_path(target)} is kept; the next run finishes the recovery",
        ) from again
    except Exception as failed:
        raise SdkError(
            f"the swap failed ({describe(exc)}), and undoing it failed too ({describe(failed)})",
            f"the journal {journal_path(target)} is kept; the next run retries, or restore the latest backup",
        ) from exc
    forward = outcome is not None and outcome[0] == "forward"
    state = "the new tree is in place" if forward else "the previous tree was put back"
    if isinstance(exc, KeyboardInterrupt):
        what, signum = _interrupted(exc)
        raise SwapInterrupted(f"{what} during the swap; {state}", "run again when ready", committed=forward,
                              signum=signum) from exc
    if isinstance(exc, RegenError):
        return  # the caller re-raises it unchanged
    if isinstance(exc, OSError):
        raise SdkError(f"the swap failed: {describe(exc)}; {state}",
                       "check permissions and free space, then run again") from exc


def _finish(target: SdkTarget, run_id: str) -> None:
    """Delete a committed run's replaced trees, then its journal (in that order: crash-safe)."""
    _remove_staging(target, run_id)
    remove_journal(target)


def _locate(places: tuple[Path, ...], ident: Any) -> Optional[Path]:
    for place in places:
        if identity(place) == ident:
            return place
    return None


def _roll_back_one(target: SdkTarget, run_id: str, entry: FolderEntry) -> bool:
    """Put folder `entry` back as it was before the swap; True if anything moved."""
    places = _places(target, run_id, entry.name)
    live, staged, aside, spare = places
    now = identity(live)
    hint = "compare it with the latest backup and restore that backup"
    if entry.old is not None:
        if now == entry.old:
            return False
        old_at = _locate(places, entry.old)
        if old_at is None:
            raise SdkError(f"cannot find the previous {entry.name} tree of run {run_id}", hint)
        if now is None:
            os.rename(old_at, live)
        elif now == entry.new:
            exchange(live, old_at, spare if old_at == aside else aside)
        else:
            raise SdkError(f"{live} holds neither the previous nor the new tree of run {run_id}", hint)
    else:
        if now is None:
            return False
        if now != entry.new:
            raise SdkError(f"{live} holds neither the previous nor the new tree of run {run_id}", hint)
        free = next((p for p in (staged, aside, spare) if not os.path.lexists(p)), None)
        if free is None:
            raise SdkError(f"no free place to move the new {entry.name} tree out of the way", hint)
        free.parent.mkdir(parents=True, exist_ok=True)
        os.rename(live, free)
    _sync_parents(*places)
    return True


def _recover(target: SdkTarget) -> Optional[tuple[str, str]]:
    journal = read_journal(target)
    if journal is None:
        root = staging_root(target)
        if root.exists():
            if _remove_leftover(root):
                return ("cleanup", f"removed staging left by an interrupted run in {root}")
            return ("cleanup", f"could not remove the staging left by an interrupted run in {root}; it is harmless")
        return None
    if journal.status == "committed":
        _finish(target, journal.run_id)
        _remove_leftover(staging_root(target))
        return ("forward", f"finished cleaning up run {journal.run_id}; its new tree was already in place")
    moved = [e.name for e in reversed(journal.folders) if _roll_back_one(target, journal.run_id, e)]
    _finish(target, journal.run_id)
    _remove_leftover(staging_root(target))
    what = f"put back {', '.join(reversed(moved))}" if moved else "nothing had been swapped yet"
    return ("back", f"rolled back interrupted run {journal.run_id}: {what}")


def recover(target: SdkTarget) -> Optional[str]:
    """Finish or undo a swap a crash left behind; call it (under the lock) before any run or restore."""
    outcome = _recover(target)
    if outcome is None:
        return None
    log.warning("%s", outcome[1])
    return outcome[1]
