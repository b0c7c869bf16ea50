"""Python's binding rules as the call binding check applies them, the shift check, and the keyword codemod's
edit of one call (pure logic; the whole-run versions on a facade SDK are in tests/e2e/test_binding_check.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from conductor_regen.analysis.signatures import (
    MISSING,
    MULTIPLE,
    SHIFTED,
    TOO_MANY,
    UNKNOWN,
    CallShape,
    bind,
    keyword_shape,
    shifts,
    signature_of,
)
from conductor_regen.compat.keyword_calls import Rewrite, rewrite_file


def _sig(code: str, bound: bool = True):
    func = ast.parse(code).body[0]
    assert isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
    return signature_of(func, f"Api.{func.name}", bound)


LIVE = _sig("async def execute_workflow(self, name, version, request_id, body, _request_timeout=None): ...")
NEW = _sig("async def execute_workflow(self, name, version, body, request_id=None, _request_timeout=None): ...")


# --- binding rules ---------------------------------------------------------------------------------

def test_too_many_positional_arguments() -> None:
    problems = bind(_sig("def f(self, a, b=1): ..."), CallShape(3, ()))
    assert [p.kind for p in problems] == [TOO_MANY]
    assert bind(_sig("def f(self, a, *rest): ..."), CallShape(3, ())) == []


def test_unknown_keyword_unless_kwargs() -> None:
    assert [(p.kind, p.detail) for p in bind(_sig("def f(self, a): ..."), CallShape(0, ("a", "b")))] == \
        [(UNKNOWN, "'b'")]
    assert bind(_sig("def f(self, a, **kw): ..."), CallShape(0, ("a", "b"))) == []


def test_missing_required_argument_unless_star_args() -> None:
    problems = bind(_sig("def f(self, a, b, *, c, d=1): ..."), CallShape(1, ()))
    assert [(p.kind, p.detail) for p in problems] == [(MISSING, "'b'"), (MISSING, "'c'")]
    assert bind(_sig("def f(self, a, b): ..."), CallShape(0, (), star=True)) == []


def test_multiple_values_for_an_argument() -> None:
    assert [p.kind for p in bind(_sig("def f(self, a, b): ..."), CallShape(1, ("a", "b")))] == [MULTIPLE]


def test_binding_matches_inspect_signature_bind() -> None:
    """The static rules agree with Python's own on a spread of calls."""
    import inspect

    def f(a, b, c=1, *, d, e=2):  # type: ignore[no-untyped-def]
        pass

    sig = _sig("def f(a, b, c=1, *, d, e=2): ...", bound=False)
    for shape in (CallShape(2, ("d",)), CallShape(3, ("d",)), CallShape(4, ("d",)), CallShape(1, ("d",)),
                  CallShape(2, ("x", "d")), CallShape(1, ("a", "d")), CallShape(0, ("a", "b", "c", "d", "e"))):
        args = list(range(shape.positional))
        try:
            inspect.signature(f).bind(*args, **{k: 0 for k in shape.keywords})
            python_ok = True
        except TypeError:
            python_ok = False
        assert (bind(sig, shape) == []) == python_ok, shape


def test_silent_shift_is_found_and_keywords_repair_it() -> None:
    call = CallShape(4, ())
    assert bind(NEW, call) == [], "the reordered call still binds: only the shift check sees it"
    found = shifts(LIVE, NEW, call)
    assert [p.kind for p in found] == [SHIFTED, SHIFTED]
    assert "argument 3 was 'request_id', now binds 'body'" in found[0].detail
    repaired = keyword_shape(LIVE, call)
    assert repaired == CallShape(0, ("name", "version", "request_id", "body"))
    assert bind(NEW, repaired) == [] and shifts(LIVE, NEW, repaired) == []


def test_signature_text_names_both_orders() -> None:
    assert LIVE.text() == "Api.execute_workflow(name, version, request_id, body)"
    assert NEW.text() == "Api.execute_workflow(name, version, body, request_id=…)"


def test_codemod_keeps_formatting(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("async def go(api, n, v, r, b):\n"
                    "    return await api.execute_workflow(\n"
                    "        n,  # the name\n"
                    "        v, r, b, _request_timeout=3,\n"
                    "    )\n")
    assert rewrite_file(path, [Rewrite(2, 17, ("name", "version", "request_id", "body"))]) == 1
    assert path.read_text() == ("async def go(api, n, v, r, b):\n"
                                "    return await api.execute_workflow(\n"
                                "        name=n,  # the name\n"
                                "        version=v, request_id=r, body=b, _request_timeout=3,\n"
                                "    )\n")
