"""The invoke edge's option handling: one meaning per short flag, settings resolved once, shared help texts."""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, cast

from invoke.context import Context
from invoke.parser.argument import Argument
from invoke.tasks import Task
from invoke.tasks import task as invoke_task

from conductor_regen.config import FLAG_PARAMS, Settings, cli_settings
from conductor_regen.checkout.target import SdkTarget

# The program the user typed, as reports and hints name it; console.py sets "conductor-regen".
PROGRAM = "invoke"


def program() -> str:
    """The program the user typed (`invoke`, or `conductor-regen` through console.py)."""
    return PROGRAM

# The only short flags, each meaning one option in every task (invoke's automatic ones differed by
# task: -s was --spec in one and --sdk in another). Every other option is long only.
SHORT_FLAGS: Dict[str, str] = {
    "spec": "s", "sdk": "d", "yes": "y", "dry-run": "n", "verbose": "v", "output": "o", "report": "r",
    "backup": "b", "python": "p", "url": "u", "from": "f", "quiet": "q",
}


class LetterFlagTask(Task[Any]):
    """A task whose short flags come from SHORT_FLAGS only, so a letter means the same in every task.

    Invoke picks the first free character of the dashed name, which can be the dash itself
    (`--, --no-cache` in `--help`) or a letter another task gives to another option.
    """

    def get_arguments(self, ignore_unknown_help: Optional[bool] = None) -> List[Argument]:
        """Invoke's arguments, leaving the help texts in place for the next parser (`TASK --help`)."""
        saved = dict(self.help)
        try:
            return super().get_arguments(ignore_unknown_help)
        finally:
            self.help = saved

    def arg_opts(self, name: str, default: str, taken_names: Set[str]) -> Dict[str, Any]:
        """Invoke's argument options, with the short flag from SHORT_FLAGS (or none)."""
        opts = super().arg_opts(name, default, taken_names)
        long_name = opts["names"][0]
        short = SHORT_FLAGS.get(long_name.rstrip("-_"))
        opts["names"] = [long_name] + ([short] if short and short not in taken_names else [])
        return opts


def task(**kwargs: Any) -> Callable[[Callable[..., Any]], LetterFlagTask]:
    """`@invoke.task(...)` with LetterFlagTask as the task class; the help of --verbose, --quiet and every
    setting's flag (--sdk, --generator-version, ...) comes from the settings table unless the task says more."""
    def decorate(func: Callable[..., Any]) -> LetterFlagTask:
        names = inspect.signature(func).parameters
        table = {info.option: info.flag_help for info in FLAG_PARAMS.values() if info.param in names}
        kwargs["help"] = {**table, "quiet": QUIET_HELP, **kwargs.get("help", {})}
        return cast(LetterFlagTask, invoke_task(klass=LetterFlagTask, **kwargs)(func))

    return decorate


def settings(c: Context, **flags: Any) -> Settings:
    """Resolve defaults < invoke.yaml < the SDK's own settings < environment < command line, once per task.

    `flags` are the task's parameters for settings' flags, as parsed (`sdk=..., no_keyword_calls=True`).
    """
    from conductor_regen.config_sources import resolve_run_settings, tool_repository

    # Invoke's config proxy as it is: resolve_run_settings turns it into plain tables once.
    run = resolve_run_settings(c.config.get("regen", {}), os.environ, cli_settings(**flags), Path.cwd(),
                               tool_repository())
    resolved = run.settings
    if resolved.verbose:  # talk, so on stderr: stdout is for a command's data
        print("resolved settings:\n  " + resolved.describe().replace("\n", "\n  "), file=sys.stderr)
        if run.sdk_detected:
            print(f"  (sdk.root found from the working folder {Path.cwd()})", file=sys.stderr)
        if run.sdk_source is not None:
            print(f"  (the SDK's own settings read from {run.sdk_source})", file=sys.stderr)
    return resolved


def comma_list(value: str) -> Tuple[str, ...]:
    """`a, b,,c` -> ("a", "b", "c"): a comma-separated option, blanks dropped."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def sdk_target(s: Settings) -> SdkTarget:
    """The SDK checkout the settings name (or the one the working folder is in)."""
    from conductor_regen.checkout.target import resolve_sdk

    return resolve_sdk(s.sdk)


QUIET_HELP = "print only errors and the command's data or result lines (no steps, notes or warnings)"
SPEC_HELP = "spec file or URL (a server base URL gets /api-docs appended)"
MOVED_HELP = ("this checkout was moved: also use backups taken from another path with the same folder name "
              "(by default only backups of this checkout's resolved path count)")
