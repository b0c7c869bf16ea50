"""`invoke fix-imports`: rewrite default package names in the managed folders, in a run transaction."""

from __future__ import annotations

import dataclasses
from typing import List, Optional

from conductor_regen.app.gate import import_failures, import_gate
from conductor_regen.app.plan import RegenOptions, make_plan, recorded_provenance
from conductor_regen.app.run_report import base_from
from conductor_regen.app.transaction import apply_plan, preflight, recover_step
from conductor_regen.compat.imports import fix_imports
from conductor_regen.config import Settings
from conductor_regen.file_tree import copy_entry
from conductor_regen.progress import StepLog
from conductor_regen.sdk.journal import new_run_id
from conductor_regen.sdk.lock import sdk_lock
from conductor_regen.sdk.swap import discard_staging, prepare_staging
from conductor_regen.sdk.target import SdkTarget, check_clean


def fix_sdk_imports(target: SdkTarget, settings: Settings, steps: Optional[StepLog] = None,
                    options: Optional[RegenOptions] = None) -> List[str]:
    """`invoke fix-imports`: rewrite default package names in the managed folders, in the same
    transaction as replace (lock, recovery, clean tree, staged copy, backup, atomic swap, import
    gate, rollback), so a kill at any instant leaves every file whole."""
    steps = steps if steps is not None else StepLog()
    options = options if options is not None else RegenOptions(spec="", yes=True, command="invoke fix-imports")
    preflight(target, steps)
    with sdk_lock(target):
        recover_step(target, steps)
        prov = recorded_provenance(target)
        base = base_from(options, target, prov, "the live SDK")
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
            report = apply_plan(target, prov.spec_version if prov else "fix-imports", None, plan, staging, run_id,
                                options, settings, steps, None, base)
        finally:
            discard_staging(target, run_id)
    excused = [n for n in report.notes if n not in lines]
    return lines + [f"backup {report.backup_id} (undo with `invoke restore`)"] + excused + [_ALL_IMPORT]


_ALL_IMPORT = "every module of the async client imports (apart from any listed above)"
