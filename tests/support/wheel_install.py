"""A wheel of this project, built from the working tree as a clean clone would have it, and installed the
ways users install it: into a fresh virtualenv (`uv venv` + `uv pip install`), as a uv tool, or with pipx.

Used by tests/e2e/test_installed_tool.py. The runs use an isolated per-user data and cache folder (XDG_*)
but uv's usual package cache, so installing the runtime dependencies stays fast.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from support.paths import REPO
from support.sdk_copies import CliResult


def uv_bin() -> str:
    """The uv program: the one on PATH, else the one the `uv` dependency installed."""
    found = shutil.which("uv")
    if found:
        return found
    from uv import find_uv_bin  # uv is a runtime dependency of conductor-regen

    return str(find_uv_bin())


def uv_cache_dir() -> str:
    """uv's package cache as the caller has it (pinned: the runs below move XDG_CACHE_HOME)."""
    done = subprocess.run([uv_bin(), "cache", "dir"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def pip_cache_dir() -> str:
    """pip's package cache as the caller has it (pipx installs with pip; pinned for the same reason)."""
    done = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def clean_source(dest: Path) -> Path:
    """Copy what a clone of the working tree holds (tracked and new files, nothing ignored) to `dest`."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():  # a file deleted in the working tree is still listed until it is committed
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def build_wheel(source: Path, out: Path, env: Mapping[str, str]) -> Path:
    """`uv build --wheel` (isolated, as any frontend builds it); `pip wheel --no-deps` without uv."""
    try:
        cmd: List[str] = [uv_bin(), "build", "--wheel", "--out-dir", str(out), str(source)]
    except ImportError:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(source)]
    subprocess.run(cmd, check=True, capture_output=True, env=dict(env), timeout=300)
    wheels = sorted(out.glob("conductor_regen-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def wheel_files(wheel: Path) -> List[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def isolated_env(home: Path, **extra: str) -> Dict[str, str]:
    """The environment of a user with nothing configured: per-user folders under `home`, no settings, no
    virtualenv active, no credentials; uv and pip keep their package caches."""
    # Index settings (UV_INDEX_URL, PIP_INDEX_URL, ...) stay: the installs and the sessions' venvs resolve with them.
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("REGEN_", "CONDUCTOR_", "NOX_", "UV_TOOL_", "PIPX_", "INVOKE_"))
            and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT")}
    keep.update(XDG_DATA_HOME=str(home / "data"), XDG_CACHE_HOME=str(home / "cache"),
                XDG_CONFIG_HOME=str(home / "config"), UV_CACHE_DIR=uv_cache_dir(), PIP_CACHE_DIR=pip_cache_dir(),
                PYTHONDONTWRITEBYTECODE="1")
    keep.update(extra)
    return keep


@dataclasses.dataclass(frozen=True)
class Installed:
    """An installed `conductor-regen` program and the environment to run it in."""

    program: Path
    python: Optional[Path]  # the virtualenv's interpreter (None for a uv tool)
    env: Dict[str, str]

    def run(self, *args: str, cwd: Path, timeout: float = 300, **env: str) -> CliResult:
        done = subprocess.run([str(self.program), *args], capture_output=True, text=True, env={**self.env, **env},
                              cwd=cwd, input="", timeout=timeout)
        return CliResult(done.returncode, done.stdout, done.stderr)

    def site_package(self) -> Path:
        """The installed conductor_regen folder (asked of the tool's own interpreter)."""
        python = self.python or Path(os.path.realpath(self.program)).parent / "python"
        done = subprocess.run([str(python), "-c", "import conductor_regen, os; print(os.path.dirname("
                               "conductor_regen.__file__))"], capture_output=True, text=True, check=True,
                              env=self.env, cwd="/")
        return Path(done.stdout.strip())


def install_in_venv(wheel: Path, venv: Path, env: Mapping[str, str]) -> Installed:
    """`uv venv` + `uv pip install WHEEL`: the runtime dependencies only, resolved by uv."""
    uv = uv_bin()
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=dict(env),
                   capture_output=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([uv, "pip", "install", "-q", "--python", str(python), str(wheel)], check=True, env=dict(env),
                   capture_output=True, timeout=600)
    return Installed(venv / "bin" / "conductor-regen", python, dict(env))


def install_as_uv_tool(wheel: Path, tools: Path, env: Mapping[str, str]) -> Installed:
    """`uv tool install WHEEL` into `tools` (UV_TOOL_DIR, UV_TOOL_BIN_DIR): what a user's one install does."""
    tool_env = {**env, "UV_TOOL_DIR": str(tools / "tools"), "UV_TOOL_BIN_DIR": str(tools / "bin")}
    subprocess.run([uv_bin(), "tool", "install", "-q", "--python", sys.executable, str(wheel)], check=True,
                   env=tool_env, capture_output=True, timeout=600)
    return Installed(tools / "bin" / "conductor-regen", None, dict(env))


def install_with_pipx(wheel: Path, tools: Path, env: Mapping[str, str]) -> Installed:
    """`pipx install WHEEL` (pipx itself from PyPI, in a virtualenv of its own; PIPX_HOME and PIPX_BIN_DIR under
    `tools`): the other way a maintainer installs the tool. pipx installs with pip, not uv."""
    uv = uv_bin()
    pipx_venv = tools / "pipx-venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(pipx_venv)], check=True, env=dict(env),
                   capture_output=True, timeout=120)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(pipx_venv / "bin" / "python"), "pipx"], check=True,
                   env=dict(env), capture_output=True, timeout=600)
    pipx_env = {**env, "PIPX_HOME": str(tools / "home"), "PIPX_BIN_DIR": str(tools / "bin"),
                "PIPX_MAN_DIR": str(tools / "man")}
    done = subprocess.run([str(pipx_venv / "bin" / "pipx"), "install", "--python", sys.executable, str(wheel)],
                          env=pipx_env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return Installed(tools / "bin" / "conductor-regen", None, dict(env))


def relative_files(top: Path, skip: Sequence[str] = ("__pycache__",)) -> List[str]:
    """Every file under `top`, relative and sorted, skipping folders named in `skip`."""
    return sorted(p.relative_to(top).as_posix() for p in top.rglob("*")
                  if p.is_file() and not set(skip) & set(p.relative_to(top).parts))
