"""Spec validation: say whether a document can back the async client, and which fixups would repair it.

Spec content problems are reported, never raised; only configuration errors (an unknown
fixup name in `fixups.skip`) and a validator running past `validation.timeout` raise. The validator
runs in a child process, so a spec built to make it slow is stopped at that deadline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from conductor_regen.atomic_io import atomic_write_bytes
from conductor_regen.child_env import Limit, child_env, run
from conductor_regen.config import FixupConfig, ValidationConfig
from conductor_regen.errors import SpecValidationError
from conductor_regen.spec.fixups import HTTP_METHODS, AppliedFixup, active_fixups, list_fixups, normalize_prefix, strip_prefix

log = logging.getLogger(__name__)

ERROR = "error"
FIXABLE = "fixable"
WARNING = "warning"

# Beyond this many validator problems the rest are summarised: the first ones tell the story.
MAX_VALIDATOR_PROBLEMS = 20

# Problems a fixup repairs that the OpenAPI validator does not report itself: fixup -> problem code.
_GUIDE_FIXUP_CODES: Dict[str, str] = {
    "drop-array-properties": "array-with-properties",
    "strip-path-prefix": "path-prefix",
}

_VALIDATOR_CODES: Dict[str, str] = {
    "UnresolvableParameterError": "unresolved-path-parameter",
    "DuplicateOperationIDError": "duplicate-operation-id",
    "ParameterDuplicateError": "duplicate-parameter",
    "ExtraParametersError": "extra-parameter",
}

_QUOTED_RE = re.compile(r"'([^']+)'")
_ARRAY_CHANGE_RE = re.compile(r"^schema (.+): removed (.+) from array schema$")


@dataclass(frozen=True)
class Problem:
    """One finding; `fixup` names the repair when severity is "fixable"."""

    severity: str
    code: str
    message: str
    fixup: Optional[str] = None


@dataclass(frozen=True)
class ValidationReport:
    """What a spec is and what is wrong with it."""

    openapi_version: str
    title: str
    info_version: str
    path_count: int
    operation_count: int
    schema_count: int
    problems: Tuple[Problem, ...]

    @property
    def errors(self) -> Tuple[Problem, ...]:
        """Problems no enabled fixup repairs."""
        return tuple(p for p in self.problems if p.severity == ERROR)

    @property
    def fixable(self) -> Tuple[Problem, ...]:
        """Problems an enabled fixup repairs."""
        return tuple(p for p in self.problems if p.severity == FIXABLE)

    @property
    def warnings(self) -> Tuple[Problem, ...]:
        """Findings that do not block generation."""
        return tuple(p for p in self.problems if p.severity == WARNING)

    @property
    def ok(self) -> bool:
        """True when nothing blocks generation once the enabled fixups have run."""
        return not self.errors


# --- small readers that tolerate malformed documents ----------------------------------------


def _dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _paths(document: Dict[str, Any]) -> Dict[str, Any]:
    return _dict(document.get("paths"))


def _schemas(document: Dict[str, Any]) -> Dict[str, Any]:
    return _dict(_dict(document.get("components")).get("schemas")) or _dict(document.get("definitions"))


def _operations(document: Dict[str, Any]) -> Set[Tuple[str, str]]:
    """Return every (METHOD, path) the document defines."""
    return {
        (method.upper(), path)
        for path, item in _paths(document).items()
        for method in HTTP_METHODS
        if isinstance(item, dict) and isinstance(item.get(method), dict)
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# --- format ---------------------------------------------------------------------------------


def _format_problems(document: Dict[str, Any]) -> Tuple[Optional[str], List[Problem]]:
    """Return the validator family ("3.0" / "3.1" / None) and any format problem."""
    if "swagger" in document:
        return None, [
            Problem(
                ERROR,
                "swagger-2",
                f"this is a Swagger {_text(document['swagger'])} document; this pipeline needs OpenAPI 3.0 or 3.1 "
                "(ask the server for /v3/api-docs instead of /v2/api-docs, or convert it with swagger2openapi)",
            )
        ]
    version = document.get("openapi")
    if version is None:
        return None, [Problem(ERROR, "unsupported-format", "not an OpenAPI document: there is no 'openapi' field")]
    text = _text(version)
    for family in ("3.0", "3.1"):
        if text == family or text.startswith(family + "."):
            return family, []
    return None, [Problem(ERROR, "unsupported-format", f"OpenAPI {text} is not supported; use OpenAPI 3.0.x or 3.1.x")]


# --- the OpenAPI validator ------------------------------------------------------------------


@dataclass(frozen=True)
class _Finding:
    kind: str
    message: str
    location: Tuple[str, ...]

    def key(self, prefix: str) -> Tuple[str, str, Tuple[str, ...]]:
        """Identity that survives prefix stripping, so an error before and after fixups compares equal."""
        message = _QUOTED_RE.sub(lambda m: f"'{strip_prefix(m.group(1), prefix)}'", self.message)
        location = tuple(strip_prefix(part, prefix) if part.startswith("/") else part for part in self.location)
        return self.kind, message, location

    def render(self) -> str:
        """The validator's message plus where it points, when it points somewhere."""
        return self.message + (f" (at {' > '.join(self.location)})" if self.location else "")


