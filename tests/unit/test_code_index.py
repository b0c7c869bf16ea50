"""The code index: a content is parsed once per run, an edited file again; the steps share it."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import List

import libcst as cst
import pytest
from support.paths import EXAMPLE_SDK
from support.staged_sdk import copy_example, package_dir

from conductor_regen.analysis.code_index import CodeIndex, content_key, current_index, run_index, walk_statements
from conductor_regen.analysis.references import check_references
from conductor_regen.compat.hand_refs import _find, _Finder, _move_import, _move_import_in_text

PACKAGE = "conductor.asyncio_client"


def test_a_second_lookup_of_the_same_content_does_not_parse(tmp_path: Path) -> None:
    live, staged = tmp_path / "live.py", tmp_path / "staged.py"
    live.write_text("import os\n\nclass A:\n    x: int = 1\n")
    shutil.copy(live, staged)  # the staged copy of an unchanged file: same bytes, another path
    index = CodeIndex()
    first = index.ast_file(live)
    assert index.ast_file(staged) is first and index.ast_parses == 1
    module = index.cst_file(live)
    assert index.cst_file(staged) is module and index.cst_parses == 1


def test_an_edited_file_is_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("x = 1\n")
    index = CodeIndex()
    before = index.ast_file(path)
    path.write_text("x = 2\n")
    after = index.ast_file(path)
    assert index.ast_parses == 2 and after is not before
    assert isinstance(after.body[0], __import__("ast").Assign)
    assert index.cst_file(path).code == "x = 2\n" and index.cst_parses == 1


def test_a_syntax_error_is_raised_each_time_and_never_cached() -> None:
    index = CodeIndex()
    for _ in range(2):
        with pytest.raises(SyntaxError):
            index.ast_of("def (:\n", "bad.py")
        with pytest.raises(cst.ParserSyntaxError):
            index.cst_of("def (:\n")
    assert (index.ast_parses, index.cst_parses) == (0, 0)


def test_memo_computes_once_per_key() -> None:
    index, calls = CodeIndex(), []
    key = ("thing", content_key("x = 1\n"))
    for _ in range(3):
        assert index.memo(key, lambda: calls.append(1) or len(calls)) == 1
    assert calls == [1]


def test_the_limit_starts_the_cache_afresh() -> None:
    index = CodeIndex(limit=2)
    for n in range(3):
        index.ast_of(f"x = {n}\n")
    index.ast_of("x = 0\n")  # evicted when the third content came in
    assert index.ast_parses == 4


def test_run_index_is_fresh_for_the_run_and_restored_after() -> None:
    outside = current_index()
    with run_index() as index:
        assert current_index() is index and index is not outside
        with run_index() as inner:
            assert current_index() is inner
        assert current_index() is index
    assert current_index() is outside


def test_the_reference_check_parses_each_file_once_per_run(tmp_path: Path) -> None:
    # Two checks of the same tree in one run (as keep-removed and the final check do) parse nothing new.
    root = copy_example(tmp_path)
    with run_index() as index:
        assert check_references(tmp_path / "no-staging", package_dir(root)) == ()
        parsed = index.ast_parses
        assert parsed > 10
        assert check_references(tmp_path / "no-staging", package_dir(root)) == ()
        assert index.ast_parses == parsed
        # An edit is seen: the edited module is parsed again, and only it.
        client = package_dir(root) / "orkes" / "orkes_base_client.py"
        client.write_text(client.read_text() + "\nfrom conductor.asyncio_client.http.api import NoSuchApi\n")
        problems = check_references(tmp_path / "no-staging", package_dir(root))
        assert index.ast_parses == parsed + 1
        assert len(problems) == 1 and "missing symbol NoSuchApi" in problems[0]


MOVE_CASES = [
    # one name among several, on one line
    "from conductor.asyncio_client.http.api_client import ApiClient, RequestSerialized\nimport os\n",
    # the only name: the new import takes the old one's place (comments and blank lines above stay)
    '"""Doc."""\n\n# comment\n\nfrom conductor.asyncio_client.http.api_client import ApiClient  # why\nx = 1\n',
    # wrapped in parentheses over several lines, with a trailing comma
    "import os\nfrom conductor.asyncio_client.http.api_client import (\n    ApiClient,\n    RequestSerialized,\n)\n\n"
    "class A:\n    pass\n",
    # relative import
    "from ..api_client import ApiClient as Other\nfrom ..api_client import ApiClient\n",
]


@pytest.mark.parametrize("code", MOVE_CASES)
def test_moving_an_import_in_the_text_equals_moving_it_in_the_whole_module(code: str) -> None:
    target = f"{PACKAGE}.adapters"
    whole = _move_import(cst.parse_module(code), "api/x_api.py", PACKAGE, "ApiClient", target)
    fast = _move_import_in_text(code, "api/x_api.py", PACKAGE, "ApiClient", target)
    assert whole is not None and fast is not None
    assert fast == whole.code
    assert f"from {target} import ApiClient\n" in fast


def test_the_text_shortcut_steps_aside_for_a_shared_line() -> None:
    code = "import os; from conductor.asyncio_client.http.api_client import ApiClient\n"
    assert _move_import_in_text(code, "api/x_api.py", PACKAGE, "ApiClient", f"{PACKAGE}.adapters") is None


TRICKY = '''
import a
class A:
    x = f()
    def m(self):
        self.p = P()
        try:
            import b
            self.q = Q()
        except (E, F) as e:
            class Inner:
                self.r = R()
        else:
            from c import d
        finally:
            self.p = P2()
        match self.p:
            case 1:
                self.s = S()
            case _:
                import e
        with w() as v, u():
            for i in g(lambda: h()):
                while True:
                    self.t = T()
        return [self.p for _ in range(3)]
if X:
    from y import z
    class B(A): pass
'''


def test_the_statement_walk_meets_statements_in_ast_walk_and_node_visitor_order() -> None:
    class Visits(ast.NodeVisitor):
        def __init__(self) -> None:
            self.seen: List[ast.AST] = []

        def generic_visit(self, node: ast.AST) -> None:
            self.seen.append(node)
            super().generic_visit(node)

    sources = [TRICKY] + [p.read_text(encoding="utf-8") for p in sorted(EXAMPLE_SDK.rglob("*.py"))[:80]]
    for source in sources:
        tree = ast.parse(source)
        for root in [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))]:
            expected = [n for n in ast.walk(root) if isinstance(n, ast.stmt)]
            assert [n for n in walk_statements(root) if isinstance(n, ast.stmt)] == expected
            visits = Visits()
            visits.visit(root)
            expected = [n for n in visits.seen if isinstance(n, ast.stmt)]
            assert [n for n in walk_statements(root, depth_first=True) if isinstance(n, ast.stmt)] == expected


@pytest.mark.parametrize("source", [
    TRICKY,
    "from conductor.asyncio_client.adapters import ApiClient\nx = conductor.asyncio_client.adapters.models.Thing\n",
    "import conductor.asyncio_client.adapters\nif conductor.asyncio_client.orkes.flag: import z\n",
    "from . import a; y = conductor.asyncio_client.adapters.Y\n",
    "from conductor.asyncio_client.adapters import A\n# conductor.asyncio_client.adapters.B in a comment\n",
    "def f():\n    from conductor.asyncio_client.http.models import A\n    from conductor.asyncio_client.adapters import A\n",
    "from conductor.asyncio_client.adapters import A\ns = 'caf\u00e9'\nv = conductor.asyncio_client.adapters.V\n",
])
def test_reading_only_the_imports_finds_what_the_full_walk_finds(source: str) -> None:
    files = [source] + [p.read_text(encoding="utf-8") for p in sorted(EXAMPLE_SDK.rglob("http/**/*.py"))[:60]]
    for text in files:
        with run_index():
            fast = _find(text, "api/x.py", PACKAGE)
        full = _Finder("api/x.py", PACKAGE)
        full.visit(ast.parse(text))
        assert (fast.imports, fast.attributes) == (full.imports, full.attributes)


def test_a_run_freezes_the_trees_it_keeps_for_the_collector_and_unfreezes_at_its_end() -> None:
    import gc

    gc.unfreeze()
    with run_index() as index:
        assert gc.get_freeze_count() == 0
        tree = index.ast_of("class A:\n    x = 1\n")
        frozen = gc.get_freeze_count()
        assert frozen > 0  # the full collections of a run no longer walk its parsed trees
        assert index.ast_of("class A:\n    x = 1\n") is tree and gc.get_freeze_count() == frozen
    assert gc.get_freeze_count() == 0
    # The process-wide index (outside a run) leaves the collector alone.
    current_index().ast_of("y = 2\n")
    assert gc.get_freeze_count() == 0
