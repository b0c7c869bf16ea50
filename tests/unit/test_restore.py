"""Restoring a backup: byte for byte, through the journaled swap, refusing damaged or foreign backups."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Dict

import pytest
from support.fake_sdk import NEW_HTTP, Snapshot, make_sdk, snapshot, target_of, write_files

from conductor_regen.checkout.backups import create_backup, get_backup, list_backups, verify_tree
from conductor_regen.errors import BackupError
from conductor_regen.checkout.journal import journal_path
from conductor_regen.checkout.restore import restore_backup
from conductor_regen.checkout.target import SdkTarget
from conductor_regen.checkout.swap import staging_root


def managed(target: SdkTarget) -> Dict[str, Snapshot]:
    return {name: snapshot(target.package_dir / name) for name in target.managed}


def assert_no_leftovers(target: SdkTarget) -> None:
    assert not journal_path(target).exists()
    assert not staging_root(target).exists()


def test_restore_is_byte_for_byte_after_adds_removes_and_changes(target: SdkTarget, store: Path) -> None:
    before = managed(target)
    outside = snapshot(target.root / "README.md")
    init_mode = (target.package_dir / "adapters" / "__init__.py").stat().st_mode
    backup = create_backup(store, target, "v1")

    write_files(target.package_dir, NEW_HTTP)  # changes 3 files, adds configuration.py
    (target.http_dir / "models" / "workflow.py").unlink()  # removed
    write_files(target.http_dir, {"models/new_model.py": "x\n", "brand_new/deep/file.py": "y\n"})  # added
    os.remove(target.http_dir / "client_alias.py")
    os.symlink("somewhere_else.py", target.http_dir / "client_alias.py")  # link retargeted
    shutil.rmtree(target.package_dir / "orkes")  # a whole managed folder gone
    (target.package_dir / "adapters" / "__init__.py").chmod(0o600)
    cache = target.http_dir / "__pycache__"
    cache.mkdir()
    (cache / "x.pyc").write_bytes(b"\0")
    assert managed(target) != before

    result = restore_backup(target, backup, store)

    assert managed(target) == before
    assert snapshot(target.root / "README.md") == outside
    assert (target.http_dir / "client_alias.py").is_symlink()
    assert (target.package_dir / "adapters" / "__init__.py").stat().st_mode == init_mode
    assert result.backup_id == backup.id
    assert result.folders == ("http", "adapters", "orkes")
    assert result.restored == backup.file_count == 9
    # api_client.py, __init__.py, workflow_resource_api.py changed; workflow.py and the link
    # differ; orkes' two files were missing.
    assert result.changed == 7
    assert result.removed == 3  # configuration.py, new_model.py, brand_new/deep/file.py
    assert verify_tree(backup, target) == []
    assert_no_leftovers(target)


def test_restore_removes_a_folder_that_did_not_exist_at_backup_time(target: SdkTarget, store: Path) -> None:
    shutil.rmtree(target.package_dir / "orkes")
    backup = create_backup(store, target, "v1")
    write_files(target.package_dir, {"orkes/__init__.py": "", "orkes/generated.py": "z\n"})
    result = restore_backup(target, backup, store)
    assert not (target.package_dir / "orkes").exists()
    assert result.removed == 2
    assert_no_leftovers(target)


def test_restore_of_an_unchanged_tree_changes_nothing(target: SdkTarget, store: Path) -> None:
    before = managed(target)
    backup = create_backup(store, target, "v1")
    result = restore_backup(target, backup, store)
    assert (result.changed, result.removed) == (0, 0)
    assert managed(target) == before


def test_incomplete_backup_is_refused(target: SdkTarget, store: Path) -> None:
    backup = create_backup(store, target, "v1")
    (backup.path / "manifest.json").unlink()
    (target.http_dir / "api_client.py").write_text("current work\n")
    before = managed(target)
    with pytest.raises(BackupError, match="incomplete"):
        get_backup(store, target.name, backup.id)
    with pytest.raises(BackupError, match="incomplete"):
        restore_backup(target, list_backups(store, target.name)[0], store)
    assert managed(target) == before
    assert_no_leftovers(target)


def test_damaged_backup_is_refused_and_the_live_tree_untouched(target: SdkTarget, store: Path) -> None:
    backup = create_backup(store, target, "v1")
    (backup.path / "tree" / "http" / "api_client.py").write_text("bit rot\n")
    (target.http_dir / "api_client.py").write_text("current work\n")
    before = managed(target)
    with pytest.raises(BackupError, match="damaged"):
        restore_backup(target, backup, store)
    assert managed(target) == before
    assert_no_leftovers(target)


def test_backup_of_another_sdk_is_refused(target: SdkTarget, store: Path, tmp_path: Path) -> None:
    other = target_of(make_sdk(tmp_path / "elsewhere", name="other-sdk"))
    foreign = create_backup(store, other, "v1")
    with pytest.raises(BackupError, match="not a backup of"):
        restore_backup(target, foreign, store)


def test_restore_into_a_new_checkout_recreates_everything(target: SdkTarget, store: Path, tmp_path: Path) -> None:
    before = managed(target)
    backup = create_backup(store, target, "v1")
    shutil.rmtree(target.package_dir / "adapters")
    shutil.rmtree(target.package_dir / "orkes")
    shutil.rmtree(target.http_dir)
    target.http_dir.mkdir()
    restore_backup(target, backup, store)
    assert managed(target) == before
    assert_no_leftovers(target)
