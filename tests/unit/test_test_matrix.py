"""The test matrix core: constraints, SDK test deps, paths, fingerprints, JUnit, summaries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest
from support.paths import EXAMPLE_SDK

from conductor_regen.matrix.session_sdk import (InstallState, needs_install, needs_reinstall, recorded,
                                               requirements_key, resolve_invoked_path, sdk_fingerprint, sdk_problem)
from conductor_regen.matrix.interpreters import PYTHONS, check_pythons, current_python, link_interpreters, pyenv_interpreters, python_supported, requires_python
from conductor_regen.matrix.requirements import is_test_dependency, load_pyproject, poetry_to_pep440, read_test_requirements, tool_requirements
from conductor_regen.matrix.results import SessionResult, format_summary, parse_junit, results_from_report
from conductor_regen.matrix.runner import NOXFILE, nox_command, run_matrix
from conductor_regen.matrix.sessions import SESSIONS, select_paths, server_note, server_skip_reason
from conductor_regen.errors import ConfigError


# --- Poetry constraints --------------------------------------------------------------------------

@pytest.mark.parametrize("constraint, expected", [
    ("^8.4.1", ">=8.4.1,<9"),
    ("^1.2", ">=1.2,<2"),
    ("^0.2.3", ">=0.2.3,<0.3"),
    ("^0.0.3", ">=0.0.3,<0.0.4"),
    ("^0", ">=0,<1"),
    ("^0.0", ">=0.0,<0.1"),
    ("^1.0.0b1", ">=1.0.0b1,<2"),
    ("~1.2.3", ">=1.2.3,<1.3"),
    ("~1.2", ">=1.2,<1.3"),
    ("~1", ">=1,<2"),
    ("~=1.4", "~=1.4"),
    ("1.2.3", "==1.2.3"),
    ("=1.2.3", "==1.2.3"),
    ("1.2.*", "==1.2.*"),
    ("*", ""),
    ("", ""),
    (">=1.2,<2", ">=1.2,<2"),
    (">= 1.2, < 2.0", ">=1.2,<2.0"),
    (">=1.2 <2", ">=1.2,<2"),
    ("!=1.5", "!=1.5"),
    (">=14.05.14", ">=14.05.14"),
    ("^1.0 || ^2.0", ">=1.0"),
    ("^2.0 || >=1.1,<1.5", ">=1.1"),
    ("<2 || ^3", ""),
])
def test_poetry_constraints_become_pep440(constraint: str, expected: str) -> None:
    assert poetry_to_pep440(constraint) == expected


@pytest.mark.parametrize("garbage", ["latest", "^", ">=x.y"])
def test_not_a_constraint(garbage: str) -> None:
    with pytest.raises(ValueError):
        poetry_to_pep440(garbage)


# --- test dependencies from the SDK's pyproject --------------------------------------------------

# The real conductor-python 1.2 dev group.
CONDUCTOR_PYTHON: Dict[str, Any] = {
    "tool": {"poetry": {
        "dependencies": {"python": ">=3.9", "pydantic": "2.11.7"},
        "group": {"dev": {"dependencies": {
            "pylint": ">=2.17.5", "coverage": ">=7.2.7", "pytest-cov": ">=4.1.0", "ruff": "^0.12.0",
            "pre-commit": "^4.2.0", "setuptools": "^80.9.0", "pytest": "^8.4.1",
            "pytest-mock": "^3.14.1", "pytest-asyncio": "^1.1.0",
        }}},
    }},
}


def test_poetry_dev_group_converted_and_tools_dropped() -> None:
    reqs = read_test_requirements(CONDUCTOR_PYTHON)
    assert reqs.sources == ("[tool.poetry.group.dev.dependencies]",)
    assert reqs.test == ("coverage>=7.2.7", "pytest-cov>=4.1.0", "pytest>=8.4.1,<9",
                         "pytest-mock>=3.14.1,<4", "pytest-asyncio>=1.1.0,<2")
    assert set(reqs.dropped) == {"pylint", "ruff", "pre-commit", "setuptools"}
    assert "ruff>=0.12.0,<0.13" in reqs.dev


def test_poetry_tables_extras_markers_and_unsupported_sources() -> None:
    pyproject = {"tool": {"poetry": {"group": {"test": {"dependencies": {
        "httpx": {"version": "^0.28.1", "extras": ["http2"], "python": "^3.9"},
        "respx": [{"version": "^0.20", "markers": "sys_platform == 'linux'"}],
        "localthing": {"path": "../localthing"},
        "gitthing": {"git": "https://example.invalid/x.git"},
        "weird": "latest",
        "python": "^3.9",
    }}}}}}
    reqs = read_test_requirements(pyproject)
    assert reqs.test[0] == "pytest"  # always there
    assert 'httpx[http2]>=0.28.1,<0.29; python_version >= "3.9" and python_version < "4"' in reqs.test
    assert "respx>=0.20,<0.21; sys_platform == 'linux'" in reqs.test
    assert [u.split()[0] for u in reqs.unsupported] == ["localthing", "gitthing", "weird"]


def test_legacy_poetry_dev_dependencies() -> None:
    reqs = read_test_requirements({"tool": {"poetry": {"dev-dependencies": {"pytest": "^7.0", "mock": "*"}}}})
    assert reqs.test == ("pytest>=7.0,<8", "mock")
    assert reqs.sources == ("[tool.poetry.dev-dependencies]",)


def test_pep735_dependency_groups_with_includes() -> None:
    pyproject = {"dependency-groups": {
        "Test": ["pytest>=8", {"include-group": "async"}],
        "async": ["pytest-asyncio>=0.23", {"include-group": "Test"}],  # a cycle must not loop
        "lint": ["ruff"],
        "dev": ["mypy", {"include-group": "test"}],
    }}
    reqs = read_test_requirements(pyproject)
    assert reqs.sources == ("[dependency-groups] dev", "[dependency-groups] test")
    assert reqs.test == ("pytest>=8", "pytest-asyncio>=0.23")
    assert reqs.dropped == ("mypy",)


def test_optional_dependency_extras() -> None:
    pyproject = {"project": {"optional-dependencies": {
        "tests": ["pytest-mock", "freezegun>=1"], "docs": ["sphinx"], "dev": ["black", "types-requests"],
    }}}
    reqs = read_test_requirements(pyproject)
    assert reqs.sources == ("[project.optional-dependencies] tests", "[project.optional-dependencies] dev")
    assert reqs.test == ("pytest", "pytest-mock", "freezegun>=1")
    assert set(reqs.dropped) == {"black", "types-requests"}


@pytest.mark.parametrize("pyproject", [
    {},
    {"project": {"name": "x"}},
    {"tool": {"poetry": {"group": {"dev": {"dependencies": {"ruff": "*", "pre-commit": "*"}}}}}},
])
def test_fallback_when_the_sdk_lists_no_test_deps(pyproject: Dict[str, Any]) -> None:
    reqs = read_test_requirements(pyproject)
    assert reqs.test == ("pytest", "pytest-asyncio", "pytest-mock")
    assert reqs.sources[-1] == "fallback"


def test_duplicates_keep_the_first_source() -> None:
    pyproject = {"tool": {"poetry": {"group": {"dev": {"dependencies": {"pytest": "^8"}}}}},
                 "dependency-groups": {"test": ["pytest<8", "Pytest_Mock"]}}
    assert read_test_requirements(pyproject).test == ("pytest>=8,<9", "Pytest_Mock")


@pytest.mark.parametrize("name, wanted", [
    ("pytest", True), ("pytest-cov", True), ("coverage", True), ("requests-mock", True),
    ("ruff", False), ("Pre_Commit", False), ("types-requests", False), ("flake8-bugbear", False),
    ("boto3-stubs", False), ("setuptools", False), ("mypy", False),
])
def test_non_test_tools(name: str, wanted: bool) -> None:
    assert is_test_dependency(name) is wanted


def test_tool_pins_come_from_the_sdk() -> None:
    pyproject = {"dependency-groups": {"dev": ["flake8==7.1.0", "mypy>=1.10", "types-requests", "pytest"]}}
    assert tool_requirements(pyproject, "flake8") == ("flake8==7.1.0",)
    assert tool_requirements(pyproject, "mypy") == ("mypy>=1.10", "types-requests")
    assert tool_requirements({}, "flake8") == ("flake8",)


def test_example_sdk_pyproject() -> None:
    pyproject = load_pyproject(EXAMPLE_SDK)
    assert read_test_requirements(pyproject).test == ("pytest>=8", "pytest-asyncio>=0.23", "pytest-mock>=3.14")
    assert requires_python(pyproject) == ">=3.9"


def test_bad_pyproject_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.poetry\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_pyproject(tmp_path)
    assert load_pyproject(tmp_path / "nowhere") == {}


# --- Python versions -----------------------------------------------------------------------------

@pytest.mark.parametrize("pyproject, expected", [
    ({}, ["3.9", "3.10", "3.11", "3.12", "3.13"]),
    ({"project": {"requires-python": ">=3.10,<3.13"}}, ["3.10", "3.11", "3.12"]),
    ({"project": {"requires-python": ">=3.9.2"}}, ["3.9", "3.10", "3.11", "3.12", "3.13"]),
    ({"tool": {"poetry": {"dependencies": {"python": "^3.11"}}}}, ["3.11", "3.12", "3.13"]),
    ({"tool": {"poetry": {"dependencies": {"python": "~3.10"}}}}, ["3.10"]),
])
def test_python_supported(pyproject: Dict[str, Any], expected: list[str]) -> None:
    assert [v for v in PYTHONS if python_supported(pyproject, v)] == expected


def test_pyenv_interpreters_pick_the_newest_patch(tmp_path: Path) -> None:
    for version in ("3.9.1", "3.9.18", "3.12.1", "3.12.1t", "pypy3.10-7.3", "3.8.18"):
        binary = tmp_path / "versions" / version / "bin" / f"python{'.'.join(version.split('.')[:2])}"
        binary.parent.mkdir(parents=True)
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    found = pyenv_interpreters(["3.9", "3.12", "3.13"], {"PYENV_ROOT": str(tmp_path)})
    assert found == {"3.9": tmp_path / "versions/3.9.18/bin/python3.9",
                     "3.12": tmp_path / "versions/3.12.1/bin/python3.12"}
    links = link_interpreters(tmp_path / "links", found)
    assert links is not None and os.readlink(links / "python3.9") == str(found["3.9"])
    assert link_interpreters(tmp_path / "links", found) == links  # idempotent
    assert pyenv_interpreters(["3.9"], {"PYENV_ROOT": str(tmp_path / "none")}) == {}
    assert link_interpreters(tmp_path / "x", {}) is None


# --- the checkout --------------------------------------------------------------------------------

def test_path_selection_expands_globs_and_reports_missing() -> None:
    sel = select_paths(EXAMPLE_SDK, SESSIONS["async_tests"].paths)
    assert sel.found[:2] == ("tests/unit/orkes/test_async_authorization_client.py",
                             "tests/unit/orkes/test_async_metadata_client.py")
    assert "tests/unit/workflow/test_async_conductor_workflow.py" in sel.found
    assert sel.found[-1] == "tests/serdesertest/"
    assert len(sel.found) == 8
    assert sel.missing == ("tests/unit/ai/test_async_*", "tests/unit/telemetry/test_async_*",
                           "tests/unit/event/test_async_*")
    assert select_paths(EXAMPLE_SDK, SESSIONS["ai_telemetry"].paths).found == ()
    integration = select_paths(EXAMPLE_SDK, SESSIONS["async_integration"].paths)
    assert integration.found == ("tests/unit/workflow/test_async_conductor_workflow.py",)


def test_guide_paths_of_each_session() -> None:
    assert SESSIONS["async_unit"].paths == ("tests/unit/orkes/test_async_*",)
    assert SESSIONS["async_unit"].step == "5.1"
    assert SESSIONS["async_integration"].needs_server
    assert not any(s.needs_server for n, s in SESSIONS.items() if n != "async_integration")
    assert set(SESSIONS["serdeser"].paths) < set(SESSIONS["async_tests"].paths)
    assert set(SESSIONS["async_unit"].paths) < set(SESSIONS["async_tests"].paths)


def test_sdk_problems(tmp_path: Path) -> None:
    assert "no SDK" in (sdk_problem(None) or "")
    assert "does not exist" in (sdk_problem(tmp_path / "nope") or "")
    assert "src/conductor/asyncio_client" in (sdk_problem(tmp_path) or "")
    assert sdk_problem(EXAMPLE_SDK) is None
    assert resolve_invoked_path("sdk", "/somewhere") == Path("/somewhere/sdk").resolve()
    assert resolve_invoked_path(str(tmp_path), "/elsewhere") == tmp_path.resolve()
    assert resolve_invoked_path("", "/x") is None


def test_fingerprint_changes_with_the_tree(tmp_path: Path) -> None:
    sdk = tmp_path / "sdk"
    (sdk / "src" / "pkg").mkdir(parents=True)
    (sdk / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    module = sdk / "src" / "pkg" / "a.py"
    module.write_text("A = 1\n")
    first = sdk_fingerprint(sdk)
    assert sdk_fingerprint(sdk) == first
    (sdk / "src" / "pkg" / "__pycache__").mkdir()
    (sdk / "src" / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"x")
    assert sdk_fingerprint(sdk) == first  # bytecode is not the checkout
    module.write_text("A = 22\n")
    second = sdk_fingerprint(sdk)
    assert second != first
    (sdk / "src" / "pkg" / "b.py").write_text("")
    third = sdk_fingerprint(sdk)
    assert third != second
    (sdk / "pyproject.toml").write_text("[project]\nname = 'y'\n")
    fourth = sdk_fingerprint(sdk)
    assert fourth != third
    os.utime(module, ns=(1, 1))  # the same bytes: the same wheel
    assert sdk_fingerprint(sdk) == fourth
    (sdk / "src" / "pkg" / "b.py").rename(sdk / "src" / "pkg" / "c.py")  # the same bytes under another name
    assert sdk_fingerprint(sdk) != fourth
    (sdk / "src" / "pkg" / "c.py").rename(sdk / "src" / "pkg" / "b.py")
    copy = tmp_path / "copy"
    shutil.copytree(sdk, copy)
    assert sdk_fingerprint(copy) == fourth  # a copy elsewhere builds the same wheel: nothing to reinstall


def test_a_runs_lock_and_journal_are_not_the_checkouts_content(tmp_path: Path) -> None:
    # The test gate installs the SDK while its run holds the lock (pid and start time inside): were it content,
    # every gate would build and install the same SDK again.
    sdk = tmp_path / "sdk"
    package = sdk / "src" / "conductor" / "asyncio_client"
    package.mkdir(parents=True)
    (sdk / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (package / "settings.py").write_text("A = 1\n")
    quiet = sdk_fingerprint(sdk)
    (package / ".regen.lock").write_text('{"pid": 4242}\n')
    (package / ".regen-journal.json").write_text("{}\n")
    assert sdk_fingerprint(sdk) == quiet
    (package / "http").mkdir()
    (package / "http" / ".regen-provenance.json").write_text("{}\n")  # in a managed folder: the client's content
    assert sdk_fingerprint(sdk) != quiet


@pytest.mark.parametrize("stored, installed_now, expected", [
    ("abc", False, False), ("abc", True, False),  # unchanged
    ("old", True, True), ("old", False, True),  # changed: uv keeps the old copy, -R skips installs
    (None, True, False),  # fresh venv: just installed from this tree
    (None, False, True),  # -R on a venv that never recorded a fingerprint
])
def test_needs_reinstall(stored: str, installed_now: bool, expected: bool) -> None:
    assert needs_reinstall(stored, "abc", installed_now) is expected


def test_the_fingerprint_never_reads_a_fifo_or_follows_a_symlink(tmp_path: Path) -> None:
    sdk = tmp_path / "sdk"
    (sdk / "src" / "pkg").mkdir(parents=True)
    (sdk / "src" / "pkg" / "a.py").write_text("A = 1\n")
    os.mkfifo(sdk / "src" / "pkg" / "pipe")
    (sdk / "src" / "pkg" / "zero.py").symlink_to("/dev/zero")
    code = ("import sys; from pathlib import Path; from conductor_regen.matrix.session_sdk import sdk_fingerprint; "
            "print(sdk_fingerprint(Path(sys.argv[1])))")
    # In a child with a deadline: reading either would block or never end.
    done = subprocess.run([sys.executable, "-c", code, str(sdk)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and len(done.stdout.strip()) == 64, done.stderr
    first = sdk_fingerprint(sdk)
    (sdk / "src" / "pkg" / "zero.py").unlink()
    (sdk / "src" / "pkg" / "zero.py").symlink_to("/dev/null")  # another target is another tree
    assert sdk_fingerprint(sdk) != first


def test_requirements_key_follows_packaging_and_extras_not_the_location(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for sdk in (one, two):
        (sdk / "src").mkdir(parents=True)
        (sdk / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (two / "src" / "edited.py").write_text("x = 1\n")
    key = requirements_key(one, ["pytest>=8"])
    assert requirements_key(two, ["pytest>=8"]) == key  # another copy, other code: the same requirements
    assert requirements_key(one, ["pytest>=9"]) != key
    assert requirements_key(one, ["pytest>=8", "mypy"]) != key
    (two / "pyproject.toml").write_text("[project]\nname = 'x'\ndependencies = ['httpx']\n")
    assert requirements_key(two, ["pytest>=8"]) != key


def test_install_state_round_trips_and_reads_the_older_marker(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    assert InstallState.read(marker) is None
    InstallState("req", "sdk").write(marker)
    assert InstallState.read(marker) == InstallState("req", "sdk")
    marker.write_text("abc\n")  # written before requirements were recorded: the SDK is known, they are not
    assert InstallState.read(marker) == InstallState("", "abc")
    marker.write_text("")
    assert InstallState.read(marker) is None


@pytest.mark.parametrize("stored, expected", [
    (None, True),  # a fresh virtualenv
    (InstallState("req", "other"), False),  # the same requirements, another tree: the SDK alone is reinstalled
    (InstallState("req", "sdk"), False),
    (InstallState("older", "sdk"), True),
    (InstallState("", "sdk"), True),  # an older marker
])
def test_needs_install_only_when_the_requirements_changed(stored: InstallState, expected: bool) -> None:
    assert needs_install(stored, InstallState("req", "sdk")) is expected


def test_requirements_are_recorded_only_once_installed() -> None:
    now = InstallState("req", "sdk")
    assert recorded(None, now, installed_now=True) == now
    assert recorded(InstallState("req", "old"), now, installed_now=False) == now  # nothing needed installing
    # -R skipped the install they needed: the SDK is recorded (it was reinstalled), the requirements are not.
    assert recorded(None, now, installed_now=False) == InstallState("", "sdk")
    assert recorded(InstallState("older", "old"), now, installed_now=False) == InstallState("older", "sdk")
    assert needs_install(recorded(None, now, installed_now=False), now)  # so the next run installs them


def test_server_settings_are_named_never_shown() -> None:
    assert "CONDUCTOR_SERVER_URL" in (server_skip_reason({}) or "")
    assert server_skip_reason({"CONDUCTOR_SERVER_URL": "http://x/api"}) is None
    note = server_note({"CONDUCTOR_SERVER_URL": "http://u:pw@x/api", "CONDUCTOR_AUTH_KEY": "k3y",
                           "CONDUCTOR_AUTH_SECRET": "s3cret"})
    assert "CONDUCTOR_AUTH_KEY set" in note and "CONDUCTOR_AUTH_SECRET set" in note
    assert "pw" not in note and "k3y" not in note and "s3cret" not in note


# --- the nox command -----------------------------------------------------------------------------

def test_nox_command(tmp_path: Path) -> None:
    cmd = nox_command(Path("rel/sdk"), ["async_unit", "serdeser"], ["3.11", "3.12"], ["-k", "search"],
                         junit_dir=tmp_path / "j", report=tmp_path / "r.json", envdir=Path("envs"), reuse=True)
    assert cmd[:5] == [sys.executable, "-m", "nox", "-f", str(NOXFILE)]
    assert cmd[5:12] == ["-s", "async_unit", "serdeser", "-p", "3.11", "3.12", "--envdir"]
    assert cmd[12] == str(Path("envs").resolve())
    sep = cmd.index("--")
    assert cmd[sep - 3:sep] == ["--report", str(tmp_path / "r.json"), "-R"]
    assert cmd[sep + 1:] == ["--sdk", str(Path("rel/sdk").resolve()), "--junit-dir", str(tmp_path / "j"),
                             "-k", "search"]
    assert Path(cmd[sep + 2]).is_absolute()
    plain = nox_command(tmp_path, pythons=())
    assert "-p" not in plain and plain[plain.index("-s") + 1] == "async_tests"
    # -p would drop lint and typecheck (nox's own Python): the pytest sessions are named with theirs.
    mixed = nox_command(tmp_path, ["async_tests", "lint", "typecheck"], ["3.11"])
    assert "-p" not in mixed and mixed[mixed.index("-s") + 1:mixed.index("-s") + 4] == [
        "async_tests-3.11", "lint", "typecheck"]


def test_pythons_are_checked_against_the_matrix_and_the_machine(tmp_path: Path) -> None:
    check_pythons([current_python()], {"PATH": ""})
    with pytest.raises(ConfigError, match="unknown Python version.*3.99"):
        check_pythons(["3.99"], {})
    other = next(p for p in PYTHONS if p != current_python())
    # No pyenv, nothing on PATH: the interpreter is missing, and that is said before any work.
    with pytest.raises(ConfigError, match=f"no interpreter for Python {other}"):
        check_pythons([other], {"PATH": str(tmp_path), "PYENV_ROOT": str(tmp_path)})


def test_unknown_session_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown test session.*async_units, lint-x"):
        nox_command(tmp_path, ["async_units", "async_unit-3.12", "lint-x"])
    assert nox_command(tmp_path, ["async_unit-3.12"])[6] == "async_unit-3.12"


def test_run_matrix_refuses_a_non_sdk(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="asyncio_client"):
        run_matrix(tmp_path)


# --- JUnit and summaries -------------------------------------------------------------------------

PYTEST_JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="4" time="1.25">
<testcase classname="tests.unit.orkes.test_async_workflow_client" name="test_start" time="0.01" />
<testcase classname="tests.unit.orkes.test_async_workflow_client" name="test_search_workflows" time="0.02">
<failure message="AttributeError: 'WorkflowResourceApiAdapter' object has no attribute 'search'&#10;second line">
tb</failure></testcase>
<testcase classname="tests.unit.orkes.test_async_task_client" name="test_skip" time="0"><skipped message="x"/></testcase>
<testcase classname="tests.unit.orkes.test_async_task_client" name="test_poll" time="0.01" />
</testsuite></testsuites>
"""

