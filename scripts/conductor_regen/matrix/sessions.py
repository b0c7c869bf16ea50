"""The guide's step-5 test matrix: what each nox session runs, and reading what it did.

Pure core of `noxfile.py` (which sessions exist, which test paths of an SDK checkout they
run, which test dependencies to install from the SDK's own pyproject.toml, the checkout
fingerprint that triggers a reinstall) and of `invoke test` / the `invoke regenerate`
test gate (build the nox command, run it, parse nox's JSON report and the JUnit files).
Nothing here prints or exits; errors are `RegenError`s.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from conductor_regen.config_sources import SOURCE_ROOT
from conductor_regen.errors import ConfigError, VerificationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

PROJECT = SOURCE_ROOT
NOXFILE = PROJECT / "noxfile.py"
DEFAULT_JUNIT_DIR = PROJECT / ".cache" / "junit"
PACKAGE_DIR = "src/conductor/asyncio_client"

# Interpreters the matrix is parametrized over (the SDK says python >= 3.9).
PYTHONS: Tuple[str, ...] = ("3.9", "3.10", "3.11", "3.12", "3.13")


def current_python() -> str:
    """The running interpreter as X.Y, the form nox's `-p` takes."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


# --- the matrix ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SessionSpec:
    """One row of the guide's test matrix."""

    name: str
    step: str  # the guide's step number, e.g. "5.1"
    paths: Tuple[str, ...]  # test paths relative to the SDK root; shell globs allowed
    needs_server: bool = False


_ASYNC_UNIT = ("tests/unit/orkes/test_async_*",)
_SERDESER = ("tests/serdesertest/",)

SESSIONS: Dict[str, SessionSpec] = {
    s.name: s
    for s in (
        SessionSpec("async_unit", "5.1", _ASYNC_UNIT),
        SessionSpec(
            "async_integration", "5.2",
            ("tests/integration/client/test_async.py",
             "tests/unit/workflow/test_async_workflow_executor.py",
             "tests/unit/workflow/test_async_conductor_workflow.py"),
            needs_server=True,
        ),
        SessionSpec("serdeser", "5.3", _SERDESER),
        SessionSpec("pydantic", "5.3", ("tests/serdesertest/pydantic/",)),
        SessionSpec(
            "ai_telemetry", "5.4",
            ("tests/unit/ai/test_async_ai_orchestrator.py",
             "tests/unit/telemetry/test_async_metrics_collector.py",
             "tests/unit/event/test_async_event_client.py"),
        ),
        SessionSpec(
            "async_tests", "5.6",
            (*_ASYNC_UNIT,
             "tests/unit/workflow/test_async_*",
             "tests/unit/ai/test_async_*",
             "tests/unit/telemetry/test_async_*",
             "tests/unit/event/test_async_*",
             *_SERDESER),
        ),
    )
}

# Sessions that are not pytest runs (guide 5.6's lint step) and the manual benchmark.
TOOL_SESSIONS: Tuple[str, ...] = ("lint", "typecheck")
ALL_SESSIONS: Tuple[str, ...] = (*SESSIONS, *TOOL_SESSIONS, "contract", "bench")
# What `invoke regenerate` runs after the swap unless --session says otherwise (--skip-tests: none).
GATE_SESSIONS: Tuple[str, ...] = ("contract", "async_tests")
# How the gate hands the contract session the spec of the run (it may record none: --only).
CONTRACT_SPEC_ENV = "REGEN_CONTRACT_SPEC"

NEW, PREEXISTING = "new", "pre-existing"

SERVER_ENV = "CONDUCTOR_SERVER_URL"
AUTH_ENV: Tuple[str, ...] = ("CONDUCTOR_AUTH_KEY", "CONDUCTOR_AUTH_SECRET")


def server_skip_reason(env: Mapping[str, str]) -> Optional[str]:
    """Why an integration session cannot run here (None when a server is configured)."""
    if env.get(SERVER_ENV):
        return None
    return (f"set {SERVER_ENV} (e.g. http://localhost:8080/api; for Orkes also "
            f"{' and '.join(AUTH_ENV)}) to run the integration tests")


def server_note(env: Mapping[str, str]) -> str:
    """Which server settings are present, without any of their values."""
    auth = ", ".join(f"{k} {'set' if env.get(k) else 'not set'}" for k in AUTH_ENV)
    return f"{SERVER_ENV} is set; {auth}"


# --- the SDK checkout ----------------------------------------------------------------------------

