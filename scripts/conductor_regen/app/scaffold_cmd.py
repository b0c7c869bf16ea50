"""`invoke scaffold-adapters`: adapters (wiring, tests) for the live http/, as safely as regenerate."""

from __future__ import annotations

from pathlib import Path
from typing import List

from conductor_regen.app.plan import Confirm, RegenOptions, make_plan, package_name, recorded_provenance
from conductor_regen.app.report import Report
from conductor_regen.app.run_report import base_from
from conductor_regen.app.transaction import apply_plan, dirty_notes, preflight, recover_step
from conductor_regen.client.references import check_references
from conductor_regen.compat.scaffold import scaffold_adapters
from conductor_regen.config import Settings
from conductor_regen.errors import Aborted, ConfigError, VerificationError
from conductor_regen.file_tree import copy_entry
from conductor_regen.progress import StepLog
from conductor_regen.sdk.journal import new_run_id
from conductor_regen.sdk.lock import sdk_lock
from conductor_regen.sdk.swap import discard_staging, prepare_staging
from conductor_regen.sdk.target import SdkTarget


def scaffold_sdk(target: SdkTarget, options: RegenOptions, settings: Settings, steps: StepLog,
                 confirm: Confirm) -> Report:
    """`invoke scaffold-adapters`: adapters (wiring, tests) for the live http/, as safely as regenerate."""
    if "adapters" not in target.managed:
        raise ConfigError("adapters/ is not a managed folder, so scaffolding may not write there",
                          "add adapters to sdk.managed (default: http,adapters,orkes)")
    if not (target.http_dir / "api").is_dir():
        raise VerificationError(f"{target.http_dir} has no api/ folder to scaffold adapters for",
                                "run `invoke regenerate` first")
    preflight(target, steps)
    with sdk_lock(target):
        recover_step(target, steps)
        prov = recorded_provenance(target)
        base = base_from(options, target, prov, "the live http/")
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
            base["notes"] = tuple(base["notes"]) + dirty_notes(target, options)
            if options.dry_run:
                return Report(outcome="dry-run", steps=tuple(steps.steps), files=plan.files,
                              plan=tuple(plan.lines(listing=False)), **base)
            if not options.yes and not confirm(plan):
                raise Aborted("declined at the confirmation prompt; nothing was changed",
                              "rerun with --yes to skip the prompt, or --dry-run to see the plan")
            return apply_plan(target, prov.spec_version if prov else "scaffold", None, plan, staging, run_id,
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
