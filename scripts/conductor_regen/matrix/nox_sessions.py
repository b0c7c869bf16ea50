"""The nox sessions: the regeneration guide's step-5 test matrix, run against any SDK checkout.

    nox -l                                                  the matrix
    nox -s async_tests -- --sdk PATH [pytest args]          guide 5.6 (the default session)
    nox -s async_unit -p 3.12 -- --sdk PATH -k search       one session, one Python
    nox -s lint -- --sdk PATH [--absolute]                  the SDK's linter; only new findings fail
    nox -s typecheck -- --sdk PATH --accept REASON          accept its new findings (listed, not failed)
    nox -s contract -- --sdk PATH [--spec FILE]             request and response contract against a mock server
    CONDUCTOR_SDK_ROOT=PATH nox -R                          reuse venvs, skip installs

Each session runs in its own reused virtualenv (uv when available) with the SDK installed
from the checkout and its test dependencies read from the SDK's pyproject.toml. The logic
lives in conductor_regen.matrix (sessions, checkout, requirements, interpreters); see docs/test-matrix.md.

This module is the noxfile's body and ships in the package: importing it registers the sessions. Two thin
noxfiles import it: the repository's `noxfile.py` (`nox -s ...` in a clone) and `matrix/noxfile.py`, the
one an installed tool runs (`conductor-regen test`, regenerate's gate; see `runner.NOXFILE`). Nothing here
assumes a clone of this tool: the contract's driver runs from the installed package, and without a
repository the virtualenvs, JUnit files and interpreter links go to the per-user cache (`runner.TOOL_CACHE`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, NoReturn, Tuple

import nox

from conductor_regen.matrix import contract as cc
from conductor_regen.matrix import lint as lint_checks
from conductor_regen.matrix import interpreters, requirements, runner, session_sdk, sessions
from conductor_regen.atomic_io import atomic_write_bytes
from conductor_regen.child_env import secret_names
from conductor_regen.config import ENV_KEYS, Settings
from conductor_regen.config_sources import default_backups_dir, resolve_session_settings
from conductor_regen.matrix.contract import run as contract_run
from conductor_regen.matrix.contract.inputs import ContractInputs
from conductor_regen.errors import RegenError
from conductor_regen.matrix.findings import to_junit

__all__ = ["async_unit", "async_integration", "serdeser", "pydantic", "ai_telemetry", "async_tests", "lint",
           "typecheck", "contract", "bench", "tests_impl", "tools_impl", "contract_impl", "link_pyenv_pythons"]

# The clone of this tool the sessions run from (None: an installed package, no clone around).
REPOSITORY = runner.REPOSITORY

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["async_tests"]
# Locally a missing interpreter skips its sessions; in CI it is an error. Never download one.
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))
nox.options.download_python = "never"
if runner.DEFAULT_ENVDIR is not None:
    # Installed: never .nox/ next to this file, inside site-packages (the runner passes --envdir too).
    nox.options.envdir = str(runner.DEFAULT_ENVDIR)

PYTHONS = list(interpreters.PYTHONS)


def link_pyenv_pythons() -> None:
    """pyenv's shims only run activated versions: put its other installed X.Y binaries on PATH.

    Called by the noxfiles when nox loads them (not on import: the tool imports this module to check its gate)."""
    links = interpreters.link_interpreters(runner.TOOL_CACHE / "nox-pythons",
                                           interpreters.pyenv_interpreters(PYTHONS, os.environ))
    if links is not None and str(links) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{links}{os.pathsep}{os.environ.get('PATH', '')}"


# Keep the SDK tree byte-identical: no __pycache__ (pytest also runs with -p no:cacheprovider).
RUN_ENV = {"PYTHONDONTWRITEBYTECODE": "1"}
FINGERPRINT = ".sdk-fingerprint"


# --- shared helpers ------------------------------------------------------------------------------

class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _usage(session: nox.Session, name: str, problem: str) -> NoReturn:
    session.error(f"Usage: nox -s {name} -- --sdk PATH [--junit-dir DIR] [pytest args] "
                  f"(or set CONDUCTOR_SDK_ROOT): {problem}")


def _options(session: nox.Session, name: str) -> Tuple[Path, Path, List[str]]:
    """Parse our options from posargs: (absolute SDK root, JUnit folder, args left for the tool)."""
    parser = _Parser(prog=f"nox -s {name} --", add_help=False, allow_abbrev=False)
    parser.add_argument("--sdk", default=os.environ.get("CONDUCTOR_SDK_ROOT"))
    parser.add_argument("--junit-dir", default=str(runner.DEFAULT_JUNIT_DIR))
    try:
        opts, rest = parser.parse_known_args(session.posargs)
    except _UsageError as exc:
        _usage(session, name, str(exc))
    # nox has changed into this file's folder; relative paths mean the caller's folder.
    sdk = session_sdk.resolve_invoked_path(opts.sdk, session.invoked_from)
    problem = session_sdk.sdk_problem(sdk)
    if problem or sdk is None:
        _usage(session, name, problem or "no SDK")
    junit_dir = session_sdk.resolve_invoked_path(opts.junit_dir, session.invoked_from) or runner.DEFAULT_JUNIT_DIR
    junit_dir.mkdir(parents=True, exist_ok=True)
    session.log(f"SDK checkout: {sdk}")
    return sdk, junit_dir, rest


def _pyproject(session: nox.Session, sdk: Path) -> Dict[str, Any]:
    try:
        return requirements.load_pyproject(sdk)
    except RegenError as exc:
        session.error(exc.render())


def _pip(session: nox.Session) -> Tuple[str, ...]:
    # Bytecode compiled at install, as pip does (uv does not by default): with PYTHONDONTWRITEBYTECODE set, as
    # in many CI images, every test run would otherwise compile pydantic, pytest and the whole client again.
    return (("uv", "pip", "install", "--compile-bytecode") if session.venv_backend == "uv"
            else ("python", "-m", "pip", "install"))


def _install_sdk(session: nox.Session, sdk: Path, *extra: str) -> None:
    """Install the SDK and `extra`, only what changed since the virtualenv's last run (the SDK's code even with -R).

    A reused virtualenv with the same requirements skips resolving them (most of an install's time), and the
    SDK is installed from a wheel built once per content (`_sdk_wheel`): a copy of the same checkout costs
    nothing, an edited one one build shared by every session.
    """
    marker = Path(session.virtualenv.location) / FINGERPRINT
    stored = session_sdk.InstallState.read(marker)
    now = session_sdk.InstallState(session_sdk.requirements_key(sdk, extra), session_sdk.sdk_fingerprint(sdk))
    installed_now = False
    if session_sdk.needs_install(stored, now):
        installed_now = session.run_install(*_pip(session), str(_sdk_wheel(session, sdk, now.sdk)), *extra) is not None
    else:
        session.log("requirements unchanged since this virtualenv installed them")
    if session_sdk.needs_reinstall(stored.sdk if stored else None, now.sdk, installed_now):
        session.log("the SDK checkout changed since this virtualenv installed it: reinstalling the SDK")
        force = "--reinstall" if session.venv_backend == "uv" else "--force-reinstall"
        session.run(*_pip(session), force, "--no-deps", str(_sdk_wheel(session, sdk, now.sdk)))
    session_sdk.recorded(stored, now, installed_now).write(marker)


WHEELS = ".sdk-wheels"  # beside the sessions' virtualenvs: the SDK's wheels by content, shared by every session
KEEP_WHEELS = 8
KEEP_USED_WITHIN = 3600.0  # seconds: a wheel used this recently stays (another run may be about to install it)


def _sdk_wheel(session: nox.Session, sdk: Path, fingerprint: str) -> Path:
    """The SDK's wheel for this content: built once (not by every session's install), the last few kept."""
    store = Path(session.virtualenv.location).parent / WHEELS
    folder = store / fingerprint[:32]
    built = sorted(folder.glob("*.whl"))
    if built:
        os.utime(folder)  # recently used: kept by the pruning below
        return built[0]
    store.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=store))
    try:
        if session.venv_backend == "uv":
            session.run("uv", "build", "--wheel", "--quiet", "--out-dir", str(work), str(sdk))
        else:
            session.run("python", "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(work), str(sdk))
        try:
            os.rename(work, folder)
        except OSError:
            if not any(folder.glob("*.whl")):  # another run built it first, else a real failure
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    used = sorted((d for d in store.iterdir() if not d.name.startswith(".")), key=lambda d: d.stat().st_mtime)
    for old in used[:-KEEP_WHEELS]:
        if time.time() - old.stat().st_mtime > KEEP_USED_WITHIN:
            shutil.rmtree(old, ignore_errors=True)
    return sorted(folder.glob("*.whl"))[0]


def _no_secrets(session: nox.Session) -> None:
    """Keep the Orkes credentials from the installs and tests of sessions that need no server."""
    for name in secret_names(os.environ):
        session.env[name] = None  # nox drops a None variable from the child's environment


def tests_impl(session: nox.Session, *, matrix_name: str) -> None:
    """Run one row of the guide's matrix with pytest, from the SDK checkout."""
    spec = sessions.SESSIONS[matrix_name]
    if not spec.needs_server:
        _no_secrets(session)
    sdk, junit_dir, pytest_args = _options(session, matrix_name)
    if spec.needs_server:
        reason = sessions.server_skip_reason(os.environ)
        if reason:
            session.skip(reason)
        session.log(sessions.server_note(os.environ))
    selection = sessions.select_paths(sdk, spec.paths)
    for missing in selection.missing:
        session.log(f"note: {missing} is not in this checkout; skipped")
    if not selection.found:
        session.skip(f"none of guide {spec.step}'s test paths are in this checkout")
    pyproject = _pyproject(session, sdk)
    if session.python and not interpreters.python_supported(pyproject, str(session.python)):
        session.skip(f"the SDK's requires-python ({interpreters.requires_python(pyproject)}) "
                     f"excludes Python {session.python}")
    reqs = requirements.read_test_requirements(pyproject)
    session.log(f"test dependencies from {', '.join(reqs.sources)}: {' '.join(reqs.test)}")
    if reqs.unsupported:
        session.log(f"note: not installed (not from an index): {', '.join(reqs.unsupported)}")
    _install_sdk(session, sdk, *reqs.test)
    session.chdir(sdk)
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider",
                f"--junitxml={junit_dir / f'{session.name}.xml'}",
                *selection.found, *pytest_args, env=RUN_ENV)


