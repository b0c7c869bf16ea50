"""The `conductor-regen` command: invoke's Program over the same tasks `invoke` lists in the repository."""

from __future__ import annotations

import os
import sys
from typing import List, Optional

from invoke.program import Program

from conductor_regen import __version__
from conductor_regen.config_sources import tool_repository

NAME = "conductor-regen"


class ConsoleProgram(Program):
    """Invoke's Program with the bundled task namespace, reading the tool repository's invoke.yaml too."""

    def parse_collection(self) -> None:
        """Use the bundled namespace; then load the repository's invoke.yaml as project config, as `invoke` does."""
        super().parse_collection()
        # Invoke reads project config only beside a tasks.py it loaded itself, so name the folder here.
        repo = tool_repository()
        if repo is not None:
            self.config.set_project_location(str(repo))
            self.config.load_project()


def program() -> ConsoleProgram:
    """The `conductor-regen` program over `conductor_regen.app.tasks.ns`."""
    from conductor_regen.app import options, tasks

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
