"""The run transaction every command that writes to an SDK goes through, written once.

Pre-flight, lock, recovery, run id, staging, plan, no-op check, clean-tree check, dry run, confirm,
apply (backup, atomic swap, files outside, import gate, test gate), rollback on any failure, report.
A command opens `transaction(...)`, builds its new tree in `txn.staging`, and ends with `txn.conclude(plan)`.
"""

from __future__ import annotations

import logging
import os
import shutil
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Literal, Optional, Sequence, Tuple

from conductor_regen.ahead import Ahead
from conductor_regen.commands.gate import IMPORT_NEW_TREE, SDK_ENVIRONMENT, ImportGate, StagedImports, gate_interpreter
from conductor_regen.commands.plan import Confirm, Plan, RegenOptions, TestRunner
from conductor_regen.commands.report import Report, ReportDraft
from conductor_regen.commands.run_report import keep_report
from conductor_regen.atomic_io import atomic_write_bytes
from conductor_regen.config import Settings
from conductor_regen.errors import Aborted, RegenError, SdkError, VerificationError
from conductor_regen.progress import StepLog, pause_for_test
from conductor_regen.checkout.backups import ACCEPTED_FINDINGS, Backup, create_backup, record_added_outside
from conductor_regen.checkout.failures import describe
from conductor_regen.checkout.journal import new_run_id
from conductor_regen.checkout.lock import sdk_lock
from conductor_regen.checkout.restore import restore_backup
from conductor_regen.checkout.signals import Hold, RunInterrupted, deferred, interrupted_by, note_committed, signal_of
from conductor_regen.checkout.swap import SwapInterrupted, apply_swap, discard_staging, prepare_staging, recover
from conductor_regen.checkout.target import SdkTarget, check_clean, check_disk_space, check_managed_paths, managed_size
from conductor_regen.file_tree import safe_join
from conductor_regen.checkout.work_dirs import new_work_dir

if TYPE_CHECKING:  # libcst, which a no-op run does not need
    from conductor_regen.compat.scaffold.adapter_tests import OutsideFile

log = logging.getLogger(__name__)


def preflight(target: SdkTarget, steps: StepLog) -> None:
    """Checks that need no lock: layout, no symlinked managed folder, room for a backup and a staged copy."""
    with steps.step("pre-flight checks"):
        check_managed_paths(target)
        check_disk_space(target.package_dir, 2 * managed_size(target) + 50 * 1024 * 1024)


@contextmanager
def locked_sdk(target: SdkTarget) -> Iterator[Optional[str]]:
    """Hold the SDK's run lock with any interrupted earlier run settled first; yields what recovery did."""
    with sdk_lock(target):
        # After a crash between two folder exchanges the live tree is mixed: every writer settles it first.
        yield recover(target)


