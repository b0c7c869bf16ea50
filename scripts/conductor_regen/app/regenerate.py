"""`invoke regenerate`: the whole guide as one run that is planned first and rolled back on failure."""

from __future__ import annotations

import shutil
from typing import Any, Dict, Mapping, Optional

from conductor_regen.app.assemble import assemble, check_and_compare
from conductor_regen.app.plan import Confirm, RegenOptions, TestRunner, make_plan, recorded_provenance
from conductor_regen.app.report import Report
from conductor_regen.app.run_report import spec_info
from conductor_regen.app.transaction import apply_plan, dirty_notes, preflight, recover_step
from conductor_regen.client.changes import to_json_list
from conductor_regen.compat.pinning import pin_step
from conductor_regen.config import Settings
from conductor_regen.errors import Aborted
from conductor_regen.generator.pipeline import generate_verified, prepare_spec, provenance_for
from conductor_regen.progress import StepLog
from conductor_regen.sdk.journal import new_run_id
from conductor_regen.sdk.lock import sdk_lock
from conductor_regen.sdk.swap import discard_staging, prepare_staging
from conductor_regen.sdk.target import SdkTarget
from conductor_regen.sdk.work_dirs import new_work_dir
from conductor_regen.spec.intake import dump_spec


def regenerate(target: SdkTarget, options: RegenOptions, settings: Settings, steps: StepLog,
               confirm: Confirm, run_tests: Optional[TestRunner] = None,
               env: Optional[Mapping[str, str]] = None) -> Report:
    """Run the whole procedure on `target`; the SDK is either fully updated or left as it was."""
    preflight(target, steps)
    with sdk_lock(target):
        recover_step(target, steps)
        prepared = prepare_spec(options.spec, settings, steps, env)
        # Before provenance: the pinned document is what is generated, cached and recorded, so an
        # unchanged spec is still a no-op on the next run.
        spec, pinning = pin_step(prepared, target.http_dir, steps, options.pin_names)
        gen_info = {"backend": settings.generator.backend, "version": settings.generator.version}
        base: Dict[str, Any] = dict(command=options.command, sdk=str(target.root), spec=spec_info(spec),
                                    generator=gen_info, fixups=tuple(f.name for f in spec.fixups), notes=pinning)
        prov = provenance_for(spec, settings)
        if not options.only and not options.force and recorded_provenance(target) == prov:
            steps.skip("generate", "the live client was generated from the same spec, generator and options")
            return Report(outcome="no-op", steps=tuple(steps.steps), **base)
        # Only now: a no-op run touches nothing, so it need not insist on a clean tree.
        base["notes"] = tuple(base["notes"]) + dirty_notes(target, options)
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
                return apply_plan(target, spec.loaded.version, dump_spec(spec.loaded.document), plan, staging,
                                  run_id, options, settings, steps, run_tests, base)
            finally:
                discard_staging(target, run_id)
        finally:
            shutil.rmtree(work, ignore_errors=True)
