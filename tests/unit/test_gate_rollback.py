"""A test gate that fails after the swap rolls the SDK back to the backup the run took.

The real run transaction (`commands/transaction.py`: backup, journaled swap, import gate, test gate) on a
small fake SDK, with a new http/ ready in staging (no generator) and a stand-in test gate that looks
at the swapped tree and reports a new failure. Only `--keep-failed` leaves the new tree in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from support.fake_sdk import NEW_HTTP, snapshot, write_files
from support.sdk_copies import settings_for

from conductor_regen.commands.plan import RegenOptions, make_plan
from conductor_regen.commands.report import Report
from conductor_regen.commands.transaction import transaction
from conductor_regen.config import Settings
from conductor_regen.errors import VerificationError
from conductor_regen.file_tree import copy_entry
from conductor_regen.progress import StepLog
from conductor_regen.checkout.backups import list_backups
from conductor_regen.checkout.target import SdkTarget

Rows = Tuple[Dict[str, str], ...]
FAILED_ROW = {"session": "async_unit", "python": "3.12", "result": "failed", "verdict": "new",
              "detail": "1 new, 0 pre-existing (vs backup b): FAILED tests.unit.test_x::test_y: boom"}


class Gate:
    """A stand-in test gate: records the api_client.py it ran against, then passes or fails."""

    def __init__(self, passes: bool) -> None:
        self.passes = passes
        self.saw: List[str] = []

    def __call__(self, target: SdkTarget) -> Tuple[bool, Rows]:
        self.saw.append((target.http_dir / "api_client.py").read_text())
        return self.passes, (() if self.passes else (FAILED_ROW,))


@pytest.fixture
def settings(target: SdkTarget, store: Path, tmp_path: Path) -> Settings:
    return settings_for(target.root, store, tmp_path / "cache")


def swap_in_new_http(target: SdkTarget, settings: Settings, gate: Gate, steps: StepLog,
                     keep_failed: bool = False) -> Report:
    """A replace-like run: the new http/ staged as it is, then backup, swap, import gate and `gate`."""
    with transaction(target, RegenOptions(spec="v2.json", yes=True, keep_failed=keep_failed), settings,
                     steps) as txn:
        copy_entry(target.http_dir, txn.staging / "http")
        write_files(txn.staging, NEW_HTTP)
        plan = make_plan(target, txn.staging, staged_only=True)
        return txn.conclude(plan, "unchanged", "v2", run_tests=gate)


def outcomes(settings: Settings, target: SdkTarget) -> List[str]:
    return [b.outcome for b in list_backups(settings.backups_dir, target.name)]


def test_a_failed_gate_puts_the_previous_tree_back(target: SdkTarget, settings: Settings) -> None:
    before = snapshot(target.root)
    with pytest.raises(VerificationError, match="gate failed after the swap: async_unit"):
        swap_in_new_http(target, settings, Gate(passes=False), StepLog())
    assert snapshot(target.root) == before


def test_the_gate_had_run_on_the_swapped_tree(target: SdkTarget, settings: Settings) -> None:
    gate = Gate(passes=False)
    with pytest.raises(VerificationError):
        swap_in_new_http(target, settings, gate, StepLog())
    assert gate.saw == [NEW_HTTP["http/api_client.py"]], "the rollback undid a real swap"


def test_the_rollback_is_a_step_and_the_backup_records_it(target: SdkTarget, settings: Settings) -> None:
    steps = StepLog()
    with pytest.raises(VerificationError):
        swap_in_new_http(target, settings, Gate(passes=False), steps)
    assert [(s.name, s.status) for s in steps.steps][-2:] == [("tests", "failed"), ("roll back", "ok")]
    assert outcomes(settings, target) == ["rolled-back"]


def test_keep_failed_leaves_the_new_tree_to_inspect(target: SdkTarget, settings: Settings) -> None:
    with pytest.raises(VerificationError):
        swap_in_new_http(target, settings, Gate(passes=False), StepLog(), keep_failed=True)
    assert (target.http_dir / "api_client.py").read_text() == NEW_HTTP["http/api_client.py"]
    assert outcomes(settings, target) == ["failed"]


def test_a_passing_gate_keeps_the_new_tree(target: SdkTarget, settings: Settings) -> None:
    report = swap_in_new_http(target, settings, Gate(passes=True), StepLog())
    assert report.outcome == "succeeded"
    assert (target.http_dir / "api_client.py").read_text() == NEW_HTTP["http/api_client.py"]
