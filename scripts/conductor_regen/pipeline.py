"""The first half of the guide as composable steps: obtain, validate, repair, generate, verify."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Mapping, Optional, Tuple

from .config import Settings
from .errors import SpecValidationError
from .fixups import AppliedFixup, apply_fixups
from .generation import GeneratedTree, generate_tree, remember
from .generator_backends import option_list
from .progress import StepLog
from .provenance import Provenance
from .spec_intake import LoadedSpec, load_spec
from .spec_validation import ValidationReport, validate_spec
from .verification import TreeCheck, verify_package

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PreparedSpec:
    """A spec that passed validation, with the repairs applied to it."""

    loaded: LoadedSpec
    validation: ValidationReport
    document: dict
    fixups: Tuple[AppliedFixup, ...]


@dataclasses.dataclass(frozen=True)
class Generated:
    """A verified staging tree and how it was made."""

    spec: PreparedSpec
    tree: GeneratedTree
    check: TreeCheck


def prepare_spec(source: str, settings: Settings, steps: StepLog,
                 env: Optional[Mapping[str, str]] = None) -> PreparedSpec:
    """Obtain, validate and repair a spec; raise on anything the fixups cannot repair."""
    with steps.step("obtain spec") as step:
        loaded = load_spec(source, settings.fetch, env)
        step.detail = f"info.version {loaded.version or '?'}, sha256 {loaded.sha256[:12]}"
    with steps.step("validate spec") as step:
        report = validate_spec(loaded.document, settings.validation, settings.fixups)
        step.detail = (f"{report.path_count} paths, {report.schema_count} schemas, "
                       f"{len(report.fixable)} known defect(s) to repair")
        for problem in report.fixable:
            log.info("    fixable [%s] %s (fixup: %s)", problem.code, problem.message, problem.fixup)
        if report.errors:
            first = report.errors[0]
            more = f" (+{len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
            for problem in report.errors:
                log.info("    error [%s] %s", problem.code, problem.message)
            raise SpecValidationError(
                f"spec {source} is not usable: {first.message}{more}",
                "run `invoke validate-spec --spec ...` for the full list; "
                "fix the spec or its source URL",
            )
    with steps.step("repair spec") as step:
        fixed, applied = apply_fixups(loaded.document, settings.fixups)
        if not settings.fixups.enabled:
            step.status = "skipped"
            step.detail = "--no-fixups"
        else:
            step.detail = ", ".join(f"{a.name} ({len(a.changes)})" for a in applied) or "nothing to repair"
        for fix in applied:
            log.info("    applied %s: %s", fix.name, fix.reason)
    return PreparedSpec(loaded, report, fixed, applied)


def provenance_for(spec: PreparedSpec, settings: Settings) -> Provenance:
    """Everything that determines the generated output."""
    from .spec_intake import dump_spec, sha256_hex

    return Provenance(
        spec_source=spec.loaded.source,
        spec_sha256=spec.loaded.sha256,
        spec_version=spec.loaded.version,
        input_sha256=sha256_hex(dump_spec(spec.document)),
        generator_backend=settings.generator.backend,
        generator_version=settings.generator.version,
        generator_options=tuple(option_list(settings.generator)),
        fixups=tuple(a.name for a in spec.fixups),
    )


def generate_verified(spec: PreparedSpec, output: Path, settings: Settings, steps: StepLog,
                      use_cache: bool = True) -> Generated:
    """Generate a staging tree and verify it; verified trees are cached for no-op reruns."""
    prov = provenance_for(spec, settings)
    with steps.step("generate") as step:
        tree = generate_tree(spec.document, prov, settings, output, use_cache=use_cache)
        step.detail = ("reused cached output" if tree.cached else
                       f"OpenAPI Generator {settings.generator.version} ({settings.generator.backend})")
    with steps.step("verify") as step:
        check = verify_package(tree.root, settings.generator.package_name)
        step.detail = (f"{check.api_modules} API modules, {check.model_modules} models, "
                       f"{check.imported_modules} modules import")
    remember(tree, settings)
    return Generated(spec, tree, check)


def generate(source: str, output: Path, settings: Settings, steps: StepLog,
             env: Optional[Mapping[str, str]] = None, use_cache: bool = True) -> Generated:
    """`invoke generate`: spec source to a verified staging tree; never touches an SDK."""
    spec = prepare_spec(source, settings, steps, env)
    return generate_verified(spec, output, settings, steps, use_cache)