def tools_impl(session: nox.Session, *, name: str) -> None:
    """Run the SDK's own linter (lint) or mypy (typecheck) over src/conductor/asyncio_client/, judged against
    the SDK before its last regeneration: only new findings fail (`--absolute`: any finding), unless the SDK
    accepted them (`--accept REASON` accepts this run's new ones into .conductor-regen/accepted-findings.json)."""
    _no_secrets(session)
    sdk, junit_dir, rest = _options(session, name)
    parser = _Parser(prog=f"nox -s {name} --", add_help=False, allow_abbrev=False)
    parser.add_argument("--absolute", action="store_true")
    parser.add_argument("--accept", default=os.environ.get(sessions.ACCEPT_ENV) or None)
    try:
        opts, args = parser.parse_known_args(rest)
    except _UsageError as exc:
        session.error(f"Usage: nox -s {name} -- --sdk PATH [--absolute] [--accept REASON] [tool args]: {exc}")
    if opts.accept is not None and not opts.accept.strip():
        session.error(f"Usage: nox -s {name} -- --sdk PATH --accept REASON: the reason is empty")
    pyproject = _pyproject(session, sdk)
    checker = lint_checks.lint_tool(sdk, pyproject) if name == "lint" else lint_checks.typecheck_tool(sdk, pyproject)
    session.log(f"{name}: {checker.label}")
    tool_deps = requirements.tool_requirements(pyproject, checker.name)
    if checker.name == "mypy":
        _install_sdk(session, sdk, *tool_deps)
    else:
        session.run_install(*_pip(session), *tool_deps)
    venv = Path(session.virtualenv.location)
    output = Path(session.create_tmp()).resolve() / f"{name}.out"  # absolute: the tool runs in the SDK

    def run(root: Path) -> str:
        # One mypy cache in the venv (never in an SDK tree) for both trees: mypy checks a module again only when
        # its content hash or a dependency's interface changed, whatever its path, so the second tree costs what
        # differs, with the same errors; `judged_run` checks the SDK last, so a rerun finds its cache warm.
        # Findings go to a file or stdout.
        cache = venv / ".mypy_cache"
        output.unlink(missing_ok=True)
        with session.chdir(root):  # and back: the pristine copy's folder is deleted after its run
            out = session.run(*checker.argv(f"{session_sdk.PACKAGE_DIR}/", cache, output, args), env=RUN_ENV,
                              silent=True, success_codes=list(checker.success_codes))
        return output.read_text() if output.is_file() else str(out or "")

    try:
        judged = lint_checks.judged_session(sdk, checker, run, env=os.environ, cwd=Path(session.invoked_from),
                                            key="\0".join((checker.label, *tool_deps, *args)),
                                            absolute=opts.absolute, accept=opts.accept or "")
    except RegenError as exc:
        session.error(exc.render())
    verdict = judged.verdict
    atomic_write_bytes(junit_dir / f"{session.name}.xml", to_junit(verdict, name))
    for line in verdict.lines(name):
        print(line, flush=True)
    if judged.accepted_file is not None:
        print(f"{name}: accepted {judged.accepted_now} finding(s) in {judged.accepted_file}: review and commit it",
              flush=True)
    elif opts.accept:
        print(f"{name}: nothing new to accept", flush=True)
    if verdict.failing:
        session.error(f"{len(verdict.failing)} new {name} finding(s); first: {verdict.failing[0].render()} "
                      f"(fix it, or accept it: nox -s {name} -- --sdk {sdk} --accept REASON)")


