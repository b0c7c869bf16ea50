"""Running the matrix: the nox command, a bounded nox run, and the regenerate gate built on it.

Pure core of `invoke test` and the `invoke regenerate` test gate. Nothing here prints or exits;
errors are `RegenError`s.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from conductor_regen.child_env import Limit, run
from conductor_regen.config_sources import default_cache_dir, tool_repository
from conductor_regen.errors import ConfigError, VerificationError
from conductor_regen.matrix.session_sdk import sdk_problem
from conductor_regen.matrix.interpreters import current_python
from conductor_regen.matrix.results import SessionResult, matrix_passed, results_from_report
from conductor_regen.matrix.sessions import CONTRACT_SPEC_ENV, GATE_SESSIONS, SESSIONS, TOOL_SESSIONS, check_sessions

log = logging.getLogger(__name__)

# The clone of this tool the package runs from (editable install, `invoke`), else None: an installed wheel.
REPOSITORY = tool_repository()
# The sessions' module, and the noxfile that ships with it (all an installed tool has).
SESSIONS_MODULE = "conductor_regen.matrix.nox_sessions"
PACKAGED_NOXFILE = Path(__file__).resolve().with_name("noxfile.py")
# A clone runs its own noxfile (`nox -s ...` there runs the same sessions).
NOXFILE = REPOSITORY / "noxfile.py" if REPOSITORY is not None else PACKAGED_NOXFILE
# The repository's .cache/, else the per-user cache folder: JUnit files, interpreter links, and (installed) the
# virtualenvs, which in a clone stay in nox's default .nox/.
TOOL_CACHE = default_cache_dir(REPOSITORY)
DEFAULT_JUNIT_DIR = TOOL_CACHE / "junit"
DEFAULT_ENVDIR: Optional[Path] = None if REPOSITORY is not None else TOOL_CACHE / "nox" / "envs"
# Where nox starts (its folder heads nox's sys.path): the clone, else a folder of its own in the cache.
RUN_DIR = REPOSITORY if REPOSITORY is not None else TOOL_CACHE / "nox" / "run"


def matrix_dirs(cache_dir: Path) -> Tuple[Path, Optional[Path]]:
    """The JUnit folder and the nox virtualenvs for runs with this cache (the `cache_dir` setting).

    The default cache keeps the defaults above; another cache (`REGEN_CACHE_DIR`) gets both folders of
    its own, so runs with different caches never share a virtualenv or overwrite each other's results.
    """
    if Path(cache_dir).resolve() == TOOL_CACHE.resolve():
        return DEFAULT_JUNIT_DIR, DEFAULT_ENVDIR
    return Path(cache_dir) / "junit", Path(cache_dir) / "nox" / "envs"


def nox_command(sdk: Path, sessions: Sequence[str] = ("async_tests",), pythons: Sequence[str] = (),
                pytest_args: Sequence[str] = (), *, noxfile: Path = NOXFILE,
                junit_dir: Optional[Path] = None, report: Optional[Path] = None,
                envdir: Optional[Path] = None, reuse: bool = False) -> List[str]:
    """`python -m nox -f NOXFILE -s ... -p ... -- --sdk SDK [pytest args]` (the clone's noxfile, else the package's).

    Paths are made absolute here: nox changes into the noxfile's folder before it runs.
    `reuse` adds `-R` (reuse venvs, skip installs; the SDK is still reinstalled if it changed).
    A session is a name from ALL_SESSIONS, or one with its Python (`async_unit-3.12`).
    """
    check_sessions(sessions)
    cmd = [sys.executable, "-m", "nox", "-f", str(Path(noxfile).resolve())]
    if pythons and any(s in TOOL_SESSIONS for s in sessions):
        # nox's -p would drop lint and typecheck (they run on nox's own Python): name the Pythons
        # of the pytest sessions instead.
        sessions = [f"{s}-{p}" if s in SESSIONS else s for s in sessions for p in (pythons if s in SESSIONS else ("",))]
        pythons = ()
    if sessions:
        cmd += ["-s", *sessions]
    if pythons:
        cmd += ["-p", *pythons]
    if envdir is not None:
        cmd += ["--envdir", str(Path(envdir).resolve())]
    if report is not None:
        cmd += ["--report", str(Path(report).resolve())]
    if reuse:
        cmd.append("-R")
    cmd += ["--", "--sdk", str(Path(sdk).resolve())]
    if junit_dir is not None:
        cmd += ["--junit-dir", str(Path(junit_dir).resolve())]
    return cmd + list(pytest_args)


def run_matrix(sdk: Path, sessions: Sequence[str] = ("async_tests",), pythons: Sequence[str] = (),
               pytest_args: Sequence[str] = (), *, junit_dir: Optional[Path] = None,
               envdir: Optional[Path] = None, reuse: bool = False, stream: bool = True,
               env: Optional[Mapping[str, str]] = None, timeout: Optional[float] = None,
               captured: Optional[List[str]] = None) -> List[SessionResult]:
    """Run the nox sessions against `sdk` and return one result per session x Python.

    `stream`: let nox write to this terminal (else its output is captured and logged at
    debug level). Raises ConfigError for a bad SDK or session, VerificationError when nox
    ends without a report (bad arguments, crash).
    """
    sdk = Path(sdk).resolve()
    problem = sdk_problem(sdk)
    if problem:
        raise ConfigError(problem, "pass --sdk with a conductor-python checkout")
    check_gate_ready(sessions)
    envdir = envdir if envdir is not None else DEFAULT_ENVDIR
    junit_dir = Path(junit_dir or DEFAULT_JUNIT_DIR).resolve()
    junit_dir.mkdir(parents=True, exist_ok=True)
    for name in sessions:  # stale results of an earlier run must not be read as this run's
        for old in list(junit_dir.glob(f"{name}.*")) + list(junit_dir.glob(f"{name}-*.*")):
            if old.suffix in (".xml", ".txt"):
                old.unlink()
    with tempfile.TemporaryDirectory(prefix="regen-nox-") as tmp:
        report_path = Path(tmp) / "report.json"
        cmd = nox_command(sdk, sessions, pythons, pytest_args, junit_dir=junit_dir,
                          report=report_path, envdir=envdir, reuse=reuse)
        log.debug("running: %s", " ".join(cmd))
        proc = _run_bounded(cmd, env, stream, timeout)
        output = proc.stdout.decode(errors="replace") if proc.stdout else ""
        if output:
            log.debug("%s", output)
            if captured is not None:
                captured.append(output)
        if not report_path.is_file():
            tail = " / ".join(line.strip() for line in output.splitlines()[-3:] if line.strip())
            raise VerificationError(
                f"nox exited with {proc.returncode} without running any session"
                + (f": {tail}" if tail else ""),
                "check the session names and -p versions (`python -m nox -f noxfile.py -l`)")
        report = json.loads(report_path.read_text())
    return results_from_report(report, junit_dir)


def _run_bounded(cmd: Sequence[str], env: Optional[Mapping[str, str]], stream: bool,
                 timeout: Optional[float]) -> "subprocess.CompletedProcess[bytes]":
    """Run nox in its own process group, so a timeout or Ctrl-C stops nox, pip and pytest together."""
    limit = Limit(timeout, "nox (the test sessions)", "test_timeout",
                  "if it is not just slow, look for a hanging test with `invoke test`", VerificationError)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    return run(cmd, limit, capture=False, cwd=RUN_DIR, env=dict(env) if env is not None else None,
               stdout=None if stream else subprocess.PIPE, stderr=None if stream else subprocess.STDOUT)


def gate_problem(sessions: Sequence[str]) -> Optional[str]:
    """Why the test sessions cannot run here (None: they can): nox, the noxfile or the sessions' module missing or
    broken, or a chosen session the noxfile does not define. Imports the sessions' module (registering its
    sessions in this process's nox, which never runs them here) but changes nothing else."""
    try:
        import nox.registry
    except ImportError as exc:
        return f"nox cannot be imported ({exc})"
    if not NOXFILE.is_file():
        return f"the test matrix's noxfile is missing ({NOXFILE})"
    try:
        importlib.import_module(SESSIONS_MODULE)
    except Exception as exc:  # noqa: BLE001 - any failure to load means no gate
        return f"the test sessions ({SESSIONS_MODULE}) cannot be imported: {type(exc).__name__}: {exc}"
    defined = set(nox.registry.get())
    missing = [s for s in sessions if re.sub(r"-\d+\.\d+$", "", s) not in defined]
    if missing:
        return f"the noxfile defines no session {', '.join(missing)} (it has {', '.join(sorted(defined))})"
    return None


