"""The benchmark is a developer's script of the clone (scripts/bench.py, run by `nox -s bench`), not a shipped module."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from support.paths import REPO

import conductor_regen

SCRIPT = REPO / "scripts" / "bench.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = load_script()


def test_it_lives_beside_the_package_not_in_it() -> None:
    package = Path(conductor_regen.__file__).resolve().parent
    assert SCRIPT.is_file() and not list(package.rglob("bench.py"))  # the wheel ships the package folder only
    assert bench.PROJECT == REPO and bench.DEFAULT_SPEC == REPO.parent / "shared" / "specs" / bench.DEFAULT_SPEC.name


def test_it_is_type_checked_with_the_package() -> None:
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        tomllib = pytest.importorskip("tomli")
    files = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]["files"]
    assert "scripts/bench.py" in files


def test_nothing_names_the_old_module() -> None:
    places = [REPO / "README.md", REPO / "noxfile.py", *(REPO / "docs").glob("*.md"),
              *(REPO / "scripts" / "conductor_regen").rglob("*.py")]
    assert [p for p in places if "conductor_regen.commands.bench" in p.read_text(encoding="utf-8")] == []


def test_it_runs_by_its_path() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--help"], cwd=REPO / "docs", capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python scripts/bench.py") and "--repeat" in done.stdout


def test_a_missing_spec_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main([str(tmp_path / "nope.json"), "--repeat", "1"]) == 2
    assert "nope.json not found" in capsys.readouterr().err


def test_measure_gives_wall_time_and_peak_memory(tmp_path: Path) -> None:
    wall, peak = bench.measure([sys.executable, "-c", "x = bytearray(64 * 1024 * 1024)"], tmp_path)
    assert wall > 0 and peak >= 64
    with pytest.raises(SystemExit, match="benchmark command failed"):
        bench.measure([sys.executable, "-c", "raise SystemExit(3)"], tmp_path)
    # An exit code the command gives when it ran (mypy's 1: it found errors) is a measurement, not a failure.
    assert bench.measure([sys.executable, "-c", "raise SystemExit(1)"], tmp_path, ok=(0, 1))[0] > 0


def test_the_real_sdk_ratio_and_its_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    bench._print_real_sdk({"generate": [5.0, 6.0, 7.0], "regenerate": [10.0, 12.0, 13.0], "load": [1.0, 1.5, 1.2]})
    out = capsys.readouterr().out
    assert "ratio regenerate / generate: 2.00x" in out and "goal met" in out
    assert "load average 1.00-1.50" in out
