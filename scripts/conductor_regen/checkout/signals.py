"""Stopping on a signal as on Ctrl-C, and cleanup that a signal cannot cut short.

SIGTERM (what CI runners send on cancel) and SIGHUP (a closed terminal) would end the process at
once, skipping every `finally`: the lock, the journal and the staging folder would stay behind, and
a swapped tree would stay in place untested. The edges (`cli/render.py`'s `edge`) install
`handling_signals()` for one command: the first of SIGINT, SIGTERM or SIGHUP raises `Interrupted`,
a KeyboardInterrupt, so the paths written for Ctrl-C run (cancel the generator, roll back, remove
staging, release the lock), and the edge exits with 128 + the signal's number (130, 143, 129).

The run's child processes (the generator, import checks, nox and its tests, uv) are stopped too: a
signal sent to our process alone does not reach them, and nox runs in a session of its own. From the
first signal on, every descendant is killed, and again every 50 ms until the command ends.

Cleanup that must finish once begun (a rollback, removing staging, releasing the lock) runs under
`deferred()`: a signal arriving then is acted on when it ends. After the first signal, later ones
are only recorded: a second Ctrl-C or SIGTERM never aborts the rollback the first one started.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from conductor_regen.child_env import kill_all
from conductor_regen.errors import RegenError

log = logging.getLogger(__name__)

# The signals that end a command like Ctrl-C does.
TERMINATING: Tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_REAP_INTERVAL = 0.05

Handler = Union[Callable[[int, Optional[FrameType]], Any], int, None]


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP, raised as a KeyboardInterrupt so every Ctrl-C cleanup path runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class RunInterrupted(RegenError):
    """A signal stopped a run that had swapped; the message says what became of the SDK tree."""

    def __init__(self, message: str, hint: str, signum: int) -> None:
        super().__init__(message, hint)
        self.signum = signum
        self.exit_code = exit_code(signum)


def exit_code(signum: int) -> int:
    """The shell's status for a process ended by `signum`: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + int(signum)


def label(signum: int) -> str:
    """`SIGTERM`, `SIGHUP`; Ctrl-C for SIGINT."""
    return "Ctrl-C (SIGINT)" if signum == signal.SIGINT else signal.Signals(signum).name


def interrupted_by(signum: int) -> str:
    """`interrupted by SIGTERM`: how every interruption line starts."""
    return f"interrupted by {label(signum)}"


def signal_of(exc: BaseException) -> int:
    """The signal behind an interruption: the one its `Interrupted` (or this command) received, else SIGINT."""
    seen: Optional[BaseException] = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        if isinstance(seen, (Interrupted, RunInterrupted)):
            return seen.signum
        seen = seen.__cause__ or seen.__context__
    return _state.first if _state.first is not None else int(signal.SIGINT)


@dataclass
class _State:
    """One command's signal handling (a fresh one per `handling_signals()`)."""

    installed: bool = False
    first: Optional[int] = None  # the first signal received
    raised: bool = False  # an interruption for it is on its way out (or was)
    depth: int = 0  # nested deferred() blocks open
    committed: Optional[Tuple[str, str]] = None  # (what, hint) once the run's new tree is kept
    stop: threading.Event = field(default_factory=threading.Event)
    reaper: Optional[threading.Thread] = None  # the thread stopping children once a signal came


_state = _State()


def received() -> Optional[int]:
    """The first signal this command received (None if none did)."""
    return _state.first


def committed() -> Optional[Tuple[str, str]]:
    """(what, hint) if the command's run has committed: an interruption from then on keeps the new tree."""
    return _state.committed


def note_committed(what: str, hint: str) -> None:
    """The run has committed (its new tree stays): an interruption from now on says `what`, not a rollback."""
    _state.committed = (what, hint)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _set_handlers(handlers: Dict[signal.Signals, Handler]) -> None:
    for signum, handler in handlers.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


@contextmanager
def handling_signals() -> Iterator[None]:
    """For one command (the edge): SIGINT, SIGTERM and SIGHUP raise `Interrupted` and stop the children."""
    global _state
    if not _main_thread() or _state.installed:
        yield  # signals reach the main thread only; a nested edge shares the outer one's handling
        return
    previous: Dict[signal.Signals, Handler] = {s: signal.getsignal(s) for s in TERMINATING}
    state = _state = _State(installed=True)
    _set_handlers({s: _on_signal for s in TERMINATING})
    try:
        yield
    finally:
        _set_handlers(previous)
        _state = _State()
        state.stop.set()
        if state.reaper is not None:
            # Joined, not left to notice the event: a sweep still running would kill what the process
            # starts next (the next command in this process, or the next test).
            state.reaper.join(timeout=30)
        if state.first is not None:
            stop_children()  # a last sweep: nothing the command started outlives it


