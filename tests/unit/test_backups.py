"""The backup store: layout, manifest, listing, selection, outcomes, pruning and verification."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from conductor_regen.checkout.backups import (
    _reserve_folder,
    attach,
    create_backup,
    get_backup,
    list_backups,
    load_manifest,
    prune_backups,
    restore_point,
    retain_runs,
    set_outcome,
    slugify,
    verify_backup,
    verify_tree,
)
from conductor_regen.errors import BackupError, ConfigError, SdkError
from conductor_regen.checkout.target import SdkTarget


def test_layout_and_manifest(target: SdkTarget, store: Path) -> None:
    backup = create_backup(store, target, "v5.1.0 (orkes)", spec_bytes=b'{"openapi": "3.0.1"}')
    assert re.fullmatch(r"\d{8}T\d{6}Z-v5.1.0-orkes", backup.id)
    assert backup.path == store / target.name / backup.id
    assert backup.complete and backup.outcome == "pending" and backup.spec_version == "v5.1.0 (orkes)"
    assert (backup.path / "spec.json").read_bytes() == b'{"openapi": "3.0.1"}'

    manifest = json.loads((backup.path / "manifest.json").read_text())
    assert manifest["managed"] == ["http", "adapters", "orkes"]
    assert manifest["outcome"] == "pending"
    assert manifest["sdk_root"] == str(target.root)
    assert manifest["spec_version"] == "v5.1.0 (orkes)"
    assert manifest["created"].endswith("+00:00")
    api_client = target.http_dir / "api_client.py"
    assert manifest["files"]["http/api_client.py"] == hashlib.sha256(api_client.read_bytes()).hexdigest()
    assert manifest["files"]["http/client_alias.py"] == "symlink:api_client.py"
    assert backup.file_count == len(manifest["files"]) == 9
    assert backup.size_bytes > 0

    tree = backup.path / "tree"
    assert (tree / "http" / "api_client.py").read_bytes() == api_client.read_bytes()
    assert (tree / "http" / "client_alias.py").is_symlink()
    assert os.readlink(tree / "http" / "client_alias.py") == "api_client.py"
    assert (tree / "orkes" / "orkes_clients.py").is_file()
    assert not (tree / "__init__.py").exists()  # only managed folders are copied


def test_symlink_pointing_outside_is_refused_not_followed(
    target: SdkTarget, store: Path, tmp_path: Path
) -> None:
    # One symlink policy (docs/security.md): links in managed folders stay inside the SDK.
    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy me")
    os.symlink(secret, target.http_dir / "outside_link")
    with pytest.raises(SdkError, match="outside the SDK"):
        create_backup(store, target, "v1")
    assert not store.exists() or not any(store.rglob("outside_link"))


def test_pycache_is_not_backed_up(target: SdkTarget, store: Path) -> None:
    cache = target.http_dir / "__pycache__"
    cache.mkdir()
    (cache / "api_client.cpython-311.pyc").write_bytes(b"\0")
    backup = create_backup(store, target, "v1")
    assert not (backup.path / "tree" / "http" / "__pycache__").exists()
    assert verify_tree(backup, target) == []


def test_absent_managed_folder_is_recorded(target: SdkTarget, store: Path) -> None:
    for child in (target.package_dir / "orkes").iterdir():
        child.unlink()
    (target.package_dir / "orkes").rmdir()
    backup = create_backup(store, target, "v1")
    manifest = load_manifest(backup)
    assert manifest["absent"] == ["orkes"]
    assert not (backup.path / "tree" / "orkes").exists()
    assert verify_tree(backup, target) == []
    (target.package_dir / "orkes").mkdir()
    assert verify_tree(backup, target) == ["unexpected: orkes (absent at backup time)"]


def test_slugify() -> None:
    assert slugify("v1.2/beta rc") == "v1.2-beta-rc"
    assert slugify("../../etc") == "etc"
    assert slugify("") == "unknown"
    assert re.fullmatch(r"[A-Za-z0-9._-]+", slugify("ünïcode ✓ 5.0"))


def test_ids_are_unique_within_a_second(store: Path) -> None:
    first = _reserve_folder(store / "sdk", "20250101T000000Z-v1")
    second = _reserve_folder(store / "sdk", "20250101T000000Z-v1")
    third = _reserve_folder(store / "sdk", "20250101T000000Z-v1")
    assert [p.name for p in (first, second, third)] == [
        "20250101T000000Z-v1",
        "20250101T000000Z-v1-2",
        "20250101T000000Z-v1-3",
    ]


def test_list_newest_first_and_latest_complete(target: SdkTarget, store: Path) -> None:
    made = [create_backup(store, target, f"v{i}") for i in range(3)]
    listed = list_backups(store, target.name)
    assert [b.id for b in listed] == [b.id for b in reversed(made)]
    assert get_backup(store, target.name, None).id == made[-1].id
    assert get_backup(store, target.name, made[0].id).id == made[0].id
    assert list_backups(store, "other-sdk") == []


def test_incomplete_backup_is_listed_but_refused(target: SdkTarget, store: Path) -> None:
    good = create_backup(store, target, "v1")
    half = create_backup(store, target, "v2")
    (half.path / "manifest.json").unlink()  # what an interrupted backup looks like
    listed = list_backups(store, target.name)
    assert [(b.id, b.complete, b.outcome) for b in listed] == [
        (half.id, False, "incomplete"),
        (good.id, True, "pending"),
    ]
    assert listed[0].file_count == good.file_count
    assert get_backup(store, target.name).id == good.id
    with pytest.raises(BackupError, match="incomplete"):
        get_backup(store, target.name, half.id)
    with pytest.raises(BackupError, match="incomplete"):
        verify_backup(listed[0])


def test_unknown_id_lists_available_ones(target: SdkTarget, store: Path) -> None:
    a = create_backup(store, target, "v1")
    b = create_backup(store, target, "v2")
    with pytest.raises(BackupError) as info:
        get_backup(store, target.name, "nope")
    assert a.id in info.value.hint and b.id in info.value.hint


def test_no_backups_at_all(store: Path) -> None:
    with pytest.raises(BackupError, match="no complete backup"):
        get_backup(store, "sdk")


def test_set_outcome(target: SdkTarget, store: Path) -> None:
    backup = create_backup(store, target, "v1")
    updated = set_outcome(backup, "rolled-back")
    assert updated.outcome == "rolled-back"
    assert get_backup(store, target.name, backup.id).outcome == "rolled-back"
    with pytest.raises(BackupError):
        set_outcome(backup, "great")


def test_attach_reports(target: SdkTarget, store: Path) -> None:
    backup = create_backup(store, target, "v1")
    path = attach(backup, "report.md", b"# report\n")
    assert path.read_bytes() == b"# report\n"
    for bad in ("manifest.json", "../escape.md", "tree", "a/b.md", ""):
        with pytest.raises(BackupError):
            attach(backup, bad, b"x")
    assert load_manifest(backup)["outcome"] == "pending"


def test_prune_keeps_the_newest(target: SdkTarget, store: Path) -> None:
    made = [set_outcome(create_backup(store, target, f"v{i}"), "manual") for i in range(4)]
    removed = prune_backups(store, target.name, keep=1)
    assert [b.id for b in removed] == [b.id for b in made[:3]]
    assert [b.id for b in list_backups(store, target.name)] == [made[-1].id]
    assert prune_backups(store, target.name, keep=1) == []
    for keep in (0, -1):
        with pytest.raises(ConfigError):
            prune_backups(store, target.name, keep=keep)


def test_prune_keep_counts_complete_backups_and_spares_a_newest_incomplete(target: SdkTarget, store: Path) -> None:
    old_incomplete = create_backup(store, target, "v0")
    (old_incomplete.path / "manifest.json").unlink()
    complete = [set_outcome(create_backup(store, target, f"v{i}"), "manual") for i in (1, 2, 3)]
    newest_incomplete = create_backup(store, target, "v4")
    (newest_incomplete.path / "manifest.json").unlink()
    removed = prune_backups(store, target.name, keep=2)
    assert sorted(b.id for b in removed) == sorted([old_incomplete.id, complete[0].id])
    assert [b.id for b in list_backups(store, target.name)] == [
        newest_incomplete.id,
        complete[2].id,
        complete[1].id,
    ]


def test_verify_tree_reports_each_kind_of_difference(target: SdkTarget, store: Path) -> None:
    backup = create_backup(store, target, "v1")
    assert verify_tree(backup, target) == []
    (target.http_dir / "api_client.py").write_text("changed\n")
    (target.http_dir / "models" / "workflow.py").unlink()
    (target.http_dir / "added.py").write_text("new\n")
    assert verify_tree(backup, target) == [
        "missing: http/models/workflow.py",
        "changed: http/api_client.py",
        "unexpected: http/added.py",
    ]


def test_damaged_backup_is_detected(target: SdkTarget, store: Path) -> None:
    backup = create_backup(store, target, "v1")
    assert verify_backup(backup) == []
    (backup.path / "tree" / "http" / "api_client.py").write_text("bit rot\n")
    assert verify_backup(backup) == ["changed: http/api_client.py"]


def test_store_inside_a_managed_folder_is_refused(target: SdkTarget) -> None:
    with pytest.raises(BackupError, match="inside the managed folder"):
        create_backup(target.http_dir / "backups", target, "v1")


def test_retention_keeps_the_last_runs_and_everything_restore_needs(target: SdkTarget, store: Path) -> None:
    made = []
    for outcome in ("succeeded", "pre-restore", "manual", "succeeded", "rolled-back", "pre-restore", "succeeded"):
        made.append(set_outcome(create_backup(store, target, outcome), outcome))
    assert restore_point(store, target.name).id == made[-1].id

    removed = retain_runs(store, target.name, 2)

    # Runs are made[0], [3], [4], [6]: the last two are [4] and [6], so everything from [4] on stays.
    assert sorted(b.id for b in removed) == sorted(b.id for b in made[:4])
    assert sorted(b.id for b in list_backups(store, target.name)) == sorted(b.id for b in made[4:])
    assert retain_runs(store, target.name, 0) == []


def test_the_restore_point_skips_snapshots_taken_by_restore(target: SdkTarget, store: Path) -> None:
    run = set_outcome(create_backup(store, target, "v1"), "succeeded")
    set_outcome(create_backup(store, target, "pre-restore"), "pre-restore")
    assert restore_point(store, target.name).id == run.id
