"""The invoke edge's output: data on stdout, talk on stderr, one `ERROR: ... / hint: ...` line per failure.

stdout holds what a command produces (a listing, a report, the report's path); stderr holds what it says
to the person at the terminal (steps, notes, warnings, prompts, summaries). `--quiet` drops the talk
(errors stay), `--verbose` adds the resolved settings, debug logs and the whole report.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Optional, TypeVar, cast

from invoke.context import Context
from invoke.exceptions import Exit

from conductor_regen.cli import options
from conductor_regen.commands.plan import Plan
from conductor_regen.commands.report import Report
from conductor_regen.config import ENV_KEYS, SETTINGS, Settings
from conductor_regen.errors import RegenError
from conductor_regen.progress import StepLog
from conductor_regen.checkout import signals
from conductor_regen.checkout.failures import describe
from conductor_regen.checkout.target import SdkTarget

F = TypeVar("F", bound=Callable[..., Any])


class _Output:
    """What the edge knows about the running command: its name (for hints) and whether it is quiet."""

    task = ""
    quiet = False


OUTPUT = _Output()


def talk(*lines: str) -> None:
    """Lines for the person at the terminal (steps, notes, summaries): on stderr, and none with --quiet."""
    if not OUTPUT.quiet:
        for line in lines:
            print(line, file=sys.stderr)


def say(*lines: str) -> None:
    """A command's data or result lines: on stdout, with --quiet too."""
    for line in lines:
        print(line)


def setup_logging(verbose: bool, quiet: bool = False) -> None:
    """Log lines to stderr, bare: steps and warnings by default, everything with --verbose, errors with --quiet."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    pkg = logging.getLogger("conductor_regen")
    pkg.handlers[:] = [handler]
    # Quiet by default: the steps' one line each and warnings; --verbose shows every log line.
    pkg.setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING)
    logging.getLogger("conductor_regen.progress").setLevel(
        logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO)
    pkg.propagate = False


# --- hints that name commands and options the user has ------------------------------------------

# An option a task may lack, and the setting that does the same for every task: (setting, implied value).
SETTING_OF_FLAG: Dict[str, tuple[str, Optional[str]]] = {
    info.flag: (info.key, ("false" if info.flag.startswith("--no-") else "true") if info.type is bool else None)
    for info in SETTINGS if info.flag and info.key != "verbose"}
# What may follow such an option as its value in a hint ("--backend docker", "--java-heap 4g").
_SETTING_VALUE = {**{info.flag: "|".join(info.choices) for info in SETTINGS if info.flag and info.choices},
                  "--java-heap": r"\d+[kKmMgG]?", "--generator-version": r"\d+(?:\.\d+)+",
                  "--timeout": r"\d+(?:\.\d+)?", "--sdk": r"PATH|/\S+"}
# The task a hint points to for an option the running task lacks (else the first task that has it).
_HOME_OF_FLAG = ("test", "restore", "generate", "regenerate")
_COMMAND = re.compile(r"(?<![\w./-])(?:invoke|conductor-regen) (?P<task>[a-z][a-z-]*)"
                      r"(?P<args>(?: --?[a-z][a-z0-9-]*(?:[ =](?!-)[^\s`;,()]+)?)*)")
# Ours, or another program's (whose options are its own), up to the end of the clause.
_COMMANDS = re.compile(_COMMAND.pattern + r"|(?<![\w./-])(?:python -m )?(?:nox|pip|docker|git|uv|npm|npx) [^;,`]*")
_FLAG = re.compile(r"(?<![\w./`=-])--[a-z][a-z0-9-]*")


@functools.lru_cache(maxsize=None)
def task_flags() -> Dict[str, FrozenSet[str]]:
    """Each task's long options (`--dry-run`, ...), as its `--help` lists them."""
    from conductor_regen.cli.tasks import ns

    return {name: frozenset(f"--{n}" for a in ns.tasks[name].get_arguments(ignore_unknown_help=True)
                            for n in a.names if len(n) > 1) for name in ns.task_names}


