"""Carrying kept methods by splicing text gives exactly the bytes of the libcst edit, or steps aside."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest
from support.paths import EXAMPLE_SDK

from conductor_regen.compat.codemods import imports_for
from conductor_regen.compat.method_splice import carry_with_libcst, splice_methods

API = EXAMPLE_SDK / "src/conductor/asyncio_client/http/api"
MODULE = "conductor.asyncio_client.http.api.thing_api"


def both(old: str, new: str, cls: str, names: Sequence[str], warn: Dict[str, str]) -> Tuple[Optional[str], str]:
    """(the text splice's code or None, the libcst edit's code)."""
    def imports(used: set) -> List[str]:  # type: ignore[type-arg]
        return imports_for(used, old, MODULE, new, False)

    return (splice_methods(old, new, cls, names, warn, imports),
            carry_with_libcst(old, new, cls, list(names), warn, MODULE, False))


def drop_methods(code: str, cls: str, names: Sequence[str], imports: Sequence[str] = ()) -> str:
    """`code` without the named methods of `cls` (and the blank lines before them) and without `imports` lines."""
    tree = ast.parse(code)
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    lines = code.splitlines(keepends=True)
    cut = set()
    for func in node.body:
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)) and func.name in names:
            first = min([func.lineno, *(d.lineno for d in func.decorator_list)])
            cut |= set(range(first - 3, func.end_lineno or first))
    return "".join(line for i, line in enumerate(lines) if i not in cut and line.rstrip("\n") not in imports)


def group(name: str) -> List[str]:
    return [name, f"{name}_with_http_info", f"{name}_without_preload_content", f"_{name}_serialize"]


def warnings_for(cls: str, names: Sequence[str]) -> Dict[str, str]:
    return {n: f"{cls}.{n} was removed from the server's API (spec v9) and is kept for backward compatibility"
            for n in names if not n.startswith("_")}


@pytest.mark.parametrize("module, cls, method, imports", [
    ("secret_resource_api.py", "SecretResourceApi", "delete_secret", ()),
    ("workflow_resource_api.py", "WorkflowResourceApi", "search",
     ("from conductor.asyncio_client.http.models.scrollable_search_result_workflow_summary import "
      "ScrollableSearchResultWorkflowSummary",)),
    ("metadata_resource_api.py", "MetadataResourceApi", "get", ("from typing import Any, Dict, List, Optional, "
                                                                "Tuple, Union",)),
])
def test_generated_methods_are_spliced_as_libcst_would_carry_them(module: str, cls: str, method: str,
                                                                   imports: Tuple[str, ...]) -> None:
    old = (API / module).read_text(encoding="utf-8")
    names = [n for n in group(method) if f"def {n}(" in old]
    assert len(names) == 4
    new = drop_methods(old, cls, names, imports)
    assert all(i not in new for i in imports)
    spliced, edited = both(old, new, cls, names, warnings_for(cls, names))
    assert spliced is not None  # generated code is the layout the splice is for
    assert spliced == edited
    assert spliced.count("DeprecationWarning") == 3 and "import warnings\n" in spliced
    for line in imports:
        assert line.split(" import ")[0] in spliced  # the import the carried methods need is back


OLD = '''"""Old."""

import warnings
from typing import Optional

from pydantic import validate_call

from pkg.models.gone import Gone
from pkg.models.thing import Thing


class ThingApi:
    """Things."""

    def __init__(self, client=None) -> None:
        self.client = client

    @validate_call
    async def get(self, key: str) -> Thing:
        """Get one."""
        return Thing()

    async def plain(self) -> Optional[Gone]:
        return None

    def warned(self) -> None:
        """Kept already."""
        warnings.warn("ThingApi.warned was removed", DeprecationWarning, stacklevel=2)
        return None

    def only_doc(self) -> None:
        """Nothing else."""

    def _helper(self, x):
        def inner():
            return x
        return inner
'''

NEW = '''"""New."""

from typing import Optional

from pydantic import validate_call

from pkg.models.thing import Thing


class ThingApi:
    """Things."""

    def __init__(self, client=None) -> None:
        self.client = client

    @validate_call
    async def put(self, key: str) -> Thing:
        """Put one."""
        return Thing()
'''


@pytest.mark.parametrize("names", [["plain"], ["warned"], ["only_doc"], ["_helper"], ["get", "plain", "warned"]])
def test_hand_made_layouts_match_the_libcst_edit(names: List[str]) -> None:
    spliced, edited = both(OLD, NEW, "ThingApi", names, warnings_for("ThingApi", names))
    assert spliced is not None
    assert spliced == edited
    assert spliced.count('DeprecationWarning, stacklevel=2)\n        return None') >= ("warned" in names)


@pytest.mark.parametrize("old, new", [
    (OLD, NEW + "    # a comment the class block may own\n"),  # trailing comment: which block owns it?
    (OLD.replace("    async def plain", "    # about plain\n    async def plain").replace(
        "        return None\n\n    def warned", "        return None\n        # footer\n\n    def warned"), NEW),
    (OLD.replace("\n    ", "\n  ").replace("\n      ", "\n    "), NEW),  # another indent unit
    (OLD, NEW.replace("        self.client = client\n", "        self.client = client\n\n    ...\n")),
    (OLD.replace("\n", "\r\n"), NEW.replace("\n", "\r\n")),
    (OLD, NEW.replace('    """Things."""\n', '    """Things."""  ;  x = 1\n')),
], ids=["class-footer-comment", "comments-between-methods", "two-space-indent", "ellipsis-body", "crlf",
        "semicolon"])
def test_other_layouts_splice_identically_or_fall_back(old: str, new: str) -> None:
    names = ["get", "plain", "warned"]
    spliced, edited = both(old, new, "ThingApi", names, warnings_for("ThingApi", names))
    assert spliced is None or spliced == edited
    assert edited != new


def test_comments_around_carried_methods_leave_the_edit_to_libcst() -> None:
    old = OLD.replace("        return None\n\n    def warned", "        return None\n        # footer\n\n    def warned")
    assert both(old, NEW, "ThingApi", ["plain"], {})[0] is None
    assert both(OLD, NEW + "    # owned by whom?\n", "ThingApi", ["plain"], {})[0] is None


def test_a_missing_class_is_left_to_the_caller(tmp_path: Path) -> None:
    assert splice_methods(OLD, NEW.replace("class ThingApi", "class OtherApi"), "ThingApi", ["plain"], {},
                          lambda used: []) is None
