"""A run made once for a test module, on a copy of the example SDK, that several of its tests judge.

The run is a module-scoped fixture's value: each test reads the result (or copies the SDK copy before
editing it), none edits it in place, so every test sees the copy and the run as the fixture left them.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Callable, Optional

import pytest
from support.sdk_copies import Digest, copy_example_sdk, sdk_digest

# (SDK copy, JUnit folder) -> the finished process
Run = Callable[[Path, Path], "subprocess.CompletedProcess[str]"]


@dataclasses.dataclass(frozen=True)
class ModuleRun:
    """The copy the run checked (read-only for the tests), its digest before the run, the JUnit folder, the process."""

    sdk: Path
    before: Digest
    junit: Path
    proc: "subprocess.CompletedProcess[str]"


def run_on_example_copy(factory: pytest.TempPathFactory, name: str, run: Run,
                        edit: Optional[Callable[[Path], None]] = None) -> ModuleRun:
    """Copy the example SDK to a fresh `<name>/sdk` (no caches), let `edit` change it, then `run` it once."""
    base = factory.mktemp(name)
    sdk = copy_example_sdk(base / "sdk")
    if edit is not None:
        edit(sdk)
    before = sdk_digest(sdk)
    return ModuleRun(sdk, before, base / "junit", run(sdk, base / "junit"))
