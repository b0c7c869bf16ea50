"""The first half of the guide as composable steps: obtain, validate, repair, generate, verify.

Repairs are pure and fast, so a run repairs first (`repair`), starts the generator on the result ahead
(`start_generation`, an `Ahead` step) and validates meanwhile (`validated`); `finish_generation` then takes
the generator's tree in the generate step.
"""

from __future__ import annotations

import ast
import dataclasses
import logging
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from conductor_regen.ahead import Ahead
from conductor_regen.config import Settings
from conductor_regen.errors import RegenError, SpecValidationError
from conductor_regen.spec.fixups import AppliedFixup, apply_fixups
from conductor_regen.generator.run import GeneratedTree, PendingTree, known_imports, record_imports, remember
from conductor_regen.generator.backends import option_list
from conductor_regen.progress import StepLog
from conductor_regen.generator.provenance import Provenance, recorded_source
from conductor_regen.spec.intake import LoadedSpec, dump_spec, load_spec, sha256_hex
from conductor_regen.spec.validation import ValidationReport, validate_spec
from conductor_regen.generator.source_shape import Parse
from conductor_regen.generator.verify import TreeCheck, interpreter_fingerprint, verify_package

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PreparedSpec:
    """A spec that passed validation, with the repairs applied to it."""

    loaded: LoadedSpec
    validation: ValidationReport
    document: Dict[str, Any]
    fixups: Tuple[AppliedFixup, ...]


@dataclasses.dataclass(frozen=True)
class VerifiedGeneration:
    """A verified staging tree and how it was made."""

    spec: PreparedSpec
    tree: GeneratedTree
    check: TreeCheck


def obtain(source: str, settings: Settings, steps: StepLog,
           env: Optional[Mapping[str, str]] = None) -> LoadedSpec:
    """Read or download the spec."""
    with steps.step("obtain spec") as step:
        loaded = load_spec(source, settings.fetch, env)
        step.detail = f"info.version {loaded.version or '?'}, sha256 {loaded.sha256[:12]}"
    return loaded


def check(loaded: LoadedSpec, settings: Settings, steps: StepLog) -> ValidationReport:
    """Validate; raise on anything the fixups cannot repair."""
    with steps.step("validate spec") as step:
        report = validate_spec(loaded.document, settings.validation, settings.fixups, settings.cache_dir)
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
                f"spec {loaded.source} is not usable: {first.message}{more}",
                "run `invoke validate-spec --spec ...` for the full list; "
                "fix the spec or its source URL",
            )
    return report


def _record_repairs(applied: Tuple[AppliedFixup, ...], settings: Settings, steps: StepLog) -> None:
    with steps.step("repair spec") as step:
        if not settings.fixups.enabled:
            step.status = "skipped"
            step.detail = "--no-fixups"
        else:
            step.detail = ", ".join(f"{a.name} ({len(a.changes)})" for a in applied) or "nothing to repair"
        for fix in applied:
            log.info("    applied %s: %s", fix.name, fix.reason)


def prepare_spec(source: str, settings: Settings, steps: StepLog,
                 env: Optional[Mapping[str, str]] = None) -> PreparedSpec:
    """Obtain, validate and repair a spec; raise on anything the fixups cannot repair."""
    return validated(repair(obtain(source, settings, steps, env), settings), settings, steps)


def _provenance(loaded: LoadedSpec, document: Dict[str, Any], fixups: Tuple[AppliedFixup, ...],
                settings: Settings) -> Provenance:
    return Provenance(
        spec_source=recorded_source(loaded.source),
        spec_sha256=loaded.sha256,
        spec_version=loaded.version,
        input_sha256=sha256_hex(dump_spec(document)),
        generator_backend=settings.generator.backend,
        generator_version=settings.generator.version,
        generator_options=tuple(option_list(settings.generator)),
        fixups=tuple(a.name for a in fixups),
    )


def provenance_for(spec: PreparedSpec, settings: Settings) -> Provenance:
    """Everything that determines the generated output."""
    return _provenance(spec.loaded, spec.document, spec.fixups, settings)


