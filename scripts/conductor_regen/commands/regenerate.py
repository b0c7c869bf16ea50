"""`invoke regenerate`: the whole guide as one run that is planned first and rolled back on failure."""

from __future__ import annotations

import dataclasses
from typing import List, Mapping, Optional

from conductor_regen.commands.plan import Confirm, RegenOptions, TestRunner, make_plan, recorded_provenance
from conductor_regen.commands.report import Report
from conductor_regen.commands.run_report import spec_info
from conductor_regen.commands.transaction import transaction
from conductor_regen.compat.pinning import PinPlan, plan_pinning
from conductor_regen.config import Settings
from conductor_regen.generator.pipeline import Document, EarlyGeneration, obtain
from conductor_regen.progress import StepLog
from conductor_regen.checkout.target import SdkTarget
from conductor_regen.spec.intake import dump_spec


def regenerate(target: SdkTarget, options: RegenOptions, settings: Settings, steps: StepLog,
               confirm: Confirm, run_tests: Optional[TestRunner] = None,
               env: Optional[Mapping[str, str]] = None) -> Report:
    """Run the whole procedure on `target`; the SDK is either fully updated or left as it was."""
    with transaction(target, options, settings, steps) as txn:
        loaded = obtain(options.spec, settings, steps, env)
        pins: List[PinPlan] = []

        def pin(document: Document) -> Document:
            # Before provenance: the pinned document is what is generated, cached and recorded, so an
            # unchanged spec is still a no-op on the next run.
            pins.append(plan_pinning(document, target.http_dir, options.pin_names))
            return pins[-1].document

        recorded = None if options.only or options.force else recorded_provenance(target)
        # The generator starts now, on the repaired and pinned spec, unless the live client already
        # came from exactly that (a no-op); validation runs meanwhile and decides whether it is used.
        with EarlyGeneration(loaded, settings, txn.work_dir("regen") / "staging", options.use_cache, pin,
                             wanted=lambda prov: recorded is None or prov != recorded) as early:
            if early.pending is not None:
                txn.analyse_live()  # read-only, and nothing in it depends on the new tree: overlaps the generator
            prepared = early.validated(steps)
            pinning = pins[-1].record(steps)
            spec = dataclasses.replace(prepared, document=pins[-1].document)
            draft = txn.draft
            draft.spec = spec_info(spec)
            draft.generator = {"backend": settings.generator.backend, "version": settings.generator.version}
            draft.fixups = tuple(f.name for f in spec.fixups)
            draft.note(pinning)
            if recorded is not None and early.provenance == recorded:
                return txn.no_op("generate", "the live client was generated from the same spec, generator and "
                                 "options")
            # Before generating (it takes a while), but only now: a no-op run need not insist on a clean tree.
            txn.check_clean()
            # Here, not at the top: a no-op run needs neither libcst nor griffe (0.2 s to import).
            from conductor_regen.commands.assemble import assemble, check_and_compare
            from conductor_regen.analysis.changes import to_json_list
            from conductor_regen.analysis.code_index import current_index

            # A dry run has no import gate, so it imports the generated modules here as it always did.
            # The shape check's parses are the run's: assembly reads the same modules.
            gen = early.finish(spec, steps, imports=options.dry_run, parse=current_index().ast_of)
        txn.start_import_gate()  # its interpreter imports the SDK's dependencies while assembly runs
        with steps.step("assemble new tree") as step:
            notes = assemble(target, gen.tree.package_dir, gen.tree.provenance, txn.staging, settings, options,
                             tree_ready=txn.import_gate_ready)
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