def resolve_sdk(value: Optional[str], invoked_from: str) -> Optional[Path]:
    """Make an --sdk / CONDUCTOR_SDK_ROOT value absolute against where nox was started."""
    if not value:
        return None
    path = Path(os.path.expanduser(value))
    return (path if path.is_absolute() else Path(invoked_from) / path).resolve()


def sdk_problem(sdk: Optional[Path]) -> Optional[str]:
    """What is wrong with an SDK root (None when it looks like a conductor-python checkout)."""
    if sdk is None:
        return "no SDK checkout given (pass --sdk PATH or set CONDUCTOR_SDK_ROOT)"
    if not sdk.is_dir():
        return f"SDK checkout {sdk} does not exist"
    if not (sdk / PACKAGE_DIR).is_dir():
        return f"{sdk} has no {PACKAGE_DIR} (not a conductor-python checkout?)"
    return None


@dataclasses.dataclass(frozen=True)
class PathSelection:
    """The session's test paths this checkout has, and the ones it lacks."""

    found: Tuple[str, ...]
    missing: Tuple[str, ...]


def select_paths(sdk: Path, patterns: Iterable[str]) -> PathSelection:
    """Expand the guide's paths (globs too) against `sdk`; relative, sorted, no duplicates."""
    found: List[str] = []
    missing: List[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            hits = sorted(Path(p).relative_to(sdk).as_posix() for p in glob.glob(str(sdk / pattern)))
            hits = [h for h in hits if "__pycache__" not in h and not h.endswith(".pyc")]
        else:
            hits = [pattern] if (sdk / pattern).exists() else []
        if not hits:
            missing.append(pattern)
        found.extend(h for h in hits if h not in found)
    return PathSelection(tuple(found), tuple(missing))


def load_pyproject(sdk: Path) -> Dict[str, Any]:
    """The SDK's pyproject.toml as a dict ({} when it has none)."""
    path = sdk / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", "fix the SDK's pyproject.toml") from exc


_FINGERPRINT_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "poetry.lock")


def sdk_fingerprint(sdk: Path) -> str:
    """Hash of the checkout's location, src/ tree (paths, sizes, mtimes) and packaging files.

    Any edit, added or removed file under src/ changes it, so a reused virtualenv can tell
    that its installed copy of the SDK is stale.
    """
    digest = hashlib.sha256(f"fingerprint-v1\0{sdk.resolve()}\0".encode())
    entries: List[Tuple[str, int, int]] = []
    src = sdk / "src"
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in filenames:
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(dirpath) / name
            st = path.stat()
            entries.append((path.relative_to(sdk).as_posix(), st.st_size, st.st_mtime_ns))
    for name in _FINGERPRINT_FILES:
        path = sdk / name
        if path.is_file():
            digest.update(f"{name}\0".encode() + path.read_bytes() + b"\0")
    for rel, size, mtime in sorted(entries):
        digest.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


def needs_reinstall(stored: Optional[str], current: str, installed_now: bool) -> bool:
    """Whether the venv's copy of the SDK must be reinstalled.

    `stored` is the fingerprint the venv recorded (None: never recorded), `installed_now`
    whether this run's normal install step ran. A fresh venv (nothing stored, install just
    ran) is current; anything else with a different fingerprint is stale (uv does not
    reinstall a local package whose version did not change, and `-R` skips installs).
    """
    if stored == current:
        return False
    return not (stored is None and installed_now)


# --- Python versions -----------------------------------------------------------------------------

def requires_python(pyproject: Mapping[str, Any]) -> str:
    """The SDK's supported Pythons as a PEP 440 specifier ('' when it does not say)."""
    project = pyproject.get("project") or {}
    if project.get("requires-python"):
        return str(project["requires-python"])
    poetry_python = ((pyproject.get("tool") or {}).get("poetry") or {}).get("dependencies", {}).get("python")
    if isinstance(poetry_python, str):
        return poetry_to_pep440(poetry_python)
    return ""


def python_supported(pyproject: Mapping[str, Any], version: str) -> bool:
    """Whether some patch release of `version` (X.Y) meets the SDK's requires-python."""
    spec = requires_python(pyproject)
    if not spec:
        return True
    try:
        specifier = SpecifierSet(spec)
    except InvalidSpecifier:
        return True
    return specifier.contains(f"{version}.0") or specifier.contains(f"{version}.999")


def supported_pythons(pyproject: Mapping[str, Any], candidates: Sequence[str] = PYTHONS) -> List[str]:
    """The candidates the SDK supports, in order."""
    return [v for v in candidates if python_supported(pyproject, v)]


