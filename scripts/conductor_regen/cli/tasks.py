"""Invoke tasks: a thin edge over the conductor_regen package (parse options, call, render errors).

`invoke` finds them through the repository's `tasks.py`; `conductor-regen` (console.py) runs the same namespace.
Option parsing lives in cli/options.py, output and error rendering in cli/render.py: a task prints its data
with `say` (stdout) and talks with `talk` (stderr; nothing with --quiet). Every task takes --verbose and --quiet.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

from invoke.collection import Collection
from invoke.context import Context

from conductor_regen.cli.console import adopt_running_invoke
from conductor_regen.cli.options import MOVED_HELP, SPEC_HELP, comma_list, program, sdk_target, settings, task
from conductor_regen.cli.render import ask, commands, confirm, edge, finish, say, summary, talk
from conductor_regen.config_sources import SOURCE_ROOT

# The tool's repository (tests/fixtures, backups/, .cache/ live there); see config_sources.tool_repository.
ROOT = SOURCE_ROOT
DIFF_FORMATS = ("markdown", "json")


# --- spec intake ---------------------------------------------------------------------------------

@task(help={"url": "full spec URL, or server base URL (then /api-docs is appended)",
            "output": "where to write the pretty-printed JSON (default: swagger.json)"})
@edge
def fetch_spec(c: Context, url: str, output: str = "swagger.json", insecure: bool = False,
               timeout: Optional[float] = None, verbose: bool = False, quiet: bool = False) -> None:
    """Download a server's OpenAPI spec (with Orkes token auth from CONDUCTOR_AUTH_KEY/SECRET)."""
    from conductor_regen.spec.intake import load_spec, write_spec

    s = settings(c, insecure=insecure, timeout=timeout, verbose=verbose)
    loaded = load_spec(url, s.fetch, os.environ)
    digest = write_spec(loaded.document, Path(output))
    paths = len(loaded.document.get("paths") or {})
    say(f"wrote {output}: info.version {loaded.version or '?'}, {paths} paths, sha256 {digest}")


@task(help={"spec": SPEC_HELP, "no-fixups": "report defects as errors (as if unrepaired)"})
@edge
def validate_spec(c: Context, spec: str, no_fixups: bool = False, verbose: bool = False, quiet: bool = False) -> None:
    """Check a spec: OpenAPI validity, the guide's checks, and which defects fixups repair."""
    from conductor_regen.spec.intake import load_spec
    from conductor_regen.spec.validation import format_report, require_usable, validate_spec as run_validation

    s = settings(c, no_fixups=no_fixups, verbose=verbose)
    loaded = load_spec(spec, s.fetch, os.environ)
    report = run_validation(loaded.document, s.validation, s.fixups)
    say(*format_report(report))
    require_usable(report, spec, f"{program()} generate")
    say(f"OK: {spec} is usable ({len(report.fixable)} known defect(s) will be repaired)")


@task()
@edge
def fixups(c: Context, verbose: bool = False, quiet: bool = False) -> None:
    """List the spec repairs (fixups), in the order they run."""
    from conductor_regen.spec.fixups import list_fixups

    s = settings(c, verbose=verbose)
    for fix in list_fixups():
        state = "skipped" if (fix.name in s.fixups.skip or not s.fixups.enabled) else "on"
        say(f"{fix.name:28} [{state}] {fix.reason}")


# --- generation ----------------------------------------------------------------------------------

@task(help={"spec": SPEC_HELP, "output": "staging folder to create (never an SDK; replaced if made by us)",
            "no-cache": "always run the generator, even for inputs seen before"})
@edge
def generate(c: Context, spec: str, output: str, generator_version: Optional[str] = None,
             backend: Optional[str] = None, java_heap: Optional[str] = None, no_fixups: bool = False,
             no_cache: bool = False, verbose: bool = False, quiet: bool = False) -> None:
    """Validate, repair and generate a spec into a verified staging tree (touches no SDK)."""
    from conductor_regen.generator.pipeline import generate as run_generate
    from conductor_regen.progress import StepLog

    s = settings(c, generator_version=generator_version, backend=backend, java_heap=java_heap, no_fixups=no_fixups,
                 verbose=verbose)
    steps = StepLog()
    result = run_generate(spec, Path(output), s, steps, os.environ, use_cache=not no_cache)
    summary(steps)
    say(f"staging tree: {result.tree.package_dir}", f"provenance:   {result.tree.root / '.regen' / 'provenance.json'}")


