"""SIGTERM and SIGHUP end a command as Ctrl-C does; cleanup under `deferred()` is never cut short.

Real signals sent to this process (os.kill(os.getpid(), ...)) while an edge-wrapped command runs,
and real child processes in sessions of their own. The whole-run versions (a real `invoke
regenerate` signalled at several points) are in tests/e2e/test_signals.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from conductor_regen.cli.render import edge
from conductor_regen.checkout import signals
from conductor_regen.checkout.signals import Interrupted, deferred

pytestmark = pytest.mark.usefixtures("edge_logging_restored")




@pytest.fixture(autouse=True)
def _signals_reaching_pytest_fail_the_test() -> Iterator[None]:
    """Should the edge not handle SIGTERM or SIGHUP, the test fails instead of pytest being terminated."""
    def unhandled(signum: int, frame: object) -> None:
        raise AssertionError(f"{signal.Signals(signum).name} reached the test's own handler: the edge ignored it")

    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    for signum in previous:
        signal.signal(signum, unhandled)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _wait_for_signal() -> None:
    """Sleep until the handler raises (it runs at the next bytecode after the signal)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.01)
    pytest.fail("the signal was not acted on")


def _run(command: Callable[[Context], None]) -> Exit:
    with pytest.raises(Exit) as info:
        edge(command)(Context())
    return info.value


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (killed, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except FileNotFoundError:
        return True
    return stat[stat.rfind(b")") + 2:].split()[0] == b"Z"


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_a_signal_ends_a_command_like_ctrl_c_with_its_cleanup(signum: int, code: int) -> None:
    before = {s: signal.getsignal(s) for s in signals.TERMINATING}
    cleaned: List[str] = []

    def command(c: Context) -> None:
        try:
            os.kill(os.getpid(), signum)
            _wait_for_signal()
        finally:
            cleaned.append("finally ran")

    stop = _run(command)

    assert stop.code == code
    name = "Ctrl-C (SIGINT)" if signum == signal.SIGINT else signal.Signals(signum).name
    assert stop.message == (f"ERROR: interrupted by {name}; the SDK tree was left as it was / hint: run again when "
                            "ready")
    assert cleaned == ["finally ran"]
    assert {s: signal.getsignal(s) for s in signals.TERMINATING} == before  # the edge put the handlers back


def test_a_signal_during_a_deferred_block_is_acted_on_when_the_block_ends() -> None:
    done: List[str] = []

    def command(c: Context) -> None:
        with deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler runs meanwhile, and holds the signal
            done.append("block finished")
        done.append("after the block")  # never: the held signal is raised as the block ends

    stop = _run(command)

    assert stop.code == 143 and "interrupted by SIGTERM" in str(stop.message)
    assert done == ["block finished"]


def test_a_second_signal_never_cuts_the_first_ones_cleanup_short() -> None:
    done: List[str] = []

    def command(c: Context) -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            _wait_for_signal()
        finally:
            for again in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):  # an impatient user, then the runner
                os.kill(os.getpid(), again)
                time.sleep(0.05)
            done.append("cleanup finished")

    stop = _run(command)

    assert stop.code == 143 and "SIGTERM" in str(stop.message)  # the first signal decides
    assert done == ["cleanup finished"]


def test_a_signal_held_to_the_end_of_a_finished_command_still_ends_it_non_zero() -> None:
    def command(c: Context) -> None:
        with deferred(act=False):  # e.g. releasing the lock: acted on when the command ends
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.1)

    stop = _run(command)

    assert stop.code == 129
    assert str(stop.message).startswith("ERROR: interrupted by SIGHUP")


def test_after_a_run_committed_the_line_says_the_new_tree_stays() -> None:
    def command(c: Context) -> None:
        signals.note_committed("the new tree is in place (backup B)", "`invoke restore --backup B` puts it back")
        os.kill(os.getpid(), signal.SIGTERM)
        _wait_for_signal()

    stop = _run(command)

    assert stop.code == 143
    assert stop.message == ("ERROR: interrupted by SIGTERM after the run had committed: the new tree is in place "
                            "(backup B) / hint: `invoke restore --backup B` puts it back")
    assert signals.committed() is None  # one command's note does not leak into the next


def test_children_in_sessions_of_their_own_are_stopped_with_their_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    started: "List[subprocess.Popen[bytes]]" = []

    def command(c: Context) -> None:
        # Like nox: its own session (a signal to our process alone never reaches it), and a child of its own.
        # The pids file appears whole (renamed into place), so a half-written one is never read.
        script = f'sleep 1000 & echo "$$ $!" > {pids}.tmp && mv {pids}.tmp {pids}; wait'
        proc = subprocess.Popen(["sh", "-c", script], start_new_session=True)
        started.append(proc)
        deadline = time.monotonic() + 120  # generous: a loaded CI machine can take seconds to fork
        while not pids.exists():
            assert proc.poll() is None, f"the child exited early (rc {proc.returncode})"
            assert time.monotonic() < deadline, "the child did not start"
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        proc.wait()  # interrupted; the handler's sweep kills the child meanwhile

    try:
        stop = _run(command)
        assert stop.code == 143
        child, grandchild = (int(p) for p in pids.read_text().split())
        deadline = time.monotonic() + 60
        while not (_gone(child) and _gone(grandchild)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _gone(child) and _gone(grandchild)
    finally:
        for proc in started:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # only if the test failed: the child is gone otherwise
            except ProcessLookupError:
                pass
            proc.wait()


def test_nothing_keeps_stopping_children_once_the_command_has_ended() -> None:
    # The sweep's thread is joined before the edge returns: left running, its next pass would kill what this
    # process starts after the command (the next command, or the next test's children).
    def command(c: Context) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        _wait_for_signal()

    assert _run(command).code == 143
    assert [t for t in threading.enumerate() if t.name == "stop-children" and t.is_alive()] == []


def test_outside_an_edge_deferred_holds_ctrl_c_until_the_block_ends() -> None:
    # The core used as a library (no edge): Python's own SIGINT handler is kept and gets the signal after.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    done: List[str] = []
    with pytest.raises(KeyboardInterrupt) as info:
        with deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
            done.append("block finished")
    assert done == ["block finished"]
    assert not isinstance(info.value, Interrupted)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
