"""keep-removed carries a removed operation the SDK still calls with its whole generated family.

The new spec drops DELETE /secrets/{key}; an Orkes client still calls `SecretResourceApi.delete_secret`.
Under the keep policy the kept API method must come with `delete_secret_with_http_info` and
`delete_secret_without_preload_content` (callers of the generated API use them too) and its
`_delete_secret_serialize` helper, each public one deprecated. Real generated code (the example SDK's
secret API) in a small package tree, `keep_removed` run on its staged copy.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from support.paths import EXAMPLE_SDK

from conductor_regen.analysis.references import check_references
from conductor_regen.compat.keep import keep_removed

PKG = "conductor.asyncio_client"
EXAMPLE_HTTP = EXAMPLE_SDK / "src/conductor/asyncio_client/http"
GENERATED = EXAMPLE_HTTP / "api/secret_resource_api.py"
FAMILY = ["delete_secret", "delete_secret_with_http_info", "delete_secret_without_preload_content",
          "_delete_secret_serialize"]
SIBLINGS = FAMILY[1:3]
ORKES = f'''from {PKG}.http.api.secret_resource_api import SecretResourceApi


class OrkesSecretClient:
    def __init__(self, api_client=None) -> None:
        self.secret_api = SecretResourceApi(api_client)

    async def delete_secret(self, key: str) -> None:
        await self.secret_api.delete_secret(key)
'''


def without(code: str, cls: str, names: List[str]) -> str:
    """`code` with the named methods of `cls` cut out, as a spec without the operation generates it."""
    node = next(n for n in ast.parse(code).body if isinstance(n, ast.ClassDef) and n.name == cls)
    cut = set()
    for func in node.body:
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)) and func.name in names:
            first = min([func.lineno, *(d.lineno for d in func.decorator_list)])
            cut |= set(range(first - 1, func.end_lineno or first))
    return "".join(line for i, line in enumerate(code.splitlines(keepends=True)) if i not in cut)


def methods(path: Path, cls: str) -> Dict[str, str]:
    """name -> source of each method of `cls` in `path`."""
    code = path.read_text(encoding="utf-8")
    lines = code.splitlines(keepends=True)  # ast.get_source_segment splits the whole file again per method
    node = next(n for n in ast.parse(code).body if isinstance(n, ast.ClassDef) and n.name == cls)
    return {f.name: "".join(lines[f.lineno - 1:f.end_lineno]) for f in node.body
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}


@pytest.fixture
def kept(tmp_path: Path) -> Tuple[Path, Tuple[str, ...]]:
    """(the staged secret API after keep_removed, its notes)."""
    pkg = tmp_path / "src" / "conductor" / "asyncio_client"
    shutil.copytree(EXAMPLE_HTTP, pkg / "http", ignore=shutil.ignore_patterns("__pycache__"))
    for rel, text in {"__init__.py": "", "orkes/__init__.py": "", "orkes/orkes_secret_client.py": ORKES}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text, encoding="utf-8")
    staging = tmp_path / "staging"
    for name in ("http", "orkes"):
        shutil.copytree(pkg / name, staging / name)
    api = staging / "http/api/secret_resource_api.py"
    api.write_text(without(api.read_text(encoding="utf-8"), "SecretResourceApi", FAMILY), encoding="utf-8")
    assert check_references(staging, pkg), "the Orkes client's call no longer resolves before keeping"
    notes = keep_removed(pkg / "http", staging / "http", pkg, staging, policy="keep", version="v2")
    assert check_references(staging, pkg) == ()
    return api, notes


def test_the_kept_method_comes_with_its_http_info_and_without_preload_content_siblings(
        kept: Tuple[Path, Tuple[str, ...]]) -> None:
    api, _ = kept
    assert [m for m in methods(api, "SecretResourceApi") if m in FAMILY] == FAMILY


def test_the_note_names_every_carried_sibling(kept: Tuple[Path, Tuple[str, ...]]) -> None:
    _, notes = kept
    assert notes == ("kept method SecretResourceApi.delete_secret in http/api/secret_resource_api.py (with "
                     "delete_secret_with_http_info, delete_secret_without_preload_content, "
                     "_delete_secret_serialize): removed in spec v2, still used by the SDK; deprecated",)


@pytest.mark.parametrize("name", SIBLINGS)
def test_each_kept_sibling_is_deprecated(kept: Tuple[Path, Tuple[str, ...]], name: str) -> None:
    api, _ = kept
    assert (f"SecretResourceApi.{name} was removed from the server's API (spec v2)"
            in methods(api, "SecretResourceApi").get(name, "<not kept>"))


def test_the_operations_the_new_spec_still_has_are_left_alone(kept: Tuple[Path, Tuple[str, ...]]) -> None:
    api, _ = kept
    now, before = methods(api, "SecretResourceApi"), methods(GENERATED, "SecretResourceApi")
    assert {n: now[n] for n in before if n not in FAMILY} == {n: s for n, s in before.items() if n not in FAMILY}
