"""`invoke fix-imports`: rewrite default package names in the managed folders, in a run transaction."""

from __future__ import annotations

import dataclasses
from typing import List, Optional

from conductor_regen.commands.gate import ImportGate
from conductor_regen.commands.plan import RegenOptions, make_plan, recorded_provenance
from conductor_regen.commands.run_report import describe_provenance
from conductor_regen.commands.transaction import transaction
from conductor_regen.compat.imports import fix_imports
from conductor_regen.config import Settings
from conductor_regen.file_tree import copy_entry
from conductor_regen.progress import StepLog
from conductor_regen.checkout.target import SdkTarget


def fix_sdk_imports(target: SdkTarget, settings: Settings, steps: Optional[StepLog] = None,
                    options: Optional[RegenOptions] = None) -> List[str]:
    """`invoke fix-imports`: rewrite default package names in the managed folders, in the same
    transaction as replace (lock, recovery, clean tree, staged copy, backup, atomic swap, import
    gate, rollback), so a kill at any instant leaves every file whole."""
    steps = steps if steps is not None else StepLog()
    options = options if options is not None else RegenOptions(spec="", yes=True, command="invoke fix-imports")
    with transaction(target, options, settings, steps) as txn:
        prov = recorded_provenance(target)
        describe_provenance(txn.draft, prov, "the live SDK")
        staging = txn.staging
        with steps.step("fix imports") as step:
            for name in target.managed:
                if (target.package_dir / name).exists():
                    copy_entry(target.package_dir / name, staging / name)
            fixes = fix_imports([staging / n for n in target.managed if (staging / n).is_dir()], settings.generator)
            step.detail = f"{len(fixes)} file(s)"
        rel = target.package_dir.relative_to(target.root)
        lines = [f"rewrote {f.rewrites} import(s) in {(rel / f.path.relative_to(staging)).as_posix()}"
                 for f in fixes]
        lines.append(f"{len(fixes)} file(s) changed")
        txn.draft.note(lines)
        # Only the rewritten folders; nothing is added outside them.
        plan = dataclasses.replace(make_plan(target, staging, staged_only=True, tests=False), outside=())
        report = txn.conclude(plan, "no import to rewrite", prov.spec_version if prov else "fix-imports")
        if report.outcome == "no-op":
            gate = ImportGate(target, timeout=settings.import_timeout)
            gate.before_swap()  # nothing was swapped: what fails now is listed, not blamed on this run
            return lines + gate.verdict() + [_ALL_IMPORT]
    excused = [n for n in report.notes if n not in lines]
    return lines + [f"backup {report.backup_id} (undo with `invoke restore`)"] + excused + [_ALL_IMPORT]


_ALL_IMPORT = "every module of the async client imports (apart from any listed above)"