def _contract_settings(sdk: Path, env: Mapping[str, str], cwd: Path) -> Settings:
    """The contract's settings, resolved as lint's and the tasks' are (the repository's invoke.yaml, the SDK's own
    settings, the environment); installed, with the store folders an installed tool uses for `sdk` (the test
    gate and `invoke test` set both anyway)."""
    settings = resolve_session_settings(sdk, env, cwd)
    if REPOSITORY is not None:
        return settings
    given = {setting for var, setting in ENV_KEYS.items() if env.get(var)}
    return dataclasses.replace(
        settings,
        backups_dir=settings.backups_dir if "backups_dir" in given else default_backups_dir(None, sdk),
        cache_dir=settings.cache_dir if "cache_dir" in given else runner.TOOL_CACHE)


def contract_impl(session: nox.Session) -> None:
    """Run the request and response contract: the driver in the SDK's venv, verdicts and JUnit here.

    Failures are judged against the pristine tree (newest backup, else git HEAD) checked against the same spec,
    or against `--baseline FILE`; `--absolute` counts every failure. `--accept REASON` accepts the new ones into
    .conductor-regen/accepted-findings.json."""
    _no_secrets(session)
    if sys.version_info[:2] < cc.MIN_PYTHON:
        session.skip(f"the contract's mock server (openapi-core) needs Python >= "
                     f"{'.'.join(map(str, cc.MIN_PYTHON))}; run nox with a newer interpreter")
    sdk, junit_dir, rest = _options(session, "contract")
    parser = _Parser(prog="nox -s contract --", add_help=False, allow_abbrev=False)
    parser.add_argument("--spec", default=os.environ.get(sessions.CONTRACT_SPEC_ENV))
    parser.add_argument("--baseline", default=None)
    parser.add_argument("--absolute", action="store_true")
    parser.add_argument("--accept", default=os.environ.get(sessions.ACCEPT_ENV) or None)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--verbose", action="store_true")
    usage = ("Usage: nox -s contract -- --sdk PATH [--spec FILE_OR_URL] [--baseline JUNIT.xml | --absolute] "
             "[--accept REASON] [--junit-dir DIR] [--timeout S] [--verbose]")
    try:
        opts = parser.parse_args(rest)
    except _UsageError as exc:
        session.error(f"{usage}: {exc}")
    if opts.baseline and opts.absolute:
        session.error(f"{usage}: --baseline and --absolute exclude each other")
    if opts.accept is not None and not opts.accept.strip():
        session.error(f"{usage}: the reason given to --accept is empty")
    invoked_from = Path(session.invoked_from)
    baseline_file = session_sdk.resolve_invoked_path(opts.baseline, session.invoked_from)
    try:
        # As the tasks and lint resolve them, the SDK's own settings included: the mock must serve the spec
        # repaired exactly as the client was generated from it (fixups.skip in its pyproject, say).
        settings = _contract_settings(sdk, os.environ, invoked_from)
        judging = contract_run.judging(sdk, os.environ, invoked_from)  # a broken accepted-findings file stops here
        baseline = contract_run.baseline_file(baseline_file) if baseline_file is not None else None
        inputs = contract_run.start(sdk, opts.spec, invoked_from, Path(session.create_tmp()), settings,
                                    os.environ, opts.timeout)
    except RegenError as exc:
        session.error(exc.render())
    session.log(f"spec: {inputs.spec_source}")
    _install_sdk(session, sdk, *cc.REQUIREMENTS)

    def drive(run_inputs: ContractInputs) -> bool:
        run_inputs.output_file.unlink(missing_ok=True)
        session.run("python", "-m", cc.DRIVER_MODULE, "--input", str(run_inputs.input_file),
                    "--output", str(run_inputs.output_file), success_codes=list(range(256)),
                    # The checkout's own code first: a venv reused across checkouts may hold another SDK's files.
                    env={**RUN_ENV, "PYTHONPATH": os.pathsep.join((str(cc.DRIVER_PATH), str(run_inputs.import_root)))})
        return run_inputs.output_file.is_file()

    drive(inputs)
    try:
        if baseline is None and not opts.absolute:
            baseline, note = contract_run.pristine_baseline(judging, inputs, drive)
            session.log(note)
        done = contract_run.finish(inputs, junit_dir / f"{session.name}.xml", baseline, judging, opts.accept or "")
    except RegenError as exc:
        session.error(exc.render())
    result = done.result
    for line in result.lines(opts.verbose):
        print(line)
    if done.accepted_file is not None:
        print(f"contract: accepted {done.accepted_now} failure(s) in {done.accepted_file}: review and commit it")
    elif opts.accept:
        print("contract: nothing new to accept")
    print(result.summary_line(), flush=True)
    if result.new_failures:
        session.error(f"{len(result.new_failures)} new contract failure(s); first: {result.new_failures[0].id}: "
                      f"{result.new_failures[0].headline} (fix it, or accept it: nox -s contract -- --sdk {sdk} "
                      f"--accept REASON); JUnit: {junit_dir / f'{session.name}.xml'}")