def _run_validator(document: Dict[str, Any], family: str) -> List[_Finding]:
    """Run openapi-spec-validator; a validator crash becomes a finding rather than an exception."""
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    validator_cls = OpenAPIV31SpecValidator if family == "3.1" else OpenAPIV30SpecValidator
    started = time.perf_counter()
    findings: List[_Finding] = []
    try:
        for error in validator_cls(document).iter_errors():
            where = tuple(str(part) for part in getattr(error, "path", ()) or ())
            findings.append(_Finding(type(error).__name__, _text(getattr(error, "message", error)), where))
    except Exception as exc:  # noqa: BLE001 - a broken $ref or odd input must not crash the report
        findings.append(_Finding("ValidatorCrash", f"openapi-spec-validator could not finish: {exc}", ()))
    log.debug("openapi-spec-validator: %d finding(s) in %.2fs", len(findings), time.perf_counter() - started)
    return findings


# The child: `argv[1]` (the folder holding conductor_regen) replaces the working folder on sys.path.
_CHILD = ("import sys; sys.path[0] = sys.argv[1]; "
          "from conductor_regen.spec.validation import _validator_main; _validator_main()")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def _validator_main() -> None:
    """In the child: read {family, document, fixed} on stdin, print the findings on the document and the fixed one."""
    request = json.loads(sys.stdin.buffer.read())
    before = _run_validator(request["document"], request["family"])
    fixed = request["fixed"]
    after = _run_validator(fixed, request["family"]) if before and fixed is not None else before
    sys.stdout.write(_encode(before, after).decode())


def _encode(before: List[_Finding], after: List[_Finding]) -> bytes:
    """The findings as the child prints them and the cache keeps them."""
    rows = {name: [[f.kind, f.message, list(f.location)] for f in found] for name, found in
            (("before", before), ("after", after))}
    return json.dumps(rows).encode()


def _decode(data: bytes) -> Tuple[List[_Finding], List[_Finding]]:
    """`_encode`'s findings back; ValueError, KeyError or TypeError when `data` is not that."""
    rows = json.loads(data)
    before, after = ([_Finding(str(k), str(m), tuple(str(p) for p in where)) for k, m, where in rows[name]]
                     for name in ("before", "after"))
    return before, after


def _validator_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return "\0".join(version(name) for name in ("openapi-spec-validator", "jsonschema", "jsonschema-path"))
    except PackageNotFoundError:
        return ""


def _validate_in_child(document: Dict[str, Any], fixed: Optional[Dict[str, Any]], family: str,
                       timeout: float, cache_dir: Optional[Path] = None) -> Tuple[List[_Finding], List[_Finding]]:
    """The validator's findings on `document` and on `fixed` (None: the same), in a child stopped at `timeout`.

    With `cache_dir`, the findings are kept under `validation/`, keyed by the request and the validator's
    version: the same document is validated once (the real spec takes a few seconds).
    """
    request = json.dumps({"family": family, "document": document, "fixed": fixed}, default=str).encode()
    entry = None
    if cache_dir is not None:
        key = hashlib.sha256(_validator_version().encode() + b"\0" + request).hexdigest()
        entry = Path(cache_dir) / "validation" / f"{key}.json"
        try:
            found = _decode(entry.read_bytes())
            log.debug("validator findings reused from %s", entry)
            return found
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not cached yet (or unreadable): validate
    before, after, complete = _run_child(request, timeout)
    if entry is not None and complete:
        with suppress(OSError):  # a cache that cannot be written only costs the next run the validation
            entry.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(entry, _encode(before, after))
    return before, after