# --- target SDK, backups, swap -------------------------------------------------------------------

@task(help={"spec": SPEC_HELP,
            "dry-run": "print the plan (steps, files added/removed/changed) and change nothing",
            "yes": "never prompt (else: asks once before the swap)",
            "skip-tests": "do not run the gate sessions (contract and tests) after the swap",
            "keep-failed": "leave a failed tree in place instead of restoring the backup",
            "allow-dirty": "run even with uncommitted changes in the managed folders",
            "only": "comma-separated API modules to update (incremental mode), e.g. workflow_resource_api",
            "report": "write the JSON report here (Markdown beside it); - prints it on stdout",
            "session": "nox session(s) used as the gate, repeatable (default: contract and async_tests)",
            "python": "Python version for the test gate (default: this interpreter)",
            "no-cache": "always run the generator",
            "no-pin-names": "let generated method names follow the spec's operationIds (may rename methods)",
            "force": "regenerate even when the live client records the same spec and options",
            "accept": "go ahead past the gate's new contract/lint/typecheck findings, recording them with this "
                      "reason in .conductor-regen/accepted-findings.json (the report lists them as accepted breaks)",
            "branch": "run in a scratch git worktree at HEAD and commit the result on this new branch (with --commit); "
                      "your branch and work tree are not touched, nothing is pushed",
            "commit": "end the run with one commit on --branch, its message the impact summary",
            "pr-body": "also write the commit's Markdown body here (a pull request's body)",
            "skip-if-held-by": "with --branch: when this ref (e.g. origin/BRANCH) is one commit on HEAD made from the "
                               "same spec, tool version and options, make the branch there instead of running again"},
      iterable=["session"])
@edge
def regenerate(c: Context, spec: str, sdk: Optional[str] = None, dry_run: bool = False, yes: bool = False,
               skip_tests: bool = False, keep_failed: bool = False, allow_dirty: bool = False,
               only: str = "", report: Optional[str] = None, session: Optional[List[str]] = None,
               python: Optional[str] = None, generator_version: Optional[str] = None,
               backend: Optional[str] = None, java_heap: Optional[str] = None, no_fixups: bool = False,
               no_cache: bool = False, no_pin_names: bool = False, force: bool = False,
               removed: Optional[str] = None, no_keyword_calls: bool = False, accept: str = "",
               branch: str = "", commit: bool = False, pr_body: Optional[str] = None, skip_if_held_by: str = "",
               verbose: bool = False, quiet: bool = False) -> None:
    """Run the whole guide on an SDK: spec, generate, verify, back up, swap, gate, report."""
    from conductor_regen.progress import StepLog
    from conductor_regen.commands.plan import RegenOptions
    from conductor_regen.commands.regenerate import regenerate as run_regenerate
    from conductor_regen.commands.run_report import STDOUT, report_destination
    from conductor_regen.commands.test_cmd import require_reason, test_gate
    from conductor_regen.errors import ConfigError
    from dataclasses import replace

    s = settings(c, generator_version=generator_version, backend=backend, java_heap=java_heap, no_fixups=no_fixups,
                 verbose=verbose, sdk=sdk, removed=removed, no_keyword_calls=no_keyword_calls)
    # Validates --session/--python before any work; --skip-tests needs no test matrix at all.
    require_reason(accept)
    if accept and skip_tests:
        raise ConfigError("--accept goes with the test gate, which --skip-tests turns off", "drop one of them")
    options = RegenOptions(
        spec=spec, dry_run=dry_run, yes=yes, skip_tests=skip_tests, keep_failed=keep_failed,
        allow_dirty=allow_dirty, only=comma_list(only), use_cache=not no_cache, pin_names=not no_pin_names,
        force=force, command=f"{program()} regenerate", accept=accept, branch=branch, commit=commit,
        pr_body=Path(pr_body) if pr_body else None, held_by=skip_if_held_by, argv=tuple(sys.argv[1:]),
    )
    if branch or commit or pr_body or skip_if_held_by:
        from conductor_regen.commands.drift import check_usage

        check_usage(options)  # bad usage is refused before the gate or the SDK is looked at
    gate = None if skip_tests else test_gate(s, session or (), python, spec, accept)
    target = sdk_target(s)
    with report_destination(report, s) as report_path:
        options = replace(options, report_path=report_path)
        steps = StepLog()
        if branch:
            from conductor_regen.commands.drift import regenerate_on_branch

            made = regenerate_on_branch(target, options, s, steps, confirm, gate, os.environ)
            data = talk if report == STDOUT else say  # data, unless stdout is for the JSON report alone
            if made.text is not None:
                data(f"branch: {made.branch} at {made.commit[:12]}: {made.text.subject}")
                if pr_body:
                    talk(f"pull request body: {pr_body}")
            if made.report is None:  # held by --skip-if-held-by: nothing ran, so there is no new report
                summary(steps)
                talk(f"report: none (the branch is {skip_if_held_by}'s commit; its message is that run's summary)")
                return
            if made.text is None:
                data(f"branch: none made ({made.report.outcome}: the client already is what {spec} gives)")
            finish(made.report, s, target, steps, made.report_path, to_stdout=report == STDOUT)
            return
        result = run_regenerate(target, options, s, steps, confirm, gate, os.environ)
        finish(result, s, target, steps, report_path, to_stdout=report == STDOUT)


