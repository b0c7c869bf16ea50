"""Backups belong to a checkout by its resolved path, not its folder name.

Two checkouts both named conductor-python share a folder in a shared backup store (and would share the
per-user one if it were keyed by name alone): one must never list, pick, restore or judge against the
other's backups, unless `--moved` says it is that checkout moved. `config_sources.checkout_key`,
`checkout/backups.py` selection, `checkout/restore.py`, and the `backups`/`restore` commands on two real fake SDKs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import pytest
from support.fake_sdk import NEW_HTTP, git_commit_all, make_sdk, snapshot, target_of, write_files
from support.sdk_copies import settings_for

from conductor_regen.commands.backup_store import list_sdk_backups
from conductor_regen.commands.backup_store import restore_sdk
from conductor_regen.config_sources import checkout_key, default_backups_dir
from conductor_regen.errors import BackupError
from conductor_regen.matrix.pristine import find_pristine
from conductor_regen.checkout.backups import Backup, create_backup, get_backup, list_backups, restore_point
from conductor_regen.checkout.restore import restore_backup
from conductor_regen.checkout.target import SdkTarget

Pair = Tuple[SdkTarget, SdkTarget]


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    """Two checkouts with the same folder name in different places: (the one backed up, the other)."""
    first, second = (target_of(make_sdk(tmp_path / where)) for where in ("work", "review"))
    assert first.name == second.name == "conductor-python"
    return first, second


@pytest.fixture
def backup(pair: Pair, store: Path) -> Backup:
    """A backup of the first checkout in the shared store."""
    return create_backup(store, pair[0], "v1")


def always(_what: str) -> bool:
    return True


# --- where a checkout's backups go ---------------------------------------------------------------------

def test_checkouts_with_one_folder_name_get_different_keys(pair: Pair) -> None:
    first, second = pair
    assert checkout_key(first.root) != checkout_key(second.root)
    assert checkout_key(first.root).startswith("conductor-python-")


def test_a_checkout_reached_another_way_keeps_its_key(pair: Pair, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(pair[0].root)
    assert checkout_key(link) == checkout_key(pair[0].root)


def test_without_a_repository_each_checkout_has_its_own_store(pair: Pair) -> None:
    first, second = pair
    assert default_backups_dir(None, first.root) != default_backups_dir(None, second.root)


# --- selecting from a shared store ----------------------------------------------------------------------

def test_the_other_checkout_lists_none_of_them(pair: Pair, store: Path, backup: Backup) -> None:
    first, second = pair
    assert [b.id for b in list_backups(store, first.name, first.root)] == [backup.id]
    assert list_backups(store, second.name, second.root) == []


def test_the_other_checkout_has_no_restore_point_and_is_told_of_moved(pair: Pair, store: Path,
                                                                      backup: Backup) -> None:
    with pytest.raises(BackupError, match="no complete backup") as caught:
        restore_point(store, pair[1].name, pair[1].root)
    assert "--moved" in caught.value.hint


def test_the_other_checkout_cannot_pick_one_by_id(pair: Pair, store: Path, backup: Backup) -> None:
    with pytest.raises(BackupError, match="was taken from another checkout named conductor-python"):
        get_backup(store, pair[1].name, backup.id, pair[1].root)


def test_moved_lists_them(pair: Pair, store: Path, backup: Backup) -> None:
    assert [b.id for b in list_backups(store, pair[1].name, None)] == [backup.id]


def test_the_other_checkout_does_not_judge_against_them(pair: Pair, store: Path, backup: Backup) -> None:
    pristine = find_pristine(pair[0], store)
    assert pristine is not None and pristine.source == f"backup {backup.id}"
    other = find_pristine(pair[1], store)
    assert other is None or other.source.startswith("git HEAD"), other


# --- restoring --------------------------------------------------------------------------------------------

def test_restoring_anothers_backup_is_refused_and_changes_nothing(pair: Pair, store: Path, backup: Backup) -> None:
    second = pair[1]
    write_files(second.package_dir, NEW_HTTP)
    before = snapshot(second.root)
    with pytest.raises(BackupError, match=f"backup {backup.id} was taken from {pair[0].root}, not {second.root}"):
        restore_backup(second, backup, store)
    assert snapshot(second.root) == before


def test_moved_restores_it(pair: Pair, store: Path, backup: Backup) -> None:
    first, second = pair
    write_files(second.package_dir, NEW_HTTP)
    restore_backup(second, backup, store, moved=True)
    assert snapshot(second.package_dir) == snapshot(first.package_dir)


def test_the_commands_of_the_other_checkout_see_nothing_to_list_or_restore(pair: Pair, store: Path, tmp_path: Path,
                                                                         backup: Backup) -> None:
    second = pair[1]
    settings = settings_for(second.root, store, tmp_path / "cache")
    assert list_sdk_backups(second, settings) == ([], "")
    write_files(second.package_dir, NEW_HTTP)
    before = snapshot(second.root)
    with pytest.raises(BackupError, match="no complete backup"):
        restore_sdk(second, settings, None, always)
    assert snapshot(second.root) == before


def test_the_restore_command_with_moved_uses_them(pair: Pair, store: Path, tmp_path: Path, backup: Backup) -> None:
    first, second = pair
    settings = settings_for(second.root, store, tmp_path / "cache")
    write_files(second.package_dir, NEW_HTTP)
    lines = restore_sdk(second, settings, None, always, moved=True)
    assert any(line.startswith(f"restored backup {backup.id}") for line in lines), lines
    assert snapshot(second.package_dir) == snapshot(first.package_dir)


def test_two_worktrees_of_one_tree_have_one_pristine_fingerprint(tmp_path: Path) -> None:
    # A drift run works in a git worktree, new each night: its `.git` file names that worktree, not the SDK, so
    # last night's cached baseline (keyed by this fingerprint) must still match.
    fingerprints = []
    for night in ("one", "two"):
        target = target_of(make_sdk(tmp_path / night))
        (target.root / ".git").write_text(f"gitdir: /repo/.git/worktrees/{night}\n")
        backup = create_backup(tmp_path / night / "store", target, "v2")
        pristine = find_pristine(target, tmp_path / night / "store")
        assert pristine is not None and pristine.source == f"backup {backup.id}"
        fingerprints.append(pristine.fingerprint)
    assert fingerprints[0] == fingerprints[1]
    (target.root / "README.md").write_text("edited\n")  # ... while the SDK's own files still count
    edited = find_pristine(target, tmp_path / "two" / "store")
    assert edited is not None and edited.fingerprint != fingerprints[1]


def test_a_runs_lock_and_journal_are_not_the_pristine_trees_content(tmp_path: Path) -> None:
    # The gate asks for the pristine tree while its run holds the lock (its pid and start time inside): were
    # they content, no run's cached contract or lint baseline would ever be found again.
    target = target_of(make_sdk(tmp_path))
    store = tmp_path / "store"
    create_backup(store, target, "v2")
    quiet = find_pristine(target, store)
    (target.package_dir / ".regen.lock").write_text('{"pid": 4242, "started": "2026-12-06T18:00:00Z"}\n')
    (target.package_dir / ".regen-journal.json").write_text("{}\n")
    during = find_pristine(target, store)
    assert quiet is not None and during is not None and during.fingerprint == quiet.fingerprint
    assert not [rel for rel, _ in during.files if ".regen" in rel]
    (target.package_dir / "settings.py").write_text("EDITED = True\n")  # the package's own files still count
    edited = find_pristine(target, store)
    assert edited is not None and edited.fingerprint != quiet.fingerprint


def test_a_committed_link_out_of_the_tree_is_one_error_not_a_traceback(tmp_path: Path) -> None:
    from conductor_regen.errors import RegenError

    root = make_sdk(tmp_path, git=True)
    (root / "src" / "zero.bin").symlink_to("/dev/zero")
    git_commit_all(root)
    pristine = find_pristine(target_of(root), tmp_path / "store")  # no backup: git HEAD
    assert pristine is not None and pristine.source.startswith("git HEAD")
    with pytest.raises(RegenError, match="is a link to an absolute path") as err:
        pristine.materialize(tmp_path / "copy")
    assert "--absolute" in err.value.hint
    assert not (tmp_path / "copy" / "src" / "zero.bin").exists()
