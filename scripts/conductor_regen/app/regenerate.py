"""`invoke regenerate`: the whole guide as one run that is planned first and rolled back on failure."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from conductor_regen.client.binding import BindingResult, check_bindings
from conductor_regen.sdk.backups import Backup, attach, create_backup, record_added_outside, retain_runs, set_outcome
from conductor_regen.client.changes import Change, analyze, to_json_list
from conductor_regen.client.impact import count_by_impact, usage_from
from conductor_regen.compat.fields import keep_removed_fields
from conductor_regen.compat.keep import keep_removed
from conductor_regen.config import Settings
from conductor_regen.errors import Aborted, BackupError, ConfigError, RegenError, SdkError, VerificationError
from conductor_regen.file_tree import copy_entry, digest_tree
from conductor_regen.compat.imports import fix_imports
from conductor_regen.sdk.journal import new_run_id
from conductor_regen.compat.local_edits import apply_edits, edits_for
from conductor_regen.compat.pinning import pin_step
from conductor_regen.generator.pipeline import Generated, PreparedSpec, generate_verified, prepare_spec, provenance_for
from conductor_regen.progress import StepLog
from conductor_regen.client.references import SourceTree, check_references, staged_tree
from conductor_regen.compat.scaffold import OutsideFile, adapter_tests, alias_renamed, scaffold_adapters
from conductor_regen.generator.provenance import IN_SDK, Provenance, read_provenance, write_provenance
from conductor_regen.app.report import FileChanges, Report
from conductor_regen.sdk.restore import restore_backup
from conductor_regen.sdk.lock import sdk_lock
from conductor_regen.sdk.target import SdkTarget, check_clean, check_disk_space, check_managed_paths, managed_size, safe_join
from conductor_regen.spec.intake import dump_spec
from conductor_regen.sdk.swap import apply_swap, discard_staging, prepare_staging, recover
from conductor_regen.generator.verify import IMPORT_TIMEOUT, import_all
from conductor_regen.sdk.work_dirs import new_work_dir, sweep_work_dirs

log = logging.getLogger(__name__)

PROVENANCE_IN_SDK = IN_SDK


@dataclasses.dataclass(frozen=True)
class RegenOptions:
    """What the user asked for on the command line."""

    spec: str
    dry_run: bool = False
    yes: bool = False
    skip_tests: bool = False
    keep_failed: bool = False
    allow_dirty: bool = False
    only: Tuple[str, ...] = ()
    report_path: Optional[Path] = None
    use_cache: bool = True
    force: bool = False  # regenerate even when the recorded provenance matches
    pin_names: bool = True  # keep the live client's method names (operationIds pinned to them)
    command: str = "invoke regenerate"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run would change, computed before anything is touched."""

    folders: Tuple[str, ...]  # managed folders whose content changes
    files: FileChanges
    steps: Tuple[str, ...]
    outside: Tuple[OutsideFile, ...] = ()  # files added outside the managed folders, after the swap

    def lines(self, listing: bool = True) -> List[str]:
        """The plan for humans (dry run and the confirmation prompt); `listing` adds the files, 40 per kind."""
        out = ["plan:"]
        out += [f"  {n}. {s}" for n, s in enumerate(self.steps, 1)]
        out.append(f"files: {len(self.files.added)} added, {len(self.files.removed)} removed, "
                   f"{len(self.files.changed)} changed in {', '.join(self.folders) or 'no folder'}")
        for kind, names in (("+", self.files.added), ("-", self.files.removed), ("~", self.files.changed)):
            if not listing:
                break
            out += [f"  {kind} {n}" for n in sorted(names)[:40]]
            if len(names) > 40:
                out.append(f"  {kind} ... and {len(names) - 40} more")
        if self.outside:
            out.append(f"outside the managed folders: {len(self.outside)} added (undone by restore)")
            out += [f"  + {f.path} (tests {f.about})" for f in self.outside]
        return out


Confirm = Callable[[Plan], bool]
TestRunner = Callable[[SdkTarget], Tuple[bool, Tuple[Dict[str, str], ...]]]


def recorded_provenance(target: SdkTarget) -> Optional[Provenance]:
    """What produced the live generated tree, if this tool made it."""
    return read_provenance(target.http_dir / PROVENANCE_IN_SDK)


