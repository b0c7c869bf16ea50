"""`regenerate --accept` rewrites `.conductor-regen/accepted-findings.json`, outside the managed folders:
the backup taken before the swap records it (its previous content saved, or the file listed as added),
so `restore` puts it back or removes it, a failed gate's rollback leaves it as it was, and a manifest
naming any other `.conductor-regen/...` path is refused as before.

Real fake-SDK trees, real backups, the real run transaction (`commands/transaction.py`) with a stand-in test
gate that writes the file through the nox sessions' own writer (`matrix/accepted.write_accepted`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import pytest
from support.fake_sdk import NEW_HTTP, snapshot, write_files
from support.sdk_copies import settings_for

from conductor_regen.commands.plan import RegenOptions, make_plan
from conductor_regen.commands.report import Report
from conductor_regen.commands.backup_store import restore_sdk
from conductor_regen.commands.transaction import transaction
from conductor_regen.config import Settings
from conductor_regen.errors import BackupError, VerificationError
from conductor_regen.file_tree import copy_entry
from conductor_regen.matrix.accepted import ACCEPTED_FILE, Accepted, write_accepted
from conductor_regen.progress import StepLog
from conductor_regen.checkout.backups import ACCEPTED_FINDINGS, create_backup, list_backups, outside_problem
from conductor_regen.checkout.restore import restore_backup
from conductor_regen.checkout.target import SdkTarget

PREVIOUS = b'{"accepted": [], "about": "reviewed before this run"}\n'
Gate = Callable[[SdkTarget], Tuple[bool, Tuple[Dict[str, str], ...]]]


def accepting_gate(passes: bool) -> Gate:
    """What the gate's lint/typecheck/contract sessions do under --accept: write the file, then pass or fail."""
    def run_tests(target: SdkTarget) -> Tuple[bool, Tuple[Dict[str, str], ...]]:
        write_accepted(target.root, [Accepted("mypy", "orkes/x.py", "return-value", "m", "", "by design")])
        return passes, ({"session": "typecheck", "python": "3.11", "result": "passed" if passes else "failed",
                         "detail": "" if passes else "FAILED x: boom"},)
    return run_tests


def regenerate_like(target: SdkTarget, settings: Settings, gate: Gate, accept: str = "by design") -> Report:
    """A regenerate's transaction on the fake SDK: a new http/ staged, then backup, swap, import gate, test gate."""
    options = RegenOptions(spec="v2.json", yes=True, accept=accept)
    with transaction(target, options, settings, StepLog()) as txn:
        for name in target.managed:
            copy_entry(target.package_dir / name, txn.staging / name)
        write_files(txn.staging, NEW_HTTP)
        return txn.conclude(make_plan(target, txn.staging), "unchanged", "v2", run_tests=gate)


@pytest.fixture
def settings(target: SdkTarget, store: Path, tmp_path: Path) -> Settings:
    return settings_for(target.root, store, tmp_path / "cache")


@pytest.fixture(params=[None, PREVIOUS], ids=["absent-before", "present-before"])
def previous(request: pytest.FixtureRequest, target: SdkTarget) -> Optional[bytes]:
    """The SDK's accepted findings before the run: none, or a file reviewed earlier."""
    content: Optional[bytes] = request.param
    if content is not None:
        write_files(target.root, {ACCEPTED_FINDINGS: content.decode()})
    return content


def accept_one(root: Path) -> None:
    """Write the file as a session under --accept does."""
    write_accepted(root, [Accepted("ruff", "a.py", "F401", "unused", "", "kept on purpose")])


def accepted(target: SdkTarget) -> Path:
    return target.root / ACCEPTED_FINDINGS


def manifest_of(settings: Settings, target: SdkTarget, outcome: str) -> Dict[str, Any]:
    [backup] = [b for b in list_backups(settings.backups_dir, target.name) if b.outcome == outcome]
    data: Dict[str, Any] = json.loads(backup.manifest_path.read_text())
    return data


def test_the_backups_path_is_the_one_the_sessions_write() -> None:
    assert ACCEPTED_FINDINGS == ACCEPTED_FILE.as_posix()  # sdk/ cannot import matrix/: the two must agree
    assert outside_problem(ACCEPTED_FINDINGS) == ""