@task(help={"spec": SPEC_HELP,
            "old-spec": "the spec the SDK's client came from (file or URL): adds schema types to the report",
            "no-pin-names": "compare with plain generator names (shows the renames pinning prevents)",
            "no-keyword-calls": "count calls a new signature would misbind as breaking (regenerate would refuse)",
            "report": "also write the changes as JSON here (Markdown beside it)",
            "format": "what stdout gets: markdown (default) or json (the --report JSON, schema conductor-regen.report/1)",
            "fail-on-breaking": "exit with 1 when any change is breaking (for CI)",
            "exit-code": "exit with 1 when regenerating would change the client, 0 when not (as `git diff "
                         "--exit-code`); the diff failing exits with 3"})
@edge
def diff(c: Context, spec: str, sdk: Optional[str] = None, old_spec: Optional[str] = None,
         no_pin_names: bool = False, report: Optional[str] = None, format: str = "markdown",
         fail_on_breaking: bool = False, generator_version: Optional[str] = None, backend: Optional[str] = None,
         java_heap: Optional[str] = None, no_fixups: bool = False, no_keyword_calls: bool = False,
         exit_code: bool = False, verbose: bool = False, quiet: bool = False) -> None:
    """Report what regenerating the SDK from SPEC would change for its users; touches nothing."""
    from invoke.exceptions import Exit

    from conductor_regen.commands.diff import (DIFF_FAILED, check_no_breaking, diff_document, diff_sdk, failing_with,
                                          would_change, write_diff_report)
    from conductor_regen.analysis.changes import render_markdown
    from conductor_regen.errors import ConfigError
    from conductor_regen.progress import StepLog

    if format not in DIFF_FORMATS:
        raise ConfigError(f"--format {format!r} is not a diff format", f"use one of: {', '.join(DIFF_FORMATS)}")
    with failing_with(DIFF_FAILED if exit_code else None):
        s = settings(c, generator_version=generator_version, backend=backend, java_heap=java_heap,
                     no_fixups=no_fixups, verbose=verbose, sdk=sdk, no_keyword_calls=no_keyword_calls)
        target = sdk_target(s)
        steps = StepLog()
        result = diff_sdk(target.http_dir, spec, s, steps, os.environ, pin_names=not no_pin_names,
                          old_source=old_spec, target=target)
    summary(steps)
    talk(*(f"pinned: {line}" for line in result.pinning))
    if result.binding is not None:
        talk(f"bindings: {result.binding.summary()}")
        talk(*(f"  would not bind: {finding.render()}" for finding in result.binding.findings))
        talk(*(f"  regenerate would rewrite: {note}" for note in result.binding.rewritten))
        if verbose:
            talk(*(f"  receiver not resolved: {line}" for line in result.binding.unresolved))
    # stdout is the report alone (`diff > changes.md`, `diff --format json | jq`); the steps went to stderr.
    say(diff_document(result, f"{program()} diff").rstrip("\n") if format == "json"
        else render_markdown(result.changes).rstrip("\n"))
    if report:
        with failing_with(DIFF_FAILED if exit_code else None):
            write_diff_report(result, Path(report), f"{program()} diff")
        talk(f"report: {report} (+ .md)")
    if fail_on_breaking:
        check_no_breaking(result)
    if exit_code:
        changed = would_change(result)
        talk(changed or "regenerating would not change the client")
        if changed:
            raise Exit(code=1)


