"""`invoke scaffold-adapters`: adapters (wiring, tests) for the live http/, as safely as regenerate."""

from __future__ import annotations

from pathlib import Path
from typing import List

from conductor_regen.commands.plan import Confirm, RegenOptions, make_plan, package_name, recorded_provenance
from conductor_regen.commands.report import Report
from conductor_regen.commands.run_report import describe_provenance
from conductor_regen.commands.transaction import transaction
from conductor_regen.analysis.references import check_references
from conductor_regen.compat.scaffold.adapters import scaffold_adapters
from conductor_regen.config import Settings
from conductor_regen.errors import ConfigError, VerificationError
from conductor_regen.file_tree import copy_entry
from conductor_regen.progress import StepLog
from conductor_regen.checkout.target import SdkTarget


def scaffold_sdk(target: SdkTarget, options: RegenOptions, settings: Settings, steps: StepLog,
                 confirm: Confirm) -> Report:
    """`invoke scaffold-adapters`: adapters (wiring, tests) for the live http/, as safely as regenerate."""
    if "adapters" not in target.managed:
        raise ConfigError("adapters/ is not a managed folder, so scaffolding may not write there",
                          "add adapters to sdk.managed (default: http,adapters,orkes)")
    if not (target.http_dir / "api").is_dir():
        raise VerificationError(f"{target.http_dir} has no api/ folder to scaffold adapters for",
                                "run `invoke regenerate` first")
    with transaction(target, options, settings, steps) as txn:
        prov = recorded_provenance(target)
        describe_provenance(txn.draft, prov, "the live http/")
        with steps.step("scaffold adapters") as step:
            notes = _scaffold_staged(target, txn.staging, options.dry_run)
            step.detail = f"{len(notes)} note(s), listed in the report"
            txn.draft.note(notes)
        return txn.conclude(make_plan(target, txn.staging, staged_only=True, tests=False),
                            "every generated API and model already has an adapter",
                            prov.spec_version if prov else "scaffold", confirm=confirm)


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
