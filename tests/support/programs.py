"""Both ways to run the tasks, as real subprocesses: `conductor-regen` (`python -m conductor_regen`) and the
repository's `invoke` (`python -m invoke --search-root REPO`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Mapping, Optional

from support import warm_cli
from support.paths import REPO
from support.sdk_copies import CliResult

PROGRAMS = ("conductor-regen", "invoke")


def program_cmd(program: str, *args: str) -> List[str]:
    """The argv that runs `program ARGS...` the way a user would."""
    if program == "invoke":
        return [sys.executable, "-m", "invoke", "--search-root", str(REPO), *args]
    assert program == "conductor-regen", program
    return [sys.executable, "-m", "conductor_regen", *args]


def run_as(program: str, *args: str, env: Mapping[str, str], cwd: Optional[Path] = None, input: str = "",
           timeout: float = 180) -> CliResult:
    """Run `program ARGS...` with stdin at EOF (unless `input`), both streams captured apart."""
    done = warm_cli.run(program_cmd(program, *args), env=env, input=input, cwd=cwd, timeout=timeout)
    return CliResult(done.returncode, done.stdout, done.stderr)


def one_error_line(r: CliResult) -> str:
    """The whole of stderr as a single `ERROR: ... / hint: ...` line (and nothing on stdout)."""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and " / hint: " in lines[0], r
    assert r.stdout == "", r
    return lines[0]