def check_gate_ready(sessions: Sequence[str]) -> None:
    """ConfigError, before any work, when the chosen sessions cannot run (see `gate_problem`)."""
    check_sessions(sessions)
    problem = gate_problem(sessions)
    if problem:
        raise ConfigError(f"the test gate cannot run: {problem}",
                          "reinstall conductor-regen (uv tool install --reinstall conductor-regen, pipx reinstall "
                          "conductor-regen, or python -m pip install --force-reinstall), or pass --skip-tests "
                          "to run without it")


Judge = Callable[[List[SessionResult]], List[SessionResult]]


def gate(sdk_root: Path, sessions: Sequence[str] = GATE_SESSIONS,
         pythons: Sequence[str] = (current_python(),), *, stream: bool = False,
         junit_dir: Optional[Path] = None, envdir: Optional[Path] = None,
         env: Optional[Mapping[str, str]] = None, spec: Optional[str] = None,
         judge: Optional[Judge] = None,
         timeout: Optional[float] = None) -> Tuple[bool, Tuple[Dict[str, str], ...]]:
    """The regenerate gate: (ok, rows). ok needs no new failure and at least one session that ran.

    Each row is {"session", "python", "result": passed|failed|skipped, "verdict", "detail"}.
    `judge` compares failures with the pristine tree (see `conductor_regen.matrix.verdicts`): a session
    whose failures all were there before is "pre-existing" and does not fail the gate. A gate
    where everything was skipped is not a pass. nox failing to start is a failed row.
    `spec` is the spec the contract session checks against (else the SDK's provenance).
    """
    if spec:
        env = {**(os.environ if env is None else env), CONTRACT_SPEC_ENV: spec}
    try:
        results = run_matrix(sdk_root, sessions, pythons, junit_dir=junit_dir, envdir=envdir,
                             stream=stream, env=env, timeout=timeout)
        if judge is not None and any(r.result == "failed" for r in results):
            results = judge(results)
    except VerificationError as exc:
        row = {"session": ",".join(sessions), "python": ",".join(pythons) or "-",
               "result": "failed", "verdict": "", "detail": exc.message}
        return False, (row,)
    rows = tuple(r.as_row() for r in results)
    return matrix_passed(results), rows
