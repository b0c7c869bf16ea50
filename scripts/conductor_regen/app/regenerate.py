"""`invoke regenerate`: the whole guide as one run that is planned first and rolled back on failure."""

from __future__ import annotations

from typing import Mapping, Optional

from conductor_regen.app.assemble import assemble, check_and_compare
from conductor_regen.app.plan import Confirm, RegenOptions, TestRunner, make_plan, recorded_provenance
from conductor_regen.app.report import Report
from conductor_regen.app.run_report import spec_info
from conductor_regen.app.transaction import transaction
from conductor_regen.client.changes import to_json_list
from conductor_regen.compat.pinning import pin_step
from conductor_regen.config import Settings
from conductor_regen.generator.pipeline import generate_verified, prepare_spec, provenance_for
from conductor_regen.progress import StepLog
from conductor_regen.sdk.target import SdkTarget
from conductor_regen.spec.intake import dump_spec


def regenerate(target: SdkTarget, options: RegenOptions, settings: Settings, steps: StepLog,
               confirm: Confirm, run_tests: Optional[TestRunner] = None,
               env: Optional[Mapping[str, str]] = None) -> Report:
    """Run the whole procedure on `target`; the SDK is either fully updated or left as it was."""
    with transaction(target, options, settings, steps) as txn:
        prepared = prepare_spec(options.spec, settings, steps, env)
        # Before provenance: the pinned document is what is generated, cached and recorded, so an
        # unchanged spec is still a no-op on the next run.
        spec, pinning = pin_step(prepared, target.http_dir, steps, options.pin_names)
        draft = txn.draft
        draft.spec = spec_info(spec)
        draft.generator = {"backend": settings.generator.backend, "version": settings.generator.version}
        draft.fixups = tuple(f.name for f in spec.fixups)
        draft.note(pinning)
        prov = provenance_for(spec, settings)
        if not options.only and not options.force and recorded_provenance(target) == prov:
            return txn.no_op("generate", "the live client was generated from the same spec, generator and options")
        # Before generating (it takes a while), but only now: a no-op run need not insist on a clean tree.
        txn.check_clean()
        txn.analyse_live()  # overlaps the generator: nothing in it depends on the new tree
        gen = generate_verified(spec, txn.work_dir("regen") / "staging", settings, steps, use_cache=options.use_cache)
        with steps.step("assemble new tree") as step:
            notes = assemble(target, gen.tree.package_dir, gen.tree.provenance, txn.staging, settings, options)
            step.detail = f"{len(notes)} note(s), listed in the report"
            draft.note(notes)
        binding, changes = check_and_compare(target, txn.staging, None, prepared.document, settings, steps,
                                             draft.notes, refuse=not options.dry_run,
                                             old_package=txn.live.old_package() if txn.live else None)
        draft.binding = binding.figures()
        draft.note(binding.rewritten + tuple(f"would not bind: {f.render()}" for f in binding.findings))
        if changes is not None:
            draft.changes = tuple(to_json_list(changes))
        return txn.conclude(make_plan(target, txn.staging), "the new tree is identical to the live one",
                            spec.loaded.version, dump_spec(spec.loaded.document), confirm, run_tests)
