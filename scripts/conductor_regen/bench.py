"""Benchmark `invoke generate` against the raw generator command, in the same run.

Usage: python -m conductor_regen.bench [SPEC] [--repeat N]
Prints wall seconds and peak RSS (the process tree's largest member) and the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Sequence, Tuple

from .config import GeneratorConfig, resolve_settings
from .fixups import apply_fixups
from .generator_backends import build_invocation
from .spec_intake import dump_spec, load_spec

DEFAULT_SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "orkes-conductor-api-v2.json"
PROJECT = Path(__file__).resolve().parents[2]


def measure(argv: Sequence[str], cwd: Path) -> Tuple[float, int]:
    """Run a command; return (wall seconds, peak RSS in MiB of the largest process in its tree)."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait4's rusage covers the child and its waited-for descendants (the JVM under invoke).
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(argv)}\n{err[-2000:]}")
    if proc.stderr:
        proc.stderr.close()
    return wall, usage.ru_maxrss // 1024


def main(args: List[str]) -> int:
    """Run both commands `--repeat` times and print medians and ratios."""
    parser = argparse.ArgumentParser(prog="python -m conductor_regen.bench")
    parser.add_argument("spec", nargs="?", default=str(DEFAULT_SPEC))
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args(args)
    spec = Path(opts.spec)
    if not spec.is_file():
        print(f"spec {spec} not found; pass a spec path", file=sys.stderr)
        return 2
    settings = resolve_settings()
    with tempfile.TemporaryDirectory(prefix="regen-bench-") as tmp:
        work = Path(tmp)
        # The raw command gets the same repaired input and options: only our overhead differs.
        fixed, _ = apply_fixups(load_spec(str(spec), settings.fetch).document, settings.fixups)
        (work / "spec.json").write_bytes(dump_spec(fixed))
        raw_inv = build_invocation(GeneratorConfig(), work / "spec.json", work / "raw", work / "cache")
        ours = [sys.executable, "-m", "invoke", "--search-root", str(PROJECT), "generate", "--spec",
                str(spec), "--output", str(work / "ours"), "--no-cache"]
        raw_runs, our_runs = [], []
        for _ in range(opts.repeat):
            raw_runs.append(measure(raw_inv.argv, work))
            our_runs.append(measure(ours, work))
    rw, rm = statistics.median(r[0] for r in raw_runs), max(r[1] for r in raw_runs)
    ow, om = statistics.median(r[0] for r in our_runs), max(r[1] for r in our_runs)
    print(f"spec: {spec} ({spec.stat().st_size // 1024} KiB), {opts.repeat} run(s) each, median wall")
    print(f"{'command':34} {'wall s':>8} {'peak MiB':>9}")
    print(f"{'raw generator (same options)':34} {rw:8.2f} {rm:9d}")
    print(f"{'invoke generate (all steps)':34} {ow:8.2f} {om:9d}")
    print(f"ratio wall {ow / rw:.2f}x (target <= 1.3x), peak {om / max(rm, 1):.2f}x; "
          f"targets: <= 15 s wall, <= 1024 MiB peak")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
