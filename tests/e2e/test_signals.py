"""SIGTERM and SIGHUP (a CI runner's cancel, a closed terminal) end a real run as Ctrl-C does.

Each test starts a real `python -m invoke regenerate` (or `python -m conductor_regen regenerate`) on
a committed copy of the example SDK, lets it pause at one point through the REGEN_TEST_PAUSE_AT hook
(progress.py: a step as it starts, or "committed"), and sends the signal with os.kill to that one
process, as a runner does: nox runs in a session of its own, so nothing but our handling stops it.
Then, each time:

- the exit status is 128 + the signal (143 for SIGTERM, 129 for SIGHUP) and there is one ERROR line,
  naming the signal and what became of the tree, and no traceback;
- no `.regen.lock`, `.regen-journal.json` or `.regen-staging` is left, and `git status` is clean;
- the checkout is byte for byte what it was (or, after the run committed, the new tree with a report
  saying it succeeded);
- no process the run started is left (each carries a tag in its environment; /proc is searched).

The points: while the generator runs (validation), during assembly, during the checks, right after
the swap (the import gate), in the nox test gate (a probe test signals it is running, then sleeps),
after the run committed, and a second and third signal while the first one's rollback runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from support.paths import SPEC_V1, SPEC_V2
from support.sdk_copies import (
    RUN_DEBRIS,
    Digest,
    add_gate_probe,
    backup_dirs,
    cli_env,
    debris,
    git,
    invoke_cmd,
    managed_digest,
    manifest,
    new_sdk,
    pkg,
    sdk_digest,
)

pytestmark = pytest.mark.e2e  # real runs, real signals

TAG_ENV = "REGEN_SIGNAL_TEST_TAG"


@pytest.fixture
def regen_cache(generator_cache: Path) -> Path:
    return generator_cache


class Run:
    """A real regenerate run in a session of its own, paused at chosen points, its processes tagged."""

    def __init__(self, tmp_path: Path, root: Path, cache: Path, spec: Path, *args: str, pause_at: str,
                 program: str = "invoke", **env: str) -> None:
        self.marker = tmp_path / "paused"
        self.out_path = tmp_path / "run.out"
        self.tag = uuid.uuid4().hex
        argv = ["regenerate", "--spec", str(spec), "--sdk", str(root), "--yes", *args]
        cmd = invoke_cmd(*argv) if program == "invoke" else [sys.executable, "-m", "conductor_regen", *argv]
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env=cli_env(tmp_path / "backups", cache, PYTHONUNBUFFERED="1", REGEN_TEST_PAUSE_AT=pause_at,
                            REGEN_TEST_PAUSE_MARKER=str(self.marker), **{TAG_ENV: self.tag}, **env))

    @property
    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def paused_at(self, point: str, timeout: float = 300) -> int:
        """Wait until the run pauses at `point`; its pid."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                pid, where = self.marker.read_text().split("\n")[:2]
                if where == point:
                    return int(pid)
            except (FileNotFoundError, ValueError):
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"the run exited {self.proc.returncode} before pausing at {point!r}:\n"
                                     f"{self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the run did not pause at {point!r}:\n{self.output}")
            time.sleep(0.02)

    def resume(self) -> None:
        self.marker.unlink()

    def signal(self, signum: int) -> None:
        os.kill(self.proc.pid, signum)  # our process alone, as a CI runner does

    def wait(self, timeout: float = 120) -> int:
        return self.proc.wait(timeout=timeout)

    def processes(self) -> List[Tuple[int, str]]:
        """(pid, command line) of every live process (zombies aside) started by this run, the run included."""
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                environ = Path(f"/proc/{name}/environ").read_bytes()
                stat = Path(f"/proc/{name}/stat").read_bytes()
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if f"{TAG_ENV}={self.tag}".encode() in environ.split(b"\0") and stat[stat.rfind(b")") + 2:][:1] != b"Z":
                found.append((int(name), cmdline.strip()))
        return found

    def leftovers(self, timeout: float = 10) -> List[Tuple[int, str]]:
        """What is still running of the run after `timeout` (orphans take a moment to be reaped)."""
        deadline = time.monotonic() + timeout
        while (left := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return left

    def kill(self) -> None:
        """Only for a failed test: end whatever is left of this run (its own processes, by tag)."""
        for pid, _ in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def runs() -> Iterator[List[Run]]:
    started: List[Run] = []
    yield started
    for run in started:
        if run.proc.poll() is None or run.processes():
            run.kill()


def the_error(run: Run) -> str:
    output = run.output
    lines = [line for line in output.splitlines() if line.startswith("ERROR:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output, output
    assert " / hint: " in lines[0], lines[0]
    return lines[0]


def assert_no_debris(root: Path) -> None:
    for name in RUN_DEBRIS:
        assert not (pkg(root) / name).exists(), name
    assert debris(root) == []


def assert_as_before(root: Path, before: Digest) -> None:
    assert_no_debris(root)
    now = sdk_digest(root)
    assert now == before, sorted(set(now.items()) ^ set(before.items()))[:5]
    assert git(root, "status", "--porcelain", "--untracked-files=all") == ""


# --- before the swap: nothing in the SDK changes -----------------------------------------------------

@pytest.mark.parametrize("point,signum,args,program", [
    ("validate spec", signal.SIGTERM, ("--no-cache",), "invoke"),  # the generator (a JVM) runs meanwhile
    ("assemble new tree", signal.SIGTERM, (), "invoke"),
    ("compare APIs", signal.SIGHUP, (), "conductor-regen"),
], ids=["generation", "assembly", "checks-sighup"])
def test_a_signal_before_the_swap_stops_the_run_and_leaves_the_sdk_as_it_was(
        tmp_path: Path, regen_cache: Path, runs: List[Run], point: str, signum: int, args: Tuple[str, ...],
        program: str) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)
    run = Run(tmp_path, root, regen_cache, SPEC_V2, "--skip-tests", *args, pause_at=point, program=program)
    runs.append(run)
    run.paused_at(point)
    children: List[Tuple[int, str]] = []
    if point == "validate spec":
        deadline = time.monotonic() + 60
        while not (children := [p for p in run.processes() if p[0] != run.proc.pid and "java" in p[1]]):
            assert time.monotonic() < deadline, f"the generator did not start:\n{run.output}"
            time.sleep(0.02)

    run.signal(signum)
    code = run.wait()

    assert code == 128 + signum, run.output
    name = signal.Signals(signum).name
    assert the_error(run) == (f"ERROR: interrupted by {name}; the SDK tree was left as it was / hint: run again "
                              "when ready")
    assert run.leftovers() == [], children
    assert_as_before(root, before)
    assert backup_dirs(tmp_path / "backups") == []  # it stopped before the backup


# --- after the swap: rolled back --------------------------------------------------------------------

def test_sigterm_right_after_the_swap_rolls_back(tmp_path: Path, regen_cache: Path, runs: List[Run]) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)
    run = Run(tmp_path, root, regen_cache, SPEC_V2, "--skip-tests", pause_at="import gate")
    runs.append(run)
    run.paused_at("import gate")
    assert managed_digest(root) != managed_digest(new_sdk(tmp_path / "fresh"))  # the new tree is in place

    run.signal(signal.SIGTERM)
    code = run.wait()

    assert code == 143, run.output
    [backup] = backup_dirs(tmp_path / "backups")
    assert the_error(run) == (f"ERROR: interrupted by SIGTERM during the import gate step; backup {backup.name} "
                              "was restored: the SDK tree is as it was / hint: run again when ready")
    assert run.leftovers() == []
    assert_as_before(root, before)
    filed = json.loads((backup / "report.json").read_text())
    assert filed["outcome"] == "rolled-back" and filed["error"].startswith("ERROR: interrupted by SIGTERM")
    assert manifest(backup)["outcome"] == "rolled-back"


def test_sigterm_during_the_nox_test_gate_stops_nox_and_its_tests_and_rolls_back(
        tmp_path: Path, regen_cache: Path, runs: List[Run]) -> None:
    root = new_sdk(tmp_path, mutate=add_gate_probe)
    before = sdk_digest(root)
    probe = tmp_path / "probe.pid"
    run = Run(tmp_path, root, regen_cache, SPEC_V1, pause_at="", GATE_PROBE_MARKER=str(probe))
    runs.append(run)
    deadline = time.monotonic() + 900
    while not (probe.exists() and probe.read_text().strip()):
        assert run.proc.poll() is None, f"the run exited {run.proc.returncode} before its gate ran:\n{run.output}"
        assert time.monotonic() < deadline, f"the gate's tests did not start:\n{run.output}"
        time.sleep(0.1)
    pytest_pid = int(probe.read_text())
    assert any(pid == pytest_pid for pid, _ in run.processes())  # the tests run, in nox's own session
    assert os.getsid(pytest_pid) != os.getsid(run.proc.pid)

    run.signal(signal.SIGTERM)
    code = run.wait()

    assert code == 143, run.output
    [backup] = backup_dirs(tmp_path / "backups")
    assert the_error(run).startswith(f"ERROR: interrupted by SIGTERM during the tests step; backup {backup.name} "
                                     "was restored"), run.output
    assert run.leftovers() == []  # nox, its virtualenv's pytest and the probe: all gone
    assert_as_before(root, before)


def test_a_second_and_third_signal_do_not_cut_the_rollback_short(tmp_path: Path, regen_cache: Path,
                                                                  runs: List[Run]) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)
    run = Run(tmp_path, root, regen_cache, SPEC_V2, "--skip-tests", pause_at="import gate,roll back")
    runs.append(run)
    run.paused_at("import gate")
    run.signal(signal.SIGTERM)
    run.paused_at("roll back")  # the rollback has begun (before restoring anything)

    for again in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # the runner again, an impatient user
        run.signal(again)
        time.sleep(0.2)
    assert run.proc.poll() is None, run.output  # still rolling back: none of them cut it short
    run.resume()
    code = run.wait()

    assert code == 143, run.output  # the first signal's status
    assert "✓ roll back" in run.output, run.output
    [backup] = backup_dirs(tmp_path / "backups")
    assert the_error(run).startswith(f"ERROR: interrupted by SIGTERM during the import gate step; backup "
                                     f"{backup.name} was restored"), run.output
    assert run.leftovers() == []
    assert_as_before(root, before)