def commands(text: str) -> str:
    """`text` with every `invoke TASK ...` named as the program the user ran (`conductor-regen TASK ...`)."""
    program = options.program()
    known = task_flags()
    return _COMMAND.sub(lambda m: f"{program} {m.group('task')}{m.group('args')}" if m.group("task") in known
                        else m.group(0), text)


def _setting(flag: str, value: Optional[str]) -> str:
    key, implied = SETTING_OF_FLAG[flag]
    var = next((name for name, setting in ENV_KEYS.items() if setting == key), "")
    value = value or implied
    if value is None:
        return f"{var} ({key})" if var else f"the setting {key} (invoke.yaml)"
    return f"{var}={value}" if var else f"setting {key}={value} in invoke.yaml"


def _bare_flag(flag: str, value: Optional[str], task: str) -> str:
    flags = task_flags()
    if flag in flags[task]:
        return flag + (value or "")
    if flag in SETTING_OF_FLAG:
        return _setting(flag, value.strip() if value else None)
    homes = sorted((t for t, f in flags.items() if flag in f),
                   key=lambda t: (_HOME_OF_FLAG.index(t) if t in _HOME_OF_FLAG else len(_HOME_OF_FLAG), t))
    if homes:
        return f"`{options.program()} {homes[0]} {flag}`" + (value or "")
    return flag + (value or "")  # another program's option (nox, the generator): left as it is


def localize(text: str, task: Optional[str] = None) -> str:
    """A hint as the user can act on it where they are: commands named as the program they ran, and an
    option the running task lacks replaced by the setting that does the same, or the task that has it."""
    task = OUTPUT.task if task is None else task
    if task not in task_flags():
        return commands(text)
    out = []
    # Backticked spans are commands: ours get the program's name, other programs' (nox, pip) stay as they are.
    for n, part in enumerate(re.split(r"(`[^`]*`)", text)):
        if n % 2:
            out.append(commands(part))
            continue
        last = 0
        for m in _COMMANDS.finditer(part):  # a command outside backticks keeps its own options
            out += [_localize_flags(part[last:m.start()], task), commands(m.group(0))]
            last = m.end()
        out.append(_localize_flags(part[last:], task))
    return "".join(out)


def _localize_flags(text: str, task: str) -> str:
    """Bare options in `text` (outside any command) as `task` has them, or as a setting, or as another task's."""
    out, last = [], 0
    for m in _FLAG.finditer(text):
        if m.start() < last:
            continue  # inside a value taken already
        flag, end, value = m.group(0), m.end(), None
        pattern = _SETTING_VALUE.get(flag)
        if pattern and flag not in task_flags()[task]:
            follows = re.match(rf" (?:{pattern})(?![\w.])", text[end:])
            if follows:
                value, end = follows.group(0), end + follows.end()
        out += [text[last:m.start()], _bare_flag(flag, value, task)]
        last = end
    out.append(text[last:])
    return "".join(out)


# --- errors at the edge --------------------------------------------------------------------------

HELP_FLAGS = ("--help", "-h")


def show_task_help(name: str) -> None:
    """Print a task's help exactly as `PROGRAM --help TASK` does."""
    from invoke.program import Program

    from conductor_regen.cli.tasks import ns

    Program(namespace=ns, binary=options.PROGRAM).run([options.PROGRAM, "--help", name], exit=False)


def interrupted_line(signum: int) -> str:
    """The one line for a command a signal stopped: which signal, and what became of the SDK tree.

    A run that swapped says so itself (`RunInterrupted`, `SwapInterrupted`); anything else reaching the
    edge was stopped before it changed the tree, or after its run had committed (`signals.committed`).
    """
    committed = signals.committed()
    if committed is not None:
        what, hint = committed
        return (f"ERROR: {signals.interrupted_by(signum)} after the run had committed: {commands(what)} / "
                f"hint: {localize(hint)}")
    return f"ERROR: {signals.interrupted_by(signum)}; the SDK tree was left as it was / hint: run again when ready"


