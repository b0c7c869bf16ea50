"""`invoke replace`: swap an existing generated tree into the SDK with the same safety as regenerate."""

from __future__ import annotations

from pathlib import Path

from conductor_regen.commands.assemble import assemble
from conductor_regen.commands.plan import Confirm, RegenOptions, make_plan
from conductor_regen.commands.report import Report
from conductor_regen.commands.run_report import describe_provenance
from conductor_regen.commands.transaction import transaction
from conductor_regen.config import Settings
from conductor_regen.errors import VerificationError
from conductor_regen.generator.provenance import read_provenance
from conductor_regen.generator.source_shape import check_generated_shape
from conductor_regen.progress import StepLog
from conductor_regen.checkout.target import SdkTarget


def replace_from(target: SdkTarget, source: Path, options: RegenOptions, settings: Settings, steps: StepLog,
                 confirm: Confirm) -> Report:
    """`invoke replace`: swap an existing generated tree into the SDK with the same safety as regenerate."""
    from conductor_regen.generator.provenance import FILENAME
    from conductor_regen.generator.run import META_DIR, is_staging_tree, package_dir

    source = source.resolve()
    if is_staging_tree(source):
        generated = package_dir(source, settings.generator.package_name)
        prov = read_provenance(source / META_DIR / FILENAME)
    elif (source / "api").is_dir() and (source / "models").is_dir():
        generated, prov = source, None
    else:
        raise VerificationError(f"{source} is neither a staging tree nor a generated package",
                                "pass the folder `invoke generate --output DIR` wrote, or a folder holding api/ and models/")
    check_generated_shape(generated)  # the tree may come from anywhere: the same wall as a generated one
    with transaction(target, options, settings, steps) as txn:
        txn.check_clean()  # before assembling: the tree to replace must hold no unsaved work
        describe_provenance(txn.draft, prov, str(source))
        with steps.step("assemble new tree") as step:
            step.detail = "; ".join(assemble(target, generated, prov, txn.staging, settings, options))
        return txn.conclude(make_plan(target, txn.staging), "the new tree is identical to the live one",
                            prov.spec_version if prov else "replace", confirm=confirm)