_PYENV_VERSION_DIR = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def pyenv_interpreters(versions: Iterable[str], env: Mapping[str, str]) -> Dict[str, Path]:
    """For each X.Y, the newest pyenv-installed CPython binary `pythonX.Y` (if pyenv has one).

    pyenv's shims only run the versions that are activated, so nox's discovery misses the
    others; the noxfile links these binaries into a folder on PATH.
    """
    root = Path(env.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if not root.is_dir():
        return {}
    best: Dict[str, Tuple[int, Path]] = {}
    wanted = set(versions)
    for entry in root.iterdir():
        match = _PYENV_VERSION_DIR.match(entry.name)
        if not match:
            continue
        xy = f"{match.group(1)}.{match.group(2)}"
        binary = entry / "bin" / f"python{xy}"
        if xy in wanted and binary.is_file() and os.access(binary, os.X_OK):
            patch = int(match.group(3))
            if xy not in best or patch > best[xy][0]:
                best[xy] = (patch, binary)
    return {xy: path for xy, (_, path) in sorted(best.items())}


def link_interpreters(link_dir: Path, interpreters: Mapping[str, Path]) -> Optional[Path]:
    """Symlink `pythonX.Y` -> binary in `link_dir`; return the folder (None if nothing linked)."""
    if not interpreters:
        return None
    try:
        link_dir.mkdir(parents=True, exist_ok=True)
        for xy, binary in interpreters.items():
            link = link_dir / f"python{xy}"
            if link.is_symlink() and os.readlink(link) == str(binary):
                continue
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(binary)
    except OSError as exc:
        log.debug("could not link interpreters into %s: %s", link_dir, exc)
        return None
    return link_dir


# --- test dependencies from the SDK's pyproject.toml ---------------------------------------------

# Where test dependencies live, in the order they are read.
POETRY_GROUPS: Tuple[str, ...] = ("dev", "test", "tests")
DEPENDENCY_GROUPS: Tuple[str, ...] = ("dev", "test", "tests")
EXTRAS: Tuple[str, ...] = ("test", "tests", "dev")
FALLBACK_TEST_DEPS: Tuple[str, ...] = ("pytest", "pytest-asyncio", "pytest-mock")

# Dev tools that are not needed to run the tests (linters, formatters, build and release
# tools, docs, notebooks). Everything else in a dev/test group is installed: test suites
# import helpers like pytest-mock, requests-mock, freezegun or httpx.
NON_TEST_TOOLS = frozenset({
    "pre-commit", "pylint", "ruff", "black", "isort", "flake8", "autopep8", "yapf", "autoflake",
    "pyupgrade", "mypy", "pyright", "pytype", "bandit", "safety", "pip-audit", "codespell",
    "setuptools", "wheel", "build", "twine", "pip", "pip-tools", "poetry", "poetry-core",
    "hatch", "hatchling", "flit", "tox", "nox", "invoke", "bump2version", "bumpversion",
    "commitizen", "towncrier", "ipython", "ipdb", "jupyter", "notebook", "jupyterlab",
    "sphinx", "mkdocs", "pdoc", "interrogate", "vulture", "radon", "xenon",
})
NON_TEST_PREFIXES: Tuple[str, ...] = ("types-", "flake8-", "sphinx-", "sphinxcontrib-", "mkdocs-",
                                      "poetry-", "pylint-", "mypy-", "jupyter")
NON_TEST_SUFFIXES: Tuple[str, ...] = ("-stubs",)


def is_test_dependency(name: str) -> bool:
    """False for dev tools a test run does not need (see NON_TEST_TOOLS)."""
    n = canonicalize_name(name)
    if n in NON_TEST_TOOLS or n.endswith(NON_TEST_SUFFIXES):
        return False
    return not n.startswith(NON_TEST_PREFIXES)


_CLAUSE = re.compile(r"(\^|~=|~|===|==|!=|<=|>=|<|>|=)?\s*(\*|[0-9][0-9A-Za-z.*+!_-]*)")


def _release(version: str) -> List[int]:
    parts: List[int] = []
    for piece in version.split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group()))
        if digits.group() != piece:  # 1.2.3b1: stop at the pre-release tag
            break
    return parts or [0]


def _caret_upper(version: str) -> str:
    parts = _release(version)
    nonzero = [i for i, p in enumerate(parts) if p != 0]
    i = nonzero[0] if nonzero else len(parts) - 1
    return ".".join(str(p) for p in parts[:i] + [parts[i] + 1])


