"""Which Pythons the matrix runs on: the SDK's requires-python and the interpreters this machine has."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from conductor_regen.errors import ConfigError
from conductor_regen.matrix.requirements import poetry_to_pep440

log = logging.getLogger(__name__)

# Interpreters the matrix is parametrized over (the SDK says python >= 3.9).
PYTHONS: Tuple[str, ...] = ("3.9", "3.10", "3.11", "3.12", "3.13")


def current_python() -> str:
    """The running interpreter as X.Y, the form nox's `-p` takes."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


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
