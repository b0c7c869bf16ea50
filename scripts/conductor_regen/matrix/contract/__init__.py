"""The request contract: call every hand-written client method against a mock server built from the spec.

Two halves. This package's modules run with conductor_regen (prepare the repaired spec, classify
what happened, write JUnit). `in_sdk_venv/` runs inside the SDK's virtualenv, where only the SDK,
its dependencies and REQUIREMENTS are installed: the mock server, argument synthesis and the driver.
See docs/contract.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

# Installed into the SDK's virtualenv next to the SDK (pinned here, in one place).
REQUIREMENTS: Tuple[str, ...] = ("openapi-core==0.23.1", "polyfactory==3.5.0")
# openapi-core 0.23 needs Python 3.10; on an older interpreter the session skips itself, saying so.
MIN_PYTHON: Tuple[int, int] = (3, 10)
# `python -m in_sdk_venv` with this folder on PYTHONPATH runs the driver.
DRIVER_PATH = Path(__file__).resolve().parent
DRIVER_MODULE = "in_sdk_venv"