def _tilde_upper(version: str) -> str:
    parts = _release(version)
    if len(parts) >= 2:
        return f"{parts[0]}.{parts[1] + 1}"
    return str(parts[0] + 1)


def _convert_clauses(text: str) -> List[str]:
    clauses: List[str] = []
    rest = text.strip()
    while rest:
        rest = rest.lstrip(", ")
        if not rest:
            break
        match = _CLAUSE.match(rest)
        if not match:
            raise ValueError(text)
        op, version = match.group(1) or "", match.group(2)
        rest = rest[match.end():]
        if version == "*":
            continue
        if op == "^":
            clauses += [f">={version}", f"<{_caret_upper(version)}"]
        elif op == "~":
            clauses += [f">={version}", f"<{_tilde_upper(version)}"]
        elif op in ("", "="):
            clauses.append(f"=={version}")
        else:
            clauses.append(f"{op}{version}")
    return clauses


def poetry_to_pep440(constraint: str) -> str:
    """Convert a Poetry version constraint to a PEP 440 specifier.

    `^8.4.1` -> `>=8.4.1,<9`, `~1.2.3` -> `>=1.2.3,<1.3`, `1.2.3` -> `==1.2.3`, `*` -> ``.
    PEP 440 has no "or": `A || B` becomes the lowest lower bound of the alternatives (looser
    than Poetry, never stricter). Raises ValueError for text that is no constraint.
    """
    text = constraint.strip()
    if "||" in text:
        lowers: List[Version] = []
        for alternative in text.split("||"):
            for clause in _convert_clauses(alternative):
                if clause.startswith((">=", "==")) and "*" not in clause:
                    try:
                        lowers.append(Version(clause[2:]))
                    except InvalidVersion:
                        pass
                    break
            else:
                return ""  # an alternative without a lower bound: anything goes
        return f">={min(lowers)}" if lowers else ""
    clauses = _convert_clauses(text)
    spec = ",".join(clauses)
    try:
        SpecifierSet(spec)
    except InvalidSpecifier as exc:
        raise ValueError(constraint) from exc
    return spec


def _python_marker(constraint: str) -> str:
    clauses = poetry_to_pep440(constraint).split(",")
    return " and ".join(f'python_version {m.group(1)} "{m.group(2)}"'
                        for c in clauses if c for m in [re.match(r"([<>=!~]+)(.*)", c)] if m)


@dataclasses.dataclass(frozen=True)
class Requirements:
    """Test dependencies read from an SDK's pyproject.toml."""

    sources: Tuple[str, ...]  # where they came from, e.g. "[tool.poetry.group.dev.dependencies]"
    test: Tuple[str, ...]  # PEP 508 requirements to install for the pytest sessions
    dev: Tuple[str, ...]  # every dev requirement we could convert (tools included)
    dropped: Tuple[str, ...]  # names left out as non-test tools
    unsupported: Tuple[str, ...]  # entries we cannot install from here (path, git, url, include)


def _poetry_requirement(name: str, value: Any) -> List[str]:
    """One Poetry dependency entry -> PEP 508 lines; [] for path/git/url entries."""
    if isinstance(value, list):
        return [line for item in value for line in _poetry_requirement(name, item)]
    if isinstance(value, str):
        return [f"{name}{poetry_to_pep440(value)}"]
    if not isinstance(value, dict) or any(k in value for k in ("path", "git", "url", "file")):
        return []
    extras = f"[{','.join(value['extras'])}]" if value.get("extras") else ""
    spec = poetry_to_pep440(str(value.get("version", "*")))
    markers = [str(value["markers"])] if value.get("markers") else []
    if value.get("python"):
        markers.append(_python_marker(str(value["python"])))
    marker = " and ".join(f"({m})" if len(markers) > 1 else m for m in markers if m)
    return [f"{name}{extras}{spec}" + (f"; {marker}" if marker else "")]


