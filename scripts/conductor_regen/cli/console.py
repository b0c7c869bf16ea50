"""The `conductor-regen` command: invoke's Program over the same tasks `invoke` lists in the repository.

Both programs parse strictly (`StrictProgram`): a word invoke would misread (an unknown option, an
option-like word where a value belongs) is refused before any work, in one line with exit 2. The
`conductor-regen` program also drops invoke's core options that mean nothing for these tasks.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from typing import Dict, List, Optional, Sequence, Tuple, cast

from invoke.exceptions import Exit, ParseError
from invoke.parser.argument import Argument
from invoke.parser.context import ParserContext
from invoke.program import Program
from invoke.vendor.lexicon import Lexicon

from conductor_regen import __version__
from conductor_regen.config_sources import tool_repository

NAME = "conductor-regen"
USAGE_EXIT = 2  # bad usage: an unknown option or task, a missing value (as for a bad setting, ConfigError)

# The core options `conductor-regen` keeps; invoke's others (--pty, --echo, --dry, --warn-only, --hide,
# --config, --debug, --command-timeout, --prompt-for-sudo-password, --list-depth, --write-pyc) only
# concern invoke's `c.run`, which these tasks never use.
KEPT_CORE = ("complete", "help", "list", "list-format", "print-completion-script", "version")
# Options whose value is handed on as it is, dashes and all (`test --pytest-args "-x"`).
PASSTHROUGH = frozenset({"--pytest-args"})
# An option-like word: a dash, then a letter (so "-", "-1" and "-k foo" are values).
_FLAG_LIKE = re.compile(r"^--?[A-Za-z][^\s]*$")


def flag_like(token: str) -> bool:
    """Would a user mean `token` as an option? (`--bogus`, `-x`; not `-`, `-1` or `-k search -x`)."""
    return bool(_FLAG_LIKE.match(token))


def _lookup(flag: str, context: Optional[ParserContext], initial: ParserContext) -> Optional[Argument]:
    for ctx in (context, initial):
        if ctx is not None:
            for table in (ctx.flags, ctx.inverse_flags):
                if flag in table:
                    return cast(Argument, table[flag])
    return None


def _short_block(token: str, context: Optional[ParserContext], initial: ParserContext) -> Optional[List[Argument]]:
    """The options in `-sFILE` (a short option and its value) or `-ny` (short switches), as invoke splits them."""
    if token.startswith("--") or len(token) < 3:
        return None
    first = _lookup(token[:2], context, initial)
    if first is not None and first.takes_value:
        return [first]
    switches = [_lookup(f"-{ch}", context, initial) for ch in token[1:]]
    found = [a for a in switches if a is not None and not a.takes_value]
    return found if len(found) == len(switches) else None


def _long_flags(*contexts: Optional[ParserContext]) -> List[str]:
    return sorted({f for ctx in contexts if ctx is not None for f in ctx.flags if f.startswith("--")})


def _close(word: str, choices: Sequence[str]) -> Optional[str]:
    """The choice closest to `word` (compared without their dashes: `--dryrun` is `--dry-run`, `--bogus` is none)."""
    bare = {choice.lstrip("-"): choice for choice in choices}
    found = difflib.get_close_matches(word.lstrip("-"), list(bare), n=1, cutoff=0.6)
    return bare[found[0]] if found else None


def _needs(name: str, context: ParserContext, missing: List[str], program: str) -> Tuple[str, str]:
    arg = next(a for a in context.positional_args if a.name == missing[0])
    flag = "--" + next(n for n in arg.names if len(n) > 1).rstrip("_").replace("_", "-")
    return f"{name} needs {flag}", f"`{program} {name} --help` says what it takes"


def usage_problem(tokens: Sequence[str], initial: ParserContext, contexts: Dict[str, ParserContext],
                  program: str) -> Optional[Tuple[str, str]]:
    """(message, hint) for the first word of `tokens` that invoke would misread or refuse, else None.

    `tokens` is what follows the core options: task names, each with its options and positional values.
    Mirrors invoke's parser: a task's own flags first, then the core flags; a value-taking option takes
    the next word; a missing positional takes a plain word.
    """
    name: Optional[str] = None
    context: Optional[ParserContext] = None
    missing: List[str] = []  # positional arguments the current task still needs
    pending: Optional[Tuple[str, Argument]] = None  # an option waiting for its value
    listing = f"`{program} --help` lists the options, `{program} --list` the tasks"
    helped = any(token.partition("=")[0] in ("--help", "-h") for token in tokens)  # help wants no values
    for token in tokens:
        where = f"`{program} {name} --help` lists its options" if name else listing
        if pending is not None:
            flag = pending[0]
            pending = None
            if flag_like(token) and flag not in PASSTHROUGH:
                return (f"{flag} needs a value, got the option-like {token!r}",
                        f"pass {flag}=VALUE for a value that starts with '-'; {where}")
            continue
        if flag_like(token):
            flag, equals, _ = token.partition("=")
            known = _lookup(flag, context, initial)
            block = None if known is not None or equals else _short_block(token, context, initial)
            if block:
                missing = [m for m in missing if m not in {a.name for a in block}]
                continue
            if known is None:
                guess = _close(flag, _long_flags(context, initial if context is None else None) + (
                    ["--help"] if context is not None else []))
                owner = name or program
                return (f"{owner} has no option {flag}",
                        (f"did you mean {guess}? " if guess else "") + where)
            if context is not None and known.name in missing:
                missing.remove(str(known.name))
            if known.takes_value and not equals and not known.optional:
                pending = (flag, known)
            continue
        if missing:
            missing.pop(0)
        elif token in contexts:
            if name is not None and context is not None and missing and not helped:
                return _needs(name, context, missing, program)
            name, context = token, contexts[token]
            missing = [str(a.name) for a in context.positional_args]
        else:
            guess = _close(token, list(contexts))
            if name is None or guess:
                return (f"{program} has no task {token!r}", (f"did you mean {guess}? " if guess else "") + listing)
            return f"{name} got an unexpected argument {token!r}", where
    if pending is not None:
        return f"{pending[0]} needs a value", f"`{program} {name} --help` says what it takes" if name else listing
    if name is not None and context is not None and missing and not helped:
        return _needs(name, context, missing, program)
    return None


def help_wanted(tokens: Sequence[str], contexts: Dict[str, ParserContext]) -> Optional[str]:
    """The task of `TASK ... --help` (invoke would take --help as a positional value, and then miss the next)."""
    name = None
    for token in tokens:
        if name is None and token in contexts:
            name = token
        elif name is not None and token.partition("=")[0] in ("--help", "-h"):
            return name
    return None


class StrictProgram(Program):
    """Invoke's Program, refusing what invoke would misread: one `ERROR: ... / hint: ...` line, exit 2."""

    def _usage(self, message: str, hint: str) -> Exit:
        return Exit(f"ERROR: {message} / hint: {hint}", code=USAGE_EXIT)

    def _program(self) -> str:
        from conductor_regen.cli.options import program

        return program()

    def parse_core(self, argv: Optional[List[str]]) -> None:
        """Invoke's core parse, with its parse errors as one line and exit 2."""
        try:
            super().parse_core(argv)
        except ParseError as exc:
            raise self._usage(str(exc), f"`{self._program()} --help` lists the options") from None

    def parse_tasks(self) -> None:
        """Check every word before invoke parses the tasks; invoke's own parse errors become one line too."""
        contexts = {str(c.name): c for c in self.collection.to_contexts(
            ignore_unknown_help=self.config.tasks.ignore_unknown_help)}
        if not self.args.complete.value:
            wanted = help_wanted(self.core.unparsed, contexts)
            if wanted is not None:
                self.parser = self._make_parser()
                self.print_task_help(wanted)
                raise Exit
            problem = usage_problem(self.core.unparsed, self.initial_context, contexts, self._program())
            if problem is not None:
                raise self._usage(*problem)
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise self._usage(str(exc).rstrip("!"), f"`{self._program()} --help` lists the options, "
                                                    f"`{self._program()} --help TASK` a task's") from None

    def parse_cleanup(self) -> None:
        """Invoke's cleanup (--help TASK, --list), with its parse errors as one line and exit 2."""
        try:
            super().parse_cleanup()
        except ParseError as exc:
            wanted = self.args.help.value
            if isinstance(wanted, str):  # `--help NAME` with no task NAME
                guess = _close(wanted, list(self.parser.contexts))
                raise self._usage(f"{self._program()} has no task {wanted!r}", (f"did you mean {guess}? " if guess
                                  else "") + f"`{self._program()} --list` lists the tasks") from None
            raise self._usage(str(exc).rstrip("!"), f"`{self._program()} --list` lists the tasks") from None