class Transaction:
    """One run that writes to an SDK, under its lock: stage, plan, then conclude (no-op, dry run, or apply)."""

    def __init__(self, target: SdkTarget, options: RegenOptions, settings: Settings, steps: StepLog,
                 draft: ReportDraft) -> None:
        self.target, self.options, self.settings, self.steps = target, options, settings, steps
        self.draft = draft
        self.run_id = new_run_id()
        self._staging: Optional[Path] = None
        self._work: List[Path] = []
        self._clean_checked = False
        # Steps started ahead (the generator, the live SDK's analysis, the import gate's imports); on one
        # thread, each where its result is taken, with the `sequential` setting.
        self.ahead = Ahead(settings.sequential)
        self._imports: Optional[StagedImports] = None
        self._failure_handled = False  # _apply's failure path has begun (its rollback runs once)

    @property
    def staging(self) -> Path:
        """The run's staging folder beside the managed folders (made on first use, removed at the end)."""
        if self._staging is None:
            self._staging = prepare_staging(self.target, self.run_id)
        return self._staging

    def work_dir(self, kind: str) -> Path:
        """A scratch folder in the cache for this run (generation), removed at the end."""
        work = new_work_dir(self.settings.cache_dir, kind)
        self._work.append(work)
        return work

    def close(self) -> None:
        """Stop what still runs ahead; remove the staging and scratch folders (the swap has consumed what it used)."""
        try:
            self.ahead.cancel_all()  # first: the generator writes to a scratch folder, the imports read staging
            if self._staging is not None:
                discard_staging(self.target, self.run_id)
        finally:
            for work in self._work:
                shutil.rmtree(work, ignore_errors=True)

    def start_import_gate(self) -> None:
        """Start the import gate's imports of staging ahead: the interpreter imports the SDK's dependencies now.

        Only where the SDK's environment is being found ahead (not in a dry run, which never gates); the
        imports of the tree wait for `import_gate_ready`, and the verdict is still taken after the swap.
        """
        if self.ahead.started(SDK_ENVIRONMENT) and self._imports is None:
            # Its interpreter is the SDK's own: the step finding it runs ahead too, and this one waits for it.
            imports = StagedImports(self.target, self.staging, lambda: self.ahead.result(SDK_ENVIRONMENT),
                                    self.settings.import_timeout,
                                    self.settings.cache_dir / "staging" if self.options.use_cache else None)
            self.ahead.start(IMPORT_NEW_TREE, imports.run, stop=imports.stop)
            self._imports = imports

    def import_gate_ready(self) -> None:
        """The staged tree is written: the import gate's imports of it begin (they run during the checks)."""
        if self._imports is not None:
            self._imports.ready()

    def check_clean(self) -> None:
        """Refuse uncommitted work in the managed folders (a dry run only warns); checked once per run."""
        if self._clean_checked:
            return
        self._clean_checked = True
        dirty = check_clean(self.target, self.options.allow_dirty or self.options.dry_run)
        if dirty and self.options.dry_run and not self.options.allow_dirty:
            self.draft.note([f"warning: {len(dirty)} uncommitted change(s) in the managed folders; a real run "
                             "refuses them unless you commit them or pass --allow-dirty"])

    def no_op(self, step: str, why: str) -> Report:
        """End without touching anything: `step` was not needed (the report says why)."""
        self.steps.skip(step, why)
        return self.draft.finish("no-op", self.steps.steps)

    def conclude(self, plan: Plan, unchanged: str, spec_version: str, spec_bytes: Optional[bytes] = None,
                 confirm: Optional[Confirm] = None, run_tests: Optional[TestRunner] = None) -> Report:
        """The end every writer shares: no-op when nothing changes, clean-tree check, dry run, confirm, apply."""
        self.draft.files = plan.files
        if not plan.folders:
            # A no-op touches nothing, so it need not insist on a clean tree.
            return self.no_op("swap", unchanged)
        self.check_clean()
        if self.options.dry_run:
            self.draft.plan = tuple(plan.lines(listing=False))
            return self.draft.finish("dry-run", self.steps.steps)
        if not self.options.yes and not (confirm is not None and confirm(plan)):
            raise Aborted("declined at the confirmation prompt; nothing was changed",
                          "rerun with --yes to skip the prompt, or --dry-run to see the plan")
        return self._apply(plan, spec_version, spec_bytes, run_tests)

    def _apply(self, plan: Plan, spec_version: str, spec_bytes: Optional[bytes],
               run_tests: Optional[TestRunner]) -> Report:
        """Back up, swap, gate; restore the backup on any failure (or Ctrl-C) after the swap."""
        target, settings, steps, draft = self.target, self.settings, self.steps, self.draft
        python, env_notes = gate_interpreter(target, settings, steps, self.ahead)
        draft.note(env_notes)
        imports = ImportGate(target, python, settings.import_timeout)
        if self._imports is not None:
            with steps.step(IMPORT_NEW_TREE) as step:
                # The staged tree's imports ran while the checks did; their result is taken here, before
                # the swap exchanges the staging folders they read.
                self._imports.ready()  # (already, unless assembly skipped it)
                step.detail = imports.take_staged(self._imports, self.ahead.result(IMPORT_NEW_TREE))
        with steps.step("back up") as step:
            imports.before_swap()
            # With --accept the gate's sessions rewrite the accepted-findings file: the backup saves it (or
            # records it as added), so `restore` undoes that too.
            accepting = bool(self.options.accept) and not self.options.skip_tests and run_tests is not None
            backup = create_backup(settings.backups_dir, target, spec_version, spec_bytes,
                                   run_writes=[ACCEPTED_FINDINGS] if accepting else [])
            step.detail = f"{backup.id} ({backup.file_count} files)"
        draft.backup_id = backup.id
        swapped = False
        try:
            with steps.step("swap") as step:
                # Set first: a Ctrl-C while old trees are deleted leaves the new tree live (restoring is harmless
                # after a swap that rolled itself back).
                swapped = True
                apply_swap(target, self.staging, self.run_id, plan.folders)
                step.detail = ", ".join(plan.folders)
            if plan.outside:
                # After the swap and before the gate: the gates see them, and a failed run rolls them back.
                with steps.step("add adapter tests") as step:
                    added = write_outside(target, backup, plan.outside)
                    step.detail = f"{len(added)} file(s)"
                    draft.note(added)
            with steps.step("import gate") as step:
                excused = imports.verdict()
                if imports.checked is not None:
                    step.detail = "the imports from staging (the same files, now in place)"
                if excused:
                    step.detail = f"{len(excused)} module(s) excused: they failed the same way before the swap"
                    draft.note(excused)
            self._test_gate(run_tests)
            # From here the run has committed: a signal now is acted on once the report says so.
            hold = Hold().start()
        except BaseException as exc:
            try:
                instead = self._after_failure(exc, backup, swapped)
            except KeyboardInterrupt as late:
                if self._failure_handled:
                    raise
                # The signal landed in the few bytecodes before the rollback's hold began: roll back all the same.
                exc, instead = late, self._after_failure(late, backup, swapped)
            if instead is None:
                raise exc
            raise instead from exc
        try:
            report = draft.finish("succeeded", steps.steps)
            note_committed(f"the new tree is in place (backup {backup.id} holds the previous one; report: "
                           f"{backup.path / 'report.md'})",
                           f"`{self._program()} restore --backup {backup.id}` puts the previous tree back if you "
                           "do not want the new one")
            keep_report(report, backup, "succeeded", self.options, settings)
        except BaseException:
            hold.release(failed=True)
            raise
        hold.release()
        pause_for_test("committed")
        return report

    def _program(self) -> str:
        return self.options.command.split(" ", 1)[0] or "invoke"

    def _after_failure(self, exc: BaseException, backup: Backup, swapped: bool) -> Optional[RegenError]:
        """Roll back (unless --keep-failed) and file the report, whole whatever signal arrives meanwhile.

        Returns the error to raise instead of `exc`: when the rollback failed too (naming `exc` first, the
        cause), or for an interruption (saying what became of the tree); None to re-raise `exc`.
        """
        # A second Ctrl-C or a CI runner's SIGTERM must not stop a rollback halfway: it is acted on after.
        with deferred(act=False):
            self._failure_handled = True
            steps = self.steps
            where = next((f"the {s.name} step" for s in reversed(steps.steps) if s.status == "failed"), "the run")
            rollback_error: Optional[BaseException] = None
            outcome: Literal["failed", "rolled-back"] = "failed"
            if swapped and not self.options.keep_failed:
                try:
                    self._roll_back(backup)
                    outcome = "rolled-back"
                except BaseException as failed:  # noqa: B036 - reported with the cause, not instead of it
                    rollback_error = failed
            instead = self._failure_error(exc, backup, where, outcome, swapped, rollback_error)
            shown = instead if instead is not None else exc
            error = shown.render() if isinstance(shown, RegenError) else describe(exc)
            try:
                keep_report(self.draft.finish(outcome, steps.steps, error), backup, outcome, self.options,
                            self.settings)
            except Exception as unfiled:  # the run's own error says more than a report that could not be filed
                log.warning("could not file the report in backup %s: %s", backup.id, describe(unfiled))
        return instead

    def _failure_error(self, exc: BaseException, backup: Backup, where: str, outcome: str, swapped: bool,
                       rollback_error: Optional[BaseException]) -> Optional[RegenError]:
        restore = f"`{self._program()} restore --backup {backup.id}`"
        if rollback_error is not None:
            return SdkError(f"{describe(exc)}; rolling back to backup {backup.id} failed too: "
                            f"{describe(rollback_error)}",
                            f"fix that cause, then run {restore}: it puts the previous tree back (or finds it "
                            "already in place)")
        if not isinstance(exc, (KeyboardInterrupt, SwapInterrupted)):
            return None
        signum = signal_of(exc)
        if outcome == "rolled-back":
            state, hint = f"backup {backup.id} was restored: the SDK tree is as it was", "run again when ready"
        elif swapped:
            state, hint = "the new tree was kept (--keep-failed)", f"{restore} puts the previous tree back"
        else:
            state, hint = "the SDK tree was left as it was", "run again when ready"
        return RunInterrupted(f"{interrupted_by(signum)} during {where}; {state}", hint, signum)

    def _test_gate(self, run_tests: Optional[TestRunner]) -> None:
        """Run the test sessions on the swapped tree; failures new since the pristine tree stop the run."""
        if self.options.skip_tests or run_tests is None:
            self.steps.skip("tests", "--skip-tests" if self.options.skip_tests else "no test runner")
            return
        with self.steps.step("tests") as step:
            # Here, not at the top: the test matrix needs tomllib/tomli, which --skip-tests runs do not.
            from conductor_regen.matrix.lint import review_notes
            from conductor_regen.matrix.results import gate_detail

            ok, tests = self._gate_keeping_accepted(run_tests)
            self.draft.tests = tuple(tests)
            step.detail = gate_detail(tests)  # the contract's figures, each session's result
            # lint/typecheck in the gate: their new or accepted findings are action notes (also on a rollback).
            gate_notes = review_notes(tests, self.target.root)
            if any(t.get("session") == "contract" for t in tests):
                gate_notes += self._contract_notes()
            self.draft.note(gate_notes)
            if not ok:
                failed = [t for t in tests if t.get("result") == "failed" and t.get("verdict") != "pre-existing"]
                first = f"{failed[0].get('session', '')}: {failed[0].get('detail', '')}" if failed else "see report"
                raise VerificationError(
                    f"gate failed after the swap: {first.replace('contract: contract: ', 'contract: ')}",
                    "the backup was restored; the review notes name each new failure: fix the SDK code, or go "
                    "ahead deliberately with --accept REASON (--keep-failed keeps the new tree to inspect)",
                    notes=tuple(gate_notes),  # printed after the rollback, right before the error line
                )

    def _gate_keeping_accepted(self, run_tests: TestRunner) -> Tuple[bool, Tuple[Dict[str, str], ...]]:
        """The gate; with --accept its sessions write the accepted-findings file, which stays only if it passes."""
        from conductor_regen.matrix.accepted import ACCEPTED_FILE

        path = self.target.root / ACCEPTED_FILE
        before = path.read_bytes() if self.options.accept and path.is_file() else None
        made_folder = not os.path.lexists(path.parent)  # the sessions make .conductor-regen/ for it
        passed = False
        try:
            ok, tests = run_tests(self.target)
            passed = ok
            return ok, tests
        finally:
            if self.options.accept and not passed:  # a rolled-back run records nothing
                with deferred():
                    if before is not None:
                        atomic_write_bytes(path, before)
                    elif path.is_file():
                        path.unlink()
                        if made_folder:
                            with suppress(OSError):
                                path.parent.rmdir()

    def _contract_notes(self) -> List[str]:
        """Each new contract failure (method, file:line, what changed, the choices), each accepted one apart."""
        from conductor_regen.matrix.contract.notes import review_notes as contract_notes
        from conductor_regen.matrix.runner import matrix_dirs

        accept = (f"`{self._program()} regenerate --sdk {self.target.root} --spec {self.options.spec} "
                  "--accept \"REASON\"` records the finding with your reason and lists it as an accepted break")
        junit_dir = matrix_dirs(self.settings.cache_dir)[0]
        return contract_notes(junit_dir / "contract.xml", self.target.root, self.target.package_dir,
                              self.draft.changes, accept)

    def _roll_back(self, backup: Backup) -> None:
        with self.steps.step("roll back") as step:
            # An interrupted swap leaves its journal behind; settle it before restoring over it.
            recover(self.target)
            result = restore_backup(self.target, backup, self.settings.backups_dir)
            step.detail = f"restored backup {backup.id} ({result.restored} files)" + (
                f"; removed {', '.join(result.removed_outside)}" if result.removed_outside else "")


@contextmanager
def transaction(target: SdkTarget, options: RegenOptions, settings: Settings,
                steps: StepLog) -> Iterator[Transaction]:
    """Pre-flight, then the lock and recovery; yields the run's transaction and cleans its staging up at the end."""
    preflight(target, steps)
    with locked_sdk(target) as recovered:
        if recovered:
            steps.skip("recover", recovered)
        if not target.http_dir.is_dir():  # resolve_sdk let a missing http/ through for recovery only
            raise SdkError(f"{target.http_dir} is missing, even after recovery",
                           "put it back with `invoke restore`, or check out the SDK again")
        txn = Transaction(target, options, settings, steps, ReportDraft(options.command, str(target.root)))
        try:
            yield txn
        finally:
            with deferred(act=False):  # staging goes whole; a signal now is acted on when the command ends
                txn.close()


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

