"""Invoke tasks: a thin edge over the conductor_regen package (parse options, call, render errors).

`invoke` finds them through the repository's `tasks.py`; `conductor-regen` (console.py) runs the same namespace.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, TypeVar, cast

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task
from invoke.tasks import task as invoke_task

from conductor_regen.config import Settings
from conductor_regen.config_sources import SOURCE_ROOT
from conductor_regen.errors import RegenError

# The tool's repository (tests/fixtures, backups/, .cache/ live there); see config_sources.tool_repository.
ROOT = SOURCE_ROOT
F = TypeVar("F", bound=Callable[..., Any])
# The program the user typed, as reports name it; console.py sets "conductor-regen".
PROGRAM = "invoke"


# The only short flags, each meaning one option in every task (invoke's automatic ones differed by
# task: -s was --spec in one and --sdk in another). Every other option is long only.
SHORT_FLAGS: Dict[str, str] = {
    "spec": "s", "sdk": "d", "yes": "y", "dry-run": "n", "verbose": "v", "output": "o", "report": "r",
    "backup": "b", "python": "p", "url": "u", "from": "f",
}


class LetterFlagTask(Task[Any]):
    """A task whose short flags come from SHORT_FLAGS only, so a letter means the same in every task.

    Invoke picks the first free character of the dashed name, which can be the dash itself
    (`--, --no-cache` in `--help`) or a letter another task gives to another option.
    """

    def arg_opts(self, name: str, default: str, taken_names: Set[str]) -> Dict[str, Any]:
        """Invoke's argument options, with the short flag from SHORT_FLAGS (or none)."""
        opts = super().arg_opts(name, default, taken_names)
        long_name = opts["names"][0]
        short = SHORT_FLAGS.get(long_name.rstrip("-_"))
        opts["names"] = [long_name] + ([short] if short and short not in taken_names else [])
        return opts


def task(**kwargs: Any) -> Callable[[Callable[..., Any]], LetterFlagTask]:
    """`@invoke.task(...)` with LetterFlagTask as the task class."""
    return cast(Callable[[Callable[..., Any]], LetterFlagTask], invoke_task(klass=LetterFlagTask, **kwargs))


# --- edge plumbing -------------------------------------------------------------------------------

def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    pkg = logging.getLogger("conductor_regen")
    pkg.handlers[:] = [handler]
    # Quiet by default: the steps' one line each and warnings; --verbose shows every log line.
    pkg.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("conductor_regen.progress").setLevel(logging.DEBUG if verbose else logging.INFO)
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
        except OSError as exc:
            # Permission denied, disk full, ...: the core leaves the tree whole (a swap undoes itself,
            # or the next run finishes it); the user needs the cause and the path, not a traceback.
            where = f": {exc.filename}" if exc.filename else ""
            raise Exit(f"ERROR: {exc.strerror or exc}{where} / hint: check that path's permissions and the free "
                       "disk space, then run again; the SDK tree was left whole", code=1) from None
        except KeyboardInterrupt:
            raise Exit("ERROR: interrupted / hint: the SDK tree was left as it was; "
                       f"rerun, or `{PROGRAM} restore` if a swap was under way", code=130) from None

    return wrapper  # type: ignore[return-value]


def _plain(value: Any) -> Any:
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return value