def diff_trees(old: Mapping[str, str], new: Mapping[str, str]) -> FileChanges:
    """Compare two {relative path: digest} maps."""
    return FileChanges(
        added=tuple(sorted(new.keys() - old.keys())),
        removed=tuple(sorted(old.keys() - new.keys())),
        changed=tuple(sorted(k for k in old.keys() & new.keys() if old[k] != new[k])),
    )


def _copy_only(generated: Path, live_http: Path, dest: Path, only: Sequence[str]) -> None:
    """Incremental mode: the live http/ with just the named API modules (and their models) replaced."""
    from conductor_regen.sdk.incremental import merge_only

    merge_only(generated, live_http, dest, only)


def assemble(target: SdkTarget, generated: Path, provenance: Optional[Provenance], staging: Path,
             settings: Settings, options: RegenOptions) -> List[str]:
    """Build the new managed folders in staging: generated http/ with local edits; the rest copied."""
    notes: List[str] = []
    new_http = staging / "http"
    if options.only:
        _copy_only(generated, target.http_dir, new_http, options.only)
    else:
        shutil.copytree(generated, new_http, symlinks=True)
    for name in target.managed:
        if name != "http" and (target.package_dir / name).exists():
            copy_entry(target.package_dir / name, staging / name)
    fixed = fix_imports([staging / n for n in target.managed if (staging / n).exists()], settings.generator)
    if fixed:
        notes.append(f"fixed imports in {len(fixed)} file(s)")
    edits = apply_edits(new_http, edits_for(target.root))
    if edits:
        notes.append("re-applied local edits: " + ", ".join(edits))
    package = package_name(target)
    # Before keep_removed: calls through the adapters then resolve to the aliases, so the renamed
    # operations' old generated code is not carried over (removed operations still are).
    notes += alias_renamed(target.http_dir, new_http, staging, package=package)
    notes += keep_removed(target.http_dir, new_http, target.package_dir, staging,
                          policy=settings.sdk.removed, package=package)
    notes += keep_removed_fields(target.http_dir, new_http, target.package_dir, staging,
                                 policy=settings.sdk.removed, package=package)
    notes += scaffold_adapters(new_http, staging, package=package)
    notes += carry_edits(target, new_http, package, options.dry_run)
    # Verify before the swap that everything hand-written still resolves against the new tree.
    problems = check_references(staging, target.package_dir, package=package, sdk_root=target.root)
    if problems and options.dry_run:
        notes += [f"unresolved: {p}" for p in problems]
    elif problems:
        raise VerificationError(
            f"the new tree leaves {len(problems)} unresolved reference(s) in the SDK; first: {problems[0]}",
            "update the adapters/Orkes clients, or use --removed keep; nothing was changed")
    # A partial update must not claim the whole tree came from any one spec (nor keep an old claim).
    if options.only:
        (new_http / PROVENANCE_IN_SDK).unlink(missing_ok=True)
    elif provenance is not None:
        write_provenance(provenance, new_http / PROVENANCE_IN_SDK)
    return notes


def carry_edits(target: SdkTarget, new_http: Path, package: str, dry_run: bool) -> List[str]:
    """Re-make in the new http/ every reference the live one makes to hand-written code (a deliberate edit)."""
    from conductor_regen.compat.hand_refs import carry_refs

    carried = carry_refs(target.http_dir, new_http, package)
    if carried.failures and not dry_run:
        raise VerificationError(
            f"{len(carried.failures)} deliberate edit(s) of the generated code cannot be carried into the new "
            f"tree; first: {carried.failures[0]}",
            "make the edit in the new tree another way (an entry in .conductor-regen/local_edits.json), "
            "or drop it from the live client first; nothing was changed")
    return carried.notes() + [f"warning: {f}" for f in carried.failures]


def check_call_bindings(target: SdkTarget, staging: Path, rewrite: bool,
                        replace: Optional[Mapping[str, Path]] = None) -> BindingResult:
    """Bind every SDK call into the generated client against the staged tree; rewrite what keywords repair.

    Only staged copies (managed folders) are rewritten; what is left is in the result's findings.
    """
    from conductor_regen.compat.keyword_calls import rewrite_findings

    package = package_name(target)
    live = SourceTree(package, target.package_dir)
    new = staged_tree(staging, target.package_dir, package, **dict(replace or {}))
    result = check_bindings(live, new, target.root, target.managed)
    if not rewrite or not any(f.repairable and f.managed for f in result.findings):
        return result
    notes = rewrite_findings(result.findings, staging)
    again = check_bindings(live, new, target.root, target.managed)
    fixed = tuple(sorted({f.site.where for f in result.findings if f.repairable and f.managed}))
    return dataclasses.replace(again, rewritten=tuple(notes), rewritten_at=fixed)


