"""Any failure as one short line: what failed and where, never a traceback or a 17 KB list.

`shutil.copytree` gathers every file it could not copy into one `shutil.Error` whose text is the
repr of that whole list (a disk filling up mid-copy fails every file after it); an OSError's text
quotes its paths; a path may hold a newline. The edges and the run transaction describe failures
with `describe` so the `ERROR: ... / hint: ...` line stays one line that names the first cause.
"""

from __future__ import annotations

import re
import shutil
from typing import Any

from conductor_regen.errors import RegenError
from conductor_regen.checkout.signals import interrupted_by, signal_of

# str() of an OSError: "[Errno 28] No space left on device: '/x/y'" (a second path after " -> ").
_OS_ERROR_TEXT = re.compile(r"^\[Errno \d+\] (?P<what>.*?)(?:: '(?P<path>.*?)')?(?: -> '(?P<path2>.*)')?$", re.S)
MAX_CHARS = 500


def show(value: Any) -> str:
    """A path or text as it may appear on one line: control characters (a newline) escaped."""
    text = str(value)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _one_line(text: str) -> str:
    line = show(text.strip())
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 3] + "..."


def os_error(exc: OSError) -> str:
    """`Permission denied: /path` (`-> /other` for a rename): the cause, then the path(s)."""
    if isinstance(exc, shutil.Error):
        return copy_failures(exc)
    what = exc.strerror or _one_line(str(exc)) or type(exc).__name__
    where = f": {show(exc.filename)}" if exc.filename else ""
    if exc.filename2:
        where += f" -> {show(exc.filename2)}"
    return what + where


def _cause(why: str, src: str) -> str:
    match = _OS_ERROR_TEXT.match(why.strip())
    if match is None:
        return _one_line(why)
    path = match.group("path")
    return match.group("what") + (f": {show(path)}" if path and path != src else "")


def copy_failures(exc: shutil.Error) -> str:
    """The first file a copy failed on and why, and how many more failed (shutil.Error lists them all)."""
    entries = exc.args[0] if exc.args else None
    if not isinstance(entries, list) or not entries:
        return _one_line(str(exc)) or "copying failed"
    first = entries[0]
    if isinstance(first, tuple) and len(first) == 3:
        src = str(first[0])
        line = f"copying {show(src)} failed: {_cause(str(first[2]), src)}"
    else:
        line = f"copying failed: {_one_line(str(first))}"
    if len(entries) > 1:
        line += f" (and {len(entries) - 1} more file(s) that could not be copied)"
    return line


def describe(exc: BaseException) -> str:
    """One line for any failure: a domain error's message, an OS error's cause and path, an interruption."""
    if isinstance(exc, RegenError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return interrupted_by(signal_of(exc))
    if isinstance(exc, OSError):
        return os_error(exc)
    lines = str(exc).strip().splitlines()
    text = _one_line(lines[0]) if lines else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
