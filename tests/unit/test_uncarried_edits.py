"""A deliberate edit of the generated code that cannot be re-made in the new tree is never skipped silently.

Two kinds of edit reach the new tree: the declared local edits (`data/local_edits.json` or the SDK's
own file, `compat/local_edits.py`), and references from generated code into hand-written code, carried
by rule (`compat/hand_refs.py`, called by assembly's `carry_edits`). Whichever no longer applies
stops the run with an error naming the edit and the file, or, in a dry run, leaves a warning note.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

import pytest
from support.fake_sdk import write_files

from conductor_regen.commands.assemble import carry_edits
from conductor_regen.compat.hand_refs import carry_refs
from conductor_regen.compat.local_edits import LocalEdit, apply_edits
from conductor_regen.errors import VerificationError
from conductor_regen.checkout.target import SdkTarget

PKG = "conductor.asyncio_client"
ADAPTER_CLIENT = f"from {PKG}.adapters import ApiClient\n"  # the SDK's edit of one generated module
ADAPTER_MODELS = f"import {PKG}\n\n\ndef models() -> object:\n    return {PKG}.adapters.models\n"
UNCARRIED = f"http/rest.py: cannot re-make ApiClient imported from {PKG}.adapters in http/rest.py"


# --- declared local edits ---------------------------------------------------------------------------

def test_a_pattern_edit_that_no_longer_matches_stops_the_run(tmp_path: Path) -> None:
    write_files(tmp_path, {"configuration.py": "self.host = 'https://elsewhere'\n"})
    edit = LocalEdit(name="default-host", file="configuration.py", reason="r", pattern=r"_base_path = \"", replace="x")
    with pytest.raises(VerificationError, match="local edit 'default-host' no longer applies: configuration.py"):
        apply_edits(tmp_path, [edit])


def test_an_edit_of_a_file_the_new_tree_lacks_stops_the_run(tmp_path: Path) -> None:
    edit = LocalEdit(name="empty-init", file="api/__init__.py", reason="r", content="")
    with pytest.raises(VerificationError, match="local edit 'empty-init': api/__init__.py is not in the generated"):
        apply_edits(tmp_path, [edit])


def test_an_edit_already_in_place_is_not_a_failure(tmp_path: Path) -> None:
    write_files(tmp_path, {"api_client.py": "klass = adapters.models\n"})
    edit = LocalEdit(name="x", file="api_client.py", reason="r", find="http.models", replace="adapters.models")
    assert apply_edits(tmp_path, [edit]) == []


# --- references into hand-written code ----------------------------------------------------------------

def carried(tmp_path: Path, live: str, new: str, rel: str = "rest.py") -> List[str]:
    """carry_refs' failures for one generated file: `live` in the live client, `new` in the new tree."""
    write_files(tmp_path / "live", {"__init__.py": "", rel: live})
    write_files(tmp_path / "new", {"__init__.py": "", rel: new})
    return list(carry_refs(tmp_path / "live", tmp_path / "new", PKG).failures)


def test_an_import_edit_the_new_file_gives_no_place_for_is_a_failure(tmp_path: Path) -> None:
    assert carried(tmp_path, ADAPTER_CLIENT, "import json\n") == [UNCARRIED]


def test_an_attribute_edit_the_new_file_gives_no_place_for_is_a_failure(tmp_path: Path) -> None:
    failures = carried(tmp_path, ADAPTER_MODELS, "import json\n", rel="api_client.py")
    assert failures == [f"http/api_client.py: cannot re-make {PKG}.adapters.models (not the generated package) "
                        "in http/api_client.py"]


def test_an_edit_the_new_file_has_a_place_for_is_carried(tmp_path: Path) -> None:
    assert carried(tmp_path, ADAPTER_CLIENT, f"from {PKG}.http.api_client import ApiClient\n") == []
    assert (tmp_path / "new/rest.py").read_text() == ADAPTER_CLIENT


@pytest.fixture
def uncarriable(target: SdkTarget, tmp_path: Path) -> Path:
    """The fake SDK's live http/rest.py imports the adapters' ApiClient; the new tree's rest.py imports nothing."""
    write_files(target.http_dir, {"rest.py": ADAPTER_CLIENT})
    new_http = tmp_path / "staging" / "http"
    shutil.copytree(target.http_dir, new_http, symlinks=True)
    (new_http / "rest.py").write_text("import json\n")
    return new_http


def test_assembly_refuses_an_edit_it_cannot_carry(target: SdkTarget, uncarriable: Path) -> None:
    with pytest.raises(VerificationError) as caught:
        carry_edits(target, uncarriable, PKG, dry_run=False)
    assert "1 deliberate edit(s) of the generated code cannot be carried" in caught.value.message
    assert UNCARRIED in caught.value.message


def test_a_dry_run_warns_of_an_edit_it_cannot_carry(target: SdkTarget, uncarriable: Path) -> None:
    assert f"warning: {UNCARRIED}" in carry_edits(target, uncarriable, PKG, dry_run=True)
