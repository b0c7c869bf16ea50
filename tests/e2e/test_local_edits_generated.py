"""The default local edits on real generator output: pristine v1 plus the edits is the committed client."""

from __future__ import annotations

import shutil
from pathlib import Path

from support.paths import EXAMPLE_SDK
from support.staged_sdk import PristineHttp

from conductor_regen.compat.local_edits import apply_edits, load_edits


def test_defaults_turn_pristine_output_into_the_committed_client(tmp_path: Path, pristine_http: PristineHttp) -> None:
    """Pristine v1 output plus the edits equals the example SDK's committed http/ for the edited files."""
    pkg = tmp_path / "http"
    shutil.copytree(pristine_http("v1"), pkg)
    committed = EXAMPLE_SDK / "src" / "conductor" / "asyncio_client" / "http"
    edited = {"api_client.py", "__init__.py", "configuration.py"}
    assert all((pkg / f).read_bytes() != (committed / f).read_bytes() for f in edited)
    assert sorted(apply_edits(pkg, load_edits())) == sorted(e.name for e in load_edits())
    for name in edited:
        assert (pkg / name).read_bytes() == (committed / name).read_bytes(), name
    assert apply_edits(pkg, load_edits()) == []  # idempotent