COLLECTION_ERROR_JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="0" skipped="0" tests="1" time="0.3">
<testcase classname="" name="tests.unit.orkes.test_async_workflow_client" time="0.0">
<error message="collection failure">tests/unit/orkes/test_async_workflow_client.py:3: in &lt;module&gt;
    from conductor.asyncio_client.adapters.api import x
E   ImportError: cannot import name 'x'
E   second</error></testcase></testsuite></testsuites>
"""

MYPY_JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuite errors="0" failures="1" name="mypy" skips="0" tests="1" time="2.0">
  <testcase classname="mypy" file="mypy" line="1" name="mypy-py3_11-linux" time="2.0">
    <failure message="mypy produced messages">src/conductor/asyncio_client/x.py:1: error: Bad [misc]
src/conductor/asyncio_client/y.py:2: error: Worse [misc]</failure>
  </testcase>
</testsuite>
"""


def test_parse_pytest_junit(tmp_path: Path) -> None:
    path = tmp_path / "j.xml"
    path.write_text(PYTEST_JUNIT)
    j = parse_junit(path)
    assert (j.passed, j.failed, j.skipped, j.seconds) == (2, 1, 1, 1.25)
    assert j.first_failure == "tests.unit.orkes.test_async_workflow_client::test_search_workflows"
    assert j.message == "AttributeError: 'WorkflowResourceApiAdapter' object has no attribute 'search'"


