"""The run transaction every SDK writer shares: pre-flight, recovery, dirty check, backup, swap, gate, rollback."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from conductor_regen.app.gate import gate_interpreter, import_failures, import_gate
from conductor_regen.app.plan import Plan, RegenOptions, TestRunner
from conductor_regen.app.report import Report
from conductor_regen.app.run_report import keep_report, notes_of
from conductor_regen.compat.scaffold import OutsideFile
from conductor_regen.config import Settings
from conductor_regen.errors import RegenError, SdkError, VerificationError
from conductor_regen.progress import StepLog
from conductor_regen.sdk.backups import Backup, create_backup, record_added_outside
from conductor_regen.sdk.restore import restore_backup
from conductor_regen.sdk.swap import apply_swap, recover
from conductor_regen.sdk.target import (SdkTarget, check_clean, check_disk_space, check_managed_paths, managed_size,
                                        safe_join)

log = logging.getLogger(__name__)


def preflight(target: SdkTarget, steps: StepLog) -> None:
    """Checks that need no lock: layout, no symlinked managed folder, room for a backup and a staged copy."""
    with steps.step("pre-flight checks"):
        check_managed_paths(target)
        check_disk_space(target.package_dir, 2 * managed_size(target) + 50 * 1024 * 1024)


def recover_step(target: SdkTarget, steps: StepLog) -> None:
    """Settle an interrupted earlier run (call under the lock) and say so in the step log."""
    recovered = recover(target)
    if recovered:
        steps.skip("recover", recovered)
    if not target.http_dir.is_dir():  # resolve_sdk let a missing http/ through for recovery only
        raise SdkError(f"{target.http_dir} is missing, even after recovery",
                       "put it back with `invoke restore`, or check out the SDK again")


def dirty_notes(target: SdkTarget, options: RegenOptions) -> Tuple[str, ...]:
    """Refuse uncommitted work in the managed folders, except in a dry run (it changes nothing): warn there."""
    dirty = check_clean(target, options.allow_dirty or options.dry_run)
    if dirty and options.dry_run and not options.allow_dirty:
        return (f"warning: {len(dirty)} uncommitted change(s) in the managed folders; a real run refuses them "
                "unless you commit them or pass --allow-dirty",)
    return ()


def apply_plan(target: SdkTarget, spec_version: str, spec_bytes: Optional[bytes], plan: Plan, staging: Path,
               run_id: str, options: RegenOptions, settings: Settings, steps: StepLog,
               run_tests: Optional[TestRunner], base: Dict[str, object]) -> Report:
    """Back up, swap, gate; restore the backup on any failure (or Ctrl-C) after the swap."""
    python, env_notes = gate_interpreter(target, settings, steps)
    base["notes"] = notes_of(base) + env_notes
    with steps.step("back up") as step:
        baseline = import_failures(target, settings.import_timeout, python)
        backup = create_backup(settings.backups_dir, target, spec_version, spec_bytes)
        step.detail = f"{backup.id} ({backup.file_count} files)"
    swapped = False
    tests: Tuple[Dict[str, str], ...] = ()
    try:
        with steps.step("swap") as step:
            # Set first: a Ctrl-C while old trees are deleted leaves the new tree live (restoring is harmless
            # after a swap that rolled itself back).
            swapped = True
            apply_swap(target, staging, run_id, plan.folders)
            step.detail = ", ".join(plan.folders)
        if plan.outside:
            # After the swap and before the gate: the gates see them, and a failed run rolls them back.
            with steps.step("add adapter tests") as step:
                added = write_outside(target, backup, plan.outside)
                step.detail = f"{len(added)} file(s)"
                base["notes"] = notes_of(base) + tuple(added)
        with steps.step("import gate") as step:
            excused = import_gate(target, baseline, settings.import_timeout, python)
            if excused:
                step.detail = f"{len(excused)} module(s) excused: they failed the same way before the swap"
                base["notes"] = notes_of(base) + tuple(excused)
        if options.skip_tests or run_tests is None:
            steps.skip("tests", "--skip-tests" if options.skip_tests else "no test runner")
        else:
            with steps.step("tests") as step:
                # Here, not at the top: the test matrix needs tomllib/tomli, which --skip-tests runs do not.
                from conductor_regen.matrix.results import gate_detail

                from conductor_regen.matrix.lint import review_notes

                ok, tests = run_tests(target)
                step.detail = gate_detail(tests)  # the contract's figures, each session's result
                # lint/typecheck in the gate: their new or accepted findings are action notes (also on a rollback).
                base["notes"] = notes_of(base) + tuple(review_notes(tests, target.root))
                if not ok:
                    failed = [t for t in tests if t.get("result") == "failed" and t.get("verdict") != "pre-existing"]
                    first = f"{failed[0].get('session', '')}: {failed[0].get('detail', '')}" if failed else "see report"
                    raise VerificationError(
                        f"gate failed after the swap: {first.replace('contract: contract: ', 'contract: ')}",
                        "the backup was restored; fix the adapters, or rerun with --keep-failed to inspect",
                    )
    except BaseException as exc:
        error = exc.render() if isinstance(exc, RegenError) else f"{type(exc).__name__}: {exc}"
        outcome = "failed"
        if swapped and not options.keep_failed:
            with steps.step("roll back") as step:
                # An interrupted swap leaves its journal behind; settle it before restoring over it.
                recover(target)
                result = restore_backup(target, backup, settings.backups_dir)
                step.detail = f"restored backup {backup.id} ({result.restored} files)" + (
                    f"; removed {', '.join(result.removed_outside)}" if result.removed_outside else "")
            outcome = "rolled-back"
        report = Report(outcome=outcome, steps=tuple(steps.steps), files=plan.files, backup_id=backup.id,
                        error=error, tests=tests, **base)  # type: ignore[arg-type]
        keep_report(report, backup, outcome, options, settings)
        raise
    report = Report(outcome="succeeded", steps=tuple(steps.steps), files=plan.files, backup_id=backup.id,
                    tests=tests, **base)  # type: ignore[arg-type]
    keep_report(report, backup, "succeeded", options, settings)
    return report


def write_outside(target: SdkTarget, backup: Backup, files: Sequence[OutsideFile]) -> List[str]:
    """Create files outside the managed folders, each recorded in the backup first; never overwrite."""
    paths = [(f, safe_join(target.root, f.path)) for f in files]
    fresh = [(f, p) for f, p in paths if not os.path.lexists(p)]
    record_added_outside(backup, [f.path for f, _ in fresh])
    notes: List[str] = []
    for f, path in fresh:
        try:
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(f.content)
        except FileExistsError:
            # Someone else made it meanwhile: it is theirs, so restore must not remove it.
            record_added_outside(backup, [f.path], remove=True)
            log.warning("not writing %s: it appeared meanwhile", f.path)
            continue
        notes.append(f"added {f.path} (a test for the new {f.about}; outside the managed folders, "
                     "undone by `invoke restore`)")
        log.info("added %s", f.path)
    return notes
