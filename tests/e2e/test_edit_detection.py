"""detect-edits: the committed client diffed against a pristine regeneration, proposed as transforms."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.generated_trees import settings
from support.staged_sdk import copy_example, digest, package_dir, stage
from support.staged_sdk import PristineHttp
from support.paths import EXAMPLE_SDK, SPEC_V1

from conductor_regen.compat.keep import keep_removed
from conductor_regen.config import SdkConfig
from conductor_regen.compat.edits import ProposedEdit, detect_edits, detect_in_sdk, one_sided
from conductor_regen.compat.local_edits import DEFAULTS, apply_edits
from conductor_regen.progress import StepLog
from conductor_regen.checkout.target import resolve_sdk

COMMITTED = EXAMPLE_SDK / "src" / "conductor" / "asyncio_client" / "http"


def test_the_example_sdk_has_exactly_the_three_known_edits(v1_http: Path) -> None:
    edits = detect_edits(COMMITTED, v1_http)
    assert [e.file for e in edits] == ["__init__.py", "api_client.py", "configuration.py"]
    known = {e["file"]: e for e in json.loads(DEFAULTS.read_text())}
    init, api_client, configuration = edits
    assert init.to_json() == {"name": "init-content", "file": "__init__.py", "reason": init.reason, "content": ""}
    assert (api_client.find, api_client.replace) == (known["api_client.py"]["find"], known["api_client.py"]["replace"])
    # The host is matched by where it is set, not by the spec's server URL, like the hand-written edit.
    assert configuration.pattern == "(self\\._base_path = |'url': )\"[^\"\\n]*\""
    assert configuration.replace == known["configuration.py"]["replace"]
    assert all(e.reason.startswith("TODO") for e in edits)


def test_the_proposals_turn_pristine_into_committed_and_are_idempotent(v1_http: Path, tmp_path: Path) -> None:
    tree = tmp_path / "http"
    shutil.copytree(v1_http, tree)
    edits = [e.as_local_edit() for e in detect_edits(COMMITTED, v1_http)]
    assert apply_edits(tree, edits) == ["init-content", "api-client-edit", "configuration-value"]
    assert digest(tree) == digest(COMMITTED)
    assert apply_edits(tree, edits) == []


def test_the_proposals_serialize_like_the_edits_file_and_are_deterministic(v1_http: Path) -> None:
    first = [e.to_json() for e in detect_edits(COMMITTED, v1_http)]
    assert first == [e.to_json() for e in detect_edits(COMMITTED, v1_http)]
    for entry in first:
        assert list(entry)[:3] == ["name", "file", "reason"]
    assert json.loads(json.dumps(first)) == first


def test_files_on_one_side_are_reported_separately(v1_http: Path, tmp_path: Path) -> None:
    committed = tmp_path / "committed"
    shutil.copytree(COMMITTED, committed)
    (committed / "api/extra_api.py").write_text("class ExtraApi:\n    pass\n")
    (committed / "rest.py").unlink()
    (committed / ".regen-provenance.json").write_text("{}")
    (committed / "__pycache__").mkdir()
    (committed / "__pycache__/x.cpython-311.pyc").write_bytes(b"\0")
    edits = detect_edits(committed, v1_http)
    assert [e.file for e in edits] == ["__init__.py", "api_client.py", "configuration.py"]
    sides = one_sided(committed, v1_http)
    assert sides.only_committed == ("api/extra_api.py",)
    assert sides.only_pristine == ("rest.py",)


def test_separate_changes_become_separate_find_replace_edits(tmp_path: Path) -> None:
    pristine, committed = tmp_path / "pristine", tmp_path / "committed"
    pristine.mkdir()
    committed.mkdir()
    lines = [f"value_{n} = {n}\n" for n in range(40)]
    (pristine / "m.py").write_text("".join(lines))
    changed = list(lines)
    changed[3] = "value_3 = 'three'\n"
    changed[30:31] = ["value_30 = 30  # kept\n", "extra = True\n"]
    (committed / "m.py").write_text("".join(changed))
    edits = detect_edits(committed, pristine)
    assert [(e.name, e.find, e.replace) for e in edits] == [
        ("m-edit-1", "value_3 = 3", "value_3 = 'three'"),
        ("m-edit-2", "value_30 = 30", "value_30 = 30  # kept\nextra = True"),
    ]


def test_a_line_that_is_not_unique_gets_context(tmp_path: Path) -> None:
    pristine, committed = tmp_path / "pristine", tmp_path / "committed"
    pristine.mkdir()
    committed.mkdir()
    (pristine / "m.py").write_text("def a():\n    return None\n\n\ndef b():\n    return None\n")
    (committed / "m.py").write_text("def a():\n    return None\n\n\ndef b():\n    return 1\n")
    (edit,) = detect_edits(committed, pristine)
    assert edit.find == "def b():\n    return None\n"
    assert edit.replace == "def b():\n    return 1\n"


def test_a_small_file_rewritten_entirely_is_proposed_whole(tmp_path: Path) -> None:
    pristine, committed = tmp_path / "pristine", tmp_path / "committed"
    pristine.mkdir()
    committed.mkdir()
    (pristine / "__init__.py").write_text("from .a import A\nfrom .b import B\n")
    (committed / "__init__.py").write_text("# hand-written\n")
    assert detect_edits(committed, pristine) == [
        ProposedEdit("init-content", "__init__.py", content="# hand-written\n")]


def test_identical_trees_propose_nothing(v1_http: Path) -> None:
    assert detect_edits(v1_http, v1_http) == []


def test_blocks_kept_for_backward_compatibility_are_not_edits(pristine_http: PristineHttp, tmp_path: Path,
                                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    v2 = pristine_http("v2")
    root = copy_example(tmp_path)
    pkg = package_dir(root)
    staging = stage(root, v2, tmp_path / "staging")
    keep_removed(pkg / "http", staging / "http", pkg, staging)
    # The kept tree as it would be committed after the run, against a pristine v2 generation.
    edits = detect_edits(staging / "http", v2)
    assert [e.file for e in edits] == ["__init__.py", "api_client.py", "configuration.py"]
    sides = one_sided(staging / "http", v2)
    assert sides.only_committed == ("api/metrics_token_resource_api.py", "models/metrics_token.py")


def test_detect_in_sdk_generates_the_pristine_tree_itself(generator_cache: Path, tmp_path: Path,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    root = copy_example(tmp_path)
    target = resolve_sdk(SdkConfig(root=root))
    s = settings(generator_cache)
    found = detect_in_sdk(target, str(SPEC_V1), s, StepLog(), env={})
    assert [e.name for e in found.edits] == ["init-content", "api-client-edit", "configuration-value"]
    assert json.loads(found.to_json()) == [e.to_json() for e in found.edits]
    assert found.lines()[0].startswith("3 proposed edit(s) against a pristine generation from ")
    assert any("conductor.asyncio_client.adapters.models" in line for line in found.lines())
    # No spec recorded: no diff, but the edits that name hand-written code are still proposed.
    without = detect_in_sdk(target, None, s, StepLog(), env={})
    assert without.edits == () and without.lines()[0].startswith("no spec recorded or given")
