"""Where the tests find things: this checkout, its fixtures, and the real data in ../shared (may be absent).

The example SDK and the two example specs ship inside the package (`conductor_regen/data/demo/`, the files
`invoke demo` and an installed `conductor-regen demo` use); the other fixtures live in tests/fixtures.
"""

from __future__ import annotations

from pathlib import Path

from conductor_regen.config_sources import DEMO_DATA

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
SPECS = DEMO_DATA / "specs"
SPEC_V1 = SPECS / "orkes-v1.json"
SPEC_V2 = SPECS / "orkes-v2.json"
EXAMPLE_SDK = DEMO_DATA / "example_sdk"
# The real data the slow tests use; they skip when it is not there.
SHARED = REPO.parent / "shared"
REAL_SPEC = SHARED / "specs" / "orkes-conductor-api-v2.json"
REAL_SDK = SHARED / "sdk" / "conductor-python-225f598f.tar.gz"  # the SDK at its last async-client commit
