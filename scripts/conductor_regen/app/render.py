"""The invoke edge's output: quiet logging, one `ERROR: ... / hint: ...` line per failure, a run's last lines."""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar, cast

from invoke.context import Context
from invoke.exceptions import Exit

from conductor_regen.app import options
from conductor_regen.app.plan import Plan
from conductor_regen.app.report import Report
from conductor_regen.config import Settings
from conductor_regen.errors import RegenError
from conductor_regen.progress import StepLog
from conductor_regen.sdk import signals
from conductor_regen.sdk.failures import describe
from conductor_regen.sdk.target import SdkTarget

F = TypeVar("F", bound=Callable[..., Any])


def setup_logging(verbose: bool) -> None:
    """Log lines to stdout, bare: steps and warnings by default, everything with --verbose."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    pkg = logging.getLogger("conductor_regen")
    pkg.handlers[:] = [handler]
    # Quiet by default: the steps' one line each and warnings; --verbose shows every log line.
    pkg.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("conductor_regen.progress").setLevel(logging.DEBUG if verbose else logging.INFO)
    pkg.propagate = False


HELP_FLAGS = ("--help", "-h")


def show_task_help(name: str) -> None:
    """Print a task's help exactly as `PROGRAM --help TASK` does."""
    from invoke.program import Program

    from conductor_regen.app.tasks import ns

    Program(namespace=ns, binary=options.PROGRAM).run([options.PROGRAM, "--help", name], exit=False)


def interrupted_line(signum: int) -> str:
    """The one line for a command a signal stopped: which signal, and what became of the SDK tree.

    A run that swapped says so itself (`RunInterrupted`, `SwapInterrupted`); anything else reaching the
    edge was stopped before it changed the tree, or after its run had committed (`signals.committed`).
    """
    committed = signals.committed()
    if committed is not None:
        what, hint = committed
        return f"ERROR: {signals.interrupted_by(signum)} after the run had committed: {what} / hint: {hint}"
    return f"ERROR: {signals.interrupted_by(signum)}; the SDK tree was left as it was / hint: run again when ready"


def error_line(exc: RegenError) -> str:
    """A domain error's line; a signal that arrived while it was being cleaned up after is named at its end."""
    signum = signals.received()
    if signum is None or isinstance(exc, signals.RunInterrupted) or exc.message.startswith("interrupted"):
        return exc.render()
    return f"ERROR: {exc.message} (then {signals.interrupted_by(signum)}, after cleaning up)" + (
        f" / hint: {exc.hint}" if exc.hint else "")


def edge(func: F) -> F:
    """Turn domain errors, OS errors and Ctrl-C, SIGTERM or SIGHUP into one `ERROR: ... / hint: ...` line and
    an exit code (128 + the signal's number for a signal: 130, 143, 129)."""

    @functools.wraps(func)
    def wrapper(c: Context, *args: Any, **kwargs: Any) -> Any:
        if any(isinstance(v, str) and v in HELP_FLAGS for v in (*args, *kwargs.values())):
            # invoke fills a positional argument with the next word, so `TASK --help` arrives as spec="--help".
            return show_task_help(func.__name__.replace("_", "-"))
        setup_logging(bool(kwargs.get("verbose")))
        from conductor_regen.client.code_index import run_index

        # SIGTERM (a CI runner's cancel) and SIGHUP (a closed terminal) end the command as Ctrl-C does:
        # rollback, staging and the lock are cleaned up, the children stopped (see sdk/signals.py).
        with signals.handling_signals():
            try:
                # One code index per command: each file content is parsed once, and all is let go at the end.
                with run_index():
                    result = func(c, *args, **kwargs)
            except RegenError as exc:
                signum = signals.received()
                raise Exit(error_line(exc), code=signals.exit_code(signum) if signum else exc.exit_code) from None
            except OSError as exc:
                # Permission denied, disk full, ...: the core leaves the tree whole (a swap undoes itself,
                # or the next run finishes it); the user needs the cause and the path, not a traceback.
                signum = signals.received()
                raise Exit(f"ERROR: {describe(exc)} / hint: check that path's permissions and the free disk space, "
                           "then run again; the SDK tree was left whole",
                           code=signals.exit_code(signum) if signum else 1) from None
            except KeyboardInterrupt as exc:
                signum = signals.signal_of(exc)
                raise Exit(interrupted_line(signum), code=signals.exit_code(signum)) from None
            signum = signals.received()
            if signum is not None:  # it arrived where nothing could be cut short, and was held to the end
                raise Exit(interrupted_line(signum), code=signals.exit_code(signum))
            return result

    return cast(F, wrapper)


def summary(steps: StepLog) -> None:
    """One line: the run's total time and each step's status."""
    total = sum(s.seconds for s in steps.steps)
    print(f"done in {total:.1f}s: " + ", ".join(f"{s.name} {s.status}" for s in steps.steps))


def confirm(plan: Plan) -> bool:
    """Show the plan and ask once before the swap (no answer, or EOF, is no)."""
    for line in plan.lines():
        print(line)
    try:
        answer = input("Swap this into the SDK? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def ask(question: str, yes: bool) -> bool:
    """`question? [y/N]` unless --yes answered it already (EOF is no)."""
    if yes:
        return True
    try:
        return input(f"{question}? [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def finish(result: Report, s: Settings, target: SdkTarget, steps: StepLog, report: Optional[str] = None) -> None:
    """Print a run's end: its plan (dry run) and the notes that need action (--verbose: the whole report),
    the steps' summary, and the report's path as the last line."""
    from conductor_regen.app.report import action_notes
    from conductor_regen.app.run_report import report_file

    if s.verbose:
        print(result.to_markdown())
    else:
        for line in result.plan:
            print(line)
        notes = action_notes(result.notes)
        for note in notes:
            print(f"note: {note}")
        others = len(set(result.notes)) - len(notes)
        if others > 0:
            print(f"({others} more note(s) in the report)")
    summary(steps)
    print(f"report: {report_file(result, s, target, Path(report) if report else None)}")
