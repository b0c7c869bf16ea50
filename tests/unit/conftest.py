"""Fixtures shared by the unit tests of the SDK-writing core (backups, restore)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fake_sdk import make_sdk, target_of

from conductor_regen.sdk.target import SdkTarget


@pytest.fixture
def target(tmp_path: Path) -> SdkTarget:
    """A small, real fake SDK checkout (not under git)."""
    return target_of(make_sdk(tmp_path))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """An empty backup store beside it."""
    return tmp_path / "backups"