def _dev_entries(pyproject: Mapping[str, Any]) -> Tuple[List[str], List[str], List[str]]:
    """(requirements, sources, unsupported) from Poetry groups, PEP 735 groups and extras."""
    reqs: List[str] = []
    sources: List[str] = []
    unsupported: List[str] = []
    poetry = (pyproject.get("tool") or {}).get("poetry") or {}
    tables: List[Tuple[str, Mapping[str, Any]]] = []
    for group in POETRY_GROUPS:
        deps = ((poetry.get("group") or {}).get(group) or {}).get("dependencies")
        if isinstance(deps, dict):
            tables.append((f"[tool.poetry.group.{group}.dependencies]", deps))
    if isinstance(poetry.get("dev-dependencies"), dict):
        tables.append(("[tool.poetry.dev-dependencies]", poetry["dev-dependencies"]))
    for source, deps in tables:
        sources.append(source)
        for name, value in deps.items():
            if name == "python":
                continue
            try:
                lines = _poetry_requirement(name, value)
            except ValueError:
                lines = []
            if lines:
                reqs += lines
            else:
                unsupported.append(f"{name} ({source})")
    groups = pyproject.get("dependency-groups") or {}
    normalized: Dict[str, Any] = ({str(canonicalize_name(k)): v for k, v in groups.items()}
                                  if isinstance(groups, dict) else {})

    def expand(group: str, seen: Tuple[str, ...]) -> List[str]:
        out: List[str] = []
        for item in normalized.get(group) or []:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict) and "include-group" in item:
                inner = canonicalize_name(str(item["include-group"]))
                if inner not in seen:
                    out += expand(inner, (*seen, inner))
        return out

    for group in DEPENDENCY_GROUPS:
        if group in normalized:
            sources.append(f"[dependency-groups] {group}")
            reqs += expand(group, (group,))
    extras = (pyproject.get("project") or {}).get("optional-dependencies") or {}
    for extra in EXTRAS:
        if isinstance(extras.get(extra), list):
            sources.append(f"[project.optional-dependencies] {extra}")
            reqs += [str(r) for r in extras[extra]]
    return reqs, sources, unsupported


def read_test_requirements(pyproject: Mapping[str, Any]) -> Requirements:
    """What the pytest sessions install besides the SDK: its dev/test deps minus dev tools.

    Reads, in order: Poetry groups dev/test/tests (and legacy dev-dependencies), PEP 735
    [dependency-groups] dev/test/tests, [project.optional-dependencies] test/tests/dev.
    Poetry constraints are converted to PEP 440. With nothing found: pytest, pytest-asyncio,
    pytest-mock. pytest itself is always included.
    """
    raw, sources, unsupported = _dev_entries(pyproject)
    dev: List[str] = []
    test: List[str] = []
    dropped: List[str] = []
    seen: set[str] = set()
    for line in raw:
        try:
            name = canonicalize_name(Requirement(line).name)
        except InvalidRequirement:
            unsupported.append(line)
            continue
        if name in seen:
            continue
        seen.add(name)
        dev.append(line)
        if is_test_dependency(name):
            test.append(line)
        else:
            dropped.append(name)
    if not test:
        test = list(FALLBACK_TEST_DEPS)
        sources = [*sources, "fallback"] if sources else ["fallback"]
    elif "pytest" not in {canonicalize_name(Requirement(t).name) for t in test}:
        test.insert(0, "pytest")
    return Requirements(tuple(sources), tuple(test), tuple(dev), tuple(dropped), tuple(unsupported))


def tool_requirements(pyproject: Mapping[str, Any], tool: str) -> Tuple[str, ...]:
    """The SDK's own pin of a tool (`flake8`, `mypy`) if its dev deps have one, else the bare name.

    For mypy, the dev deps' stub packages (types-*, *-stubs) come along.
    """
    dev = read_test_requirements(pyproject).dev
    wanted = canonicalize_name(tool)
    pinned = [r for r in dev if canonicalize_name(Requirement(r).name) == wanted] or [tool]
    if wanted == "mypy":
        pinned += [r for r in dev if canonicalize_name(Requirement(r).name).startswith("types-")
                   or canonicalize_name(Requirement(r).name).endswith("-stubs")]
    return tuple(pinned)


# --- the nox command -----------------------------------------------------------------------------

def check_sessions(sessions: Sequence[str]) -> None:
    """ConfigError for a session name the noxfile does not define (checked before any work)."""
    unknown = [s for s in sessions if re.sub(r"-\d+\.\d+$", "", s) not in ALL_SESSIONS]
    if unknown:
        raise ConfigError(f"unknown test session(s): {', '.join(unknown)}",
                          f"choose from {', '.join(ALL_SESSIONS)}")