def _run_child(request: bytes, timeout: float) -> Tuple[List[_Finding], List[_Finding], bool]:
    """Validate in the child: (before, after, whether the child answered; a crash is not kept)."""
    limit = Limit(timeout, "validating the spec (openapi-spec-validator)", "validation.timeout",
                  "a spec this slow to validate is huge or built to be slow; check where it came from",
                  SpecValidationError)
    started = time.perf_counter()
    done = run([sys.executable, "-c", _CHILD, _PACKAGE_ROOT], limit, input=request, env=child_env())
    log.debug("validator child: %.2fs", time.perf_counter() - started)
    try:
        return (*_decode(done.stdout), True)
    except (ValueError, KeyError, TypeError):
        last = (done.stderr.decode(errors="replace").strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        crash = [_Finding("ValidatorCrash", f"openapi-spec-validator could not finish: {last}", ())]
        return crash, crash, False


def _attribute(finding: _Finding, applied: Sequence[AppliedFixup]) -> Optional[str]:
    """Name the applied fixup whose change lines best mention what the finding mentions."""
    tokens = set(_QUOTED_RE.findall(finding.message)) | {p for p in finding.location if p.startswith("/")}
    best: Optional[str] = None
    best_score = 0
    for fixup in applied:
        for line in fixup.changes:
            score = sum(1 for token in tokens if _mentions(line, token))
            if score > best_score:  # strict: ties go to the earlier fixup
                best, best_score = fixup.name, score
    return best


def _mentions(line: str, token: str) -> bool:
    if token.startswith("/"):
        return token in line
    return re.search(rf"(?<![\w-]){re.escape(token)}(?![\w-])", line, re.IGNORECASE) is not None


def _classify_findings(
    before: List[_Finding], after: List[_Finding], applied: Sequence[AppliedFixup], prefix: str
) -> List[Problem]:
    """Findings gone after the fixups are fixable; the rest, and any new ones, are errors."""
    remaining = Counter(f.key(prefix) for f in after)
    errors: List[Problem] = []
    fixable: List[Problem] = []
    for finding in before:
        code = _VALIDATOR_CODES.get(finding.kind, "invalid-openapi")
        key = finding.key(prefix)
        if remaining[key] > 0:
            remaining[key] -= 1
            errors.append(Problem(ERROR, code, finding.render()))
        else:
            names = [a.name for a in applied]
            fixup = _attribute(finding, applied) or ", ".join(names)
            fixable.append(Problem(FIXABLE, code, finding.render(), fixup))
    before_keys = {f.key(prefix) for f in before}
    for finding in after:
        if finding.key(prefix) not in before_keys:
            code = _VALIDATOR_CODES.get(finding.kind, "invalid-openapi")
            errors.append(Problem(ERROR, code, f"after fixups: {finding.render()}"))
    return _cap(errors + fixable)


def _cap(problems: List[Problem]) -> List[Problem]:
    """Keep the first MAX_VALIDATOR_PROBLEMS (errors first) and summarise the rest in one problem."""
    if len(problems) <= MAX_VALIDATOR_PROBLEMS:
        return problems
    shown, rest = problems[:MAX_VALIDATOR_PROBLEMS], problems[MAX_VALIDATOR_PROBLEMS:]
    rest_fixups = sorted({p.fixup for p in rest if p.fixup})
    if any(p.severity == ERROR for p in rest):
        summary = Problem(ERROR, "more-problems", f"... and {len(rest)} more validator problems")
    else:
        message = f"... and {len(rest)} more validator problems"
        summary = Problem(FIXABLE, "more-problems", message, ", ".join(rest_fixups))
    return shown + [summary]


# --- fixups as a diagnosis ------------------------------------------------------------------


def _preview_fixups(
    document: Dict[str, Any], fixups: FixupConfig
) -> Tuple[Dict[str, Any], Tuple[AppliedFixup, ...], Dict[str, Tuple[str, ...]], List[Problem]]:
    """Apply the enabled fixups, and dry-run the disabled ones, so problems can name their repair.

    Returns the fixed document, the fixups applied to it, what every fixup (enabled or not)
    would change, and problems met on the way (a prefix collision).
    """
    enabled = {f.name for f in active_fixups(fixups)}  # raises ConfigError on unknown skip names
    problems: List[Problem] = []
    would_change: Dict[str, Tuple[str, ...]] = {}
    applied: List[AppliedFixup] = []
    current = document
    for fixup in list_fixups():
        try:
            if fixup.name in enabled:
                current, changes = fixup.apply(current, fixups)
                if changes:
                    applied.append(AppliedFixup(fixup.name, fixup.reason, tuple(changes)))
            else:
                _, changes = fixup.apply(document, fixups)
        except SpecValidationError as exc:
            # A fixup that will not run cannot fail the run; report only the enabled ones.
            if fixup.name in enabled:
                code = "path-collision" if fixup.name == "strip-path-prefix" else "fixup-failed"
                problems.append(Problem(ERROR, code, exc.message))
            continue
        would_change[fixup.name] = tuple(changes)
    return current, tuple(applied), would_change, problems


def _fixup_guide_problems(
    document: Dict[str, Any], would_change: Dict[str, Tuple[str, ...]], enabled: Set[str], prefix: str
) -> List[Problem]:
    """Report what drop-array-properties and strip-path-prefix would repair, fixable only if they run."""
    problems: List[Problem] = []
    for name, code in _GUIDE_FIXUP_CODES.items():
        changes = would_change.get(name, ())
        if not changes:
            continue
        severity, fixup = (FIXABLE, name) if name in enabled else (ERROR, None)
        if name == "strip-path-prefix":
            total = len(_paths(document))
            problems.append(
                Problem(
                    severity,
                    code,
                    f"{len(changes)} of {total} paths start with '{prefix}'; the SDK's client puts {prefix} in the "
                    f"server URL, so calls would go to {prefix}{prefix}/...",
                    fixup,
                )
            )
        else:
            problems.extend(Problem(severity, code, _array_message(line), fixup) for line in changes)
    return problems


def _array_message(change: str) -> str:
    """Turn a drop-array-properties change line into a statement of the problem."""
    match = _ARRAY_CHANGE_RE.match(change)
    if not match:
        return change
    return f"array schema {match.group(1)} also carries {match.group(2)}; OpenAPI Generator logs errors for it"


# --- guide checks ---------------------------------------------------------------------------


def _endpoint_keys(endpoints: Iterable[Tuple[str, str]], prefix: str) -> Set[Tuple[str, str]]:
    """Both the raw and the prefix-stripped form of each (METHOD, path), so either spelling matches."""
    keys: Set[Tuple[str, str]] = set()
    for method, path in endpoints:
        keys.add((method, path))
        keys.add((method, strip_prefix(path, prefix)))
    return keys


def _parse_endpoint(entry: str) -> Tuple[str, str]:
    method, _, path = entry.strip().partition(" ")
    return method.upper(), path.strip()


def _has_endpoint(entry: str, available: Set[Tuple[str, str]], prefix: str) -> bool:
    return bool(_endpoint_keys([_parse_endpoint(entry)], prefix) & available)


def _looks_like_conductor(document: Dict[str, Any]) -> bool:
    return any(
        path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/")
        for path in _paths(document)
        for root in ("/api/workflow", "/workflow")
    )


def _guide_problems(document: Dict[str, Any], config: ValidationConfig, prefix: str) -> List[Problem]:
    """The checks the regeneration guide asks for beyond OpenAPI validity."""
    problems: List[Problem] = []
    info = _dict(document.get("info"))
    if not _text(info.get("version")).strip():
        problems.append(Problem(ERROR, "missing-info-version", "info.version is missing; the generator needs it"))
    if not _paths(document):
        problems.append(Problem(ERROR, "no-paths", "the spec defines no paths"))
    if not _schemas(document):
        problems.append(Problem(ERROR, "no-models", "no model definitions (components.schemas is missing or empty)"))
    if not _paths(document):
        return problems
    available = _endpoint_keys(_operations(document), prefix)
    conductor = _looks_like_conductor(document)
    if not conductor:
        title = _text(info.get("title")) or "untitled"
        problems.append(Problem(ERROR, "wrong-server", f"not a Conductor server spec (title '{title}')"))
        return problems  # listing every missing Conductor endpoint would only repeat that
    markers = tuple(config.orkes_markers)
    if markers and not any(_has_endpoint(m, available, prefix) for m in markers):
        problems.append(
            Problem(
                ERROR,
                "wrong-server",
                f"this looks like a Conductor OSS spec, not an Orkes Conductor spec (no {', '.join(markers)}); "
                "the Orkes async client needs the Orkes server's spec",
            )
        )
    missing = [e for e in config.required_endpoints if not _has_endpoint(e, available, prefix)]
    if missing:
        problems.append(Problem(ERROR, "missing-endpoints", f"required endpoints are missing: {', '.join(missing)}"))
    return problems


# --- entry points ---------------------------------------------------------------------------


def validate_spec(document: Dict[str, Any], config: ValidationConfig, fixups: FixupConfig,
                  cache_dir: Optional[Path] = None) -> ValidationReport:
    """Validate a parsed spec and report every problem, marking those the enabled fixups repair.

    With `cache_dir`, openapi-spec-validator's findings on a document seen before are looked up there.
    """
    if not isinstance(document, dict):
        problem = Problem(ERROR, "unsupported-format", f"the spec is a {type(document).__name__}, not a mapping")
        return ValidationReport("", "", "", 0, 0, 0, (problem,))
    prefix = normalize_prefix(fixups.strip_path_prefix)
    family, problems = _format_problems(document)
    fixed, applied, would_change, fixup_problems = _preview_fixups(document, fixups)
    if family is not None:
        # The fixed document only needs a second run when it differs and the first run found something.
        before, after = _validate_in_child(document, fixed if applied else None, family, config.timeout, cache_dir)
        problems += _classify_findings(before, after, applied, prefix)
        if family == "3.1":
            problems.append(
                Problem(WARNING, "openapi-3.1", "OpenAPI Generator's 3.1 support is partial; check the output")
            )
    problems += fixup_problems
    problems += _fixup_guide_problems(document, would_change, {a.name for a in active_fixups(fixups)}, prefix)
    problems += _guide_problems(document, config, prefix)
    info = _dict(document.get("info"))
    return ValidationReport(
        openapi_version=_text(document.get("openapi", document.get("swagger"))),
        title=_text(info.get("title")),
        info_version=_text(info.get("version")),
        path_count=len(_paths(document)),
        operation_count=len(_operations(document)),
        schema_count=len(_schemas(document)),
        problems=tuple(problems),
    )


def format_report(report: ValidationReport) -> List[str]:
    """Render a report as lines for humans: what the spec is, the counts, then each problem."""
    lines = [
        f"spec: '{report.title}' version {report.info_version or '?'} (OpenAPI {report.openapi_version or '?'})",
        f"size: {report.path_count} paths, {report.operation_count} operations, {report.schema_count} schemas",
        f"problems: {len(report.errors)} error(s), {len(report.fixable)} fixable, {len(report.warnings)} warning(s)",
    ]
    for problem in report.problems:
        line = f"{problem.severity} [{problem.code}] {problem.message}"
        if problem.severity == FIXABLE and problem.fixup:
            line += f" (fixup: {problem.fixup})"
        lines.append(line)
    return lines


def require_usable(report: ValidationReport, source: str, generate_command: str = "invoke generate") -> None:
    """SpecValidationError when the spec has errors; defects a fixup repairs do not count."""
    if report.errors:
        raise SpecValidationError(f"{len(report.errors)} error(s) in {source}",
                                  f"see the list above; fixable defects are repaired by `{generate_command}`")