@task(help={"spec": "spec the SDK's http/ was generated from (default: the file its provenance names)",
            "output": "write the proposals (data/local_edits.json format) here instead of stdout"})
@edge
def detect_edits(c: Context, sdk: Optional[str] = None, spec: Optional[str] = None, output: Optional[str] = None,
                 generator_version: Optional[str] = None, backend: Optional[str] = None,
                 java_heap: Optional[str] = None, verbose: bool = False, quiet: bool = False) -> None:
    """Diff the SDK's http/ against a pristine generation and propose local edits as JSON."""
    from conductor_regen.compat.edits import detect_in_sdk
    from conductor_regen.progress import StepLog

    s = settings(c, generator_version=generator_version, backend=backend, java_heap=java_heap, verbose=verbose,
                 sdk=sdk)
    found = detect_in_sdk(sdk_target(s), spec, s, StepLog(), os.environ)
    talk(*found.lines())  # stdout is the JSON alone
    if output:
        Path(output).write_text(found.to_json(), encoding="utf-8")
        talk(f"wrote {output}")
    else:
        sys.stdout.write(found.to_json())


@task(help={"from": "a staging tree from `invoke generate` (or a generated http/ package)", "dry-run": "print the plan (files added/removed/changed) and change nothing",
            "yes": "never prompt", "keep-failed": "leave a failed tree in place",
            "allow-dirty": "run even with uncommitted changes"})
@edge
def replace(c: Context, from_: str, sdk: Optional[str] = None, dry_run: bool = False, yes: bool = False,
            keep_failed: bool = False, allow_dirty: bool = False, verbose: bool = False, quiet: bool = False) -> None:
    """Swap an already generated tree into the SDK (backup, atomic swap, import gate, rollback)."""
    from conductor_regen.progress import StepLog
    from conductor_regen.commands.plan import RegenOptions
    from conductor_regen.commands.replace import replace_from

    s = settings(c, verbose=verbose, sdk=sdk)
    options = RegenOptions(spec="", dry_run=dry_run, yes=yes, keep_failed=keep_failed, allow_dirty=allow_dirty,
                           command=f"{program()} replace")
    steps = StepLog()
    target = sdk_target(s)
    result = replace_from(target, Path(from_), options, s, steps, confirm)
    finish(result, s, target, steps)


@task(help={"dry-run": "print the plan (adapters, wiring, tests to add) and change nothing",
            "yes": "never prompt (else: asks once before the swap)",
            "keep-failed": "leave a failed tree in place instead of restoring the backup",
            "allow-dirty": "run even with uncommitted changes in the managed folders"})
@edge
def scaffold_adapters(c: Context, sdk: Optional[str] = None, dry_run: bool = False, yes: bool = False,
                      keep_failed: bool = False, allow_dirty: bool = False, verbose: bool = False,
                      quiet: bool = False) -> None:
    """Add missing adapters (wiring, tests) for the SDK's live http/: backup, atomic swap, import gate, rollback."""
    from conductor_regen.progress import StepLog
    from conductor_regen.commands.plan import RegenOptions
    from conductor_regen.commands.scaffold_cmd import scaffold_sdk

    s = settings(c, verbose=verbose, sdk=sdk)
    options = RegenOptions(spec="", dry_run=dry_run, yes=yes, keep_failed=keep_failed, allow_dirty=allow_dirty,
                           command=f"{program()} scaffold-adapters")
    steps = StepLog()
    target = sdk_target(s)
    result = scaffold_sdk(target, options, s, steps, confirm)
    finish(result, s, target, steps)


@task(help={"keep-failed": "leave a failed tree in place instead of restoring the backup",
            "allow-dirty": "run even with uncommitted changes in the managed folders"})