# --- backup -> the run writes the file -> restore ------------------------------------------------

def test_restore_of_a_backup_puts_the_file_back_as_it_was(target: SdkTarget, store: Path,
                                                          previous: Optional[bytes]) -> None:
    before = snapshot(target.root)
    backup = create_backup(store, target, "v2", run_writes=[ACCEPTED_FINDINGS])
    write_files(target.package_dir, NEW_HTTP)
    accept_one(target.root)

    result = restore_backup(target, backup, store)

    assert snapshot(target.root) == before  # the file, and an emptied .conductor-regen/, as before the run
    assert (result.removed_outside, result.put_back_outside) == (
        ((ACCEPTED_FINDINGS,), ()) if previous is None else ((), (ACCEPTED_FINDINGS,)))


def test_removing_the_added_file_keeps_the_sdks_own_conductor_regen_folder(target: SdkTarget, store: Path) -> None:
    # The SDK's own local edits live beside it: removing the added file keeps the folder and them.
    write_files(target.root, {".conductor-regen/local_edits.json": "[]\n"})
    before = snapshot(target.root)
    backup = create_backup(store, target, "v2", run_writes=[ACCEPTED_FINDINGS])
    accept_one(target.root)
    restore_backup(target, backup, store)
    assert snapshot(target.root) == before


@pytest.mark.parametrize("shape", ["symlinked file", "folder", "symlinked parent"])
def test_a_backup_refuses_a_file_it_could_not_put_back(target: SdkTarget, store: Path, tmp_path: Path,
                                                       shape: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "accepted-findings.json").write_bytes(PREVIOUS)
    if shape == "symlinked parent":
        (target.root / ".conductor-regen").symlink_to(elsewhere)
    elif shape == "folder":
        accepted(target).mkdir(parents=True)
    else:
        accepted(target).parent.mkdir()
        accepted(target).symlink_to(elsewhere / "accepted-findings.json")
    before = snapshot(target.root)
    with pytest.raises(BackupError, match="refusing to back up '.conductor-regen/accepted-findings.json'"):
        create_backup(store, target, "v2", run_writes=[ACCEPTED_FINDINGS])
    assert snapshot(target.root) == before
    assert not list_backups(store, target.name)


# --- the run transaction, then `restore` ---------------------------------------------------------

def test_restore_after_an_accepted_run_undoes_the_accepted_findings_too(target: SdkTarget, settings: Settings,
                                                                         previous: Optional[bytes]) -> None:
    before = snapshot(target.root)

    report = regenerate_like(target, settings, accepting_gate(passes=True))
    assert report.outcome == "succeeded"
    written = accepted(target).read_bytes()
    assert b"by design" in written
    recorded = manifest_of(settings, target, "succeeded")
    if previous is None:
        assert recorded["added_outside"] == [ACCEPTED_FINDINGS] and "saved_outside" not in recorded
    else:
        assert list(recorded["saved_outside"]) == [ACCEPTED_FINDINGS] and "added_outside" not in recorded

    lines = restore_sdk(target, settings, None, lambda _what: True)
    assert snapshot(target.root) == before, lines
    assert any(ACCEPTED_FINDINGS in line and ("removed" if previous is None else "put back") in line
               for line in lines), lines
    # Restoring again finds nothing to do; the pre-restore backup kept the run's file, the way forward again.
    assert "nothing to restore" in restore_sdk(target, settings, None, lambda _what: True)[0]
    pre = manifest_of(settings, target, "pre-restore")
    assert list(pre["saved_outside"]) == [ACCEPTED_FINDINGS]
    [pre_id] = [b.id for b in list_backups(settings.backups_dir, target.name) if b.outcome == "pre-restore"]
    restore_sdk(target, settings, pre_id, lambda _what: True)
    assert accepted(target).read_bytes() == written


def test_nothing_to_restore_only_once_the_file_is_back_too(target: SdkTarget, settings: Settings) -> None:
    write_files(target.root, {ACCEPTED_FINDINGS: PREVIOUS.decode()})
    before = snapshot(target.root)
    regenerate_like(target, settings, accepting_gate(passes=True))
    # The managed folders put back by hand (git checkout, say): the accepted findings still hold the run's.
    shutil.rmtree(target.http_dir)
    copy_entry(list_backups(settings.backups_dir, target.name)[0].tree_dir / "http", target.http_dir)
    lines = restore_sdk(target, settings, None, lambda _what: True)
    assert snapshot(target.root) == before, lines


