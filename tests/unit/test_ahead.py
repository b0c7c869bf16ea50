"""The executor of steps run ahead (conductor_regen.ahead): results, errors, cancellation, sequential mode."""

from __future__ import annotations

import threading
from typing import List

import pytest

from conductor_regen.ahead import Ahead

WAIT = 30.0  # seconds any wait below may take before the test fails instead of hanging


class FakeHandle:
    """Work that runs by itself once launched (as a generator's child process does)."""

    def __init__(self, log: List[str], value: str, fail: bool = False, fail_launch: bool = False) -> None:
        self.log, self.value, self.fail, self.fail_launch = log, value, fail, fail_launch

    def launch(self) -> None:
        self.log.append(f"begin {self.value}")
        if self.fail_launch:
            raise OSError(f"cannot start {self.value}")

    def finish(self) -> str:
        self.log.append(f"finish {self.value}")
        if self.fail:
            raise RuntimeError(f"{self.value} failed")
        return self.value

    def cancel(self) -> None:
        self.log.append(f"cancel {self.value}")


def test_a_step_starts_at_once_and_hands_back_its_result() -> None:
    begun = threading.Event()

    def step(x: int) -> int:
        begun.set()
        return x * 2

    with Ahead() as ahead:
        ahead.start("double", step, 21)
        assert begun.wait(WAIT)  # it ran before anyone asked for its result
        assert ahead.started("double") and not ahead.started("other")
        assert ahead.result("double") == 42
        assert ahead.result("double") == 42  # the same every time, run once


def test_a_step_runs_in_a_thread_of_its_own() -> None:
    with Ahead() as ahead:
        ahead.start("where", threading.get_ident)
        assert ahead.result("where") != threading.get_ident()


def test_a_steps_exception_is_raised_where_its_result_is_taken() -> None:
    def boom() -> None:
        raise ValueError("no good")

    with Ahead() as ahead:
        ahead.start("boom", boom)
        for _ in range(2):
            with pytest.raises(ValueError, match="no good"):
                ahead.result("boom")


def test_a_begun_handle_is_finished_by_its_taker_and_not_cancelled_after() -> None:
    log: List[str] = []
    with Ahead() as ahead:
        ahead.begin("gen", FakeHandle(log, "tree"))
        assert log == ["begin tree"]  # begun at once, in this thread
        assert ahead.result("gen") == "tree" and ahead.result("gen") == "tree"
    assert log == ["begin tree", "finish tree"]


def test_a_handle_that_fails_raises_each_time_and_is_not_cancelled() -> None:
    log: List[str] = []
    with Ahead() as ahead:
        ahead.begin("gen", FakeHandle(log, "tree", True))
        for _ in range(2):
            with pytest.raises(RuntimeError, match="tree failed"):
                ahead.result("gen")
    assert log == ["begin tree", "finish tree"]


def test_an_error_cancels_what_still_runs_and_waits_for_it() -> None:
    log: List[str] = []
    stop = threading.Event()
    ended = threading.Event()

    def slow() -> str:
        stop.wait(WAIT)
        ended.set()
        return "stopped" if stop.is_set() else "timed out"

    with pytest.raises(RuntimeError, match="validation failed"):
        with Ahead() as ahead:
            ahead.begin("gen", FakeHandle(log, "tree"))
            ahead.start("slow", slow, stop=stop.set)
            raise RuntimeError("validation failed")
    assert log == ["begin tree", "cancel tree"]  # the handle was never finished: it is cancelled
    assert stop.is_set() and ended.is_set()  # the thread was told to stop, and waited for


def test_cancel_all_leaves_finished_steps_alone() -> None:
    stops: List[str] = []
    ahead = Ahead()
    ahead.start("quick", lambda: "done", stop=lambda: stops.append("quick"))
    assert ahead.result("quick") == "done"
    ahead.cancel_all()
    assert stops == []


def test_unknown_and_repeated_names_are_refused() -> None:
    with Ahead() as ahead:
        with pytest.raises(KeyError, match="nothing"):
            ahead.result("nothing")
        ahead.start("once", lambda: 1)
        with pytest.raises(ValueError, match="already started"):
            ahead.start("once", lambda: 2)
        assert ahead.result("once") == 1


def test_a_step_may_take_another_steps_result() -> None:
    for sequential in (False, True):
        with Ahead(sequential) as ahead:
            ahead.start("env", lambda: "python3")
            ahead.start("imports", lambda: ahead.result("env") + " -c 'import x'")
            assert ahead.result("imports") == "python3 -c 'import x'"


def test_sequential_mode_runs_each_step_where_it_is_taken_in_this_thread_in_order() -> None:
    ran: List[str] = []
    log: List[str] = []

    def step(name: str) -> int:
        ran.append(name)
        return threading.get_ident()

    with Ahead(sequential=True) as ahead:
        ahead.start("first", step, "first")
        ahead.begin("gen", FakeHandle(log, "tree"))
        ahead.start("second", step, "second")
        ahead.start("never", step, "never")
        assert ran == [] and log == []  # nothing started ahead
        assert ahead.started("first") and ahead.started("gen")
        assert ahead.result("second") == threading.get_ident()
        assert ahead.result("gen") == "tree"
        assert ahead.result("first") == threading.get_ident()
        assert ahead.result("second") == threading.get_ident()  # not run again
    assert ran == ["second", "first"]  # in the order taken; "never" was never taken, so never ran
    assert log == ["begin tree", "finish tree"]  # begun and finished where taken, never cancelled


def test_sequential_mode_raises_a_steps_error_where_it_is_taken() -> None:
    log: List[str] = []
    with Ahead(sequential=True) as ahead:
        ahead.begin("gen", FakeHandle(log, "tree", True))
        with pytest.raises(RuntimeError, match="tree failed"):
            ahead.result("gen")


def test_sequential_mode_drops_steps_never_taken_on_an_error() -> None:
    ran: List[str] = []
    with pytest.raises(RuntimeError):
        with Ahead(sequential=True) as ahead:
            ahead.start("step", ran.append, "step")
            raise RuntimeError("failed first")
    assert ran == []


def test_a_failed_launch_raises_and_cancels_in_either_mode() -> None:
    for sequential in (False, True):
        log: List[str] = []
        with Ahead(sequential) as ahead:
            handle = FakeHandle(log, "tree", fail_launch=True)
            if sequential:
                ahead.begin("gen", handle)  # launched where taken
                assert log == []
                with pytest.raises(OSError, match="cannot start tree"):
                    ahead.result("gen")
            else:
                with pytest.raises(OSError, match="cannot start tree"):
                    ahead.begin("gen", handle)  # launched at once
                assert not ahead.started("gen")
        assert log == ["begin tree", "cancel tree"]


def test_a_handle_never_launched_is_cancelled_in_sequential_mode() -> None:
    log: List[str] = []
    with pytest.raises(RuntimeError):
        with Ahead(sequential=True) as ahead:
            ahead.begin("gen", FakeHandle(log, "tree"))
            raise RuntimeError("validation failed")
    assert log == ["cancel tree"]  # never launched, still told to drop what its making left (a work folder)
