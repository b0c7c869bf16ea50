from __future__ import annotations

from pathlib import Path

import pytest

from conductor_regen.errors import VerificationError
from conductor_regen.compat.local_edits import LocalEdit, apply_edits, load_edits


def test_defaults_are_the_sdks_three_edits() -> None:
    assert [e.name for e in load_edits()] == ["deserialize-into-adapters", "empty-package-init",
                                              "default-host-localhost"]
    assert all(e.reason for e in load_edits())


def test_edit_that_no_longer_matches_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "api_client.py").write_text("nothing to see\n")
    edit = LocalEdit(name="x", file="api_client.py", reason="r", find="old", replace="new")
    with pytest.raises(VerificationError, match="no longer applies"):
        apply_edits(tmp_path, [edit])


def test_edit_cannot_escape_the_package(tmp_path: Path) -> None:
    edit = LocalEdit(name="x", file="../outside.py", reason="r", content="")
    with pytest.raises(VerificationError):
        apply_edits(tmp_path / "pkg", [edit])


def test_an_sdk_file_replaces_the_defaults(tmp_path: Path) -> None:
    from conductor_regen.compat.local_edits import SDK_FILE, edits_for

    assert [e.name for e in edits_for(tmp_path)] == [e.name for e in load_edits()]
    own = tmp_path / SDK_FILE
    own.parent.mkdir()
    own.write_text('[{"name": "mine", "file": "__init__.py", "reason": "r", "content": "# ours\\n"}]')
    assert [e.name for e in edits_for(tmp_path)] == ["mine"]
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import everything\n")
    assert apply_edits(pkg, edits_for(tmp_path)) == ["mine"]
    assert (pkg / "__init__.py").read_text() == "# ours\n"