def test_a_failed_gate_rolls_the_file_back_with_the_tree(target: SdkTarget, settings: Settings,
                                                         previous: Optional[bytes]) -> None:
    before = snapshot(target.root)
    with pytest.raises(VerificationError, match="gate failed after the swap"):
        regenerate_like(target, settings, accepting_gate(passes=False))
    assert snapshot(target.root) == before
    manifest_of(settings, target, "rolled-back")  # exactly one backup, and its run rolled back


def test_a_run_without_accept_records_nothing_outside(target: SdkTarget, settings: Settings) -> None:
    def plain_gate(_target: SdkTarget) -> Tuple[bool, Tuple[Dict[str, str], ...]]:
        return True, ()

    regenerate_like(target, settings, plain_gate, accept="")
    recorded = manifest_of(settings, target, "succeeded")
    assert "added_outside" not in recorded and "saved_outside" not in recorded


def test_an_accepted_run_through_a_symlinked_conductor_regen_folder_stops_before_the_swap(
        target: SdkTarget, settings: Settings, tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared-config"
    elsewhere.mkdir()
    (target.root / ".conductor-regen").symlink_to(elsewhere)
    before = snapshot(target.root)
    with pytest.raises(BackupError, match=r"\.conductor-regen is a symlink"):
        regenerate_like(target, settings, accepting_gate(passes=True))
    assert snapshot(target.root) == before and not list(elsewhere.iterdir())


# --- restore trusts no manifest: only that exact path -------------------------------------------

@pytest.mark.parametrize("entry", [
    ".conductor-regen/local_edits.json",
    ".conductor-regen/accepted-findings.json.bak",
    ".conductor-regen/sub/accepted-findings.json",
    ".conductor-regen/../pyproject.toml",
    "./.conductor-regen/accepted-findings.json",
    ".conductor-regen",
    "accepted-findings.json",
])
@pytest.mark.parametrize("key", ["added_outside", "saved_outside"])
def test_a_manifest_naming_another_conductor_regen_path_is_refused(target: SdkTarget, store: Path,
                                                                    entry: str, key: str) -> None:
    write_files(target.root, {".conductor-regen/local_edits.json": "[]\n", "pyproject.toml": "[project]\n"})
    backup = create_backup(store, target, "v2", run_writes=[ACCEPTED_FINDINGS])
    write_files(target.package_dir, NEW_HTTP)
    data = json.loads(backup.manifest_path.read_text())
    if key == "added_outside":
        data[key] = [ACCEPTED_FINDINGS, entry]
    else:  # a saved copy with its matching hash: hashes say a backup is intact, not that it is ours
        write_files(backup.path / "outside", {entry: "overwritten\n"})
        data[key] = {entry: hashlib.sha256(b"overwritten\n").hexdigest()}
    backup.manifest_path.write_text(json.dumps(data))
    before = snapshot(target.root)
    with pytest.raises(BackupError) as caught:
        restore_backup(target, backup, store)
    assert f"backup {backup.id} lists {key} entry {entry!r}" in caught.value.message, caught.value.render()
    assert snapshot(target.root) == before


def test_the_exact_path_through_a_symlinked_folder_is_refused(target: SdkTarget, store: Path,
                                                              tmp_path: Path) -> None:
    backup = create_backup(store, target, "v2", run_writes=[ACCEPTED_FINDINGS])
    assert json.loads(backup.manifest_path.read_text())["added_outside"] == [ACCEPTED_FINDINGS]
    # Afterwards .conductor-regen becomes a link to the user's own folder, holding a file of that name.
    mine = tmp_path / "mine"
    write_files(mine, {"accepted-findings.json": "my notes\n"})
    (target.root / ".conductor-regen").symlink_to(mine)
    before = snapshot(target.root)
    with pytest.raises(BackupError, match=r"lists added_outside entry '\.conductor-regen/accepted-findings\.json'.*"
                                          r"is a symlink"):
        restore_backup(target, backup, store)
    assert snapshot(target.root) == before and (mine / "accepted-findings.json").read_text() == "my notes\n"
