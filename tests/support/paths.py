"""Where the tests find things: this checkout, its fixtures, and the real data in ../shared (may be absent)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
SPECS = FIXTURES / "specs"
SPEC_V1 = SPECS / "orkes-v1.json"
SPEC_V2 = SPECS / "orkes-v2.json"
EXAMPLE_SDK = FIXTURES / "example_sdk"
# The real data the slow tests use; they skip when it is not there.
SHARED = REPO.parent / "shared"
REAL_SPEC = SHARED / "specs" / "orkes-conductor-api-v2.json"