def _verify(tree: GeneratedTree, settings: Settings, steps: StepLog, imports: bool = True,
            parse: Parse = ast.parse) -> TreeCheck:
    with steps.step("verify") as step:
        # The same bytes (a cached tree) imported in this same interpreter before: the structural and shape
        # checks run again, the imports (seconds on a big spec) are taken from the cache.
        fingerprint = interpreter_fingerprint() if imports else ""
        known = known_imports(tree, settings, fingerprint) if imports else None
        result = verify_package(tree.root, settings.generator.package_name, imports, parse,
                                timeout=settings.import_timeout, imported=known)
        step.detail = (f"{result.api_modules} API modules, {result.model_modules} models, "
                       + (f"{result.imported_modules} modules import" if imports else
                          "imports checked by the import gate")
                       + (" (as before in this interpreter)" if known is not None else ""))
    remember(tree, settings)
    if imports and known is None:
        record_imports(tree, settings, fingerprint, result.imported_modules)
    return result


def _generated_detail(tree: GeneratedTree, settings: Settings) -> str:
    if tree.cached:
        return "reused cached output"
    return f"OpenAPI Generator {settings.generator.version} ({settings.generator.backend})"


Document = Dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Repaired:
    """The repairs applied before validation (pure and fast, so the generator can start meanwhile).

    `document` is None when a repair raised `error`: it is raised after validation, which usually says more.
    """

    loaded: LoadedSpec
    document: Optional[Document]
    applied: Tuple[AppliedFixup, ...] = ()
    error: Optional[RegenError] = None

    def provenance(self, document: Document, settings: Settings) -> Provenance:
        """What determines the output generated from `document` (this repaired one, or it pinned)."""
        return _provenance(self.loaded, document, self.applied, settings)


def repair(loaded: LoadedSpec, settings: Settings) -> Repaired:
    """Apply the repairs (no step logged: `validated` logs it once validation has passed)."""
    try:
        fixed, applied = apply_fixups(loaded.document, settings.fixups)
    except RegenError as exc:
        return Repaired(loaded, None, error=exc)
    return Repaired(loaded, fixed, applied)


def validated(repaired: Repaired, settings: Settings, steps: StepLog) -> PreparedSpec:
    """The validate and repair steps; raise on an unusable spec (then on a repair that failed)."""
    report = check(repaired.loaded, settings, steps)
    if repaired.document is None:
        assert repaired.error is not None
        raise repaired.error
    _record_repairs(repaired.applied, settings, steps)
    return PreparedSpec(repaired.loaded, report, repaired.document, repaired.applied)


GENERATE = "generate"  # the generator's step run ahead (`Ahead`)


def start_generation(ahead: Ahead, document: Document, provenance: Provenance, settings: Settings, output: Path,
                     use_cache: bool = True) -> None:
    """Start the generator on `document` ahead: it runs (a JVM, mostly another core) while validation does.

    Its output goes to a private folder and is used only once validation has passed; the executor's
    `with` cancels it on any error.
    """
    # Made here in either mode: what it checks (a missing Java, a used output folder) is raised before validation.
    ahead.begin(GENERATE, PendingTree(document, provenance, settings, output, use_cache))


def finish_generation(ahead: Ahead, spec: PreparedSpec, settings: Settings, steps: StepLog, imports: bool = True,
                      parse: Parse = ast.parse) -> VerifiedGeneration:
    """The generate and verify steps: the tree of the generation started ahead for `spec`, verified.

    `parse` reads the generated modules for the shape check; a run passes its code index's.
    """
    with steps.step("generate") as step:
        tree: GeneratedTree = ahead.result(GENERATE)
        step.detail = _generated_detail(tree, settings)
    return VerifiedGeneration(spec, tree, _verify(tree, settings, steps, imports, parse))


def generate_verified(spec: PreparedSpec, output: Path, settings: Settings, steps: StepLog,
                      use_cache: bool = True) -> VerifiedGeneration:
    """Generate a staging tree and verify it, nothing else meanwhile; verified trees are cached for no-op reruns."""
    with Ahead(sequential=True) as ahead:  # nothing to overlap: the generator runs inside its step
        start_generation(ahead, spec.document, provenance_for(spec, settings), settings, output, use_cache)
        return finish_generation(ahead, spec, settings, steps)


def generate(source: str, output: Path, settings: Settings, steps: StepLog,
             env: Optional[Mapping[str, str]] = None, use_cache: bool = True) -> VerifiedGeneration:
    """`invoke generate`: spec source to a verified staging tree; never touches an SDK."""
    repaired = repair(obtain(source, settings, steps, env), settings)
    with Ahead(settings.sequential) as ahead:
        if repaired.document is not None:
            start_generation(ahead, repaired.document, repaired.provenance(repaired.document, settings), settings,
                             output, use_cache)
        spec = validated(repaired, settings, steps)
        return finish_generation(ahead, spec, settings, steps)
