"""Real nox sessions (real virtualenvs, real pytest) against copies of the example SDK.

One nox envdir is shared by the whole pytest run, so each session's venv is built once
(uv makes that a few seconds); later runs reuse it. Only the running Python is asked for
(`-p X.Y`), so CI never needs another interpreter. The green `async_unit` run on an untouched copy
is made once for the module: one test judges it, another starts from the venv it leaves.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest
from support.module_runs import ModuleRun, run_on_example_copy
from support.paths import EXAMPLE_SDK, REPO
from support.sdk_copies import sdk_digest

from conductor_regen.matrix.interpreters import PYTHONS, current_python
from conductor_regen.matrix.results import format_summary, parse_junit, session_output
from conductor_regen.matrix.runner import gate, run_matrix

NOXFILE = REPO / "noxfile.py"
PY = current_python()
SERVER_VARS = ("CONDUCTOR_SERVER_URL", "CONDUCTOR_AUTH_KEY", "CONDUCTOR_AUTH_SECRET", "CONDUCTOR_SDK_ROOT")

pytestmark = [pytest.mark.e2e,  # runs nox sessions
              pytest.mark.skipif(PY not in PYTHONS, reason=f"the matrix has no Python {PY}")]


def clean_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVER_VARS}
    env.update(extra)
    return env


def nox(envdir: Path, *args: str, posargs: tuple[str, ...] = (), cwd: Optional[Path] = None,
        env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "nox", "-f", str(NOXFILE), "--envdir", str(envdir), "-p", PY, *args,
           "--", *posargs]
    return subprocess.run(cmd, cwd=cwd or envdir, env=env or clean_env(), capture_output=True, text=True,
                          timeout=300, check=False)


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def installed_copy(envdir: Path, session: str, rel: str) -> Path:
    venv = envdir / f"{session}-{PY.replace('.', '-')}"
    hits = list(venv.glob(f"lib/python*/site-packages/{rel}"))
    assert len(hits) == 1, f"{rel} not installed in {venv}"
    return hits[0]


@pytest.fixture
def junit(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "junit"


@pytest.fixture(scope="module")
def green_run(envdir: Path, tmp_path_factory: pytest.TempPathFactory) -> ModuleRun:
    """The plain async_unit run on a fresh copy, once for the module (it also leaves the session's venv built)."""
    return run_on_example_copy(tmp_path_factory, "green", lambda sdk, junit: nox(
        envdir, "-s", "async_unit", posargs=("--sdk", str(sdk), "--junit-dir", str(junit))))


def test_green_on_the_example_sdk_and_the_tree_stays_byte_identical(green_run: ModuleRun) -> None:
    proc = green_run.proc
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = parse_junit(green_run.junit / f"async_unit-{PY}.xml")
    assert (result.passed, result.failed) == (26, 0)
    assert sdk_digest(green_run.sdk) == green_run.before  # no __pycache__, .pytest_cache, build/ or egg-info
    assert tree_digest(green_run.sdk) == tree_digest(EXAMPLE_SDK)


def test_red_when_an_adapter_is_broken(envdir: Path, sdk: Path, junit: Path) -> None:
    adapter = sdk / "src/conductor/asyncio_client/adapters/api/workflow_resource_api.py"
    adapter.write_text('raise ImportError("adapter deliberately broken")\n' + adapter.read_text())
    proc = nox(envdir, "-s", "async_unit", posargs=("--sdk", str(sdk), "--junit-dir", str(junit)))
    assert proc.returncode != 0
    assert "adapter deliberately broken" in proc.stdout + proc.stderr
    assert "Session async_unit-" in proc.stderr and "failed" in proc.stderr


def test_renamed_generated_method_fails_the_gate_with_the_test_named(envdir: Path, sdk: Path, junit: Path) -> None:
    api = sdk / "src/conductor/asyncio_client/http/api/workflow_resource_api.py"
    text = api.read_text()
    assert "    async def search(\n" in text
    api.write_text(text.replace("    async def search(\n", "    async def search1(\n"))
    captured: list[str] = []
    results = run_matrix(sdk, ("async_unit",), (PY,), envdir=envdir, junit_dir=junit, stream=False,
                            env=clean_env(), captured=captured)
    assert [(r.session, r.python, r.result) for r in results] == [("async_unit", PY, "failed")]
    # `invoke test` shows just this part of nox's output, for the failing session only.
    section = session_output(captured[0], f"async_unit-{PY}")
    assert section.startswith(f"nox > Running session async_unit-{PY}") and "test_search_workflows" in section
    assert session_output(captured[0], f"serdeser-{PY}") == ""
    (result,) = results
    assert (result.passed, result.failed) == (25, 1)
    assert result.first_failure.endswith("test_async_workflow_client::test_search_workflows")
    assert "search" in result.message and "Error" in result.message
    lines = format_summary(results)
    assert "failed" in lines[1] and "test_search_workflows" in lines[1]
    ok, rows = gate(sdk, ("async_unit",), (PY,), envdir=envdir, junit_dir=junit, env=clean_env())
    assert ok is False
    assert rows[0]["result"] == "failed" and rows[0]["detail"].startswith("FAILED ")


def test_sdk_reinstalled_when_the_checkout_changes_even_with_dash_R(envdir: Path, green_run: ModuleRun, sdk: Path,
                                                                    junit: Path) -> None:
    # The venv exists and holds the SDK and its requirements: the green run (without -R) installed them.
    assert green_run.proc.returncode == 0, green_run.proc.stdout + green_run.proc.stderr
    posargs = ("--sdk", str(sdk), "--junit-dir", str(junit))
    init = sdk / "src/conductor/asyncio_client/__init__.py"
    init.write_text(init.read_text() + 'REGEN_MARKER = "changed"\n')
    proc = nox(envdir, "-R", "-s", "async_unit", posargs=posargs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reinstalling the SDK" in proc.stderr
    assert "uv pip install" not in proc.stderr.replace("uv pip install --compile-bytecode --reinstall", "")  # -R skipped the rest
    installed = installed_copy(envdir, "async_unit", "conductor/asyncio_client/__init__.py")
    assert 'REGEN_MARKER = "changed"' in installed.read_text()
    # Compiled at install: with PYTHONDONTWRITEBYTECODE set, each test run would otherwise compile it all again.
    assert list((installed.parent / "__pycache__").glob("__init__.*.pyc"))
    again = nox(envdir, "-R", "-s", "async_unit", posargs=posargs)
    assert again.returncode == 0 and "reinstalling" not in again.stderr


def test_missing_paths_skip_and_integration_needs_a_server(envdir: Path, sdk: Path, junit: Path) -> None:
    results = run_matrix(sdk, ("ai_telemetry", "async_integration"), (PY,), envdir=envdir,
                            junit_dir=junit, stream=False, env=clean_env())
    by_name = {r.session: r for r in results}
    assert by_name["ai_telemetry"].result == "skipped"
    assert by_name["ai_telemetry"].message == "none of guide 5.4's test paths are in this checkout"
    assert by_name["async_integration"].result == "skipped"
    assert by_name["async_integration"].message.startswith("set CONDUCTOR_SERVER_URL")
    ok, rows = gate(sdk, ("ai_telemetry",), (PY,), envdir=envdir, junit_dir=junit, env=clean_env())
    assert ok is False and rows[0]["result"] == "skipped"  # nothing ran: not a pass


def test_integration_runs_with_a_server_and_never_prints_secrets(envdir: Path, sdk: Path, junit: Path) -> None:
    env = clean_env(CONDUCTOR_SERVER_URL="http://user:pa55word@127.0.0.1:9/api",
                    CONDUCTOR_AUTH_KEY="key-1d-123", CONDUCTOR_AUTH_SECRET="s3cr3t-value")
    proc = nox(envdir, "-s", "async_integration", posargs=("--sdk", str(sdk), "--junit-dir", str(junit)), env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "note: tests/integration/client/test_async.py is not in this checkout" in out
    assert "CONDUCTOR_AUTH_SECRET set" in out
    for secret in ("pa55word", "key-1d-123", "s3cr3t-value"):
        assert secret not in out
    assert parse_junit(junit / f"async_integration-{PY}.xml").passed == 3


def test_default_session_from_env_with_a_relative_path(envdir: Path, sdk: Path, junit: Path) -> None:
    # No -s: the default session (async_tests); the SDK comes from CONDUCTOR_SDK_ROOT, relative to the caller.
    proc = nox(envdir, posargs=("--junit-dir", str(junit)), cwd=sdk.parent,
               env=clean_env(CONDUCTOR_SDK_ROOT="sdk"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert f"SDK checkout: {sdk.resolve()}" in out
    for missing in ("tests/unit/ai/test_async_*", "tests/unit/telemetry/test_async_*", "tests/unit/event/test_async_*"):
        assert f"note: {missing} is not in this checkout" in out
    result = parse_junit(junit / f"async_tests-{PY}.xml")
    assert (result.passed, result.failed) == (34, 0)


@pytest.mark.parametrize("posargs, problem", [
    ((), "no SDK checkout given"),
    (("--sdk", "does-not-exist"), "does not exist"),
    (("--sdk", "."), "has no src/conductor/asyncio_client"),
    (("--sdk",), "expected one argument"),
])
def test_usage_errors(envdir: Path, tmp_path: Path, posargs: tuple[str, ...], problem: str) -> None:
    proc = nox(envdir, "-s", "async_unit", posargs=posargs, cwd=tmp_path)
    assert proc.returncode != 0
    assert "Usage: nox -s async_unit -- --sdk PATH" in proc.stderr
    assert problem in proc.stderr


def test_nox_list_reads_like_the_guide() -> None:
    proc = subprocess.run([sys.executable, "-m", "nox", "-f", str(NOXFILE), "-l"], capture_output=True,
                          text=True, check=True, cwd=REPO)
    for name, step in [("async_unit", "5.1"), ("async_integration", "5.2"), ("serdeser", "5.3"),
                       ("pydantic", "5.3"), ("ai_telemetry", "5.4"), ("async_tests", "5.6")]:
        for python in PYTHONS:
            assert f"{name}-{python} [tests] -> Guide {step}:" in proc.stdout
    assert "* async_tests-3.11" in proc.stdout  # the default
    assert "- async_unit-3.11" in proc.stdout
    assert "lint [checks] -> Guide 5.6: the SDK's own linter" in proc.stdout
    assert "typecheck [checks] -> Guide 5.6: mypy" in proc.stdout
    assert "- bench -> Benchmark" in proc.stdout


def test_sessions_that_need_no_server_get_no_credentials(envdir: Path, sdk: Path, junit: Path) -> None:
    # The SDK's tests (and its install) are code we did not write: they must not see the Orkes key.
    probe = sdk / "tests/unit/orkes/test_async_credentials_probe.py"
    probe.write_text("import os\n\n\ndef test_no_credentials():\n"
                     "    assert not [k for k in os.environ if k.startswith('CONDUCTOR_AUTH')]\n")
    results = run_matrix(sdk, ("async_unit",), (PY,), envdir=envdir, junit_dir=junit, stream=False,
                            env=clean_env(CONDUCTOR_AUTH_KEY="key-id", CONDUCTOR_AUTH_SECRET="s3cr3t"))
    assert [(r.session, r.result, r.failed) for r in results] == [("async_unit", "passed", 0)], results
    assert any("test_no_credentials" in x.read_text() for x in junit.glob("async_unit*.xml"))  # the probe ran
