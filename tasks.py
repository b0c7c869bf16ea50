"""Invoke entry point for this repository: the tasks live in `conductor_regen.tasks` (also `conductor-regen`)."""

from conductor_regen.tasks import ns

__all__ = ["ns"]