@edge
def fix_imports(c: Context, sdk: Optional[str] = None, keep_failed: bool = False, allow_dirty: bool = False,
                verbose: bool = False, quiet: bool = False) -> None:
    """Rewrite generator default package names (openapi_client, ...) in the SDK: backup, atomic swap, import gate."""
    from conductor_regen.progress import StepLog
    from conductor_regen.commands.fix_imports_cmd import fix_sdk_imports
    from conductor_regen.commands.plan import RegenOptions

    s = settings(c, verbose=verbose, sdk=sdk)
    options = RegenOptions(spec="", yes=True, keep_failed=keep_failed, allow_dirty=allow_dirty,
                           command=f"{program()} fix-imports")
    steps = StepLog()
    say(*(commands(line) for line in fix_sdk_imports(sdk_target(s), s, steps, options)))
    summary(steps)


@task()
@edge
def backup(c: Context, sdk: Optional[str] = None, verbose: bool = False, quiet: bool = False) -> None:
    """Back up the SDK's managed folders on their own (under the run lock, after recovery)."""
    from conductor_regen.commands.backup_store import backup_sdk

    s = settings(c, verbose=verbose, sdk=sdk)
    made, recovered = backup_sdk(sdk_target(s), s)
    if recovered:  # a result too: the tree changed
        say(recovered)
    say(f"backup {made.id}: {made.file_count} files, {made.size_bytes} bytes in {made.path}")


@task(help={"moved": MOVED_HELP})
@edge
def backups(c: Context, sdk: Optional[str] = None, moved: bool = False, verbose: bool = False,
            quiet: bool = False) -> None:
    """List an SDK's backups: id, time, spec version, size, outcome; `*` marks what restore goes back to."""
    from conductor_regen.commands.backup_store import list_sdk_backups

    s = settings(c, verbose=verbose, sdk=sdk)
    target = sdk_target(s)
    found, point = list_sdk_backups(target, s, moved)
    if not found:
        say(f"no backups of {target.name} in {s.backups_dir}")
        return
    row = "{:1} {:40} {:23} {:10} {:>12}  {}"
    say(row.format("", "ID", "CREATED", "SPEC", "SIZE (B)", "OUTCOME"))
    for b in found:
        when = b.created.strftime("%Y-%m-%d %H:%M:%S UTC")
        say(row.format("*" if b.id == point else "", b.id, when, b.spec_version, b.size_bytes, b.outcome))
    if point:
        talk(f"* `{program()} restore` goes back to {point} (the state before the last run); "
              f"keeping the last {s.backups_keep or 'all'} runs")


@task(help={"keep": "how many backups to keep (default 5, at least 1; the newest is never pruned)",
            "moved": MOVED_HELP})
@edge
def prune_backups(c: Context, keep: int = 5, sdk: Optional[str] = None, moved: bool = False, verbose: bool = False,
                  quiet: bool = False) -> None:
    """Remove an SDK's oldest backups, keeping the newest N (and any an unfinished or the last good run needs)."""
    from conductor_regen.commands.backup_store import prune_sdk

    s = settings(c, verbose=verbose, sdk=sdk)
    removed = prune_sdk(sdk_target(s), s, keep, moved)
    say(f"removed {len(removed)} backup(s)" + "".join(f"\n  {b.id}" for b in removed))


@task(help={"backup": "backup id (default: the state before the last run; a pre-restore id goes forward again)",
            "yes": "do not ask for confirmation", "moved": MOVED_HELP})
@edge
def restore(c: Context, sdk: Optional[str] = None, backup: Optional[str] = None, yes: bool = False,
            moved: bool = False, verbose: bool = False, quiet: bool = False) -> None:
    """Undo the last run: put the managed folders back byte for byte (also finishes interrupted runs)."""
    from conductor_regen.commands.backup_store import restore_sdk

    s = settings(c, verbose=verbose, sdk=sdk)
    lines = restore_sdk(sdk_target(s), s, backup, lambda what: ask(f"Restore {what}", yes), moved)
    say(*(commands(line) for line in lines))


# --- test matrix ---------------------------------------------------------------------------------