def check_and_compare(target: SdkTarget, staging: Path, old_spec: Optional[Mapping[str, Any]],
                      new_spec: Optional[Mapping[str, Any]], settings: Settings, steps: StepLog,
                      notes: Sequence[str], refuse: bool) -> Tuple[BindingResult, Optional[Tuple[Change, ...]]]:
    """The `check bindings` and `compare APIs` steps on an assembled tree, shared by regenerate and diff.

    With `refuse`, calls that would no longer bind stop the run here, before anything is swapped.
    """
    with steps.step("check bindings") as step:
        binding = check_call_bindings(target, staging, settings.sdk.keyword_calls)
        step.detail = binding.summary()
        if binding.findings and refuse:
            raise binding_error(binding, settings.sdk.keyword_calls)
    if not (target.http_dir / "api").is_dir():
        steps.skip("compare APIs", "no live client to compare with")
        return binding, None
    with steps.step("compare APIs") as step:
        # The staged http/ is what lands (incremental merge and local edits included); the caller
        # passes the unpinned document, so the report quotes the server's operationIds.
        usage = usage_from(binding, [*notes, *binding.rewritten])
        changes = analyze(target.http_dir, staging / "http", old_spec, new_spec,
                          settings.fixups.strip_path_prefix, usage=usage)
        step.detail = "; ".join(f"{n} {group}" for group, n in count_by_impact(changes).items())
    return binding, changes


def binding_error(result: BindingResult, rewrite: bool) -> VerificationError:
    """The run-stopping error for calls that would no longer bind (file:line and both signatures)."""
    first = result.findings[0]
    outside = sorted({f.site.where.rsplit(":", 1)[0] for f in result.findings if not f.managed})
    if outside:
        hint = (f"{outside[0]} is outside the managed folders, so the keyword codemod may not rewrite it: "
                "pass those arguments by keyword there, or add its folder to sdk.managed; nothing was changed")
    elif not rewrite and any(f.repairable for f in result.findings):
        hint = "rerun without --no-keyword-calls to rewrite them as keyword calls; nothing was changed"
    else:
        hint = "update the SDK code to the new signature (or add an adapter override); nothing was changed"
    return VerificationError(
        f"{len(result.findings)} SDK call(s) would not bind to the new client; first: {first.render()}", hint)


def package_name(target: SdkTarget) -> str:
    """The dotted name of the SDK's async client package (`conductor.asyncio_client`)."""
    return ".".join(target.package_dir.relative_to(target.root / "src").parts)


def make_plan(target: SdkTarget, staging: Path, staged_only: bool = False, tests: bool = True) -> Plan:
    """Diff the live managed folders against the staged ones (with `staged_only`, just those staged)."""
    names = tuple(n for n in target.managed
                  if (staging / n).exists() or (not staged_only and (target.package_dir / n).exists()))
    old = digest_tree(target.package_dir, names)
    new = digest_tree(staging, names)
    files = diff_trees(old, new)
    touched = {p.split("/", 1)[0] for p in (*files.added, *files.removed, *files.changed)}
    folders = tuple(n for n in names if n in touched)
    http = staging / "http" if (staging / "http").is_dir() else target.http_dir
    outside = tuple(adapter_tests(http, staging, target.package_dir, target.root, package_name(target)))
    steps = (
        "back up " + ", ".join(target.managed) + " to the backup store",
        "swap in " + (", ".join(folders) or "nothing") + " atomically (journaled)",
        *([f"add {len(outside)} test(s) for new adapters under tests/ (recorded in the backup)"] if outside else []),
        "check every module of conductor.asyncio_client imports",
        "run the test sessions, restore the backup if anything fails" if tests
        else "restore the backup if anything fails",
        "write the report",
    )
    return Plan(folders, files, steps, outside)


