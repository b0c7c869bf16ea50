"""Invoke entry point for this repository: the tasks live in `conductor_regen.app.tasks` (also `conductor-regen`)."""

from conductor_regen.app.tasks import ns

__all__ = ["ns"]