def check_pythons(pythons: Sequence[str], env: Mapping[str, str]) -> None:
    """ConfigError for a Python the matrix does not cover or this machine cannot run (before any work)."""
    bad = [p for p in pythons if p not in PYTHONS]
    if bad:
        raise ConfigError(f"unknown Python version(s): {', '.join(bad)}",
                          f"the test sessions run on {', '.join(PYTHONS)} (X.Y)")
    found = pyenv_interpreters(pythons, env)
    missing = [p for p in pythons
               if p != current_python() and p not in found and not shutil.which(f"python{p}", path=env.get("PATH"))]
    if missing:
        raise ConfigError(f"no interpreter for Python {', '.join(missing)} on this machine",
                          "install it (pyenv, uv python install) or pick another --python")


def nox_command(sdk: Path, sessions: Sequence[str] = ("async_tests",), pythons: Sequence[str] = (),
                pytest_args: Sequence[str] = (), *, noxfile: Path = NOXFILE,
                junit_dir: Optional[Path] = None, report: Optional[Path] = None,
                envdir: Optional[Path] = None, reuse: bool = False) -> List[str]:
    """`python -m nox -f <project>/noxfile.py -s ... -p ... -- --sdk SDK [pytest args]`.

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


# --- results -------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class JunitSummary:
    """Counts and the first problem from one JUnit XML file."""

    passed: int = 0
    failed: int = 0  # failures and errors
    skipped: int = 0
    seconds: float = 0.0
    first_failure: str = ""  # test id
    message: str = ""  # first line of its failure message
    summary: str = ""  # a suite's own one-line summary (property "summary"; the contract session writes one)
    failures: Tuple[Tuple[str, str], ...] = ()  # (test id, first message line) of every failure


def _first_line(text: str) -> str:
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


# Messages that say nothing about the cause (pytest's collection errors, mypy's report).
_GENERIC_MESSAGES = frozenset({"collection failure", "mypy produced messages"})


def _failure_message(problem: ET.Element) -> str:
    message = _first_line(problem.get("message") or "")
    text = problem.text or ""
    if message and message not in _GENERIC_MESSAGES:
        return message
    # pytest puts the exception in lines starting with "E   "; mypy lists its errors.
    e_lines = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ") and ln[1:].strip()]
    if e_lines:
        return e_lines[0]
    return _first_line(text) or message


def parse_junit(path: Path) -> JunitSummary:
    """Read a pytest (or mypy) JUnit XML file; raise VerificationError if it cannot be read."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise VerificationError(f"cannot read JUnit file {path}: {exc}") from exc
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    passed = failed = skipped = 0
    seconds = 0.0
    failures: List[Tuple[str, str]] = []
    for suite in suites:
        try:
            seconds += float(suite.get("time") or 0)
        except ValueError:
            pass
        for case in suite.iter("testcase"):
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if problem is not None:
                failed += 1
                classname = case.get("classname") or ""
                name = case.get("name") or "?"
                failures.append((f"{classname}::{name}" if classname else name, _failure_message(problem)))
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    summary = next((p.get("value") or "" for suite in suites for p in suite.iter("property")
                    if p.get("name") == "summary"), "")
    first, message = failures[0] if failures else ("", "")
    return JunitSummary(passed, failed, skipped, round(seconds, 3), first, message, summary, tuple(failures))


@dataclasses.dataclass(frozen=True)
class SessionResult:
    """What one nox session (one session x one Python) did."""

    session: str
    python: str  # "" for sessions that use nox's own interpreter
    result: str  # passed | failed | skipped
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    first_failure: str = ""
    message: str = ""  # first line of the first failure, or nox's reason
    summary: str = ""  # the session's own summary line from its JUnit file (the contract's figures)
    failures: Tuple[Tuple[str, str], ...] = ()  # (test id, message) of every failure the JUnit file lists
    # Against a pristine tree: "new" (some failure is new), "pre-existing" (all of them were there
    # before), "" (not judged: passed, skipped, or no baseline).
    verdict: str = ""
    preexisting: int = 0  # failures that the pristine tree had too
    baseline: str = ""  # where the pristine verdict came from ("backup <id>", "git HEAD <sha>")

    @property
    def full_name(self) -> str:
        """The session as `nox -s` names it (`async_unit-3.12`, `lint`)."""
        return f"{self.session}-{self.python}" if self.python else self.session

    @property
    def failure_ids(self) -> Tuple[str, ...]:
        """Ids of what failed: the JUnit test ids, or the session itself when it left none."""
        if self.result != "failed":
            return ()
        return tuple(i for i, _ in self.failures) or (f"session {self.full_name}",)

    @property
    def blocking(self) -> bool:
        """A failure that counts: not one the pristine tree had too."""
        return self.result == "failed" and self.verdict != PREEXISTING

    @property
    def detail(self) -> str:
        """One line: '37 passed', 'FAILED test: message', or the skip reason (after the session's summary)."""
        if self.result == "skipped":
            return f"skipped: {self.message}" if self.message else "skipped"
        lead = f"{self.summary}; " if self.summary else ""
        if self.result == "failed" and self.verdict:
            new = (self.failed if self.failures else 1) - self.preexisting
            head = f"{new} new, {self.preexisting} pre-existing (vs {self.baseline})"
            return f"{lead}{head}: {self._first_failure_line()}"
        if self.result == "failed":
            return f"{lead}{self._first_failure_line()}"
        if self.summary:
            return self.summary
        counts = f"{self.passed} passed" + (f", {self.skipped} skipped" if self.skipped else "")
        return counts

    def _first_failure_line(self) -> str:
        if self.first_failure:
            return f"FAILED {self.first_failure}: {self.message}" if self.message else f"FAILED {self.first_failure}"
        return f"FAILED: {self.message or 'see the nox output'}"

    def as_row(self) -> Dict[str, str]:
        """The report's test row: session, python, result, verdict, detail."""
        return {"session": self.session, "python": self.python or "-", "result": self.result,
                "verdict": self.verdict, "detail": self.detail}


