"""`invoke replace`: swap an existing generated tree into the SDK with the same safety as regenerate."""

from __future__ import annotations

from pathlib import Path

from conductor_regen.app.assemble import assemble
from conductor_regen.app.plan import Confirm, RegenOptions, make_plan
from conductor_regen.app.report import Report
from conductor_regen.app.run_report import base_from
from conductor_regen.app.transaction import apply_plan, preflight, recover_step
from conductor_regen.config import Settings
from conductor_regen.errors import Aborted, VerificationError
from conductor_regen.generator.provenance import read_provenance
from conductor_regen.progress import StepLog
from conductor_regen.sdk.journal import new_run_id
from conductor_regen.sdk.lock import sdk_lock
from conductor_regen.sdk.swap import discard_staging, prepare_staging
from conductor_regen.sdk.target import SdkTarget, check_clean


def replace_from(target: SdkTarget, source: Path, options: RegenOptions, settings: Settings, steps: StepLog,
                 confirm: Confirm) -> Report:
    """`invoke replace`: swap an existing generated tree into the SDK with the same safety as regenerate."""
    from conductor_regen.generator.run import META_DIR, is_staging_tree, package_dir
    from conductor_regen.generator.provenance import FILENAME

    source = source.resolve()
    if is_staging_tree(source):
        generated = package_dir(source, settings.generator.package_name)
        prov = read_provenance(source / META_DIR / FILENAME)
    elif (source / "api").is_dir() and (source / "models").is_dir():
        generated, prov = source, None
    else:
        raise VerificationError(f"{source} is neither a staging tree nor a generated package",
                                "pass the --output of `invoke generate`, or a folder holding api/ and models/")
    preflight(target, steps)
    with sdk_lock(target):
        recover_step(target, steps)
        check_clean(target, options.allow_dirty)
        base = base_from(options, target, prov, str(source))
        run_id = new_run_id()
        staging = prepare_staging(target, run_id)
        try:
            with steps.step("assemble new tree") as step:
                step.detail = "; ".join(assemble(target, generated, prov, staging, settings, options))
            plan = make_plan(target, staging)
            if not plan.folders:
                steps.skip("swap", "the new tree is identical to the live one")
                return Report(outcome="no-op", steps=tuple(steps.steps), files=plan.files, **base)
            if not options.yes and not confirm(plan):
                raise Aborted("declined at the confirmation prompt; nothing was changed",
                              "rerun with --yes to skip the prompt")
            return apply_plan(target, prov.spec_version if prov else "replace", None, plan, staging, run_id,
                              options, settings, steps, None, base)
        finally:
            discard_staging(target, run_id)
