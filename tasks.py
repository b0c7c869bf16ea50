"""Invoke tasks: a thin edge over the conductor_regen package (parse options, call, render errors)."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional, TypeVar

from invoke import Collection, Context, Exit, task

from conductor_regen.config import Settings, resolve_settings
from conductor_regen.errors import RegenError

ROOT = Path(__file__).resolve().parent
F = TypeVar("F", bound=Callable[..., Any])


# --- edge plumbing -------------------------------------------------------------------------------

def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    pkg = logging.getLogger("conductor_regen")
    pkg.handlers[:] = [handler]
    pkg.setLevel(logging.DEBUG if verbose else logging.INFO)
    pkg.propagate = False


def edge(func: F) -> F:
    """Turn domain errors and Ctrl-C into one `ERROR: ... / hint: ...` line and an exit code."""

    @functools.wraps(func)
    def wrapper(c: Context, *args: Any, **kwargs: Any) -> Any:
        _setup_logging(bool(kwargs.get("verbose")))
        try:
            return func(c, *args, **kwargs)
        except RegenError as exc:
            raise Exit(exc.render(), code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("ERROR: interrupted / hint: the SDK tree was left as it was; "
                       "rerun, or `invoke restore` if a swap was under way", code=130) from None

    return wrapper  # type: ignore[return-value]


def _plain(value: Any) -> Any:
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return value


def settings(c: Context, **cli: Any) -> Settings:
    """Resolve defaults < invoke.yaml < environment < command line, once per task."""
    resolved = resolve_settings(_plain(c.config.get("regen", {})), os.environ, cli)
    # Relative store paths are relative to this project, not to wherever invoke was started.
    resolved = dataclasses.replace(
        resolved,
        backups_dir=resolved.backups_dir if resolved.backups_dir.is_absolute() else ROOT / resolved.backups_dir,
        cache_dir=resolved.cache_dir if resolved.cache_dir.is_absolute() else ROOT / resolved.cache_dir,
    )
    if resolved.verbose:
        print("resolved settings:\n  " + resolved.describe().replace("\n", "\n  "))
    return resolved


def _gen_cli(generator_version: Optional[str], backend: Optional[str], java_heap: Optional[str],
             no_fixups: bool, verbose: bool) -> Dict[str, Any]:
    return {
        "generator.version": generator_version,
        "generator.backend": backend,
        "generator.java_heap": java_heap,
        "fixups.enabled": False if no_fixups else None,
        "verbose": verbose or None,
    }


def _summary(steps: Any) -> None:
    total = sum(s.seconds for s in steps.steps)
    print(f"done in {total:.1f}s: " + ", ".join(f"{s.name} {s.status}" for s in steps.steps))


GEN_HELP = {
    "spec": "spec file or URL (a server base URL gets /api-docs appended)",
    "generator-version": "OpenAPI Generator version (default 7.14.0, the SDK's)",
    "backend": "jar (default, bundled wheel on Java), docker or npm",
    "java-heap": "JVM heap for the generator, e.g. 2g",
    "no-fixups": "feed the spec to the generator without repairs",
    "verbose": "show resolved settings and debug logs",
}


# --- spec intake ---------------------------------------------------------------------------------

@task(help={"url": "full spec URL, or server base URL (then /api-docs is appended)",
            "output": "where to write the pretty-printed JSON (default: swagger.json)",
            "insecure": "turn TLS verification off (loudly)",
            "timeout": "seconds per request",
            "verbose": GEN_HELP["verbose"]})
@edge
def fetch_spec(c: Context, url: str, output: str = "swagger.json", insecure: bool = False,
               timeout: Optional[float] = None, verbose: bool = False) -> None:
    """Download a server's OpenAPI spec (with Orkes token auth from CONDUCTOR_AUTH_KEY/SECRET)."""
    from conductor_regen.spec_intake import load_spec, write_spec

    s = settings(c, **{"fetch.insecure": insecure or None, "fetch.timeout": timeout, "verbose": verbose or None})
    loaded = load_spec(url, s.fetch, os.environ)
    digest = write_spec(loaded.document, Path(output))
    paths = len(loaded.document.get("paths") or {})
    print(f"wrote {output}: info.version {loaded.version or '?'}, {paths} paths, sha256 {digest}")


@task(help={"spec": GEN_HELP["spec"], "no-fixups": "report defects as errors (as if unrepaired)",
            "verbose": GEN_HELP["verbose"]})
@edge
def validate_spec(c: Context, spec: str, no_fixups: bool = False, verbose: bool = False) -> None:
    """Check a spec: OpenAPI validity, the guide's checks, and which defects fixups repair."""
    from conductor_regen.errors import SpecValidationError
    from conductor_regen.spec_intake import load_spec
    from conductor_regen.spec_validation import format_report, validate_spec as run_validation

    s = settings(c, **{"fixups.enabled": False if no_fixups else None, "verbose": verbose or None})
    loaded = load_spec(spec, s.fetch, os.environ)
    report = run_validation(loaded.document, s.validation, s.fixups)
    for line in format_report(report):
        print(line)
    if report.errors:
        raise SpecValidationError(f"{len(report.errors)} error(s) in {spec}",
                                  "see the list above; fixable defects are repaired by `invoke generate`")
    print(f"OK: {spec} is usable ({len(report.fixable)} known defect(s) will be repaired)")


@task(help={"verbose": GEN_HELP["verbose"]})
@edge
def fixups(c: Context, verbose: bool = False) -> None:
    """List the spec repairs (fixups), in the order they run."""
    from conductor_regen.fixups import list_fixups

    s = settings(c, verbose=verbose or None)
    for fix in list_fixups():
        state = "skipped" if (fix.name in s.fixups.skip or not s.fixups.enabled) else "on"
        print(f"{fix.name:28} [{state}] {fix.reason}")


# --- generation ----------------------------------------------------------------------------------

@task(help={**GEN_HELP, "output": "staging folder to create (never an SDK; replaced if made by us)",
            "no-cache": "always run the generator, even for inputs seen before"})
@edge
def generate(c: Context, spec: str, output: str, generator_version: Optional[str] = None,
             backend: Optional[str] = None, java_heap: Optional[str] = None, no_fixups: bool = False,
             no_cache: bool = False, verbose: bool = False) -> None:
    """Validate, repair and generate a spec into a verified staging tree (touches no SDK)."""
    from conductor_regen.pipeline import generate as run_generate
    from conductor_regen.progress import StepLog

    s = settings(c, **_gen_cli(generator_version, backend, java_heap, no_fixups, verbose))
    steps = StepLog()
    result = run_generate(spec, Path(output), s, steps, os.environ, use_cache=not no_cache)
    _summary(steps)
    print(f"staging tree: {result.tree.package_dir}")
    print(f"provenance:   {result.tree.root / '.regen' / 'provenance.json'}")


# --- demo ----------------------------------------------------------------------------------------

@task(help={"keep": "keep the temporary workspace and print its path", "verbose": GEN_HELP["verbose"]})
@edge
def demo(c: Context, keep: bool = False, verbose: bool = False) -> None:
    """Run the main job offline on the bundled example SDK and specs (v1 -> v2)."""
    from conductor_regen.demo import run_demo

    s = settings(c, verbose=verbose or None)
    workdir = Path(tempfile.mkdtemp(prefix="conductor-regen-demo-"))
    try:
        for line in run_demo(ROOT / "tests" / "fixtures", workdir, s):
            print(line)
    finally:
        if keep:
            print(f"workspace kept: {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


ns = Collection(fetch_spec, validate_spec, fixups, generate, demo)
ns.configure({"regen": {}})
