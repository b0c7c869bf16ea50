"""Invoke entry point for this repository: the tasks live in `conductor_regen.cli.tasks` (also `conductor-regen`)."""

from conductor_regen.cli.tasks import ns

__all__ = ["ns"]