class ConsoleProgram(StrictProgram):
    """The bundled task namespace, only the core options that mean something here, and the tool
    repository's invoke.yaml read too."""

    def core_args(self) -> List[Argument]:
        """Invoke's core options that apply to these tasks: help, list, version, completion."""
        return [arg for arg in super().core_args() if arg.name in KEPT_CORE]

    @property
    def args(self) -> Lexicon:
        """The parsed core options, with invoke's defaults for the ones dropped (invoke still reads them)."""
        found: Lexicon = self.core[0].args
        for arg in Program.core_args(self):
            if arg.name not in found:
                found[arg.name] = arg
        return found

    def parse_collection(self) -> None:
        """Use the bundled namespace; then load the repository's invoke.yaml as project config, as `invoke` does."""
        super().parse_collection()
        # Invoke reads project config only beside a tasks.py it loaded itself, so name the folder here.
        repo = tool_repository()
        if repo is not None:
            self.config.set_project_location(str(repo))
            self.config.load_project()


def adopt_running_invoke() -> None:
    """Make the repository's `invoke` (invoke.main.program, loading tasks.py right now) parse strictly too.

    Only invoke's own program in task-runner mode is changed, and only its class: it keeps its core
    options; parse_tasks and parse_cleanup, which run after the tasks are loaded, become StrictProgram's.
    """
    running = getattr(sys.modules.get("invoke.main"), "program", None)
    if type(running) is Program and running.namespace is None:
        running.__class__ = StrictProgram


def program() -> ConsoleProgram:
    """The `conductor-regen` program over `conductor_regen.cli.tasks.ns`."""
    from conductor_regen.cli import options, tasks

    options.PROGRAM = NAME
    return ConsoleProgram(name=NAME, binary=NAME, binary_names=[NAME], version=__version__, namespace=tasks.ns)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the console script (and of `python -m conductor_regen`)."""
    try:
        program().run(argv)
    except BrokenPipeError:
        # `conductor-regen --list | head`: the reader left; say nothing more (Python would print a traceback).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