def error_line(exc: RegenError) -> str:
    """A domain error's line, its hint naming what the user can run; a signal that arrived while it was being
    cleaned up after is named at its end."""
    exc.message, exc.hint = commands(exc.message), localize(exc.hint)
    signum = signals.received()
    if signum is None or isinstance(exc, signals.RunInterrupted) or exc.message.startswith("interrupted"):
        return exc.render()
    return f"ERROR: {exc.message} (then {signals.interrupted_by(signum)}, after cleaning up)" + (
        f" / hint: {exc.hint}" if exc.hint else "")


def edge(func: F) -> F:
    """Turn domain errors, OS errors and Ctrl-C, SIGTERM or SIGHUP into one `ERROR: ... / hint: ...` line and
    an exit code (128 + the signal's number for a signal: 130, 143, 129)."""
    name = func.__name__.replace("_", "-")

    @functools.wraps(func)
    def wrapper(c: Context, *args: Any, **kwargs: Any) -> Any:
        if any(isinstance(v, str) and v in HELP_FLAGS for v in (*args, *kwargs.values())):
            # invoke fills a positional argument with the next word, so `TASK --help` arrives as spec="--help".
            return show_task_help(name)
        verbose, quiet = bool(kwargs.get("verbose")), bool(kwargs.get("quiet"))
        OUTPUT.task, OUTPUT.quiet = name, quiet and not verbose
        if verbose and quiet:
            raise Exit("ERROR: --verbose and --quiet ask for opposite things / hint: pass one of them", code=2)
        setup_logging(verbose, quiet)
        from conductor_regen.analysis.code_index import run_index

        # SIGTERM (a CI runner's cancel) and SIGHUP (a closed terminal) end the command as Ctrl-C does:
        # rollback, staging and the lock are cleaned up, the children stopped (see checkout/signals.py).
        with signals.handling_signals():
            try:
                # One code index per command: each file content is parsed once, and all is let go at the end.
                with run_index():
                    result = func(c, *args, **kwargs)
            except RegenError as exc:
                signum = signals.received()
                for note in exc.notes:
                    talk(commands(note))
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


# --- a run's output ------------------------------------------------------------------------------

def summary(steps: StepLog) -> None:
    """One line (talk): the run's total time and each step's status."""
    total = sum(s.seconds for s in steps.steps)
    talk(f"done in {total:.1f}s: " + ", ".join(f"{s.name} {s.status}" for s in steps.steps))


def _prompt(question: str) -> bool:
    """Ask on stderr (stdout may be a file or a pipe), read one answer: y or yes; no answer or EOF is no."""
    print(question, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():  # no echoed Enter: end the question's line, so the next line starts clean
        print(file=sys.stderr)
    return answer.strip().lower() in ("y", "yes")


def confirm(plan: Plan) -> bool:
    """Show the plan and ask once before the swap (shown with --quiet too: it is what the answer is about)."""
    for line in plan.lines():
        print(commands(line), file=sys.stderr)
    return _prompt("Swap this into the SDK? [y/N] ")


def ask(question: str, yes: bool) -> bool:
    """`question? [y/N]` unless --yes answered it already (EOF is no)."""
    return yes or _prompt(f"{question}? [y/N] ")


def finish(result: Report, s: Settings, target: SdkTarget, steps: StepLog, report: Optional[Path] = None,
           to_stdout: bool = False) -> None:
    """A run's end. Talk: its plan, the notes that need action (--verbose: the whole report), the steps'
    summary. Data: the report's path as the last line, or with `--report -` the JSON report itself."""
    from conductor_regen.commands.report import action_notes
    from conductor_regen.commands.run_report import report_file, write_report

    if s.verbose:
        talk(commands(result.to_markdown()))
    else:
        talk(*(commands(line) for line in result.plan))
        notes = action_notes(result.notes)
        talk(*(f"note: {commands(note)}" for note in notes))
        others = len(set(result.notes)) - len(notes)
        if others > 0:
            talk(f"({others} more note(s) in the report)")
    summary(steps)
    if to_stdout and report is not None:
        write_report(result, report)  # run_report.report_to_stdout prints it when the command ends
        talk(f"report: {report_file(result, s, target)}")
    else:
        say(f"report: {report_file(result, s, target, report)}")