# --- the matrix (guide step 5) -------------------------------------------------------------------

@nox.session(python=PYTHONS, tags=["tests"])
def async_unit(session: nox.Session) -> None:
    """Guide 5.1: async unit tests, tests/unit/orkes/test_async_*."""
    tests_impl(session, matrix_name="async_unit")


@nox.session(python=PYTHONS, tags=["tests"], default=False)
def async_integration(session: nox.Session) -> None:
    """Guide 5.2: async integration and workflow tests (needs CONDUCTOR_SERVER_URL)."""
    tests_impl(session, matrix_name="async_integration")


@nox.session(python=PYTHONS, tags=["tests"])
def serdeser(session: nox.Session) -> None:
    """Guide 5.3: serialization/deserialization tests, tests/serdesertest/."""
    tests_impl(session, matrix_name="serdeser")


@nox.session(python=PYTHONS, tags=["tests"])
def pydantic(session: nox.Session) -> None:
    """Guide 5.3: pydantic model tests, tests/serdesertest/pydantic/."""
    tests_impl(session, matrix_name="pydantic")


@nox.session(python=PYTHONS, tags=["tests"])
def ai_telemetry(session: nox.Session) -> None:
    """Guide 5.4: async AI orchestrator, metrics collector and event client tests."""
    tests_impl(session, matrix_name="ai_telemetry")