def import_failures(target: SdkTarget, timeout: float = IMPORT_TIMEOUT,
                    python: Optional[str] = None) -> Tuple[Tuple[str, str], ...]:
    """Modules of the SDK's async client that fail to import in a fresh interpreter, with their errors."""
    package = package_name(target)
    return import_all([target.root / "src"], [package], python, timeout=timeout).failures


def gate_interpreter(target: SdkTarget, settings: Settings, steps: StepLog) -> Tuple[Optional[str], Tuple[str, ...]]:
    """The SDK's own environment for the import gate (see sdk_env); this tool's, with a warning, if it cannot be built."""
    import sys

    from conductor_regen.sdk.env import sdk_python

    with steps.step("SDK environment") as step:
        try:
            exe = sdk_python(target.root, settings.cache_dir, f"{sys.version_info[0]}.{sys.version_info[1]}")
        except VerificationError as exc:
            step.status = "skipped"
            step.detail = f"not built: {exc.message}"
            return None, (f"warning: the import gate ran in this tool's environment, not the SDK's "
                          f"({exc.message}); modules needing a package it lacks were excused",)
        step.detail = f"{exe.parent.parent.name} (the SDK and its declared dependencies)"
    return str(exe), ()


def import_gate(target: SdkTarget, baseline: Tuple[Tuple[str, str], ...] = (),
                timeout: float = IMPORT_TIMEOUT, python: Optional[str] = None) -> List[str]:
    """Every module of the SDK's async client must import, except those that already failed the same way.

    Run in the SDK's own environment (`python`), a missing third-party package is a real failure;
    the baseline (taken before the swap) excuses only what already failed the same way there.
    """
    excused = set(baseline)
    package = package_name(target)
    check = import_all([target.root / "src"], [package], python, timeout=timeout)
    if check.modules == 0:
        # Excused or not, a gate that imported nothing verified nothing: that is not a pass.
        err = dict(check.failures).get(package, "no module found")
        raise VerificationError(
            f"the import gate imported nothing: {package} itself fails to import ({err})",
            "the backup was restored; make the package import (install its dependencies), then run again",
        )
    new = [f for f in check.failures if f not in excused]
    if new:
        mod, err = new[0]
        raise VerificationError(
            f"{len(new)} module(s) of the async client fail to import after the swap; first: {mod}: {err}",
            "the backup was restored; see the report, or rerun with --keep-failed to inspect",
        )
    return [f"{mod} did not import before the swap either ({err})" for mod, err in sorted(excused)]


def _spec_info(spec: PreparedSpec) -> Dict[str, str]:
    from conductor_regen.generator.provenance import public_source

    return {"source": public_source(spec.loaded.source), "sha256": spec.loaded.sha256,
            "version": spec.loaded.version}


def _preflight(target: SdkTarget, steps: StepLog) -> None:
    """Checks that need no lock: layout, no symlinked managed folder, room for a backup and a staged copy."""
    with steps.step("pre-flight checks"):
        check_managed_paths(target)
        check_disk_space(target.package_dir, 2 * managed_size(target) + 50 * 1024 * 1024)


def _recover(target: SdkTarget, steps: StepLog) -> None:
    """Settle an interrupted earlier run (call under the lock) and say so in the step log."""
    recovered = recover(target)
    if recovered:
        steps.skip("recover", recovered)
    if not target.http_dir.is_dir():  # resolve_sdk let a missing http/ through for recovery only
        raise SdkError(f"{target.http_dir} is missing, even after recovery",
                       "put it back with `invoke restore`, or check out the SDK again")


def _dirty_notes(target: SdkTarget, options: RegenOptions) -> Tuple[str, ...]:
    """Refuse uncommitted work in the managed folders, except in a dry run (it changes nothing): warn there."""
    dirty = check_clean(target, options.allow_dirty or options.dry_run)
    if dirty and options.dry_run and not options.allow_dirty:
        return (f"warning: {len(dirty)} uncommitted change(s) in the managed folders; a real run refuses them "
                "unless you commit them or pass --allow-dirty",)
    return ()