# --- after the run committed: the new tree stays, and the line says so --------------------------------

def test_sigterm_after_the_run_committed_keeps_the_new_tree_and_says_so(
        tmp_path: Path, regen_cache: Path, runs: List[Run], expected_v2: Dict[str, Digest]) -> None:
    root = new_sdk(tmp_path)
    run = Run(tmp_path, root, regen_cache, SPEC_V2, "--skip-tests", pause_at="committed")
    runs.append(run)
    run.paused_at("committed")

    run.signal(signal.SIGTERM)
    code = run.wait()

    assert code == 143, run.output
    [backup] = backup_dirs(tmp_path / "backups")
    report = backup / "report.md"
    assert the_error(run) == (
        f"ERROR: interrupted by SIGTERM after the run had committed: the new tree is in place (backup {backup.name} "
        f"holds the previous one; report: {report}) / hint: `invoke restore --backup {backup.name}` puts the "
        "previous tree back if you do not want the new one")
    assert run.leftovers() == []
    assert_no_debris(root)
    assert managed_digest(root) == expected_v2
    status = git(root, "status", "--porcelain", "--untracked-files=all")
    assert not [line for line in status.splitlines() if any(name in line for name in RUN_DEBRIS)], status
    assert json.loads((backup / "report.json").read_text())["outcome"] == "succeeded"
    assert manifest(backup)["outcome"] == "succeeded" and report.is_file()

