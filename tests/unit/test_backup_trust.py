"""A backup's manifest is checked, never trusted: restore writes, moves and deletes only in the managed
folders of the SDK's layout and the adapter tests this tool scaffolds, whatever the manifest and its hashes say.

Real fake-SDK trees and real backups made by create_backup, then their manifest.json edited the way an
attacker would. Every refusal leaves the whole checkout byte for byte as it was. The store (or the SDK's
folder in it) may be a symlink: backup and restore both follow it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, List

import pytest
from support.fake_sdk import NEW_HTTP, Snapshot, snapshot, write_files
from support.sdk_copies import settings_for

from conductor_regen.commands.backup_store import restore_sdk
from conductor_regen.compat.scaffold.adapter_tests import ADAPTER_TESTS_DIR
from conductor_regen.config import Settings
from conductor_regen.errors import BackupError
from conductor_regen.file_tree import copy_entry, digest_tree
from conductor_regen.checkout.backups import (
    ADDED_OUTSIDE_DIR,
    Backup,
    create_backup,
    get_backup,
    list_backups,
    outside_problem,
    record_added_outside,
)
from conductor_regen.checkout.restore import restore_backup
from conductor_regen.checkout.target import SdkTarget

PYPROJECT = b'[project]\nname = "conductor-python"\n'
EVIL = b'[project]\nname = "evil"\n'
# The scaffolder's naming (compat/scaffold/adapter_tests.py): one per new adapter module.
SCAFFOLDED = f"{ADAPTER_TESTS_DIR}/test_async_workflow_resource_api_adapter.py"
HAND_WRITTEN = f"{ADAPTER_TESTS_DIR}/test_mine.py"


@pytest.fixture
def checkout(target: SdkTarget) -> SdkTarget:
    """The fake SDK plus what lives outside its managed folders: pyproject.toml and the SDK's own tests."""
    (target.root / "pyproject.toml").write_bytes(PYPROJECT)
    write_files(target.root, {HAND_WRITTEN: "def test_mine():\n    pass\n"})
    return target


