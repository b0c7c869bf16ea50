"""The invoke edge's option handling: one meaning per short flag, settings resolved once, shared help texts."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, cast

from invoke.context import Context
from invoke.parser.argument import Argument
from invoke.tasks import Task
from invoke.tasks import task as invoke_task

from conductor_regen.config import Settings
from conductor_regen.sdk.target import SdkTarget

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
    """`@invoke.task(...)` with LetterFlagTask as the task class; --verbose and --quiet explained in every task."""
    kwargs["help"] = {"verbose": VERBOSE_HELP, "quiet": QUIET_HELP, **kwargs.get("help", {})}
    return cast(Callable[[Callable[..., Any]], LetterFlagTask], invoke_task(klass=LetterFlagTask, **kwargs))


def _plain(value: Any) -> Any:
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return value


def settings(c: Context, **cli: Any) -> Settings:
    """Resolve defaults < invoke.yaml < the SDK's own settings < environment < command line, once per task."""
    from conductor_regen.config_sources import resolve_run_settings, tool_repository

    run = resolve_run_settings(_plain(c.config.get("regen", {})), os.environ, cli, Path.cwd(), tool_repository())
    resolved = run.settings
    if resolved.verbose:  # talk, so on stderr: stdout is for a command's data
        print("resolved settings:\n  " + resolved.describe().replace("\n", "\n  "), file=sys.stderr)
        if run.sdk_detected:
            print(f"  (sdk.root found from the working folder {Path.cwd()})", file=sys.stderr)
        if run.sdk_source is not None:
            print(f"  (the SDK's own settings read from {run.sdk_source})", file=sys.stderr)
    return resolved


def gen_cli(generator_version: Optional[str], backend: Optional[str], java_heap: Optional[str],
            no_fixups: bool, verbose: bool) -> Dict[str, Any]:
    """The generator options every generating task shares, as settings keys (None: not given)."""
    return {
        "generator.version": generator_version,
        "generator.backend": backend,
        "generator.java_heap": java_heap,
        "fixups.enabled": False if no_fixups else None,
        "verbose": verbose or None,
    }


def comma_list(value: str) -> Tuple[str, ...]:
    """`a, b,,c` -> ("a", "b", "c"): a comma-separated option, blanks dropped."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def sdk_target(s: Settings) -> SdkTarget:
    """The SDK checkout the settings name (or the one the working folder is in)."""
    from conductor_regen.sdk.target import resolve_sdk

    return resolve_sdk(s.sdk)


VERBOSE_HELP = "show everything: resolved settings, debug logs, the whole report (on stderr)"
QUIET_HELP = "print only errors and the command's data or result lines (no steps, notes or warnings)"
GEN_HELP = {
    "spec": "spec file or URL (a server base URL gets /api-docs appended)",
    "generator-version": "OpenAPI Generator version (default 7.14.0, the SDK's)",
    "backend": "jar (default, bundled wheel on Java), docker or npm",
    "java-heap": "JVM heap for the generator, e.g. 2g",
    "no-fixups": "feed the spec to the generator without repairs",
}
SDK_HELP = "SDK checkout (default: CONDUCTOR_SDK_ROOT, sdk.root in invoke.yaml, else the checkout you are in)"
MOVED_HELP = ("this checkout was moved: also use backups taken from another path with the same folder name "
              "(by default only backups of this checkout's resolved path count)")