_NOX_STATUS = {"success": "passed", "skipped": "skipped", "failed": "failed", "aborted": "failed"}


def _split_name(entry: Mapping[str, Any]) -> Tuple[str, str, str]:
    """(full name as in `nox -s`, session, python) of a report entry."""
    name = str(entry.get("name") or "")
    signatures = [str(s) for s in entry.get("signatures") or []]
    full = signatures[0] if signatures else name
    python = str((entry.get("args") or {}).get("python") or "")
    if not python and name and full.startswith(f"{name}-"):
        python = full[len(name) + 1:]
    return full, name or full, python


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text(errors="replace").splitlines() if line.strip())


def results_from_report(report: Mapping[str, Any], junit_dir: Path) -> List[SessionResult]:
    """Combine nox's --report JSON with each session's JUnit XML (or flake8 text) output."""
    results: List[SessionResult] = []
    for entry in report.get("sessions") or []:
        full, session, python = _split_name(entry)
        result = _NOX_STATUS.get(str(entry.get("result")), "failed")
        reason = _first_line(str(entry.get("reason") or ""))
        seconds = round(float(entry.get("duration") or 0.0), 1)
        xml, txt = junit_dir / f"{full}.xml", junit_dir / f"{full}.txt"
        if result != "skipped" and xml.is_file():
            j = parse_junit(xml)
            message = j.message if j.first_failure else reason
            results.append(SessionResult(session, python, result, j.passed, j.failed, j.skipped,
                                         seconds, j.first_failure, message if result == "failed" else "",
                                         summary=j.summary, failures=j.failures if result == "failed" else ()))
        elif result != "skipped" and txt.is_file():  # flake8's report: one problem per line
            problems = _count_lines(txt)
            first = _first_line(txt.read_text(errors="replace"))
            results.append(SessionResult(session, python, result, 0 if problems else 1, problems, 0,
                                         seconds, first.split(": ", 1)[0] if first else "",
                                         first.split(": ", 1)[-1] if first else reason))
        else:
            results.append(SessionResult(session, python, result, seconds=seconds,
                                         message=reason if result != "passed" else ""))
    return results


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
    if not NOXFILE.is_file():
        raise ConfigError(f"the test matrix's noxfile is missing ({NOXFILE})",
                          "install conductor-regen from its checkout: python -m pip install -e .")
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
    """Run nox in its own process group, so a timeout stops nox, pip and pytest together."""
    proc = subprocess.Popen(cmd, cwd=PROJECT, env=dict(env) if env is not None else None,
                            stdout=None if stream else subprocess.PIPE,
                            stderr=None if stream else subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise VerificationError(
            f"the test sessions did not finish in {timeout:g}s and were stopped",
            "raise test_timeout (REGEN_TEST_TIMEOUT), or look for a hanging test with `invoke test`",
        ) from None
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)  # Ctrl-C: take the whole tree down with us
        proc.wait()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, None)


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
    ok = bool(results) and not any(r.blocking for r in results) \
        and any(r.result != "skipped" for r in results)
    return ok, rows