def _base_from(options: RegenOptions, target: SdkTarget, prov: Optional[Provenance],
               fallback_source: str) -> Dict[str, Any]:
    """Report fields for a run whose tree comes from recorded provenance rather than a spec."""
    return dict(
        command=options.command, sdk=str(target.root),
        spec={"source": prov.spec_source, "sha256": prov.spec_sha256, "version": prov.spec_version}
        if prov else {"source": fallback_source},
        generator={"backend": prov.generator_backend, "version": prov.generator_version} if prov else {},
        fixups=prov.fixups if prov else ())


def regenerate(target: SdkTarget, options: RegenOptions, settings: Settings, steps: StepLog,
               confirm: Confirm, run_tests: Optional[TestRunner] = None,
               env: Optional[Mapping[str, str]] = None) -> Report:
    """Run the whole procedure on `target`; the SDK is either fully updated or left as it was."""
    _preflight(target, steps)
    with sdk_lock(target):
        _recover(target, steps)
        prepared = prepare_spec(options.spec, settings, steps, env)
        # Before provenance: the pinned document is what is generated, cached and recorded, so an
        # unchanged spec is still a no-op on the next run.
        spec, pinning = pin_step(prepared, target.http_dir, steps, options.pin_names)
        gen_info = {"backend": settings.generator.backend, "version": settings.generator.version}
        base: Dict[str, Any] = dict(command=options.command, sdk=str(target.root), spec=_spec_info(spec),
                                    generator=gen_info, fixups=tuple(f.name for f in spec.fixups), notes=pinning)
        prov = provenance_for(spec, settings)
        if not options.only and not options.force and recorded_provenance(target) == prov:
            steps.skip("generate", "the live client was generated from the same spec, generator and options")
            return Report(outcome="no-op", steps=tuple(steps.steps), **base)
        # Only now: a no-op run touches nothing, so it need not insist on a clean tree.
        base["notes"] = tuple(base["notes"]) + _dirty_notes(target, options)
        work = new_work_dir(settings.cache_dir, "regen")
        run_id = new_run_id()
        try:
            gen = generate_verified(spec, work / "staging", settings, steps, use_cache=options.use_cache)
            staging = prepare_staging(target, run_id)
            try:
                with steps.step("assemble new tree") as step:
                    notes = assemble(target, gen.tree.package_dir, gen.tree.provenance, staging, settings,
                                     options)
                    step.detail = f"{len(notes)} note(s), listed in the report"
                    base["notes"] = tuple(base["notes"]) + tuple(notes)
                binding, changes = check_and_compare(target, staging, None, prepared.document, settings, steps,
                                                     base["notes"], refuse=not options.dry_run)
                base["binding"] = binding.figures()
                base["notes"] = tuple(base["notes"]) + binding.rewritten + tuple(
                    f"would not bind: {f.render()}" for f in binding.findings)
                if changes is not None:
                    base["changes"] = tuple(to_json_list(changes))
                plan = make_plan(target, staging)
                if options.dry_run:
                    return Report(outcome="dry-run", steps=tuple(steps.steps), files=plan.files,
                                  plan=tuple(plan.lines(listing=False)), **base)
                if not plan.folders:
                    steps.skip("swap", "the new tree is identical to the live one")
                    return Report(outcome="no-op", steps=tuple(steps.steps), files=plan.files, **base)
                if not options.yes and not confirm(plan):
                    raise Aborted("declined at the confirmation prompt; nothing was changed",
                                  "rerun with --yes to skip the prompt, or --dry-run to see the plan")
                return _apply(target, spec.loaded.version, dump_spec(spec.loaded.document), plan, staging,
                              run_id, options, settings, steps, run_tests, base)
            finally:
                discard_staging(target, run_id)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _apply(target: SdkTarget, spec_version: str, spec_bytes: Optional[bytes], plan: Plan, staging: Path,
           run_id: str, options: RegenOptions, settings: Settings, steps: StepLog,
           run_tests: Optional[TestRunner], base: Dict[str, object]) -> Report:
    """Back up, swap, gate; restore the backup on any failure (or Ctrl-C) after the swap."""
    python, env_notes = gate_interpreter(target, settings, steps)
    base["notes"] = _notes(base) + env_notes
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
                base["notes"] = _notes(base) + tuple(added)
        with steps.step("import gate") as step:
            excused = import_gate(target, baseline, settings.import_timeout, python)
            if excused:
                step.detail = f"{len(excused)} module(s) excused: they failed the same way before the swap"
                base["notes"] = _notes(base) + tuple(excused)
        if options.skip_tests or run_tests is None:
            steps.skip("tests", "--skip-tests" if options.skip_tests else "no test runner")
        else:
            with steps.step("tests") as step:
                # Here, not at the top: the test matrix needs tomllib/tomli, which --skip-tests runs do not.
                from conductor_regen.matrix.sessions import gate_detail

                ok, tests = run_tests(target)
                step.detail = gate_detail(tests)  # the contract's figures, each session's result
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
        _keep(report, backup, outcome, options, settings)
        raise
    report = Report(outcome="succeeded", steps=tuple(steps.steps), files=plan.files, backup_id=backup.id,
                    tests=tests, **base)  # type: ignore[arg-type]
    _keep(report, backup, "succeeded", options, settings)
    return report


