"""The package is typed: mypy --strict (configured in pyproject.toml) passes on it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support.paths import REPO


@pytest.mark.e2e  # a whole-tree check in a subprocess (8 s): the full suite runs it, as `python -m mypy` does
def test_package_passes_mypy_strict() -> None:
    pytest.importorskip("mypy")
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


def test_edges_are_in_mypy_files() -> None:
    """tasks.py and noxfile.py are type-checked with the package, not beside it."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        tomllib = pytest.importorskip("tomli")
    files = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]["files"]
    assert {"scripts/conductor_regen", "noxfile.py", "tasks.py"} <= set(files)
