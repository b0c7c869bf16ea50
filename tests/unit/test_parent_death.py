"""A `kill -9` of the tool takes its children with it (Linux: PR_SET_PDEATHSIG, set by `child_env.start`).

Real processes: a Python parent starts a long `sleep` the way the tool starts its children (`child_env.start`,
the generator's `Running`, a worker thread of a pool waiting for its child), prints the child's pid, and
is SIGKILLed by the test; the child must be gone (or a zombie nobody reaps) soon after. No wall time is
asserted: the loop waits up to a generous deadline and ends as soon as the child is gone.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from conductor_regen.child_env import Limit, die_with_parent, run

pytestmark = [
    pytest.mark.e2e,  # kill -9s a process (the marker's rule), though it takes a second
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's"),
]

DEADLINE = 60.0

# Each parent prints its child's pid on one line, then waits for ever (until the test kills it).
PARENTS = {
    "child_env.start": """
from conductor_regen.child_env import start
proc = start(["sleep", "1000"])
print(proc.pid, flush=True)
""",
    "the generator's Running": """
from pathlib import Path
from conductor_regen.generator.backends import Invocation, Running
log = Path(sys.argv[1]) / "generator.log"
running = Running(Invocation(("sleep", "1000"), cwd=Path(sys.argv[1])), log, timeout=None)
print(running.proc.pid, flush=True)
""",
    "a pool's worker thread, waiting for it": """
from concurrent.futures import ThreadPoolExecutor
from conductor_regen.child_env import Limit, run
pool = ThreadPoolExecutor(max_workers=1)
pool.submit(run, ["sh", "-c", "echo $$; exec sleep 1000"], Limit(None, "sleep"), capture=False)
""",
}


def _alive(pid: int) -> bool:
    """Running (a zombie is not: in a container, pid 1 may never reap the orphan)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _line_from(proc: "subprocess.Popen[str]") -> str:
    """The parent's first line of output, waiting up to the deadline (the parent's stderr if it died first)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            assert line.strip(), proc.stderr.read() if proc.stderr else "no output"
            return line
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "exited"
    raise AssertionError(f"the parent printed no pid within {DEADLINE:g} s")


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + DEADLINE
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def children() -> Iterator[List[int]]:
    """Pids to kill at the end whatever happened (a failing test must not leave a `sleep 1000` behind)."""
    pids: List[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("how", list(PARENTS))
def test_the_child_dies_when_the_tool_is_killed_with_sigkill(how: str, tmp_path: Path, children: List[int]) -> None:
    code = "import sys, time\n" + PARENTS[how] + "time.sleep(1000)\n"
    parent = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    children.append(parent.pid)
    try:
        child = int(_line_from(parent))
        children.append(child)
        assert _alive(child)
        os.kill(parent.pid, signal.SIGKILL)
        assert parent.wait(timeout=DEADLINE) == -signal.SIGKILL
        assert _wait_gone(child), f"the child {child} outlived its parent by {DEADLINE:g} s"
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait()
        for stream in (parent.stdout, parent.stderr):
            if stream is not None:
                stream.close()


def test_a_child_whose_parent_is_already_gone_ends_itself() -> None:
    # The race prctl(2) warns of: the parent died before the setting took effect. Here "the parent" is a
    # pid that is not ours, so the check after prctl finds another parent and the child kills itself.
    hook = die_with_parent(parent=os.getpid() + 1_000_000)
    assert hook is not None
    proc = subprocess.Popen(["sleep", "1000"], preexec_fn=hook)
    try:
        assert proc.wait(timeout=DEADLINE) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_children_that_end_on_their_own_are_unaffected() -> None:
    done = run([sys.executable, "-c", "import os; print(os.getppid())"], Limit(DEADLINE, "a child"), text=True)
    assert done.returncode == 0 and int(done.stdout) == os.getpid()
