"""Steps run ahead: start a named step early, take its result where the procedure needs it.

A run overlaps a few of its steps with others (the generator while validation runs, the live SDK's
analysis while the generator runs, the import gate's interpreter while assembly runs). Each is started
here by name and its result taken by name, so the procedure still reads as the guide's steps in order:

    with Ahead() as ahead:
        ahead.start("analyse", analyse, tree)        # a thread, from now on
        ahead.begin("generate", PendingTree(...))    # work that runs by itself (a child process), launched now
        ...
        facts = ahead.result("analyse")              # waits; re-raises the step's exception

`start` runs a function in a thread of its own (`stop`, if given, is how to end it early); `begin`
launches a `Handle`, work that runs by itself (`launch` starts it, `finish` waits for it, `cancel` stops
it). A handle is made by the caller, so whatever its constructor checks (a missing Java, an output
folder in use) is raised there, before anything runs, in either mode. Leaving the `with` cancels whatever still runs and waits for its thread: after an error
nothing needs it, and on success nothing took its result.

**Sequential mode** (`Ahead(sequential=True)`; a run sets it from the `sequential` setting,
`REGEN_SEQUENTIAL=1`): nothing starts early. Each step runs when its result is first asked for, in
the calling thread, so one thread does everything in the order the procedure takes the results: the
same trees and reports, slower, and a debugger or a stack trace follows one thread. A step's own
errors are then raised where its result is taken instead of where it was started.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple, TypeVar

log = logging.getLogger(__name__)

T_co = TypeVar("T_co", covariant=True)


class Handle(Protocol[T_co]):
    """Work that runs by itself once launched (a child process): wait for its result, or stop it."""

    def launch(self) -> None:
        """Start the work."""

    def finish(self) -> T_co:
        """Wait for the work and return its result (raise its error)."""

    def cancel(self) -> None:
        """Stop the work (launched or not) and drop what it made."""


class _Step:
    """One named step: take its result, stop it, wait for whatever thread it has."""

    def finish(self) -> Any:
        raise NotImplementedError

    def cancel(self) -> None:
        """Stop the step if it still runs."""

    def join(self) -> None:
        """Wait for the step's thread, if it has one."""


class _Threaded(_Step):
    """A step running in a thread of its own."""

    def __init__(self, name: str, fn: Callable[..., Any], args: Tuple[Any, ...],
                 stop: Optional[Callable[[], None]]) -> None:
        self._future: "Future[Any]" = Future()
        self._stop = stop
        self._thread = threading.Thread(target=self._run, args=(fn, args), name=f"ahead: {name}", daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: Tuple[Any, ...]) -> None:
        try:
            value = fn(*args)
        except BaseException as exc:  # noqa: B036 - raised again where the result is taken
            self._future.set_exception(exc)
        else:
            self._future.set_result(value)

    def finish(self) -> Any:
        return self._future.result()

    def cancel(self) -> None:
        if self._stop is not None and not self._future.done():
            self._stop()

    def join(self) -> None:
        self._thread.join()


class _Once(_Step):
    """A step finished at most once (a handle begun earlier, or, in sequential mode, a call made now)."""

    def __init__(self, finish: Callable[[], Any], cancel: Optional[Callable[[], None]] = None) -> None:
        self._finish, self._cancel = finish, cancel
        self._lock = threading.Lock()
        self._outcome: Optional[Tuple[bool, Any]] = None  # (succeeded, value or exception)

    def finish(self) -> Any:
        with self._lock:
            if self._outcome is None:
                try:
                    self._outcome = (True, self._finish())
                except BaseException as exc:  # noqa: B036 - raised now and to any later taker
                    self._outcome = (False, exc)
            succeeded, value = self._outcome
        if not succeeded:
            raise value
        return value

    def cancel(self) -> None:
        if self._cancel is not None and self._outcome is None:
            self._cancel()


class Ahead:
    """Named steps started ahead and their results taken later; `sequential` runs each where it is taken."""

    def __init__(self, sequential: bool = False) -> None:
        self.sequential = sequential
        self._steps: Dict[str, _Step] = {}
        self._lock = threading.Lock()

    def start(self, name: str, fn: Callable[..., Any], *args: Any, stop: Optional[Callable[[], None]] = None) -> None:
        """Run `fn(*args)` as the step `name` in a thread of its own; `stop()` ends it early (on cancel)."""
        self._add(name, lambda: _Once(lambda: fn(*args)) if self.sequential else _Threaded(name, fn, args, stop))

    def begin(self, name: str, handle: Handle[Any]) -> None:
        """Launch `handle` now (in sequential mode, where its result is taken); a failed launch raises there.

        For work that runs by itself, such as a child process: no thread waits for it until its result
        is taken (in the taker's thread, so Ctrl-C there stops it as it always did).
        """
        def launched() -> Any:
            try:
                handle.launch()
            except BaseException:
                handle.cancel()
                raise
            return handle

        def make() -> _Step:
            if self.sequential:
                return _Once(lambda: launched().finish(), handle.cancel)
            return _Once(launched().finish, handle.cancel)

        self._add(name, make)

    def started(self, name: str) -> bool:
        """Whether a step `name` was started (in sequential mode: registered to run when taken)."""
        return name in self._steps

    def result(self, name: str) -> Any:
        """Wait for the step `name` and return its result, or raise its exception; the same every time."""
        step = self._steps.get(name)
        if step is None:
            raise KeyError(f"no step {name!r} was started ahead")
        return step.finish()

    def cancel_all(self) -> None:
        """Stop every step still running, then wait for their threads; what they would have returned is lost."""
        with self._lock:
            steps: List[_Step] = list(reversed(self._steps.values()))
        for step in steps:
            try:
                step.cancel()
            except Exception:  # noqa: BLE001 - every step must still be stopped
                log.warning("could not stop a step run ahead", exc_info=True)
        for step in steps:
            step.join()

    def __enter__(self) -> "Ahead":
        return self

    def __exit__(self, kind: Optional[type], value: Optional[BaseException], tb: Any) -> None:
        self.cancel_all()

    def _add(self, name: str, make: Callable[[], _Step]) -> None:
        with self._lock:  # one taker thread starts steps; the lock only keeps cancel_all's view whole
            if name in self._steps:
                raise ValueError(f"a step {name!r} was already started ahead")
            self._steps[name] = make()
