"""The binding check flags a hand-written positional call whose argument would land on another parameter.

A reorder (a parameter turned optional moves behind the required ones) or an inserted parameter keeps
the call binding, so only a comparison of the live and new positional orders sees it: the check must
report it as `positional argument shifted`, naming both parameters, and must not report calls whose
arguments keep their parameters. Pure rules (`signatures.shifts`) and the whole check (`check_bindings`)
on a mini SDK with a live and a staged generated client.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import List, Tuple

from support.shifted_calls import FACADE_FILE, INSERT, REORDER, shifted_sdk

from conductor_regen.analysis.binding import Finding
from conductor_regen.analysis.signatures import SHIFTED, CallShape, Signature, bind, shifts, signature_of


def sig(params: str) -> Signature:
    func = ast.parse(f"async def start_workflow(self, {params}, _request_timeout=None): ...").body[0]
    assert isinstance(func, ast.AsyncFunctionDef)
    return signature_of(func, "Api.start_workflow", bound=True)


def findings(tmp_path: Path, params: Tuple[str, str], call: str) -> List[Finding]:
    return list(shifted_sdk(tmp_path / "sdk", *params, call=call).binding().findings)


def problems_of(found: List[Finding]) -> List[Tuple[str, str]]:
    return [(p.kind, p.detail) for f in found for p in f.problems]


# --- the rule ----------------------------------------------------------------------------------------

def test_a_reorder_that_still_binds_is_a_shift_of_each_moved_argument() -> None:
    live, new = sig("name, version, body"), sig("name, body, version=None")
    call = CallShape(3, ())
    assert bind(new, call) == [], "the call binds: arity alone cannot see the change"
    assert [(p.kind, p.detail) for p in shifts(live, new, call)] == [
        (SHIFTED, "argument 2 was 'version', now binds 'body'"),
        (SHIFTED, "argument 3 was 'body', now binds 'version'")]


def test_an_inserted_parameter_shifts_the_arguments_after_it() -> None:
    live, new = sig("name, body=None"), sig("name, version=None, body=None")
    call = CallShape(2, ())
    assert bind(new, call) == []
    assert [(p.kind, p.detail) for p in shifts(live, new, call)] == [
        (SHIFTED, "argument 2 was 'body', now binds 'version'")]


def test_arguments_before_the_change_are_not_shifts() -> None:
    live, new = sig("name, version, body"), sig("name, body, version=None")
    assert shifts(live, new, CallShape(1, ("version", "body"))) == []


# --- the check on SDK code ---------------------------------------------------------------------------

def test_the_check_flags_a_reordered_positional_call(tmp_path: Path) -> None:
    found = findings(tmp_path, REORDER, "name, version, body")
    assert [f.site.where.endswith(f"{FACADE_FILE}:11") for f in found] == [True]
    assert problems_of(found) == [(SHIFTED, "argument 2 was 'version', now binds 'body'"),
                                  (SHIFTED, "argument 3 was 'body', now binds 'version'")]
    assert found[0].repairable and found[0].managed, "keywords by the live names repair it, in a managed folder"


def test_the_check_flags_a_call_shifted_by_an_inserted_parameter(tmp_path: Path) -> None:
    found = findings(tmp_path, INSERT, "name, body")
    assert problems_of(found) == [(SHIFTED, "argument 2 was 'body', now binds 'version'")]
    assert "live: WorkflowResourceApi.start_workflow(name, body=…)" in found[0].render()
    assert "new: WorkflowResourceApi.start_workflow(name, version=…, body=…)" in found[0].render()


def test_a_keyword_call_to_the_reordered_operation_is_not_flagged(tmp_path: Path) -> None:
    assert findings(tmp_path, REORDER, "name, version=version, body=body") == []


def test_the_same_order_on_both_sides_is_not_flagged(tmp_path: Path) -> None:
    assert findings(tmp_path, (REORDER[0], REORDER[0]), "name, version, body") == []