@task(iterable=["session", "python"],
      help={"session": "nox session to run, repeatable (default: async_tests); `nox -l` lists them",
            "python": "X.Y interpreter, repeatable (default: every one the machine has)",
            "reuse": "reuse the venvs and skip installs (nox -R); a changed SDK is still reinstalled",
            "pytest-args": 'extra pytest arguments as one string, e.g. "-k search -x"',
            "absolute": "fail on any failure, not only on failures the SDK's pristine tree did not have",
            "accept": "the contract, lint and typecheck sessions accept their new findings with this reason, into "
                      ".conductor-regen/accepted-findings.json (review and commit it)"})
@edge
def test(c: Context, sdk: Optional[str] = None, session: Optional[List[str]] = None,
         python: Optional[List[str]] = None, reuse: bool = False, pytest_args: str = "",
         absolute: bool = False, accept: str = "", verbose: bool = False, quiet: bool = False) -> None:
    """Run the guide's step-5 test matrix against an SDK checkout; failures are new or pre-existing."""
    from conductor_regen.commands.test_cmd import check_passed, run_tests
    from conductor_regen.matrix.results import format_summary, session_output

    s = settings(c, sdk=sdk, verbose=verbose)
    run = run_tests(s, session or (), python or (), pytest_args, reuse=reuse, absolute=absolute, accept=accept)
    for r in run.results:
        if r.result == "failed" and run.output and not s.verbose:
            name = f"{r.session}-{r.python}" if r.python else r.session
            talk(session_output(run.output, name) or run.output)
    talk("")
    say(*format_summary(run.results))
    check_passed(run.results, absolute, run.junit_dir)


# --- spec drift in CI ----------------------------------------------------------------------------

@task(help={"cron": "when it runs, a five-field cron schedule in UTC (default '17 3 * * *')",
            "branch": "the drift branch its pull request comes from (default conductor-regen/spec-drift)",
            "python": "Python version for the job (default 3.11)",
            "install": "pip requirement for conductor-regen, best pinned (default conductor-regen)",
            "environment": "GitHub environment holding the secrets (default conductor-regen)",
            "output": "write the workflow here (e.g. .github/workflows/spec-drift.yml) instead of stdout"})
@edge
def ci_template(c: Context, cron: Optional[str] = None, branch: Optional[str] = None, python: Optional[str] = None,
                install: Optional[str] = None, environment: Optional[str] = None, output: Optional[str] = None,
                verbose: bool = False, quiet: bool = False) -> None:
    """Print a GitHub Actions workflow that watches the server's spec and proposes the new client as a pull request."""
    from dataclasses import replace

    from conductor_regen.commands.ci_template import WorkflowOptions, render_workflow

    given = {"cron": cron, "branch": branch, "python": python, "install": install, "environment": environment}
    text = render_workflow(replace(WorkflowOptions(), **{k: v for k, v in given.items() if v is not None}))
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
        say(f"wrote {output}")
        talk("next: the environment and its secrets, as its header says (docs/drift.md in conductor-regen)")
    else:
        sys.stdout.write(text)


# --- demo ----------------------------------------------------------------------------------------

@task(help={"keep": "keep the temporary workspace and print its path",
            "skip-tests": "do not run the nox test gate"})
@edge
def demo(c: Context, keep: bool = False, skip_tests: bool = False, verbose: bool = False, quiet: bool = False) -> None:
    """Run the main job offline: regenerate a copy of the bundled example SDK from spec v1 to v2."""
    from conductor_regen.commands.demo import demo_settings, demo_workspace, fixture_paths, run_demo
    from conductor_regen.commands.test_cmd import test_gate

    s = settings(c, verbose=verbose)
    with demo_workspace(keep) as workdir:
        try:
            # The gate judges failures against the demo's own backup and checks the contract against the run's
            # spec, as regenerate's does (else what the v1 tree fails too would count as new).
            gate = None if skip_tests else test_gate(demo_settings(s, workdir), spec=str(fixture_paths()[2]))
            say(*(commands(line) for line in run_demo(workdir, s, gate)))
        finally:
            if keep:
                say(f"workspace kept: {workdir}")


ns = Collection(fetch_spec, validate_spec, fixups, generate, regenerate, diff, detect_edits, replace,
                scaffold_adapters, fix_imports, backup, backups, prune_backups, restore, test, demo, ci_template)
ns.configure({"regen": {}})
# The repository's `invoke`, loading these tasks now, parses them as strictly as `conductor-regen` does.
adopt_running_invoke()