def tamper(backup: Backup, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit the backup's manifest.json in place, as someone with write access to the store could."""
    data = json.loads(backup.manifest_path.read_text())
    edit(data)
    backup.manifest_path.write_text(json.dumps(data))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def made_backup(target: SdkTarget, store: Path) -> Backup:
    """A real backup, then a live tree a restore would change (so a restore that ran would show)."""
    backup = create_backup(store, target, "v1")
    write_files(target.package_dir, NEW_HTTP)
    return backup


def assert_refused(target: SdkTarget, store: Path, backup: Backup, entry: object) -> BackupError:
    """restore_backup refuses with one line naming the backup and the entry; the checkout is untouched."""
    before = snapshot(target.root)
    with pytest.raises(BackupError) as caught:
        restore_backup(target, backup, store)
    error = caught.value
    assert snapshot(target.root) == before
    assert (target.root / "pyproject.toml").read_bytes() == PYPROJECT
    assert backup.id in error.message and repr(entry) in error.message, error.render()
    assert "damaged or was edited" in error.hint and "spec" not in error.hint, error.render()
    assert str(backup.manifest_path) in error.hint
    assert "\n" not in error.render()
    return error


# --- added_outside and saved_outside: only the scaffolded adapter tests --------------------------

@pytest.mark.parametrize("entry", [
    "pyproject.toml",
    "README.md",
    HAND_WRITTEN,  # the right folder, not the scaffolder's name
    f"{ADAPTER_TESTS_DIR}/../../../pyproject.toml",
    "src/conductor/asyncio_client/__init__.py",  # in the package, outside the managed folders
    "ABSOLUTE",
])
def test_added_outside_naming_anything_but_a_scaffolded_test_is_refused(checkout: SdkTarget, store: Path,
                                                                       entry: str) -> None:
    entry = str(checkout.root / "pyproject.toml") if entry == "ABSOLUTE" else entry
    backup = made_backup(checkout, store)
    tamper(backup, lambda m: m.update(added_outside=[entry]))
    error = assert_refused(checkout, store, backup, entry)
    assert "added_outside" in error.message


def test_saved_outside_overwriting_a_file_the_tool_never_writes_is_refused(checkout: SdkTarget,
                                                                           store: Path) -> None:
    backup = made_backup(checkout, store)
    (backup.path / "outside").mkdir()
    (backup.path / "outside" / "pyproject.toml").write_bytes(EVIL)  # with its matching hash below
    tamper(backup, lambda m: m.update(saved_outside={"pyproject.toml": sha(EVIL)}))
    error = assert_refused(checkout, store, backup, "pyproject.toml")
    assert "saved_outside" in error.message


def test_a_scaffolded_test_reached_through_a_symlinked_folder_is_refused(checkout: SdkTarget,
                                                                         store: Path) -> None:
    # tests/unit/orkes is a link to docs/: the "scaffolded test" there is the user's document.
    docs = checkout.root / "docs"
    write_files(docs, {Path(SCAFFOLDED).name: "my notes\n"})
    orkes = checkout.root / ADAPTER_TESTS_DIR
    shutil.rmtree(orkes)
    orkes.symlink_to(Path("..", "..", "docs"))
    backup = made_backup(checkout, store)
    tamper(backup, lambda m: m.update(added_outside=[SCAFFOLDED]))
    error = assert_refused(checkout, store, backup, SCAFFOLDED)
    assert "is a symlink" in error.message
    assert (docs / Path(SCAFFOLDED).name).read_text() == "my notes\n"


# --- managed: only the layout's folders ----------------------------------------------------------

@pytest.mark.parametrize("name", ["__init__.py", "client"])
def test_a_managed_folder_the_layout_does_not_know_is_refused_whatever_its_hashes(checkout: SdkTarget, store: Path,
                                                                                name: str) -> None:
    write_files(checkout.package_dir, {"__init__.py": "# mine\n", "client/handwritten.py": "MINE = 1\n"})
    backup = made_backup(checkout, store)
    # The attacker's copy of the folder, in the backup's tree, with hashes that match it exactly.
    copy_entry(checkout.package_dir / name, backup.tree_dir / name)
    write_files(backup.tree_dir, {"__init__.py": "# theirs\n"} if name == "__init__.py"
                else {"client/handwritten.py": "MINE = 'theirs'\n"})

    def add(m: dict[str, Any]) -> None:
        m["managed"].append(name)
        m["files"].update(digest_tree(backup.tree_dir, [name]))

    tamper(backup, add)
    error = assert_refused(checkout, store, backup, name)
    assert "http, adapters, orkes" in error.message


@pytest.mark.parametrize("name", ["../../../pyproject.toml", "http/../../../../pyproject.toml", "/etc", "http"])
def test_a_traversal_or_repeat_in_managed_blames_the_backup_not_the_spec(checkout: SdkTarget, store: Path,
                                                                       name: str) -> None:
    backup = made_backup(checkout, store)
    tamper(backup, lambda m: m["managed"].append(name))
    error = assert_refused(checkout, store, backup, name)
    assert "managed" in error.message


@pytest.mark.parametrize("edit, says", [
    (lambda m: m["managed"].append(["orkes"]), "lists managed entry ['orkes']"),
    (lambda m: m.update(added_outside="pyproject.toml"), "added_outside is not a list of paths"),
    (lambda m: m.update(saved_outside=["pyproject.toml"]), "saved_outside is malformed"),
    (lambda m: m.update(size_bytes="lots"), "lists size_bytes entry 'lots'"),
])
def test_a_malformed_manifest_entry_is_one_error_naming_the_backup(checkout: SdkTarget, store: Path,
                                                                   edit: Callable[[dict[str, Any]], None],
                                                                   says: str) -> None:
    backup = made_backup(checkout, store)
    tamper(backup, edit)
    before = snapshot(checkout.root)
    with pytest.raises(BackupError) as caught:
        restore_backup(checkout, backup, store)
    assert snapshot(checkout.root) == before
    assert f"backup {backup.id}" in caught.value.message and says in caught.value.message, caught.value.render()
    assert "damaged or was edited" in caught.value.hint


def test_a_link_in_the_backup_leading_out_of_the_sdk_is_refused(checkout: SdkTarget, store: Path,
                                                               tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not the SDK's\n")
    backup = made_backup(checkout, store)
    os.symlink(secret, backup.tree_dir / "http" / "evil.py")
    tamper(backup, lambda m: m["files"].update({"http/evil.py": f"symlink:{secret}"}))
    before = snapshot(checkout.root)
    with pytest.raises(BackupError, match=f"backup {backup.id} is damaged: link: http/evil.py -> {secret}"):
        restore_backup(checkout, backup, store)
    assert snapshot(checkout.root) == before


# --- the restore command: refused before the question, the pre-restore backup and --backup ------

def never_asked(_what: str) -> bool:
    raise AssertionError("a tampered manifest must be refused before the question")


def backup_ids(settings: Settings, target: SdkTarget) -> List[str]:
    return sorted(b.id for b in list_backups(settings.backups_dir, target.name))


def test_restore_refuses_a_tampered_manifest_before_asking_or_backing_up(checkout: SdkTarget, store: Path,
                                                                         tmp_path: Path) -> None:
    settings = settings_for(checkout.root, store, tmp_path / "cache")
    backup = made_backup(checkout, store)
    tamper(backup, lambda m: m.update(added_outside=["pyproject.toml"]))
    before, ids = snapshot(checkout.root), backup_ids(settings, checkout)
    with pytest.raises(BackupError, match=f"backup {backup.id} lists added_outside entry 'pyproject.toml'"):
        restore_sdk(checkout, settings, None, never_asked)
    assert snapshot(checkout.root) == before and backup_ids(settings, checkout) == ids


def test_a_tampered_pre_restore_backup_is_refused_by_restore_backup_id(checkout: SdkTarget, store: Path,
                                                                       tmp_path: Path) -> None:
    settings = settings_for(checkout.root, store, tmp_path / "cache")
    run = made_backup(checkout, store)
    # What a run does: records the adapter test it adds outside the managed folders, then writes it.
    record_added_outside(run, [SCAFFOLDED])
    write_files(checkout.root, {SCAFFOLDED: "def test_new():\n    pass\n# my own edit\n"})
    lines = restore_sdk(checkout, settings, None, lambda _what: True)
    assert not (checkout.root / SCAFFOLDED).exists(), lines  # the legitimate entry is removed...
    [pre] = [b for b in list_backups(store, checkout.name) if b.outcome == "pre-restore"]
    assert json.loads(pre.manifest_path.read_text())["saved_outside"] == {
        SCAFFOLDED: sha(b"def test_new():\n    pass\n# my own edit\n")}  # ...and kept in the pre-restore backup

    (pre.path / "outside" / "pyproject.toml").write_bytes(EVIL)
    tamper(pre, lambda m: m["saved_outside"].update({"pyproject.toml": sha(EVIL)}))
    before = snapshot(checkout.root)
    with pytest.raises(BackupError, match=f"backup {pre.id} lists saved_outside entry 'pyproject.toml'"):
        restore_sdk(checkout, settings, pre.id, never_asked)
    assert snapshot(checkout.root) == before
    assert (checkout.root / "pyproject.toml").read_bytes() == PYPROJECT


# --- a run records only what restore accepts -----------------------------------------------------

def test_runs_record_outside_only_what_restore_accepts(checkout: SdkTarget, store: Path) -> None:
    assert ADDED_OUTSIDE_DIR == ADAPTER_TESTS_DIR  # sdk/ cannot import compat/: the two must agree
    assert outside_problem("tests/unit/orkes/test_async_human_task_api_adapter.py", checkout.root) == ""
    backup = create_backup(store, checkout, "v1")
    with pytest.raises(BackupError, match="refusing to add 'pyproject.toml' outside the managed folders"):
        record_added_outside(backup, ["pyproject.toml"])
    orkes = checkout.root / ADAPTER_TESTS_DIR
    shutil.rmtree(orkes)
    orkes.symlink_to(checkout.root / "docs")
    with pytest.raises(BackupError, match="is a symlink"):
        record_added_outside(backup, [SCAFFOLDED])
    assert "added_outside" not in json.loads(backup.manifest_path.read_text())


# --- a symlinked store: followed by backup and restore alike -------------------------------------

@pytest.mark.parametrize("links", [("sdk folder",), ("store", "sdk folder")])
def test_backup_and_restore_work_through_a_symlinked_store(checkout: SdkTarget, tmp_path: Path,
                                                           links: tuple[str, ...]) -> None:
    real = tmp_path / "real-store"
    real.mkdir()
    store = tmp_path / "backups"
    if "store" in links:
        store.symlink_to(tmp_path / "linked-store")
        (tmp_path / "linked-store").mkdir()
    else:
        store.mkdir()
    (store / checkout.name).symlink_to(real)
    settings = settings_for(checkout.root, store, tmp_path / "cache")
    before = snapshot(checkout.root)

    made = create_backup(store, checkout, "v1")
    assert made.path.resolve().parent == real and get_backup(store, checkout.name, made.id).id == made.id
    write_files(checkout.package_dir, NEW_HTTP)
    lines = restore_sdk(checkout, settings, None, lambda _what: True)
    assert snapshot(checkout.root) == before, lines
    # The pre-restore backup went through the link too, and going forward again works.
    [pre] = [b for b in list_backups(store, checkout.name) if b.outcome == "pre-restore"]
    restore_sdk(checkout, settings, pre.id, lambda _what: True)
    assert snapshot(checkout.root) != before
    assert (checkout.http_dir / "configuration.py").is_file()


def test_a_symlinked_sdk_folder_leading_into_a_managed_folder_is_refused_at_backup_time(
        checkout: SdkTarget, tmp_path: Path) -> None:
    inside = checkout.http_dir / "kept"
    inside.mkdir()
    store = tmp_path / "backups"
    store.mkdir()
    (store / checkout.name).symlink_to(inside)
    before = snapshot(checkout.root)
    with pytest.raises(BackupError, match="inside the managed folder"):
        create_backup(store, checkout, "v1")
    assert snapshot(checkout.root) == before


@pytest.mark.parametrize("entry", ["../../../outside", "/etc"])
def test_the_pristine_tree_of_a_tampered_backup_is_refused(checkout: SdkTarget, tmp_path: Path, entry: str) -> None:
    """The verdicts' pristine tree (matrix/pristine.py) reads a backup's manifest through the same check."""
    from conductor_regen.matrix.pristine import from_backup

    backup = create_backup(tmp_path / "store", checkout, "v1")
    tamper(backup, lambda m: m["managed"].append(entry))
    with pytest.raises(BackupError) as caught:
        from_backup(checkout, backup)
    assert entry in caught.value.render()