@nox.session(python=PYTHONS, tags=["tests"])
def async_tests(session: nox.Session) -> None:
    """Guide 5.6: final verification, every async test path plus serdeser (default)."""
    tests_impl(session, matrix_name="async_tests")


@nox.session(tags=["checks"])
def lint(session: nox.Session) -> None:
    """Guide 5.6: the SDK's own linter (ruff or flake8, else the guide's flake8); only new findings fail."""
    tools_impl(session, name="lint")


@nox.session(tags=["checks"])
def typecheck(session: nox.Session) -> None:
    """Guide 5.6: mypy over src/conductor/asyncio_client/; only new findings fail."""
    tools_impl(session, name="typecheck")


@nox.session(python=interpreters.current_python(), tags=["contract"])
def contract(session: nox.Session) -> None:
    """Request contract: every Orkes client method against a mock server validating with the spec, and what it returns."""
    contract_impl(session)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmark generate against the raw generator, and regenerate against generate on the real SDK."""
    if REPOSITORY is None:
        session.error("the benchmark needs a clone of conductor-regen (and ../shared beside it): "
                      "run `nox -s bench` there")
    # Bytecode compiled up front, as pip does on install (uv does not): with PYTHONDONTWRITEBYTECODE set,
    # every measured command would otherwise compile all it imports from source, every time.
    # compileall, not uv's --compile-bytecode: that one compiles only what it installs now, not a reused venv.
    session.run_install(*_pip(session), "-e", str(REPOSITORY))
    purelib = session.run("python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                          silent=True)
    session.run("python", "-m", "compileall", "-q", str(purelib).strip(), silent=True)
    # Not the packaged demo SDK under data/: its tree must stay byte-identical to the one in git.
    session.run("python", "-m", "compileall", "-q", "-x", r"[/\\]data[/\\]", str(REPOSITORY / "scripts"),
                silent=True)
    # The benchmark is a developer's script of the clone (scripts/bench.py), not a module of the package.
    session.run("python", str(REPOSITORY / "scripts" / "bench.py"), *session.posargs)