def settings(c: Context, **cli: Any) -> Settings:
    """Resolve defaults < invoke.yaml < the SDK's own settings < environment < command line, once per task."""
    from conductor_regen.config_sources import resolve_run_settings, tool_repository

    run = resolve_run_settings(_plain(c.config.get("regen", {})), os.environ, cli, Path.cwd(), tool_repository())
    resolved = run.settings
    if resolved.verbose:
        print("resolved settings:\n  " + resolved.describe().replace("\n", "\n  "))
        if run.sdk_detected:
            print(f"  (sdk.root found from the working folder {Path.cwd()})")
        if run.sdk_source is not None:
            print(f"  (the SDK's own settings read from {run.sdk_source})")
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
    from conductor_regen.spec.intake import load_spec, write_spec

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
    from conductor_regen.spec.intake import load_spec
    from conductor_regen.spec.validation import format_report, validate_spec as run_validation

    s = settings(c, **{"fixups.enabled": False if no_fixups else None, "verbose": verbose or None})
    loaded = load_spec(spec, s.fetch, os.environ)
    report = run_validation(loaded.document, s.validation, s.fixups)
    for line in format_report(report):
        print(line)
    if report.errors:
        raise SpecValidationError(f"{len(report.errors)} error(s) in {spec}",
                                  f"see the list above; fixable defects are repaired by `{PROGRAM} generate`")
    print(f"OK: {spec} is usable ({len(report.fixable)} known defect(s) will be repaired)")


@task(help={"verbose": GEN_HELP["verbose"]})
@edge
def fixups(c: Context, verbose: bool = False) -> None:
    """List the spec repairs (fixups), in the order they run."""
    from conductor_regen.spec.fixups import list_fixups

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
    from conductor_regen.generator.pipeline import generate as run_generate
    from conductor_regen.progress import StepLog

    s = settings(c, **_gen_cli(generator_version, backend, java_heap, no_fixups, verbose))
    steps = StepLog()
    result = run_generate(spec, Path(output), s, steps, os.environ, use_cache=not no_cache)
    _summary(steps)
    print(f"staging tree: {result.tree.package_dir}")
    print(f"provenance:   {result.tree.root / '.regen' / 'provenance.json'}")


# --- target SDK, backups, swap -------------------------------------------------------------------

SDK_HELP = "SDK checkout (default: CONDUCTOR_SDK_ROOT, sdk.root in invoke.yaml, else the checkout you are in)"


def _target(s: Settings) -> Any:
    from conductor_regen.sdk.target import resolve_sdk

    return resolve_sdk(s.sdk)


