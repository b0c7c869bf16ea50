"""Domain errors: the core raises these, the edges (tasks.py, noxfile.py) render them."""

from __future__ import annotations


class RegenError(Exception):
    """Base error. `message` says what happened, `hint` says what to do about it."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "", notes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.notes = notes  # what to do about it, in detail: printed before the error line

    def render(self) -> str:
        """One line for humans: the cause, then the fix."""
        return f"ERROR: {self.message}" + (f" / hint: {self.hint}" if self.hint else "")


class ConfigError(RegenError):
    """Bad or missing configuration, or a bad command-line option."""

    exit_code = 2


class SpecFetchError(RegenError):
    """The spec could not be downloaded."""


class SpecParseError(RegenError):
    """The spec is not valid JSON or YAML."""


class SpecValidationError(RegenError):
    """The spec is not an OpenAPI document we can generate from."""


class GeneratorError(RegenError):
    """OpenAPI Generator failed or is not available."""


class VerificationError(RegenError):
    """A generated or swapped tree failed a check."""


class SdkError(RegenError):
    """The target SDK checkout is missing, dirty, locked or otherwise unusable."""


class BackupError(RegenError):
    """A backup is missing, damaged or cannot be written."""


class Aborted(RegenError):
    """The user declined at a prompt; nothing was changed. Not an error: a plain line, exit 1."""

    exit_code = 1

    def render(self) -> str:
        """The plain message (a choice, not a failure), then what to do instead."""
        return self.message + (f" ({self.hint})" if self.hint else "")
