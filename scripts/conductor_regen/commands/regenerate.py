"""`invoke regenerate`: the whole guide as one run that is planned first and rolled back on failure.

`regenerate` reads as the guide's steps in order. Three overlaps are steps started ahead on the run's
executor (`txn.ahead`, see `ahead.py`), their results taken where the steps always were: the generator
runs while validation does; the live SDK's environment and analysis while the generator does; the import
gate's interpreter while assembly and the checks do. With the `sequential` setting (REGEN_SEQUENTIAL=1)
each runs on this thread where its result is taken instead: the same tree and report, one thread.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional

from conductor_regen.commands.gate import SDK_ENVIRONMENT, sdk_environment
from conductor_regen.commands.live_analysis import LIVE_ANALYSIS, LiveAnalysis, live_package
from conductor_regen.commands.plan import Confirm, RegenOptions, TestRunner, make_plan, recorded_provenance
from conductor_regen.commands.report import Report
from conductor_regen.commands.run_report import spec_info
from conductor_regen.commands.transaction import transaction
from conductor_regen.compat.pinning import plan_pinning
from conductor_regen.config import Settings
from conductor_regen.generator.pipeline import finish_generation, obtain, repair, start_generation, validated
from conductor_regen.progress import StepLog
from conductor_regen.checkout.target import SdkTarget
from conductor_regen.spec.intake import dump_spec


def regenerate(target: SdkTarget, options: RegenOptions, settings: Settings, steps: StepLog,
               confirm: Confirm, run_tests: Optional[TestRunner] = None,
               env: Optional[Mapping[str, str]] = None) -> Report:
    """Run the whole procedure on `target`; the SDK is either fully updated or left as it was."""
    with transaction(target, options, settings, steps) as txn:
        ahead, draft = txn.ahead, txn.draft
        loaded = obtain(options.spec, settings, steps, env)
        # Repairing and pinning are pure and fast, so they come first and the generator starts on their result.
        # Pinned before provenance: the pinned document is what is generated, cached and recorded, so an
        # unchanged spec is still a no-op on the next run.
        repaired = repair(loaded, settings)  # a repair that fails is raised after validation
        pinned = (plan_pinning(repaired.document, target.http_dir, options.pin_names)
                  if repaired.document is not None else None)
        provenance = repaired.provenance(pinned.document, settings) if pinned is not None else None
        recorded = None if options.only or options.force else recorded_provenance(target)
        unchanged = recorded is not None and provenance == recorded  # the live client came from exactly this
        if pinned is not None and provenance is not None and not unchanged:
            # Validation runs meanwhile and decides whether the generator's tree is used.
            start_generation(ahead, pinned.document, provenance, settings, txn.work_dir("regen") / "staging",
                             options.use_cache)
            if not options.dry_run:  # read-only, nothing in it depends on the new tree; a dry run never gates
                ahead.start(SDK_ENVIRONMENT, sdk_environment, target, settings)
                live = LiveAnalysis(target)
                ahead.start(LIVE_ANALYSIS, live.run, stop=live.stop)
        prepared = validated(repaired, settings, steps)
        assert pinned is not None  # validated() raised the failed repair's error otherwise
        spec = dataclasses.replace(prepared, document=pinned.document)
        draft.spec = spec_info(spec)
        draft.generator = {"backend": settings.generator.backend, "version": settings.generator.version}
        draft.fixups = tuple(f.name for f in spec.fixups)
        draft.note(pinned.record(steps))
        if unchanged:
            return txn.no_op("generate", "the live client was generated from the same spec, generator and options")
        # Before generating (it takes a while), but only now: a no-op run need not insist on a clean tree.
        txn.check_clean()
        # Here, not at the top: a no-op run needs neither libcst nor griffe (0.2 s to import).
        from conductor_regen.commands.assemble import build_tree, check_and_compare, check_resolves
        from conductor_regen.analysis.changes import to_json_list
        from conductor_regen.analysis.code_index import current_index

        # The live analysis parses Python in its thread, and CPython's parser must not run in two threads at
        # once (its AST constructor keeps one shared recursion count: "AST constructor recursion depth
        # mismatch", python/cpython#106905). It ends here, as a rule while the generator still runs, before
        # this thread parses anything.
        old_package = live_package(ahead)
        # A dry run has no import gate, so it imports the generated modules here as it always did.
        # The shape check's parses are the run's: assembly reads the same modules.
        gen = finish_generation(ahead, spec, settings, steps, imports=options.dry_run, parse=current_index().ast_of)
        txn.start_import_gate()  # its interpreter imports the SDK's dependencies while assembly runs
        with steps.step("assemble new tree") as step:
            notes = build_tree(target, gen.tree.package_dir, gen.tree.provenance, txn.staging, settings, options)
            txn.import_gate_ready()  # the tree is written: the gate's imports of it run during the checks
            notes += check_resolves(target, txn.staging, options)
            step.detail = f"{len(notes)} note(s), listed in the report"
            draft.note(notes)
        binding, changes = check_and_compare(target, txn.staging, None, prepared.document, settings, steps,
                                             draft.notes, refuse=not options.dry_run, old_package=old_package)
        draft.binding = binding.figures()
        draft.note(binding.rewritten + tuple(f"would not bind: {f.render()}" for f in binding.findings))
        if changes is not None:
            draft.changes = tuple(to_json_list(changes))
        return txn.conclude(make_plan(target, txn.staging), "the new tree is identical to the live one",
                            spec.loaded.version, dump_spec(spec.loaded.document), confirm, run_tests)
