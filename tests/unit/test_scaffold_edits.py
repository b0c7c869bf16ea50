"""Scaffolding's edits cost one print per file: the batched exports equal one-at-a-time exports, byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import List

import libcst as cst
import pytest

from conductor_regen.analysis.code_index import run_index
from conductor_regen.compat.scaffold import adapters as adapters_module
from conductor_regen.compat.codemods import add_to_all, insert_import
from conductor_regen.compat.scaffold import detect_import_style
from conductor_regen.compat.scaffold.aliases import ALIAS_DOC, alias_renamed

PKG = "pkg"
NEW_MODELS = ("zeta", "alpha", "a_very_long_model_name_that_needs_wrapping_in_the_paren_style", "mid")


def _camel(module: str) -> str:
    return "".join(part.title() for part in module.split("_"))


def _models_tree(tmp_path: Path, init: str) -> Path:
    """A staging folder with adapters/models (`init` as its __init__.py) and a generated http/models."""
    staging = tmp_path / "staging"
    (staging / "adapters/models").mkdir(parents=True)
    (staging / "adapters/models/__init__.py").write_text(init)
    for old in ("tag", "old"):
        (staging / f"adapters/models/{old}_adapter.py").write_text(
            f"from {PKG}.http.models import {_camel(old)}\n\n\nclass {_camel(old)}Adapter({_camel(old)}): ...\n")
    models = staging / "http/models"
    models.mkdir(parents=True)
    lines = []
    for module in ("tag", "old", *NEW_MODELS):
        (models / f"{module}.py").write_text(f"class {_camel(module)}:\n    pass\n")
        lines.append(f"from {PKG}.http.models.{module} import {_camel(module)}\n")
    (models / "__init__.py").write_text("".join(lines))
    return staging


def _one_at_a_time(code: str, modules: List[str]) -> str:
    """The exports as single edits, style re-read and the file printed after each (what batching must equal)."""
    parent = f"{PKG}.adapters.models"
    for module in modules:
        style = detect_import_style(code, parent + ".")
        statement = style.render(f"{parent}.{module}_adapter", f"{_camel(module)}Adapter as {_camel(module)}")
        code = add_to_all(insert_import(cst.parse_module(code), statement), _camel(module)).code
    return code


WRAPPED_UNSORTED = (f"from {PKG}.adapters.models.tag_adapter import (\n    TagAdapter as Tag,\n)\n"
                    f"from {PKG}.adapters.models.old_adapter import (\n    OldAdapter as Old,\n)\n\n"
                    '__all__ = [\n    "Tag",\n    "Old",\n]\n')
SINGLE_SORTED = (f"from {PKG}.adapters.models.old_adapter import OldAdapter as Old\n"
                 f"from {PKG}.adapters.models.tag_adapter import TagAdapter as Tag\n\n"
                 '__all__ = ["Old", "Tag"]\n')


@pytest.mark.parametrize("init", [WRAPPED_UNSORTED, SINGLE_SORTED, ""])
def test_model_exports_are_written_once_and_equal_one_edit_per_export(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, init: str) -> None:
    staging = _models_tree(tmp_path, init)
    init_path = staging / "adapters/models/__init__.py"
    writes: List[Path] = []
    real_write = adapters_module.write_text_no_follow

    def counting_write(path: Path, text: str) -> None:
        writes.append(path)
        real_write(path, text)

    monkeypatch.setattr(adapters_module, "write_text_no_follow", counting_write)
    with run_index():
        notes = adapters_module.scaffold_adapters(staging / "http", staging, package=PKG)

    # An empty __init__.py exports none of the existing adapters, so they are exported too.
    modules = sorted(NEW_MODELS if init else ("tag", "old", *NEW_MODELS))
    assert init_path.read_text() == _one_at_a_time(init, modules)
    assert writes.count(init_path) == 1
    exported = [n for n in notes if n.startswith("exported ")]
    assert exported == [f"exported {_camel(m)} from adapters/models/__init__.py" for m in modules]
    # Notes keep their order: each model's "created" note comes right before its "exported" note.
    assert notes.index("created adapters/models/mid_adapter.py (MidAdapter)") + 1 == notes.index(
        "exported Mid from adapters/models/__init__.py")


def test_scaffolding_again_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    staging = _models_tree(tmp_path, WRAPPED_UNSORTED)
    adapters_module.scaffold_adapters(staging / "http", staging, package=PKG)
    writes: List[Path] = []
    monkeypatch.setattr(adapters_module, "write_text_no_follow", lambda path, text: writes.append(path))
    assert adapters_module.scaffold_adapters(staging / "http", staging, package=PKG) == ()
    assert writes == []


def test_insert_import_still_sees_a_differently_wrapped_duplicate() -> None:
    module = cst.parse_module("from a.b import (\n    C,\n)\nfrom a.bc import D\n")
    assert insert_import(module, "from a.b import C\n") is module
    assert insert_import(module, "from a.bc import C\n").code.endswith("from a.bc import D\nfrom a.bc import C\n")


def _alias_tree(tmp_path: Path, adapter_body: str) -> Path:
    for side in ("old", "new"):
        api = tmp_path / side / "api"
        api.mkdir(parents=True)
        (api / "__init__.py").write_text(f"from {PKG}.http.api.things_api import ThingsApi\n")
        (api / "things_api.py").write_text("class ThingsApi:\n    async def search(self) -> None:\n        pass\n")
    adapters = tmp_path / "staging/adapters/api"
    adapters.mkdir(parents=True)
    (adapters / "things_api.py").write_text(
        f"from {PKG}.http.api.things_api import ThingsApi\n\n\nclass ThingsApiAdapter(ThingsApi):\n{adapter_body}")
    return tmp_path


def test_generated_modules_are_not_parsed_for_adapters_without_aliases(tmp_path: Path) -> None:
    root = _alias_tree(tmp_path, "    ...\n")
    with run_index() as index:
        assert alias_renamed(root / "old", root / "new", root / "staging", package=PKG) == ()
        # The adapter is read to find it; the generated module (new/api/things_api.py) never is.
        assert index.ast_parses == 2  # the adapter and new/api/__init__.py


def test_an_alias_the_new_api_reuses_is_still_reported(tmp_path: Path) -> None:
    alias = f'    async def search(self, *args, **kwargs):\n        """{ALIAS_DOC} find: renamed."""\n'
    root = _alias_tree(tmp_path, alias)
    notes = alias_renamed(root / "old", root / "new", root / "staging", package=PKG)
    assert notes == ("check ThingsApiAdapter.search: it is a deprecated alias, but ThingsApi.search is now "
                     "another operation, which the alias hides",)
