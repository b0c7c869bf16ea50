"""Sequential mode (the `sequential` setting, REGEN_SEQUENTIAL=1) makes the same tree and report on one thread.

A real `regenerate` (the real generator, its output not taken from the cache, the real swap, backup and
import gate) runs on two copies of the example SDK: once as usual, with its steps started ahead on
threads and the generator running while validation does, and once in sequential mode, where nothing is
started ahead. Both work in the session's cache (the SDK's environment is built once, if at all). The
trees are compared byte for byte, the reports with only what legitimately varies masked (as two default
runs are compared in test_regenerate_e2e.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from support.paths import SPEC_V1
from support.sdk_copies import (backup_dirs, managed_digest, mask_report, never_confirm, new_sdk, perturb, sdk_digest,
                                settings_for, target_for, tree_digest)

from conductor_regen import ahead as ahead_module
from conductor_regen.commands.plan import RegenOptions
from conductor_regen.commands.regenerate import regenerate
from conductor_regen.commands.report import Report
from conductor_regen.progress import StepLog

pytestmark = pytest.mark.e2e


def _regenerate(base: Path, cache: Path, sequential: bool,
                monkeypatch: pytest.MonkeyPatch) -> Tuple[Path, Report, Path, List[str]]:
    """A real run on a fresh copy under `base`; also the names of the steps it ran on threads of their own."""
    threaded: List[str] = []
    real = ahead_module._Threaded  # noqa: SLF001 - counted, not replaced

    def counted(name: str, *args: Any) -> Any:
        threaded.append(name)
        return real(name, *args)

    monkeypatch.setattr(ahead_module, "_Threaded", counted)
    root = new_sdk(base, mutate=perturb)
    settings = dataclasses.replace(settings_for(root, base / "backups", cache), sequential=sequential)
    options = RegenOptions(spec=str(SPEC_V1), yes=True, skip_tests=True, use_cache=False)
    report = regenerate(target_for(settings), options, settings, StepLog(), never_confirm, None, env={})
    monkeypatch.undo()
    [backup] = backup_dirs(base / "backups")
    return root, report, backup, threaded


def _outcomes(*runs: Tuple[Path, Report, Path]) -> Dict[str, List[Any]]:
    """What each run left, by what it is: the SDK's bytes, the reports (masked), the backup's spec and tree."""
    return {
        "managed folders": [managed_digest(root) for root, _, _ in runs],
        "whole checkout": [sdk_digest(root) for root, _, _ in runs],
        "report": [mask_report(report.to_json()) for _, report, _ in runs],
        "filed report": [mask_report((backup / "report.json").read_text()) for _, _, backup in runs],
        "backed-up spec": [(backup / "spec.json").read_bytes() for _, _, backup in runs],
        "backed-up tree": [tree_digest(backup / "tree") for _, _, backup in runs],
    }


def test_sequential_mode_makes_the_same_tree_and_report_as_the_default(tmp_path: Path, generator_cache: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root_a, rep_a, bk_a, threaded_a = _regenerate(tmp_path / "default", generator_cache, False, monkeypatch)
    root_b, rep_b, bk_b, threaded_b = _regenerate(tmp_path / "sequential", generator_cache, True, monkeypatch)

    # The premise: the default run overlapped its steps on threads; the sequential one used none.
    assert sorted(threaded_a) == ["SDK environment", "import new tree", "live analysis"], threaded_a
    assert threaded_b == []
    assert rep_a.outcome == rep_b.outcome == "succeeded"

    for what, (a, b) in _outcomes((root_a, rep_a, bk_a), (root_b, rep_b, bk_b)).items():
        assert a == b, what
    # The same steps, in the same order, with the same details (the staged import check's included).
    masked = mask_report(rep_a.to_json())
    names = [step["name"] for step in masked["steps"]]
    assert names.index("validate spec") < names.index("generate") < names.index("import new tree"), names
    assert masked["files"]["removed"] == ["http/stale_module.py"]