def gate_detail(rows: Sequence[Mapping[str, str]]) -> str:
    """The gate's figures for the steps table: each session's result, the contract's own summary line."""
    parts = []
    for row in rows:
        detail = row.get("detail", "")
        if detail.startswith(("contract: ", "lint: ", "typecheck: ")):  # the session's own summary line
            parts.append(detail if len(detail) <= 200 else detail[:197] + "...")
        else:
            name = row.get("session", "?") + (f"-{row['python']}" if row.get("python", "-") != "-" else "")
            verdict = f" ({row['verdict']})" if row.get("verdict") else ""
            parts.append(f"{name} {row.get('result', '?')}{verdict}")
    return "; ".join(parts)


def _is_known(failure: Tuple[str, str], known: Mapping[str, str], import_errors: "set[str]") -> bool:
    """Failed on the pristine tree too: the same test id, or a module that fails to import the same way.

    The second case is a test module this run added (e.g. an adapter test) that cannot even be
    collected for the reason the pristine tree's modules could not (Python 3.9 lacking typing.Self).
    """
    test_id, message = failure
    return test_id in known or ("::" not in test_id and bool(message) and message in import_errors)


def with_baseline(results: Sequence[SessionResult], before: Mapping[str, Sequence[Any]],
                  source: str) -> List[SessionResult]:
    """Mark each failed session's failures new or pre-existing, given what failed on the pristine tree.

    `before` maps a session's full name to the pristine tree's failures there, each a test id or
    an (id, message) pair; a session missing from it is not judged. A failure is pre-existing when
    its id failed before, or when it is a module that fails to import with a message a module
    of the pristine tree failed with. The first failure shown becomes the first new one.
    """
    judged: List[SessionResult] = []
    for r in results:
        old = before.get(r.full_name)
        if r.result != "failed" or old is None:
            judged.append(r)
            continue
        pairs = [(str(o), "") if isinstance(o, str) else (str(o[0]), str(o[1])) for o in old]
        known = dict(pairs)
        import_errors = {m for i, m in pairs if "::" not in i and m}
        records = r.failures or tuple((i, r.message) for i in r.failure_ids)
        fresh = [f for f in records if not _is_known(f, known, import_errors)]
        verdict = NEW if fresh else PREEXISTING
        first, message = fresh[0] if fresh else (r.first_failure, r.message)
        # The contract counts every failure as new on its own; after judging, its line says what is new.
        summary = re.sub(r"\b\d+ new failures\b", f"{len(fresh)} new failures", r.summary)
        judged.append(dataclasses.replace(r, verdict=verdict, preexisting=len(records) - len(fresh),
                                          baseline=source, first_failure=first, message=message, summary=summary))
    return judged


def format_summary(results: Sequence[SessionResult]) -> List[str]:
    """A plain-text table of the results, then a totals line."""
    header = ("session", "python", "result", "verdict", "passed", "failed", "skipped", "seconds", "detail")
    rows = [header]
    for r in results:
        counted = r.result != "skipped"
        detail = r.summary if r.result == "passed" else r.detail  # the contract's figures when it passed
        if len(detail) > 160:
            detail = detail[:157] + "..."
        rows.append((r.session, r.python or "-", r.result, r.verdict or "-",
                     str(r.passed) if counted else "-", str(r.failed) if counted else "-",
                     str(r.skipped) if counted else "-", f"{r.seconds:.1f}", detail))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    numeric = {4, 5, 6, 7}
    lines = []
    for row in rows:
        cells = [row[i].rjust(widths[i]) if i in numeric else row[i].ljust(widths[i])
                 for i in range(len(widths))]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
    counts = {k: sum(1 for r in results if r.result == k) for k in ("passed", "failed", "skipped")}
    pre = sum(1 for r in results if r.result == "failed" and r.verdict == PREEXISTING)
    lines.append(f"{len(results)} session(s): {counts['passed']} passed, {counts['failed']} failed"
                 + (f" ({pre} with pre-existing failures only)" if pre else "")
                 + f", {counts['skipped']} skipped")
    return lines



_SESSION_START = re.compile(r"^nox > Running session (\S+)", re.M)


def session_output(output: str, name: str) -> str:
    """The part of nox's captured output that one session (`async_tests-3.11`) wrote."""
    starts = [(m.start(), m.group(1)) for m in _SESSION_START.finditer(output)]
    for n, (start, session) in enumerate(starts):
        if session == name:
            end = starts[n + 1][0] if n + 1 < len(starts) else len(output)
            return output[start:end].rstrip()
    return ""
