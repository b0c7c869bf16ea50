"""support.cpu_map, the plugin that says where the suite's CPU goes (README, Development)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.cpu_map import machine_cpu_seconds, summary
from support.paths import REPO

# A test that burns CPU in itself and in a child, one that sleeps, and what each measured of its own.
TINY = textwrap.dedent('''
    import resource, subprocess, sys, time

    def spin(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass

    def cpu():
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time(), child.ru_utime + child.ru_stime

    def test_burns():
        own, child = cpu()
        spin(0.3)
        subprocess.run([sys.executable, "-c", "import time\\nend = time.process_time() + 0.3\\n"
                        "while time.process_time() < end: pass"], check=True)
        own_after, child_after = cpu()
        with open("own.txt", "w") as handle:
            handle.write(f"{own_after - own} {child_after - child}")

    def test_sleeps():
        time.sleep(0.4)
''')


def _tiny_run(tmp_path: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    """pytest with the plugin on TINY, in a folder of its own (no ini file: none of this suite's options)."""
    (tmp_path / "test_tiny.py").write_text(TINY)
    env = dict(os.environ, PYTHONPATH=str(REPO / "tests"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "support.cpu_map", "-p", "no:cacheprovider",
                           *args, "test_tiny.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_the_summary_ranks_modules_and_tests_by_cpu() -> None:
    rows = [("tests/a.py::x", 1.0, 0.5), ("tests/b.py::y", 2.0, 3.0), ("tests/a.py::z", 1.5, 4.0)]
    lines = summary(rows, top=2)
    assert lines[0] == "7.5 CPU-s in 3 tests (4.5 s of wall time)"
    assert lines[2] == "    CPU-s    wall  tests  module"
    assert [line.split() for line in lines[3:5]] == [["4.5", "2.5", "2", "tests/a.py"], ["3.0", "2.0", "1", "tests/b.py"]]
    assert [line.split()[-1] for line in lines[-2:]] == ["tests/a.py::z", "tests/b.py::y"]


@pytest.mark.e2e  # a nested pytest
@pytest.mark.skipif(machine_cpu_seconds() is None, reason="needs /proc/stat")
def test_a_serial_run_maps_each_tests_cpu_children_included(tmp_path: Path) -> None:
    done = _tiny_run(tmp_path, "-n0", "--cpu-map", "map.tsv")
    assert "CPU by module and test" in done.stdout and "every test's figures: map.tsv" in done.stdout, done.stdout
    rows = {n.split("::")[1]: (float(w), float(c)) for n, w, c in
            (line.split("\t") for line in (tmp_path / "map.tsv").read_text().splitlines())}
    assert set(rows) == {"test_burns", "test_sleeps"}
    own, child = (float(v) for v in (tmp_path / "own.txt").read_text().split())
    # The machine's counters hold at least what the test and its child spent (other load only adds to them).
    assert rows["test_burns"][1] >= 0.9 * (own + child) > 0.5, (rows, own, child)
    assert rows["test_sleeps"][0] >= 0.4


@pytest.mark.e2e  # a nested pytest
def test_under_xdist_it_warns_and_measures_nothing(tmp_path: Path) -> None:
    done = _tiny_run(tmp_path, "-n", "1", "--collect-only")
    assert "support.cpu_map measures the whole machine: run it with -n0" in done.stdout + done.stderr
    assert "CPU by module and test" not in done.stdout
