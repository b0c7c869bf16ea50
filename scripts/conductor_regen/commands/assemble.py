"""Assembly of the new managed folders in staging, and the checks on the assembled tree (shared with diff)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import griffe

from conductor_regen.commands.plan import RegenOptions, package_name
from conductor_regen.analysis.binding import BindingResult, check_bindings
from conductor_regen.analysis.changes import Change, analyze
from conductor_regen.analysis.impact import count_by_impact, removed_callers, removed_line, usage_from
from conductor_regen.analysis.references import check_references
from conductor_regen.analysis.source_tree import SourceTree, staged_tree
from conductor_regen.compat.fields import keep_removed_fields
from conductor_regen.compat.imports import fix_imports
from conductor_regen.compat.keep import keep_removed
from conductor_regen.compat.overrides import realign_overrides
from conductor_regen.compat.local_edits import apply_edits, edits_for
from conductor_regen.compat.scaffold.adapters import scaffold_adapters
from conductor_regen.compat.scaffold.aliases import alias_renamed
from conductor_regen.config import Settings
from conductor_regen.errors import VerificationError
from conductor_regen.file_tree import copy_entry
from conductor_regen.generator.provenance import IN_SDK, Provenance, write_provenance
from conductor_regen.progress import StepLog
from conductor_regen.checkout.target import SdkTarget


def _copy_only(generated: Path, live_http: Path, dest: Path, only: Sequence[str]) -> None:
    """Incremental mode: the live http/ with just the named API modules (and their models) replaced."""
    from conductor_regen.checkout.incremental import merge_only

    merge_only(generated, live_http, dest, only)


def assemble(target: SdkTarget, generated: Path, provenance: Optional[Provenance], staging: Path,
             settings: Settings, options: RegenOptions) -> List[str]:
    """Build the new managed folders in staging (`build_tree`), then check that the SDK still resolves against them."""
    notes = build_tree(target, generated, provenance, staging, settings, options)
    return notes + check_resolves(target, staging, options)


def build_tree(target: SdkTarget, generated: Path, provenance: Optional[Provenance], staging: Path,
               settings: Settings, options: RegenOptions) -> List[str]:
    """Write the new managed folders in staging: generated http/ with local edits; the rest copied."""
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
    notes += realign_overrides(target.http_dir, new_http, staging)
    notes += carry_edits(target, new_http, package, options.dry_run)
    # A partial update must not claim the whole tree came from any one spec (nor keep an old claim).
    if options.only:
        (new_http / IN_SDK).unlink(missing_ok=True)
    elif provenance is not None:
        write_provenance(provenance, new_http / IN_SDK)
    return notes


def check_resolves(target: SdkTarget, staging: Path, options: RegenOptions) -> List[str]:
    """Verify before the swap that everything hand-written still resolves against the staged tree.

    Raises on what does not (a dry run notes it instead); reads staging only.
    """
    problems = check_references(staging, target.package_dir, package=package_name(target), sdk_root=target.root)
    if problems and not options.dry_run:
        raise VerificationError(
            f"the new tree leaves {len(problems)} unresolved reference(s) in the SDK; first: {problems[0]}",
            "update the adapters/Orkes clients, or use --removed keep; nothing was changed")
    return [f"unresolved: {p}" for p in problems]


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
                      notes: Sequence[str], refuse: bool,
                      old_package: Optional[griffe.Module] = None) -> Tuple[BindingResult, Optional[Tuple[Change, ...]]]:
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
                          settings.fixups.strip_path_prefix, usage=usage, old_package=old_package)
        step.detail = "; ".join(f"{n} {group}" for group, n in count_by_impact(changes).items())
        if removed_callers(changes):  # the terminal line names what will fail against the new server
            step.detail += f"; {removed_line(changes)}"
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