def test_parse_collection_error_and_mypy_junit(tmp_path: Path) -> None:
    path = tmp_path / "j.xml"
    path.write_text(COLLECTION_ERROR_JUNIT)
    j = parse_junit(path)
    assert (j.passed, j.failed) == (0, 1)
    assert j.first_failure == "tests.unit.orkes.test_async_workflow_client"
    assert j.message == "ImportError: cannot import name 'x'"
    path.write_text(MYPY_JUNIT)
    j = parse_junit(path)
    assert (j.failed, j.first_failure) == (1, "mypy::mypy-py3_11-linux")
    assert j.message == "src/conductor/asyncio_client/x.py:1: error: Bad [misc]"


def test_unreadable_junit(tmp_path: Path) -> None:
    (tmp_path / "bad.xml").write_text("<testsuites")
    with pytest.raises(Exception, match="cannot read JUnit"):
        parse_junit(tmp_path / "bad.xml")


def _report(*entries: Dict[str, Any]) -> Dict[str, Any]:
    return {"result": 0, "sessions": list(entries)}


def test_results_from_nox_report(tmp_path: Path) -> None:
    (tmp_path / "async_unit-3.11.xml").write_text(PYTEST_JUNIT)
    (tmp_path / "lint.txt").write_text("src/a.py:1:80: E501 line too long\nsrc/b.py:2:1: F401 unused\n")
    report = _report(
        {"name": "async_unit", "signatures": ["async_unit-3.11"], "args": {}, "result": "failed",
         "reason": "Command python -m pytest failed with exit code 1", "duration": 4.26},
        {"name": "ai_telemetry", "signatures": ["ai_telemetry-3.11"], "args": {}, "result": "skipped",
         "reason": "none of guide 5.4's test paths are in this checkout", "duration": 0.1},
        {"name": "serdeser", "signatures": ["serdeser-3.12"], "args": {}, "result": "failed",
         "reason": "Command uv pip install failed with exit code 2\nmore", "duration": 1.0},
        {"name": "lint", "signatures": ["lint"], "args": {}, "result": "failed", "reason": "x", "duration": 2.0},
        {"name": "async_tests", "signatures": ["async_tests-3.9"], "args": {}, "result": "skipped",
         "reason": "Python interpreter 3.9 not found.", "duration": 0.0},
    )
    unit, ai, serdeser, lint, missing = results_from_report(report, tmp_path)
    assert (unit.session, unit.python, unit.result, unit.passed, unit.failed, unit.seconds) == \
        ("async_unit", "3.11", "failed", 2, 1, 4.3)
    assert unit.detail == ("FAILED tests.unit.orkes.test_async_workflow_client::test_search_workflows: "
                           "AttributeError: 'WorkflowResourceApiAdapter' object has no attribute 'search'")
    assert ai.as_row() == {"session": "ai_telemetry", "python": "3.11", "result": "skipped", "verdict": "",
                           "detail": "skipped: none of guide 5.4's test paths are in this checkout"}
    assert serdeser.detail == "FAILED: Command uv pip install failed with exit code 2"
    assert (lint.python, lint.failed, lint.first_failure) == ("", 2, "src/a.py:1:80")
    assert lint.as_row()["python"] == "-"
    assert missing.detail == "skipped: Python interpreter 3.9 not found."