def _on_signal(signum: int, frame: Optional[FrameType]) -> None:
    state = _state
    if state.first is None:
        state.first = signum
        _start_reaper(state)
    else:
        log.info("%s received while cleaning up after %s: finishing the cleanup first",
                 label(signum), label(state.first))
    if state.raised or state.depth > 0:
        return  # acted on when the deferred block ends, or already on its way out
    state.raised = True
    raise Interrupted(signum)


def _start_reaper(state: _State) -> None:
    # A thread does the killing, not the handler: the interrupted code may hold the lock of the
    # children's registry (a handler runs in the main thread, between any two of its bytecodes).
    def reap() -> None:
        stop_children()
        while not state.stop.wait(_REAP_INTERVAL):
            stop_children()

    state.reaper = threading.Thread(target=reap, name="stop-children", daemon=True)
    state.reaper.start()


def _descendants(root: int) -> List[Tuple[int, int]]:
    """(pid, process group) of every descendant of `root`, from /proc ([] where there is none)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    children: Dict[int, List[Tuple[int, int]]] = {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                raw = handle.read()
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
            fields = raw[raw.rfind(b")") + 2:].split()
            ppid, pgrp = int(fields[1]), int(fields[2])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(ppid, []).append((int(name), pgrp))
    found: List[Tuple[int, int]] = []
    todo = [root]
    while todo:
        for pid, pgrp in children.get(todo.pop(), []):
            found.append((pid, pgrp))
            todo.append(pid)
    return found


def stop_children() -> int:
    """SIGKILL every process this one started, directly or not, and the process groups they lead.

    Children run in process groups of their own (`child_env.start`), which a signal sent to our
    process alone does not reach: each registered child's group is killed whole (a grandchild whose
    parent died goes too), then every descendant /proc shows, and the groups they lead.
    """
    kill_all()
    own_group = os.getpgrp()
    found = _descendants(os.getpid())
    for pid, pgrp in found:
        try:
            if pgrp == pid and pgrp != own_group:
                os.killpg(pgrp, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass  # already gone
    if found:
        log.debug("stopped %d child process(es)", len(found))
    return len(found)


class Hold:
    """Defer SIGINT, SIGTERM and SIGHUP from `start()` to `release()` (see `deferred`)."""

    def __init__(self) -> None:
        self._state = _state
        self._edge = self._state.installed
        self._previous: Dict[signal.Signals, Handler] = {}
        self._held: List[int] = []
        self._active = False

    def start(self) -> "Hold":
        if self._edge:
            self._state.depth += 1
        elif _main_thread():
            # Outside an edge (the core used as a library): hold the signals here, then act as the old handlers would.
            self._previous = {s: signal.getsignal(s) for s in TERMINATING}
            _set_handlers({s: self._record for s in TERMINATING})
        self._active = True
        return self

    def _record(self, signum: int, frame: Optional[FrameType]) -> None:
        self._held.append(signum)

    def release(self, act: bool = True, failed: bool = False) -> None:
        """End the hold; with `act`, a signal held meanwhile is acted on now (unless the block `failed`).

        Without `act` (a `finally`, or a block followed by raising an error anyway) the edge acts on it
        when the command ends. A block that failed raises its own error, which ends the command anyway:
        the signal then only sets the exit status (the edge reads `received()`). Outside an edge the
        held signal is delivered to the previous handler unless the block failed (the default action,
        ending the process, always).
        """
        if not self._active:
            return
        self._active = False
        if self._edge:
            state = self._state
            state.depth -= 1
            if state.depth > 0 or state.first is None or state.raised:
                return
            if failed:
                state.raised = True
            elif act:
                state.raised = True
                raise Interrupted(state.first)
            return
        if not self._previous:
            return
        _set_handlers(self._previous)
        if not self._held:
            return
        signum, handler = self._held[0], self._previous[signal.Signals(self._held[0])]
        if handler in (signal.SIG_DFL, None):
            signal.raise_signal(signum)  # the default action (end the process), now that the block is done
        elif callable(handler) and not failed:
            handler(signum, None)


@contextmanager
def deferred(act: bool = True) -> Iterator[None]:
    """Run the block whole: a signal arriving meanwhile is acted on when it ends (with `act`), not inside it."""
    hold = Hold().start()
    try:
        yield
    except BaseException:
        hold.release(act, failed=True)
        raise
    hold.release(act)
