"""Where the suite's CPU goes: `python -m pytest -n0 -p support.cpu_map [--cpu-map FILE]` (a pytest plugin).

A test's cost is mostly in its children: the CLI forked from a warm server, nox, the SDK's tests, the JVM, uv,
git. Some are no child of the worker (the warm server reaps its own) and some outlive the test briefly, so
neither this process's times nor its children's see them all. The machine's CPU counters (/proc/stat) do:
serially (`-n0`) and on an otherwise idle machine, a test's share is what the whole machine spent while it ran.
The summary at the end lists the modules and tests that cost most; `--cpu-map FILE` keeps every test's figures
(node id, wall seconds, CPU seconds) as tab-separated lines. Under pytest-xdist the tests overlap and the
figures mean nothing, so the plugin says so and stays out of the way.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

_ROWS = pytest.StashKey[List[Tuple[str, float, float]]]()
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_cpu_seconds() -> Optional[float]:
    """CPU seconds the whole machine has spent busy since boot (None without /proc/stat)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = [int(v) for v in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / _TICKS


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--cpu-map", metavar="FILE", type=Path, default=None,
                     help="support.cpu_map: write each test's node id, wall and CPU seconds to FILE (tab-separated)")


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # the controller says why, once
    if config.getoption("numprocesses", None) not in (None, 0, "0"):
        config.issue_config_time_warning(
            pytest.PytestConfigWarning("support.cpu_map measures the whole machine: run it with -n0"), stacklevel=2)
        return
    if machine_cpu_seconds() is None:
        config.issue_config_time_warning(
            pytest.PytestConfigWarning("support.cpu_map needs /proc/stat (Linux)"), stacklevel=2)
        return
    config.stash[_ROWS] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    rows = item.config.stash.get(_ROWS, None)
    started, cpu = time.monotonic(), machine_cpu_seconds()
    yield
    if rows is not None and cpu is not None:
        rows.append((item.nodeid, time.monotonic() - started, (machine_cpu_seconds() or cpu) - cpu))


def summary(rows: List[Tuple[str, float, float]], top: int = 15) -> List[str]:
    """The lines the run ends with: the total, then the costliest modules and tests."""
    modules: Dict[str, List[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for nodeid, wall, cpu in rows:
        totals = modules[nodeid.split("::")[0]]
        totals[0] += cpu
        totals[1] += wall
        totals[2] += 1
    lines = [f"{sum(r[2] for r in rows):.1f} CPU-s in {len(rows)} tests ({sum(r[1] for r in rows):.1f} s of wall time)",
             "", "    CPU-s    wall  tests  module"]
    for name, (cpu, wall, count) in sorted(modules.items(), key=lambda m: -m[1][0])[:top]:
        lines.append(f"  {cpu:7.1f} {wall:7.1f} {int(count):6d}  {name}")
    lines += ["", "    CPU-s    wall  test"]
    lines += [f"  {cpu:7.1f} {wall:7.1f}  {nodeid}" for nodeid, wall, cpu in sorted(rows, key=lambda r: -r[2])[:top]]
    return lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    rows = config.stash.get(_ROWS, None)
    if not rows:
        return
    terminalreporter.write_sep("=", "CPU by module and test (support.cpu_map; the whole machine's, serially)")
    for line in summary(rows):
        terminalreporter.write_line(line)
    target: Optional[Path] = config.getoption("cpu_map")
    if target is not None:
        target.write_text("".join(f"{n}\t{w:.2f}\t{c:.2f}\n" for n, w, c in rows), encoding="utf-8")
        terminalreporter.write_line(f"every test's figures: {target}")
