"""The SDK's own environment for the import gate: a uv-built virtualenv with the SDK and its declared dependencies.

The gate used to import the SDK in this tool's interpreter, which lacks the SDK's dependencies
(prometheus_client, dacite, shortuuid), so the modules needing them were excused on every run and never
checked. The virtualenv is built the way the test sessions build theirs (uv, the SDK installed from its
checkout with its dependencies) and kept in the cache, keyed by the SDK's packaging files and the
Python version, so a second run reuses it. The checkout's `src/` goes first on sys.path, so the tree
being checked is the live one, not the copy installed into the virtualenv.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from conductor_regen.child_env import Limit, child_env, run
from conductor_regen.errors import VerificationError

log = logging.getLogger(__name__)

# The files that decide what `pip install <checkout>` installs.
PACKAGING_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "poetry.lock")
READY = ".regen-ready"
INSTALL_TIMEOUT = 900.0  # the default of the install_timeout setting


def env_key(sdk_root: Path, python: str) -> str:
    """Hash of the SDK's packaging files and the Python version: a new key means a new virtualenv."""
    digest = hashlib.sha256(python.encode())
    for name in PACKAGING_FILES:
        path = sdk_root / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"-") + b"\0")
    return digest.hexdigest()[:16]


def _run(cmd: list[str], what: str, timeout: float) -> None:
    """Run one uv command in its own process group; past `timeout` the group (uv and its builds) is killed."""
    limit = Limit(timeout, what, "install_timeout", "check the network or the package index", VerificationError)
    try:
        done = run(cmd, limit, text=True, env=child_env())
    except OSError as exc:
        raise VerificationError(f"{what} failed: cannot run {cmd[0]}: {exc}", "reinstall uv") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
        raise VerificationError(f"{what} failed: {last}", "check the network, the package index or the SDK's "
                                "declared dependencies")


def sdk_python(sdk_root: Path, cache_dir: Path, python: str, timeout: float = INSTALL_TIMEOUT) -> Path:
    """The interpreter of a virtualenv holding the SDK and its declared dependencies (built once, then reused).

    Each uv command may run `timeout` seconds (install_timeout).
    """
    uv = shutil.which("uv")
    if uv is None:
        raise VerificationError("uv is not installed, so the SDK's environment cannot be built",
                                'install the dev dependencies (python -m pip install -e ".[dev]")')
    envs = Path(cache_dir).resolve() / "sdk-envs"
    venv = envs / f"py{python}-{env_key(sdk_root, python)}"
    exe = venv / "bin" / "python"
    if (venv / READY).is_file() and exe.exists():
        return exe
    envs.mkdir(parents=True, exist_ok=True)
    # Built beside and renamed into place: a run killed halfway leaves no half-made environment behind.
    work = Path(tempfile.mkdtemp(prefix=".building-", dir=envs))
    try:
        _run([uv, "venv", "-q", "--python", python, str(work / "venv")], f"creating a Python {python} virtualenv", timeout)
        _run([uv, "pip", "install", "-q", "--python", str(work / "venv" / "bin" / "python"), str(sdk_root)],
             f"installing {sdk_root.name} and its dependencies", timeout)
        (work / "venv" / READY).write_text(python + "\n", encoding="utf-8")
        try:
            os.rename(work / "venv", venv)
        except OSError:
            if not (venv / READY).is_file():  # another run finished first, else it is a real failure
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Bytecode for its packages, compiled where they now are (so tracebacks name these paths): the import
    # gate runs with PYTHONDONTWRITEBYTECODE, and would otherwise compile pydantic and the rest on every run.
    run([str(exe), "-m", "compileall", "-q", "-j", "0", str(venv / "lib")],
        Limit(timeout, "compiling the SDK environment's bytecode", "install_timeout",
              "a slow disk or a huge dependency: raise the setting", VerificationError),
        env=child_env())
    log.info("built the SDK's environment in %s", venv)
    return exe
