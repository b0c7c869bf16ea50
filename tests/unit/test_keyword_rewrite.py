"""The keyword codemod names each positional argument after the parameter it filled in the LIVE signature.

The call was written against the live client: `start_workflow(name, version, body)` meant
version=version and body=body. Naming the arguments from the new signature would write
`body=version, version=body`, a call that binds cleanly and sends every value to the wrong place.
`rewrite_findings` on the binding check's findings over a mini SDK (live and staged clients, the facade
staged as assembly stages it), then the check again on the rewritten tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from support.mini_client import MiniSdk
from support.shifted_calls import FACADE_FILE, INSERT, REORDER, shifted_sdk, staged_facade

from conductor_regen.compat.keyword_calls import rewrite_findings


def rewritten(tmp_path: Path, params: Tuple[str, str], call: str) -> Tuple[MiniSdk, List[str]]:
    """The SDK after the codemod rewrote what the first binding check found, and the codemod's notes."""
    sdk = shifted_sdk(tmp_path / "sdk", *params, call=call)
    return sdk, rewrite_findings(sdk.binding().findings, sdk.staging)


def test_a_reordered_call_keeps_each_value_on_its_live_parameter(tmp_path: Path) -> None:
    sdk, _ = rewritten(tmp_path, REORDER, "name, version, body")
    assert "self._api.start_workflow(name=name, version=version, body=body)" in staged_facade(sdk)


def test_a_call_shifted_by_an_inserted_parameter_keeps_its_live_names(tmp_path: Path) -> None:
    sdk, _ = rewritten(tmp_path, INSERT, "name, body")
    assert "self._api.start_workflow(name=name, body=body)" in staged_facade(sdk)


def test_the_note_names_the_live_parameters(tmp_path: Path) -> None:
    _, notes = rewritten(tmp_path, REORDER, "name, version, body")
    assert len(notes) == 1
    assert "now called with keywords (name, version, body)" in notes[0], notes


def test_the_rewritten_call_binds_the_new_signature_with_nothing_left_to_flag(tmp_path: Path) -> None:
    sdk, _ = rewritten(tmp_path, REORDER, "name, version, body")
    assert sdk.binding().findings == ()


def test_only_the_staged_copy_is_rewritten(tmp_path: Path) -> None:
    sdk, _ = rewritten(tmp_path, REORDER, "name, version, body")
    live = (sdk.package_dir / FACADE_FILE).read_text(encoding="utf-8")
    assert "self._api.start_workflow(name, version, body)" in live
