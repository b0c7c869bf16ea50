"""`invoke diff`: generate a spec as a run would and say what changes for SDK users (report only)."""

from __future__ import annotations

import shutil
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Optional, Tuple

from conductor_regen.commands.assemble import assemble, check_and_compare
from conductor_regen.commands.plan import RegenOptions, diff_trees
from conductor_regen.commands.report import FileChanges
from conductor_regen.analysis.binding import BindingResult
from conductor_regen.analysis.changes import Change, analyze, count_by_severity
from conductor_regen.compat.pinning import pin_step
from conductor_regen.config import Settings
from conductor_regen.errors import RegenError, VerificationError
from conductor_regen.file_tree import digest_tree
from conductor_regen.generator.pipeline import generate_verified, prepare_spec
from conductor_regen.generator.provenance import IN_SDK
from conductor_regen.progress import StepLog
from conductor_regen.checkout.lock import sdk_read_lock
from conductor_regen.checkout.target import SdkTarget
from conductor_regen.checkout.work_dirs import new_work_dir
from conductor_regen.spec.fixups import apply_fixups
from conductor_regen.spec.intake import load_spec


@dataclass(frozen=True)
class SdkDiff:
    """What `invoke diff` found: the changes, and what name pinning did to get there."""

    changes: Tuple[Change, ...]
    pinning: Tuple[str, ...]
    spec_version: str
    binding: Optional[BindingResult] = None  # with an SDK: the call binding check on the assembled tree
    notes: Tuple[str, ...] = ()  # with an SDK: what assembly (aliases, kept code, scaffolding) would do
    # With an SDK: the files a run would change in the managed folders (its provenance record aside).
    files: Optional[FileChanges] = None


def diff_sdk(http_dir: Path, source: str, settings: Settings, steps: "StepLog",
             env: Optional[Mapping[str, str]] = None, pin_names: bool = True,
             old_source: Optional[str] = None, target: Optional[SdkTarget] = None) -> SdkDiff:
    """Generate `source` as a run would (repaired, names pinned) into a scratch tree and compare it with `http_dir`.

    With the SDK `target`, the scratch tree is assembled as `invoke regenerate` would assemble it
    (aliases, kept code, scaffolding, keyword codemod) and every change is tagged with its impact,
    counted the same way as a run's report. The SDK is read under its shared lock: no run swaps it meanwhile.
    """
    with sdk_read_lock(target) if target is not None else nullcontext():
        return _diff_sdk(http_dir, source, settings, steps, env, pin_names, old_source, target)


def _diff_sdk(http_dir: Path, source: str, settings: Settings, steps: "StepLog", env: Optional[Mapping[str, str]],
              pin_names: bool, old_source: Optional[str], target: Optional[SdkTarget]) -> SdkDiff:
    if not (http_dir / "api").is_dir():
        raise VerificationError(f"{http_dir} has no generated client (no api/ folder)",
                                "point --sdk at a conductor-python checkout")
    old_doc = None
    if old_source:
        # The live client's spec is context only: repaired (so paths match) but never validated.
        old_doc = apply_fixups(load_spec(old_source, settings.fetch, env).document, settings.fixups)[0]
    prepared = prepare_spec(source, settings, steps, env)
    spec, lines = pin_step(prepared, http_dir, steps, pin_names)
    work = new_work_dir(settings.cache_dir, "diff")
    try:
        generated = generate_verified(spec, work / "staging", settings, steps)
        if target is not None:
            assembled = work / "assembled"
            assembled.mkdir()
            with steps.step("assemble new tree") as step:
                notes = assemble(target, generated.tree.package_dir, None, assembled, settings,
                                 RegenOptions(spec=source, dry_run=True, pin_names=pin_names))
                step.detail = f"{len(notes)} note(s)"
            binding, tagged = check_and_compare(target, assembled, old_doc, prepared.document, settings, steps,
                                                notes, refuse=False)
            return SdkDiff(tagged or (), lines, spec.loaded.version, binding, tuple(notes) + binding.rewritten,
                           tree_changes(target, assembled))
        with steps.step("compare") as step:
            # The unpinned document, so the report quotes the server's operationIds.
            changes = analyze(http_dir, generated.tree.package_dir, old_doc, prepared.document,
                              settings.fixups.strip_path_prefix)
            counts = count_by_severity(changes)
            step.detail = ", ".join(f"{n} {severity}" for severity, n in counts.items())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return SdkDiff(changes, lines, spec.loaded.version)


def tree_changes(target: SdkTarget, assembled: Path) -> FileChanges:
    """The files of the managed folders the assembled tree adds, removes or changes (as a run's plan counts them).

    The provenance record is left out: a spec that differs only in bytes, key order or parts the generator
    ignores gives the same client, and only the record of its sha256 would change.
    """
    provenance = f"http/{IN_SDK}"
    old = {k: v for k, v in digest_tree(target.package_dir, target.managed).items() if k != provenance}
    new = {k: v for k, v in digest_tree(assembled, target.managed).items() if k != provenance}
    return diff_trees(old, new)


def would_change(result: SdkDiff) -> Optional[str]:
    """`--exit-code`: one line saying what regenerating would change in the client, or None when nothing."""
    files = result.files
    if files is None or not files.total:
        return None
    return (f"regenerating would change the client: {len(files.added)} file(s) added, {len(files.removed)} "
            f"removed, {len(files.changed)} changed")


# `diff --exit-code`: 0 no change, 1 a change (as `git diff --exit-code`); the diff itself failing is 3.
DIFF_FAILED = 3


@contextmanager
def failing_with(code: Optional[int]) -> Iterator[None]:
    """With `code`, a failure of the diff itself (error or OSError) exits with it, not with 1, which means "changed"."""
    if code is None:
        yield
        return
    try:
        yield
    except RegenError as exc:
        if exc.exit_code == 1:
            exc.exit_code = code
        raise
    except OSError as exc:
        from conductor_regen.checkout.failures import describe

        failed = VerificationError(describe(exc), "check that path's permissions and the free disk space, then run "
                                   "again")
        failed.exit_code = code
        raise failed from exc


def diff_document(result: SdkDiff, command: str = "invoke diff") -> str:
    """The changes as JSON (schema conductor-regen.report/1, summary, changes[]: docs/compatibility.md): what
    `diff --report` writes and `diff --format json` prints."""
    from conductor_regen.commands.report import changes_document

    return changes_document(result.changes, command, {"version": result.spec_version})


def write_diff_report(result: SdkDiff, path: Path, command: str = "invoke diff") -> None:
    """Write the changes as JSON to `path` (`diff_document`) and as Markdown beside it."""
    from conductor_regen.analysis.changes import render_markdown

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(diff_document(result, command), encoding="utf-8")
    path.with_suffix(".md").write_text(render_markdown(result.changes), encoding="utf-8")


def check_no_breaking(result: SdkDiff) -> None:
    """`--fail-on-breaking`: a VerificationError when any change is breaking (for CI)."""
    breaking = count_by_severity(result.changes)["breaking"]
    if breaking:
        raise VerificationError(f"{breaking} breaking change(s)",
                                "add adapters or aliases for them, or rerun without --fail-on-breaking")