def test_passed_detail_counts() -> None:
    r = SessionResult("async_tests", "3.11", "passed", passed=37, skipped=2, seconds=5.0)
    assert r.detail == "37 passed, 2 skipped"
    assert SessionResult("a", "3.11", "passed", passed=3).as_row()["detail"] == "3 passed"


def test_format_summary_table() -> None:
    results = [
        SessionResult("async_unit", "3.11", "passed", passed=26, seconds=4.04),
        SessionResult("async_tests", "3.12", "failed", passed=33, failed=1, seconds=5.5,
                         first_failure="t::test_x", message="AssertionError: boom"),
        SessionResult("ai_telemetry", "3.11", "skipped", seconds=0.1, message="no paths"),
        SessionResult("lint", "", "passed", passed=1, seconds=1.0),
    ]
    lines = format_summary(results)
    assert lines[0].split() == ["session", "python", "result", "verdict", "passed", "failed", "skipped",
                                "seconds", "detail"]
    assert lines[1].split() == ["async_unit", "3.11", "passed", "-", "26", "0", "0", "4.0"]
    assert lines[2].endswith("FAILED t::test_x: AssertionError: boom")
    assert lines[3].split()[:8] == ["ai_telemetry", "3.11", "skipped", "-", "-", "-", "-", "0.1"]
    assert lines[4].split()[:2] == ["lint", "-"]
    assert lines[-1] == "4 session(s): 2 passed, 1 failed, 1 skipped"
    # Columns line up: every row's result column starts at the same offset.
    offsets = {line.index(word) for line, word in zip(lines[1:5], ["passed", "failed", "skipped", "passed"])}
    assert len(offsets) == 1
    long = format_summary([SessionResult("a", "3.11", "failed", message="x" * 400)])
    assert long[1].endswith("...") and len(long[1]) < 240
