"""Staged trees for the compat-keep, reference-check, scaffold and edit-detection tests.

A staged tree is what regenerate.assemble() builds before the swap: `staging/http` is a real generated
client (from `invoke generate`, see generated_trees.py) with the local edits applied, and
`staging/adapters`, `staging/orkes` are copies of the example SDK's. A shadow `src` (the example SDK's
src with the managed folders replaced by the staged ones) lets the tests import and run the result.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List

import pytest
from support.generated_trees import invoke_generate
from support.paths import EXAMPLE_SDK, SPEC_V1, SPEC_V2

from conductor_regen.compat.local_edits import apply_edits, load_edits

PACKAGE = "conductor.asyncio_client"
PACKAGE_REL = Path("src/conductor/asyncio_client")
MANAGED = ("http", "adapters", "orkes")
_IGNORE = shutil.ignore_patterns("__pycache__", ".pytest_cache")

PristineHttp = Callable[[str], Path]  # version ("v1"/"v2") -> generated http/ package, one per session


def generate_http(factory: pytest.TempPathFactory, cache: Path, version: str) -> Path:
    """The pristine generated http/ package for spec v1 or v2 (the `pristine_http` fixture keeps one per session)."""
    spec = {"v1": SPEC_V1, "v2": SPEC_V2}[version]
    return invoke_generate(spec, factory.mktemp(f"generated-{version}") / "out", cache)


def copy_example(base: Path, name: str = "sdk") -> Path:
    """A private copy of the example SDK; returns its root."""
    root = base / name
    shutil.copytree(EXAMPLE_SDK, root, ignore=_IGNORE)
    return root


def package_dir(root: Path) -> Path:
    """The async client package folder of an SDK checkout."""
    return root / PACKAGE_REL


def stage(root: Path, generated: Path, staging: Path, edits: bool = True) -> Path:
    """Build a staging folder like assemble(): generated http (+ local edits) and copied adapters/orkes."""
    staging.mkdir(parents=True)
    shutil.copytree(generated, staging / "http", ignore=_IGNORE)
    if edits:
        apply_edits(staging / "http", load_edits())
    for name in MANAGED[1:]:
        shutil.copytree(package_dir(root) / name, staging / name, ignore=_IGNORE)
    return staging


def shadow_src(root: Path, staging: Path, dest: Path) -> Path:
    """A copy of the SDK's src/ with the managed folders replaced by the staged ones; returns it."""
    src = dest / "src"
    shutil.copytree(root / "src", src, ignore=_IGNORE)
    for name in MANAGED:
        shutil.rmtree(package_dir(dest) / name)
        shutil.copytree(staging / name, package_dir(dest) / name, ignore=_IGNORE)
    return src


def digest(top: Path) -> Dict[str, str]:
    """{relative path: sha256} of every file under `top`."""
    return {p.relative_to(top).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(top.rglob("*")) if p.is_file()}


def line_of(path: Path, needle: str) -> int:
    """The 1-based number of the first line of `path` containing `needle`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def run_python(src: Path, code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with `src` first on sys.path (no bytecode written)."""
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=src)


def run_sdk_tests(shadow: Path, example_root: Path) -> subprocess.CompletedProcess:
    """The example SDK's own test suite against a shadow tree (`shadow` holds src/)."""
    for name in ("tests", "pyproject.toml"):
        source = example_root / name
        if source.is_dir():
            shutil.copytree(source, shadow / name, ignore=_IGNORE, dirs_exist_ok=True)
        else:
            shutil.copy2(source, shadow / name)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "tests", "-q", "-rf", "-p", "no:cacheprovider", "-p", "no:benchmark"],
                          capture_output=True, text=True, env=env, cwd=shadow)


def failed_tests(output: str) -> List[str]:
    """Node ids of the FAILED lines in a pytest -rf summary."""
    return sorted(line.split()[1] for line in output.splitlines() if line.startswith("FAILED "))
