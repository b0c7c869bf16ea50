"""The first half of the guide as composable steps: obtain, validate, repair, generate, verify."""

from __future__ import annotations

import ast
import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from conductor_regen.config import Settings
from conductor_regen.errors import RegenError, SpecValidationError
from conductor_regen.spec.fixups import AppliedFixup, apply_fixups
from conductor_regen.generator.run import GeneratedTree, PendingTree, generate_tree, remember
from conductor_regen.generator.backends import option_list
from conductor_regen.progress import StepLog
from conductor_regen.generator.provenance import Provenance, public_source
from conductor_regen.spec.intake import LoadedSpec, dump_spec, load_spec, sha256_hex
from conductor_regen.spec.validation import ValidationReport, validate_spec
from conductor_regen.generator.source_shape import Parse
from conductor_regen.generator.verify import TreeCheck, verify_package

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
    loaded = obtain(source, settings, steps, env)
    report = check(loaded, settings, steps)
    fixed, applied = apply_fixups(loaded.document, settings.fixups)
    _record_repairs(applied, settings, steps)
    return PreparedSpec(loaded, report, fixed, applied)


def _provenance(loaded: LoadedSpec, document: Dict[str, Any], fixups: Tuple[AppliedFixup, ...],
                settings: Settings) -> Provenance:
    return Provenance(
        spec_source=public_source(loaded.source),
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
        result = verify_package(tree.root, settings.generator.package_name, imports, parse,
                                timeout=settings.import_timeout)
        step.detail = (f"{result.api_modules} API modules, {result.model_modules} models, "
                       + (f"{result.imported_modules} modules import" if imports else
                          "imports checked by the import gate"))
    remember(tree, settings)
    return result


def _generated_detail(tree: GeneratedTree, settings: Settings) -> str:
    if tree.cached:
        return "reused cached output"
    return f"OpenAPI Generator {settings.generator.version} ({settings.generator.backend})"


def generate_verified(spec: PreparedSpec, output: Path, settings: Settings, steps: StepLog,
                      use_cache: bool = True) -> VerifiedGeneration:
    """Generate a staging tree and verify it; verified trees are cached for no-op reruns."""
    prov = provenance_for(spec, settings)
    with steps.step("generate") as step:
        tree = generate_tree(spec.document, prov, settings, output, use_cache=use_cache)
        step.detail = _generated_detail(tree, settings)
    return VerifiedGeneration(spec, tree, _verify(tree, settings, steps))


Document = Dict[str, Any]


class EarlyGeneration:
    """A generation started before validation, on the repaired (and maybe pinned) spec.

    Repairs are pure and fast, so the generator (a JVM, mostly another core) runs while validation
    does; its output goes to a private folder and is used only once validation has passed. Use as a
    context manager: any error cancels the generator.
    """

    def __init__(self, loaded: LoadedSpec, settings: Settings, output: Path, use_cache: bool = True,
                 pin: Optional[Callable[[Document], Document]] = None,
                 wanted: Callable[[Provenance], bool] = lambda prov: True) -> None:
        self.loaded, self.settings, self.output, self.use_cache = loaded, settings, output, use_cache
        self._repair_error: Optional[RegenError] = None
        try:
            fixed: Optional[Document]
            fixed, self.applied = apply_fixups(loaded.document, settings.fixups)
        except RegenError as exc:
            fixed, self.applied = None, ()  # raised after validation, which usually says more
            self._repair_error = exc
        self.fixed = fixed
        self.document = pin(fixed) if fixed is not None and pin is not None else fixed
        self.provenance: Optional[Provenance] = None
        self.pending: Optional[PendingTree] = None
        if self.document is not None:
            self.provenance = _provenance(loaded, self.document, self.applied, settings)
            if wanted(self.provenance):
                self.pending = PendingTree(self.document, self.provenance, settings, output, use_cache)

    def __enter__(self) -> "EarlyGeneration":
        return self

    def __exit__(self, kind: Optional[type], value: Optional[BaseException], tb: Any) -> None:
        if kind is not None:
            self.cancel()

    def validated(self, steps: StepLog) -> PreparedSpec:
        """The validate and repair steps; raise (the caller's `with` cancels the generator) on an unusable spec."""
        report = check(self.loaded, self.settings, steps)
        if self.fixed is None:
            assert self._repair_error is not None
            raise self._repair_error
        _record_repairs(self.applied, self.settings, steps)
        return PreparedSpec(self.loaded, report, self.fixed, self.applied)

    def finish(self, spec: PreparedSpec, steps: StepLog, imports: bool = True,
               parse: Parse = ast.parse) -> VerifiedGeneration:
        """The generate and verify steps for `spec` (the pinned document the generator was started on).

        `parse` reads the generated modules for the shape check; a run passes its code index's.
        """
        with steps.step("generate") as step:
            if self.pending is not None:
                tree, self.pending = self.pending.finish(), None
            else:
                tree = generate_tree(spec.document, provenance_for(spec, self.settings), self.settings,
                                     self.output, self.use_cache)
            step.detail = _generated_detail(tree, self.settings)
        return VerifiedGeneration(spec, tree, _verify(tree, self.settings, steps, imports, parse))

    def cancel(self) -> None:
        """Stop the generator if it is still running."""
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None


def generate(source: str, output: Path, settings: Settings, steps: StepLog,
             env: Optional[Mapping[str, str]] = None, use_cache: bool = True) -> VerifiedGeneration:
    """`invoke generate`: spec source to a verified staging tree; never touches an SDK."""
    loaded = obtain(source, settings, steps, env)
    with EarlyGeneration(loaded, settings, output, use_cache) as early:
        spec = early.validated(steps)
        return early.finish(spec, steps)