def _confirm(plan: Any) -> bool:
    for line in plan.lines():
        print(line)
    try:
        answer = input("Swap this into the SDK? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _finish(result: Any, s: Settings, target: Any, steps: Any, report: Optional[str] = None) -> None:
    """Print a run's end: its plan (dry run) and the notes that need action (--verbose: the whole report),
    the steps' summary, and the report's path as the last line."""
    from conductor_regen.app.run_report import report_file
    from conductor_regen.app.report import action_notes

    if s.verbose:
        print(result.to_markdown())
    else:
        for line in result.plan:
            print(line)
        notes = action_notes(result.notes)
        for note in notes:
            print(f"note: {note}")
        others = len(set(result.notes)) - len(notes)
        if others > 0:
            print(f"({others} more note(s) in the report)")
    _summary(steps)
    print(f"report: {report_file(result, s, target, Path(report) if report else None)}")


@task(help={**GEN_HELP, "sdk": SDK_HELP,
            "dry-run": "print the plan (steps, files added/removed/changed) and change nothing",
            "yes": "never prompt (else: asks once before the swap)",
            "skip-tests": "do not run the gate sessions (contract and tests) after the swap",
            "keep-failed": "leave a failed tree in place instead of restoring the backup",
            "allow-dirty": "run even with uncommitted changes in the managed folders",
            "only": "comma-separated API modules to update (incremental mode), e.g. workflow_resource_api",
            "report": "write the JSON report here (Markdown beside it)",
            "session": "nox session(s) used as the gate, repeatable (default: contract and async_tests)",
            "python": "Python version for the test gate (default: this interpreter)",
            "no-cache": "always run the generator",
            "no-pin-names": "let generated method names follow the spec's operationIds (may rename methods)",
            "force": "regenerate even when the live client records the same spec and options",
            "removed": "API items the spec drops but SDK code uses: keep (default, deprecated), drop or fail",
            "no-keyword-calls": "do not rewrite positional calls a new signature would misbind; refuse instead"},
      iterable=["session"])
@edge
def regenerate(c: Context, spec: str, sdk: Optional[str] = None, dry_run: bool = False, yes: bool = False,
               skip_tests: bool = False, keep_failed: bool = False, allow_dirty: bool = False,
               only: str = "", report: Optional[str] = None, session: Optional[List[str]] = None,
               python: Optional[str] = None, generator_version: Optional[str] = None,
               backend: Optional[str] = None, java_heap: Optional[str] = None, no_fixups: bool = False,
               no_cache: bool = False, no_pin_names: bool = False, force: bool = False,
               removed: Optional[str] = None, no_keyword_calls: bool = False, verbose: bool = False) -> None:
    """Run the whole guide on an SDK: spec, generate, verify, back up, swap, gate, report."""
    from conductor_regen.progress import StepLog
    from conductor_regen.app.plan import RegenOptions
    from conductor_regen.app.regenerate import regenerate as run_regenerate

    s = settings(c, **_gen_cli(generator_version, backend, java_heap, no_fixups, verbose),
                 **{"sdk.root": sdk, "sdk.removed": removed, "sdk.keyword_calls": False if no_keyword_calls else None})
    # Validates --session/--python before any work; --skip-tests needs no test matrix at all.
    gate = None if skip_tests else _test_gate(s, session, python, spec)
    target = _target(s)
    options = RegenOptions(
        spec=spec, dry_run=dry_run, yes=yes, skip_tests=skip_tests, keep_failed=keep_failed,
        allow_dirty=allow_dirty, only=tuple(m.strip() for m in only.split(",") if m.strip()),
        report_path=Path(report) if report else None, use_cache=not no_cache, pin_names=not no_pin_names,
        force=force, command=f"{PROGRAM} regenerate",
    )
    steps = StepLog()
    result = run_regenerate(target, options, s, steps, _confirm, gate, os.environ)
    _finish(result, s, target, steps, report)


def _test_gate(s: Settings, sessions: Optional[List[str]], python: Optional[str], spec: Optional[str] = None) -> Any:
    try:
        from conductor_regen.matrix.interpreters import check_pythons
        from conductor_regen.matrix.runner import gate
        from conductor_regen.matrix.sessions import CONTRACT_SPEC_ENV, GATE_SESSIONS, check_sessions
    except ImportError as exc:
        # A gate that cannot run is not a gate that passed: stop before anything is touched.
        from conductor_regen.errors import ConfigError

        raise ConfigError(f"the test gate cannot run: {exc}",
                          'install the dev dependencies (python -m pip install -e ".[dev]"), '
                          "or pass --skip-tests to run without it") from None
    chosen = tuple(sessions or GATE_SESSIONS)
    pythons = (python or f"{sys.version_info[0]}.{sys.version_info[1]}",)
    # Checked now, before any work: a misspelled session must not fail after the swap.
    check_sessions(chosen)
    check_pythons(pythons, os.environ)
    # nox runs in this project's folder: a relative spec path means the caller's folder.
    if spec and not re.match(r"^https?://", spec) and Path(spec).expanduser().exists():
        spec = str(Path(spec).expanduser().resolve())
    # The pristine rerun checks the contract against this run's spec too: a pristine tree records none,
    # and its failures are pre-existing only when judged against the same spec.
    judge_env = {**_store_env(s), **({CONTRACT_SPEC_ENV: spec} if spec else {})}
    return lambda target: gate(target.root, sessions=chosen, pythons=pythons, spec=spec,
                                judge=_judge(s, target, env=judge_env), env=_store_env(s),
                                timeout=s.test_timeout)


def _store_env(s: Settings) -> Dict[str, str]:
    """The environment for nox: lint and typecheck find this run's backups (their baseline) and cache."""
    return {**os.environ, "REGEN_BACKUPS_DIR": str(s.backups_dir), "REGEN_CACHE_DIR": str(s.cache_dir)}


def _judge(s: Settings, target: Any, pytest_args: Any = (), env: Optional[Dict[str, str]] = None) -> Any:
    """Compare failed sessions with the SDK before the last regeneration (newest backup, else git HEAD)."""
    from conductor_regen.matrix.pristine import find_pristine
    from conductor_regen.matrix.verdicts import judge_against

    return judge_against(lambda: find_pristine(target, s.backups_dir), cache_dir=s.cache_dir / "baselines",
                         pytest_args=tuple(pytest_args), env=env)


@task(help={**GEN_HELP, "sdk": SDK_HELP,
            "old-spec": "the spec the SDK's client came from (file or URL): adds schema types to the report",
            "no-pin-names": "compare with plain generator names (shows the renames pinning prevents)",
            "no-keyword-calls": "count calls a new signature would misbind as breaking (regenerate would refuse)",
            "report": "also write the changes as JSON here (Markdown beside it)",
            "fail-on-breaking": "exit with 1 when any change is breaking (for CI)"})
@edge
def diff(c: Context, spec: str, sdk: Optional[str] = None, old_spec: Optional[str] = None,
         no_pin_names: bool = False, report: Optional[str] = None, fail_on_breaking: bool = False,
         generator_version: Optional[str] = None, backend: Optional[str] = None, java_heap: Optional[str] = None,
         no_fixups: bool = False, no_keyword_calls: bool = False, verbose: bool = False) -> None:
    """Report what regenerating the SDK from SPEC would change for its users; touches nothing."""
    import json

    from conductor_regen.app.diff import diff_sdk
    from conductor_regen.client.changes import count_by_severity, render_markdown, to_json_list
    from conductor_regen.errors import VerificationError
    from conductor_regen.progress import StepLog

    s = settings(c, **_gen_cli(generator_version, backend, java_heap, no_fixups, verbose),
                 **{"sdk.root": sdk, "sdk.keyword_calls": False if no_keyword_calls else None})
    target = _target(s)
    steps = StepLog()
    result = diff_sdk(target.http_dir, spec, s, steps, os.environ, pin_names=not no_pin_names, old_source=old_spec,
                      target=target)
    _summary(steps)
    for line in result.pinning:
        print(f"pinned: {line}")
    if result.binding is not None:
        print(f"bindings: {result.binding.summary()}")
        for finding in result.binding.findings:
            print(f"  would not bind: {finding.render()}")
        for note in result.binding.rewritten:
            print(f"  regenerate would rewrite: {note}")
        if verbose:
            for line in result.binding.unresolved:
                print(f"  receiver not resolved: {line}")
    text = render_markdown(result.changes)
    print(text, end="")
    if report:
        out = Path(report)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(to_json_list(result.changes), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        out.with_suffix(".md").write_text(text, encoding="utf-8")
        print(f"report: {report} (+ .md)")
    breaking = count_by_severity(result.changes)["breaking"]
    if fail_on_breaking and breaking:
        raise VerificationError(f"{breaking} breaking change(s)",
                                "add adapters or aliases for them, or rerun without --fail-on-breaking")


@task(help={"sdk": SDK_HELP,
            "spec": "spec the SDK's http/ was generated from (default: the file its provenance names)",
            "output": "write the proposals (data/local_edits.json format) here instead of stdout",
            "generator-version": GEN_HELP["generator-version"], "backend": GEN_HELP["backend"],
            "java-heap": GEN_HELP["java-heap"], "verbose": GEN_HELP["verbose"]})
@edge
def detect_edits(c: Context, sdk: Optional[str] = None, spec: Optional[str] = None, output: Optional[str] = None,
                 generator_version: Optional[str] = None, backend: Optional[str] = None,
                 java_heap: Optional[str] = None, verbose: bool = False) -> None:
    """Diff the SDK's http/ against a pristine generation and propose local edits as JSON."""
    from conductor_regen.compat.edits import detect_in_sdk
    from conductor_regen.progress import StepLog

    s = settings(c, **_gen_cli(generator_version, backend, java_heap, False, verbose), **{"sdk.root": sdk})
    found = detect_in_sdk(_target(s), spec, s, StepLog(), os.environ)
    for line in found.lines():
        print(line, file=sys.stderr)  # keep stdout pure JSON
    if output:
        Path(output).write_text(found.to_json(), encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)
    else:
        print(found.to_json(), end="")


@task(help={"from": "a staging tree from `invoke generate` (or a generated http/ package)", "sdk": SDK_HELP,
            "yes": "never prompt", "keep-failed": "leave a failed tree in place",
            "allow-dirty": "run even with uncommitted changes", "verbose": GEN_HELP["verbose"]})
@edge
def replace(c: Context, from_: str, sdk: Optional[str] = None, yes: bool = False, keep_failed: bool = False,
            allow_dirty: bool = False, verbose: bool = False) -> None:
    """Swap an already generated tree into the SDK (backup, atomic swap, import gate, rollback)."""
    from conductor_regen.progress import StepLog
    from conductor_regen.app.plan import RegenOptions
    from conductor_regen.app.replace import replace_from

    s = settings(c, verbose=verbose or None, **{"sdk.root": sdk})
    options = RegenOptions(spec="", yes=yes, keep_failed=keep_failed, allow_dirty=allow_dirty,
                           command=f"{PROGRAM} replace")
    steps = StepLog()
    target = _target(s)
    result = replace_from(target, Path(from_), options, s, steps, _confirm)
    _finish(result, s, target, steps)


@task(help={"sdk": SDK_HELP, "dry-run": "print the plan (adapters, wiring, tests to add) and change nothing",
            "yes": "never prompt (else: asks once before the swap)",
            "keep-failed": "leave a failed tree in place instead of restoring the backup",
            "allow-dirty": "run even with uncommitted changes in the managed folders",
            "verbose": GEN_HELP["verbose"]})
@edge
def scaffold_adapters(c: Context, sdk: Optional[str] = None, dry_run: bool = False, yes: bool = False,
                      keep_failed: bool = False, allow_dirty: bool = False, verbose: bool = False) -> None:
    """Add missing adapters (wiring, tests) for the SDK's live http/: backup, atomic swap, import gate, rollback."""
    from conductor_regen.progress import StepLog
    from conductor_regen.app.plan import RegenOptions
    from conductor_regen.app.scaffold_cmd import scaffold_sdk

    s = settings(c, verbose=verbose or None, **{"sdk.root": sdk})
    options = RegenOptions(spec="", dry_run=dry_run, yes=yes, keep_failed=keep_failed, allow_dirty=allow_dirty,
                           command=f"{PROGRAM} scaffold-adapters")
    steps = StepLog()
    target = _target(s)
    result = scaffold_sdk(target, options, s, steps, _confirm)
    _finish(result, s, target, steps)


@task(help={"sdk": SDK_HELP, "keep-failed": "leave a failed tree in place instead of restoring the backup",
            "allow-dirty": "run even with uncommitted changes in the managed folders",
            "verbose": GEN_HELP["verbose"]})
@edge
def fix_imports(c: Context, sdk: Optional[str] = None, keep_failed: bool = False, allow_dirty: bool = False,
                verbose: bool = False) -> None:
    """Rewrite generator default package names (openapi_client, ...) in the SDK: backup, atomic swap, import gate."""
    from conductor_regen.progress import StepLog
    from conductor_regen.app.fix_imports_cmd import fix_sdk_imports
    from conductor_regen.app.plan import RegenOptions

    s = settings(c, verbose=verbose or None, **{"sdk.root": sdk})
    options = RegenOptions(spec="", yes=True, keep_failed=keep_failed, allow_dirty=allow_dirty,
                           command="invoke fix-imports")
    steps = StepLog()
    for line in fix_sdk_imports(_target(s), s, steps, options):
        print(line)
    _summary(steps)


@task(help={"sdk": SDK_HELP, "verbose": GEN_HELP["verbose"]})
@edge
def backup(c: Context, sdk: Optional[str] = None, verbose: bool = False) -> None:
    """Back up the SDK's managed folders on their own (under the run lock, after recovery)."""
    from conductor_regen.app.backup_commands import backup_sdk

    s = settings(c, verbose=verbose or None, **{"sdk.root": sdk})
    made, recovered = backup_sdk(_target(s), s)
    if recovered:
        print(recovered)
    print(f"backup {made.id}: {made.file_count} files, {made.size_bytes} bytes in {made.path}")


MOVED_HELP = ("this checkout was moved: also use backups taken from another path with the same folder name "
              "(by default only backups of this checkout's resolved path count)")


@task(help={"sdk": SDK_HELP, "moved": MOVED_HELP})
@edge
def backups(c: Context, sdk: Optional[str] = None, moved: bool = False) -> None:
    """List an SDK's backups: id, time, spec version, size, outcome; `*` marks what restore goes back to."""
    from conductor_regen.sdk.backups import list_backups, restore_point
    from conductor_regen.errors import BackupError

    s = settings(c, **{"sdk.root": sdk})
    target = _target(s)
    found = list_backups(s.backups_dir, target.name, None if moved else target.root)
    if not found:
        print(f"no backups of {target.name} in {s.backups_dir}")
        return
    try:
        point = restore_point(s.backups_dir, target.name, None if moved else target.root).id
    except BackupError:
        point = ""
    row = "{:1} {:40} {:23} {:10} {:>12}  {}"
    print(row.format("", "ID", "CREATED", "SPEC", "SIZE (B)", "OUTCOME"))
    for b in found:
        when = b.created.strftime("%Y-%m-%d %H:%M:%S UTC")
        print(row.format("*" if b.id == point else "", b.id, when, b.spec_version, b.size_bytes, b.outcome))
    if point:
        print(f"* `invoke restore` goes back to {point} (the state before the last run); "
              f"keeping the last {s.backups_keep or 'all'} runs")


@task(help={"keep": "how many backups to keep (default 5, at least 1; the newest is never pruned)",
            "sdk": SDK_HELP, "moved": MOVED_HELP})
@edge
def prune_backups(c: Context, keep: int = 5, sdk: Optional[str] = None, moved: bool = False) -> None:
    """Remove an SDK's oldest backups, keeping the newest N (and any an unfinished or the last good run needs)."""
    from conductor_regen.app.backup_commands import prune_sdk

    s = settings(c, **{"sdk.root": sdk})
    removed = prune_sdk(_target(s), s, keep, moved)
    print(f"removed {len(removed)} backup(s)" + "".join(f"\n  {b.id}" for b in removed))


@task(help={"backup": "backup id (default: the state before the last run; a pre-restore id goes forward again)",
            "sdk": SDK_HELP, "yes": "do not ask for confirmation", "moved": MOVED_HELP})
@edge
def restore(c: Context, sdk: Optional[str] = None, backup: Optional[str] = None, yes: bool = False,
            moved: bool = False) -> None:
    """Undo the last run: put the managed folders back byte for byte (also finishes interrupted runs)."""
    from conductor_regen.app.restore_cmd import restore_sdk

    s = settings(c, **{"sdk.root": sdk})
    target = _target(s)

    def ask(what: str) -> bool:
        if yes:
            return True
        try:
            return input(f"Restore {what}? [y/N] ").strip().lower() in ("y", "yes")
        except EOFError:
            return False

    for line in restore_sdk(target, s, backup, ask, moved):
        print(line)


# --- test matrix ---------------------------------------------------------------------------------

@task(iterable=["session", "python"],
      help={"sdk": SDK_HELP,
            "session": "nox session to run, repeatable (default: async_tests); `nox -l` lists them",
            "python": "X.Y interpreter, repeatable (default: every one the machine has)",
            "reuse": "reuse the venvs and skip installs (nox -R); a changed SDK is still reinstalled",
            "pytest-args": 'extra pytest arguments as one string, e.g. "-k search -x"',
            "absolute": "fail on any failure, not only on failures the SDK's pristine tree did not have",
            "verbose": GEN_HELP["verbose"]})
@edge
def test(c: Context, sdk: Optional[str] = None, session: Optional[List[str]] = None,
         python: Optional[List[str]] = None, reuse: bool = False, pytest_args: str = "",
         absolute: bool = False, verbose: bool = False) -> None:
    """Run the guide's step-5 test matrix against an SDK checkout; failures are new or pre-existing."""
    import shlex

    from conductor_regen.errors import ConfigError, VerificationError
    from conductor_regen.matrix.interpreters import check_pythons
    from conductor_regen.matrix.results import format_summary, session_output
    from conductor_regen.matrix.runner import run_matrix
    from conductor_regen.matrix.sessions import check_sessions

    s = settings(c, **{"sdk.root": sdk, "verbose": verbose or None})
    check_sessions(tuple(session or ()))
    check_pythons(tuple(python or ()), os.environ)
    if s.sdk.root is None:
        raise ConfigError("no SDK checkout given",
                          "pass --sdk PATH, run from inside the checkout, or set CONDUCTOR_SDK_ROOT")
    # nox's own output streams with --verbose; otherwise it is shown only for the sessions that failed.
    args = shlex.split(pytest_args)
    # lint and typecheck judge themselves; --absolute reaches them as a session option.
    args = [*args, "--absolute"] if absolute and set(session or ()) <= {"lint", "typecheck"} else args
    captured: List[str] = []
    results = run_matrix(s.sdk.root, tuple(session or ("async_tests",)), tuple(python or ()), args, reuse=reuse,
                         env=_store_env(s), stream=s.verbose, captured=captured)
    if not absolute and any(r.result == "failed" for r in results):
        results = _judge(s, _target(s), args)(results)
    for r in results:
        if r.result == "failed" and captured and not s.verbose:
            name = f"{r.session}-{r.python}" if r.python else r.session
            print(session_output(captured[0], name) or captured[0])
    print()
    for line in format_summary(results):
        print(line)
    failed = [r for r in results if r.blocking or (absolute and r.result == "failed")]
    if failed:
        raise VerificationError(f"{len(failed)} of {len(results)} session(s) failed; first: "
                                f"{failed[0].session}-{failed[0].python or 'nox'}: {failed[0].detail}",
                                "JUnit XML is in .cache/junit/; rerun one with --session NAME --python X.Y")
    if all(r.result == "skipped" for r in results):
        raise VerificationError("no session ran (all skipped)", "see the skip reasons above")


# --- demo ----------------------------------------------------------------------------------------

@task(help={"keep": "keep the temporary workspace and print its path",
            "skip-tests": "do not run the nox test gate", "verbose": GEN_HELP["verbose"]})
@edge
def demo(c: Context, keep: bool = False, skip_tests: bool = False, verbose: bool = False) -> None:
    """Run the main job offline: regenerate a copy of the bundled example SDK from spec v1 to v2."""
    from conductor_regen.app.demo import run_demo

    s = settings(c, verbose=verbose or None)
    workdir = Path(tempfile.mkdtemp(prefix="conductor-regen-demo-"))
    try:
        gate = None if skip_tests else _test_gate(s, None, None)
        for line in run_demo(ROOT / "tests" / "fixtures", workdir, s, gate):
            print(line)
    finally:
        if keep:
            print(f"workspace kept: {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


ns = Collection(fetch_spec, validate_spec, fixups, generate, regenerate, diff, detect_edits, replace,
                scaffold_adapters, fix_imports, backup, backups, prune_backups, restore, test, demo)
ns.configure({"regen": {}})
