"""What the pytest and tool sessions install: test dependencies read from the SDK's own pyproject.toml.

Poetry groups, PEP 735 dependency groups and extras are read; Poetry constraints become PEP 440.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from conductor_regen.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib


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
