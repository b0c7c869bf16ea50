"""`--help` is clean for every task, through both programs: flags well formed, every option explained."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest
from support import warm_cli
from support.paths import REPO
from conductor_regen.cli.tasks import ns

TASKS = sorted(ns.task_names)
# `  -x STRING, --long-name=STRING   help` or `  --long-name   help`, as invoke prints them.
OPTION = re.compile(r"^  (?:-[A-Za-z](?: [A-Z]+)?, )?--[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?:=[A-Z]+)?(?:  +(\S.*))?$")


def option_lines(text: str) -> List[str]:
    """Each option with its help joined onto one line (invoke wraps help to the terminal width)."""
    entries: List[str] = []
    for line in text.split("\nOptions:\n", 1)[1].splitlines():
        if line.startswith("  -"):
            entries.append(line.rstrip())
        elif line.strip() and entries:
            entries[-1] += ("  " if entries[-1].endswith(("STRING", "INT")) or " " not in entries[-1].strip()
                            else " ") + line.strip()
    return [re.sub(r"(\S)  +(\S)", r"\1  \2", e) for e in entries]


def help_of(name: str, *program: str) -> str:
    """`--help NAME`: `conductor-regen`'s in this process, another program's (`invoke`) in a fresh one."""
    if not program:
        return _console_help(name)
    done = subprocess.run([sys.executable, "-m", *program, "--help", name], cwd=REPO,
                          capture_output=True, text=True, env=dict(os.environ, COLUMNS="100"))
    assert done.returncode == 0, done.stderr
    return done.stdout


def _console_help(name: str) -> str:
    from conductor_regen.cli import options
    from conductor_regen.cli.console import program

    saved, columns = options.PROGRAM, os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            program().run(["conductor-regen", "--help", name], exit=False)
    finally:
        options.PROGRAM = saved  # program() names itself for hints; other tests expect `invoke`
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return out.getvalue()


def test_every_task_is_listed() -> None:
    assert len(TASKS) >= 16 and "regenerate" in TASKS and "restore" in TASKS


@pytest.mark.parametrize("name", TASKS)
def test_help_is_clean(name: str) -> None:
    text = help_of(name)
    assert text.startswith(f"Usage: conductor-regen [--core-opts] {name} ")
    docstring = text.split("Docstring:\n", 1)[1].split("\n\n", 1)[0].strip()
    assert docstring, f"{name} has no docstring"
    lines = option_lines(text)
    assert lines, text
    for line in lines:
        assert "--," not in line and not line.startswith("  --, ")
        match = OPTION.match(line)
        assert match, f"{name}: malformed option line {line!r}"
        assert match.group(1), f"{name}: option without help: {line!r}"


@pytest.mark.e2e  # runs the CLI in subprocesses
@pytest.mark.parametrize("program", [("conductor_regen",), ("invoke",)])
def test_help_after_the_task_name_is_help(program: Tuple[str, ...]) -> None:
    """`TASK --help` prints the task's help, also for tasks whose first argument is positional (spec)."""
    for name in ("regenerate", "replace", "diff", "restore", "generate"):  # generate: two positionals
        done = subprocess.run([sys.executable, "-m", *program, name, "--help"], cwd=REPO, capture_output=True,
                              text=True, env=dict(os.environ, COLUMNS="100"))
        assert (done.returncode, done.stderr) == (0, ""), name
        assert option_lines(done.stdout) == option_lines(help_of(name, *program[1:] if program == ("conductor_regen",)
                                                                  else program)), name


def test_invoke_shows_the_same_options() -> None:
    """The repository's `invoke` runs the same namespace: same option lines for regenerate."""
    text = help_of("regenerate", "invoke")
    assert option_lines(text) == option_lines(help_of("regenerate"))
    assert "--no-cache" in text and "--, --no-cache" not in text


@pytest.mark.e2e  # runs the CLI in subprocesses
def test_shell_completion(tmp_path: Path) -> None:
    """The completion script names the command, and completion offers task names and options."""
    def run(*args: str) -> str:
        done = warm_cli.run([sys.executable, "-m", "conductor_regen", *args], cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    script = run("--print-completion-script", "bash")
    assert "complete" in script and "conductor-regen" in script
    assert set(TASKS) <= set(run("--complete", "--", "conductor-regen").split())
    assert "--skip-tests" in run("--complete", "--", "conductor-regen", "regenerate", "--").split()


def test_a_short_flag_means_the_same_option_in_every_task() -> None:
    meaning: dict = {}
    for name in TASKS:
        task = ns.tasks[name]
        for arg in task.get_arguments(ignore_unknown_help=True):
            long_names = [n for n in arg.names if len(n) > 1]
            for short in (n for n in arg.names if len(n) == 1):
                meaning.setdefault(short, set()).update(long_names)
    assert meaning, "no task has a short flag"
    assert {s: m for s, m in meaning.items() if len(m) != 1} == {}
    assert meaning["s"] == {"spec"} and meaning["d"] == {"sdk"} and meaning["p"] == {"python"}