def _notes(base: Mapping[str, object]) -> Tuple[str, ...]:
    """The notes collected so far for a run's report."""
    notes = base.get("notes", ())
    return tuple(str(n) for n in notes) if isinstance(notes, (tuple, list)) else ()


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


def _keep(report: Report, backup: Backup, outcome: str, options: RegenOptions, settings: Settings) -> None:
    """File the report in the run's backup folder (and at --report), then apply the retention."""
    attach(backup, "report.json", report.to_json().encode())
    attach(backup, "report.md", report.to_markdown().encode())
    set_outcome(backup, outcome)
    if options.report_path:
        write_report(report, options.report_path)
    retain_runs(settings.backups_dir, backup.path.parent.name, settings.backups_keep,
                Path(backup.sdk_root) if backup.sdk_root else None)


def write_report(report: Report, path: Path) -> None:
    """Write the JSON report to `path` and the Markdown beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_json(), encoding="utf-8")
    path.with_suffix(".md").write_text(report.to_markdown(), encoding="utf-8")


def report_file(report: Report, settings: Settings, target: SdkTarget, wanted: Optional[Path] = None) -> Path:
    """Where a finished run's Markdown report is: --report, else the run's backup, else the cache (written now)."""
    from conductor_regen.sdk.backups import get_backup

    if wanted is not None:
        if report.backup_id is None:  # a run that swapped has filed --report already
            write_report(report, wanted)
        return wanted.with_suffix(".md")
    if report.backup_id is not None:
        return get_backup(settings.backups_dir, target.name, report.backup_id).path / "report.md"
    path = settings.cache_dir / "reports" / f"{target.name}-{report.outcome}.json"
    write_report(report, path)
    return path.with_suffix(".md")


def replace_from(target: SdkTarget, source: Path, options: RegenOptions, settings: Settings, steps: StepLog,
                 confirm: Confirm) -> Report:
    """`invoke replace`: swap an existing generated tree into the SDK with the same safety as regenerate."""
    from conductor_regen.generator.run import META_DIR, is_staging_tree, package_dir
    from conductor_regen.generator.provenance import FILENAME

    source = source.resolve()
    if is_staging_tree(source):
        generated = package_dir(source, settings.generator.package_name)
        prov = read_provenance(source / META_DIR / FILENAME)
    elif (source / "api").is_dir() and (source / "models").is_dir():
        generated, prov = source, None
    else:
        raise VerificationError(f"{source} is neither a staging tree nor a generated package",
                                "pass the --output of `invoke generate`, or a folder holding api/ and models/")
    _preflight(target, steps)
    with sdk_lock(target):
        _recover(target, steps)
        check_clean(target, options.allow_dirty)
        base = _base_from(options, target, prov, str(source))
        run_id = new_run_id()
        staging = prepare_staging(target, run_id)
        try:
            with steps.step("assemble new tree") as step:
                step.detail = "; ".join(assemble(target, generated, prov, staging, settings, options))
            plan = make_plan(target, staging)
            if not plan.folders:
                steps.skip("swap", "the new tree is identical to the live one")
                return Report(outcome="no-op", steps=tuple(steps.steps), files=plan.files, **base)
            if not options.yes and not confirm(plan):
                raise Aborted("declined at the confirmation prompt; nothing was changed",
                              "rerun with --yes to skip the prompt")
            return _apply(target, prov.spec_version if prov else "replace", None, plan, staging, run_id,
                          options, settings, steps, None, base)
        finally:
            discard_staging(target, run_id)


def scaffold_sdk(target: SdkTarget, options: RegenOptions, settings: Settings, steps: StepLog,
                 confirm: Confirm) -> Report:
    """`invoke scaffold-adapters`: adapters (wiring, tests) for the live http/, as safely as regenerate."""
    if "adapters" not in target.managed:
        raise ConfigError("adapters/ is not a managed folder, so scaffolding may not write there",
                          "add adapters to sdk.managed (default: http,adapters,orkes)")
    if not (target.http_dir / "api").is_dir():
        raise VerificationError(f"{target.http_dir} has no api/ folder to scaffold adapters for",
                                "run `invoke regenerate` first")
    _preflight(target, steps)
    with sdk_lock(target):
        _recover(target, steps)
        prov = recorded_provenance(target)
        base = _base_from(options, target, prov, "the live http/")
        run_id = new_run_id()
        staging = prepare_staging(target, run_id)
        try:
            with steps.step("scaffold adapters") as step:
                notes = _scaffold_staged(target, staging, options.dry_run)
                step.detail = f"{len(notes)} note(s), listed in the report"
                base["notes"] = tuple(notes)
            plan = make_plan(target, staging, staged_only=True, tests=False)
            if not plan.folders:
                steps.skip("swap", "every generated API and model already has an adapter")
                return Report(outcome="no-op", steps=tuple(steps.steps), files=plan.files, **base)
            # Only now, as in regenerate: a no-op touches nothing, so it need not insist on a clean tree.
            base["notes"] = tuple(base["notes"]) + _dirty_notes(target, options)
            if options.dry_run:
                return Report(outcome="dry-run", steps=tuple(steps.steps), files=plan.files,
                              plan=tuple(plan.lines(listing=False)), **base)
            if not options.yes and not confirm(plan):
                raise Aborted("declined at the confirmation prompt; nothing was changed",
                              "rerun with --yes to skip the prompt, or --dry-run to see the plan")
            return _apply(target, prov.spec_version if prov else "scaffold", None, plan, staging, run_id,
                          options, settings, steps, None, base)
        finally:
            discard_staging(target, run_id)


def _scaffold_staged(target: SdkTarget, staging: Path, dry_run: bool) -> List[str]:
    """Copy adapters/ and orkes/ into staging, scaffold there, and check nothing new is left unresolved."""
    package = package_name(target)
    for name in ("adapters", "orkes"):
        if name in target.managed and (target.package_dir / name).exists():
            copy_entry(target.package_dir / name, staging / name)
    notes = list(scaffold_adapters(target.http_dir, staging, package=package))
    # Only what scaffolding would add counts: a live SDK may already have references it cannot fix.
    before = set(check_references(staging / ".nothing-staged", target.package_dir, package=package,
                                  sdk_root=target.root))
    after = check_references(staging, target.package_dir, package=package, sdk_root=target.root)
    problems = [p for p in after if p not in before]
    if problems and not dry_run:
        raise VerificationError(
            f"scaffolding leaves {len(problems)} new unresolved reference(s) in the SDK; first: {problems[0]}",
            "fix the adapters or Orkes clients by hand; nothing was changed")
    notes += [f"unresolved: {p}" for p in problems]
    fixed = len(before - set(after))
    if fixed:
        notes.append(f"resolves {fixed} reference(s) that were unresolved in the live SDK")
    return notes


def fix_sdk_imports(target: SdkTarget, settings: Settings, steps: Optional[StepLog] = None,
                    options: Optional[RegenOptions] = None) -> List[str]:
    """`invoke fix-imports`: rewrite default package names in the managed folders, in the same
    transaction as replace (lock, recovery, clean tree, staged copy, backup, atomic swap, import
    gate, rollback), so a kill at any instant leaves every file whole."""
    steps = steps if steps is not None else StepLog()
    options = options if options is not None else RegenOptions(spec="", yes=True, command="invoke fix-imports")
    _preflight(target, steps)
    with sdk_lock(target):
        _recover(target, steps)
        prov = recorded_provenance(target)
        base = _base_from(options, target, prov, "the live SDK")
        run_id = new_run_id()
        staging = prepare_staging(target, run_id)
        try:
            with steps.step("fix imports") as step:
                for name in target.managed:
                    if (target.package_dir / name).exists():
                        copy_entry(target.package_dir / name, staging / name)
                fixes = fix_imports([staging / n for n in target.managed if (staging / n).is_dir()],
                                    settings.generator)
                step.detail = f"{len(fixes)} file(s)"
            rel = target.package_dir.relative_to(target.root)
            lines = [f"rewrote {f.rewrites} import(s) in {(rel / f.path.relative_to(staging)).as_posix()}"
                     for f in fixes]
            lines.append(f"{len(fixes)} file(s) changed")
            base["notes"] = tuple(lines)
            # Only the rewritten folders; nothing is added outside them.
            plan = dataclasses.replace(make_plan(target, staging, staged_only=True, tests=False), outside=())
            if not plan.folders:
                steps.skip("swap", "no import to rewrite")
                return lines + import_gate(target, import_failures(target, settings.import_timeout),
                                           settings.import_timeout) + [_ALL_IMPORT]
            check_clean(target, options.allow_dirty)  # only now, as in regenerate: a no-op touches nothing
            report = _apply(target, prov.spec_version if prov else "fix-imports", None, plan, staging, run_id,
                            options, settings, steps, None, base)
        finally:
            discard_staging(target, run_id)
    excused = [n for n in report.notes if n not in lines]
    return lines + [f"backup {report.backup_id} (undo with `invoke restore`)"] + excused + [_ALL_IMPORT]


_ALL_IMPORT = "every module of the async client imports (apart from any listed above)"


def restore_sdk(target: SdkTarget, settings: Settings, backup_id: Optional[str],
                ask: Callable[[str], bool], moved: bool = False) -> List[str]:
    """`invoke restore`: finish an interrupted run, then undo the last run (or restore --backup ID) and verify."""
    from conductor_regen.sdk.backups import get_backup, mark_undone, restore_point, undone_by, verify_tree
    from conductor_regen.sdk.restore import outside_leftovers

    lines: List[str] = []
    with sdk_lock(target):
        recovered = recover(target)
        if recovered:
            lines.append(recovered)
        sweep_work_dirs(settings.cache_dir)
        try:
            root = None if moved else target.root
            chosen = (get_backup(settings.backups_dir, target.name, backup_id, root) if backup_id
                      else restore_point(settings.backups_dir, target.name, root))
        except BackupError as exc:
            if recovered and backup_id is None:
                # The interrupted run never got as far as a backup, so it never touched the tree.
                raise BackupError(exc.message, f"{recovered}; the tree is as it was, nothing needs restoring") \
                    from exc
            raise
        if not verify_tree(chosen, target) and not outside_leftovers(target, chosen):
            # Restoring again would only flip back and forth: a second restore undoes nothing.
            forward = undone_by(chosen)
            lines.append(f"nothing to restore: the tree already matches backup {chosen.id}"
                         + (" (the state before the last run)" if backup_id is None else ""))
            if forward:
                lines.append(f"to go forward again: invoke restore --backup {forward}")
            return lines
        if not ask(f"{', '.join(target.managed)} of {target.root} from backup {chosen.id}"):
            raise Aborted("restore declined; nothing was changed", "pass --yes to skip the question")
        # The live tree may hold work nobody saved: keep it too, so a restore never loses anything,
        # including the files outside the managed folders it is about to remove or overwrite.
        from conductor_regen.sdk.backups import load_manifest
        from conductor_regen.sdk.restore import touched_outside

        touched = touched_outside(target, load_manifest(chosen))  # refuses names outside the SDK first
        current = set_outcome(create_backup(settings.backups_dir, target, "pre-restore", outside=touched),
                              "pre-restore")
        lines.append(f"saved the current tree as backup {current.id} (go forward again with --backup {current.id})")
        result = restore_backup(target, chosen, settings.backups_dir, moved=moved)
        mark_undone(chosen, current)
        retain_runs(settings.backups_dir, target.name, settings.backups_keep, root)
    lines.append(f"restored backup {result.backup_id}: {result.restored} files put back "
                 f"({result.changed} changed or missing), {result.removed} added file(s) removed; "
                 "verified against its manifest")
    if result.removed_outside:
        lines.append(f"removed {len(result.removed_outside)} file(s) the run had added outside the managed "
                     f"folders: {', '.join(result.removed_outside)}")
    return lines
