"""Scaffolding adapters for new generated APIs and models, in the SDK's own style, idempotently."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Tuple

import pytest
from support.staged_sdk import (
    PACKAGE,
    copy_example,
    digest,
    failed_tests,
    package_dir,
    run_python,
    run_sdk_tests,
    shadow_src,
    stage,
)

from conductor_regen.compat.keep import keep_removed
from conductor_regen.analysis.references import check_references
from conductor_regen.compat.scaffold import ImportStyle, detect_import_style, generated_classes
from conductor_regen.compat.scaffold.adapters import scaffold_adapters
from conductor_regen.generator.verify import import_all

HUMAN_MODELS = ("HumanTaskEntry", "HumanTaskSearch", "HumanTaskSearchResult")


Staged = Tuple[Path, Path, Path]


@pytest.fixture
def staged(tmp_path: Path, v2_http: Path) -> Staged:
    root = copy_example(tmp_path)
    return root, package_dir(root), stage(root, v2_http, tmp_path / "staging")


def test_new_api_and_models_get_adapters_exports_and_wiring(staged: Staged) -> None:
    _root, pkg, staging = staged
    notes = scaffold_adapters(staging / "http", staging)
    assert notes == (
        "created adapters/api/human_task_api.py (HumanTaskApiAdapter, subclass style)",
        "created adapters/models/human_task_entry_adapter.py (HumanTaskEntryAdapter)",
        "exported HumanTaskEntry from adapters/models/__init__.py",
        "created adapters/models/human_task_search_adapter.py (HumanTaskSearchAdapter)",
        "exported HumanTaskSearch from adapters/models/__init__.py",
        "created adapters/models/human_task_search_result_adapter.py (HumanTaskSearchResultAdapter)",
        "exported HumanTaskSearchResult from adapters/models/__init__.py",
        "wired self.human_task_api = HumanTaskApiAdapter(...) into orkes/orkes_base_client.py",
    )
    adapters = staging / "adapters"
    assert (adapters / "api/human_task_api.py").read_text() == (
        "from conductor.asyncio_client.http.api import HumanTaskApi\n\n\n"
        "class HumanTaskApiAdapter(HumanTaskApi): ...\n")
    assert (adapters / "models/human_task_entry_adapter.py").read_text() == (
        "from conductor.asyncio_client.http.models import HumanTaskEntry\n\n\n"
        "class HumanTaskEntryAdapter(HumanTaskEntry): ...\n")
    init = (adapters / "models/__init__.py").read_text()
    # Same wrapping as the existing lines, in sorted position, and in a sorted __all__.
    assert ("from conductor.asyncio_client.adapters.models.generate_token_request_adapter import (\n"
            "    GenerateTokenRequestAdapter as GenerateTokenRequest,\n)\n"
            "from conductor.asyncio_client.adapters.models.human_task_entry_adapter import (\n"
            "    HumanTaskEntryAdapter as HumanTaskEntry,\n)\n") in init
    names = re.findall(r'^    "(\w+)",$', init, re.M)
    assert names == sorted(names) and set(HUMAN_MODELS) <= set(names)
    imports = re.findall(r"^from (\S+) import", init, re.M)
    assert imports == sorted(imports)
    base = (staging / "orkes/orkes_base_client.py").read_text()
    assert ("from conductor.asyncio_client.adapters.api.application_resource_api import \\\n"
            "    ApplicationResourceApiAdapter\n"
            "from conductor.asyncio_client.adapters.api.human_task_api import \\\n"
            "    HumanTaskApiAdapter\n") in base
    assert base.rstrip().endswith(
        "self.metrics_token_api = MetricsTokenResourceApiAdapter(self.api_client)\n"
        "        self.human_task_api = HumanTaskApiAdapter(self.api_client)")
    # The live SDK is never touched.
    assert not (pkg / "adapters/api/human_task_api.py").exists()


def test_scaffolding_twice_changes_nothing(staged: Staged) -> None:
    _root, _pkg, staging = staged
    scaffold_adapters(staging / "http", staging)
    first = digest(staging)
    assert scaffold_adapters(staging / "http", staging) == ()
    assert digest(staging) == first


def test_after_keep_and_scaffold_the_staged_sdk_imports_and_its_tests_pass(staged: Staged, tmp_path: Path) -> None:
    root, pkg, staging = staged
    keep_removed(pkg / "http", staging / "http", pkg, staging)
    scaffold_adapters(staging / "http", staging)
    assert check_references(staging, pkg) == ()
    shadow = tmp_path / "shadow"
    src = shadow_src(root, staging, shadow)
    check = import_all([src], [PACKAGE])
    assert check.failures == ()
    done = run_python(src, """
from conductor.asyncio_client.adapters import ApiClient
from conductor.asyncio_client.adapters.models import HumanTaskSearchResult
from conductor.asyncio_client.configuration import Configuration
from conductor.asyncio_client.orkes.orkes_base_client import OrkesBaseClient
client = OrkesBaseClient(Configuration(), ApiClient(Configuration()))
print(type(client.human_task_api).__name__, HumanTaskSearchResult.__name__)
""")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["HumanTaskApiAdapter", "HumanTaskSearchResultAdapter"]
    # The v2 server dropped WorkflowDef.restartable: only a field change is left for a human.
    result = run_sdk_tests(shadow, root)
    assert failed_tests(result.stdout) == [
        "tests/unit/workflow/test_async_conductor_workflow.py::test_to_workflow_def"], result.stdout


# --- facade-style SDKs ----------------------------------------------------------------------------------

GETATTR_FACADE = '''from conductor.asyncio_client.adapters import ApiClient
from conductor.asyncio_client.http.api import {gen}


class {adapter}:
    """Facade over the generated {gen}."""

    def __init__(self, api_client: ApiClient) -> None:
        self._api = {gen}(api_client)

    def __getattr__(self, name: str) -> object:
        return getattr(self._api, name)
'''

EXPLICIT_FACADE = '''from typing import Any

from conductor.asyncio_client.adapters import ApiClient
from conductor.asyncio_client.http.api import {gen}


class {adapter}:
    def __init__(self, api_client: ApiClient) -> None:
        self._api = {gen}(api_client)

    async def first(self, *args: Any, **kwargs: Any) -> Any:
        return await self._api.first(*args, **kwargs)
'''


def make_facades(pkg_or_staging: Path, template: str) -> None:
    for path in sorted((pkg_or_staging / "adapters/api").glob("*_api.py")):
        found = re.search(r"class (\w+)\((\w+)\)", path.read_text())
        assert found
        adapter, gen = found.groups()
        path.write_text(template.format(adapter=adapter, gen=gen))


def test_a_facade_sdk_gets_a_facade_adapter_with_getattr(staged: Staged, tmp_path: Path) -> None:
    root, pkg, staging = staged
    make_facades(pkg, GETATTR_FACADE)
    make_facades(staging, GETATTR_FACADE)
    notes = scaffold_adapters(staging / "http", staging)
    assert notes[0] == "created adapters/api/human_task_api.py (HumanTaskApiAdapter, facade style)"
    assert (staging / "adapters/api/human_task_api.py").read_text() == GETATTR_FACADE.format(
        adapter="HumanTaskApiAdapter", gen="HumanTaskApi")
    first = digest(staging)
    assert scaffold_adapters(staging / "http", staging) == ()
    assert digest(staging) == first
    keep_removed(pkg / "http", staging / "http", pkg, staging)
    assert check_references(staging, pkg) == ()
    src = shadow_src(root, staging, tmp_path / "shadow")
    assert import_all([src], [PACKAGE]).failures == ()


def test_a_facade_sdk_without_getattr_gets_typed_forwarding_methods(staged: Staged, tmp_path: Path) -> None:
    root, pkg, staging = staged
    make_facades(pkg, EXPLICIT_FACADE)
    make_facades(staging, EXPLICIT_FACADE)
    keep_removed(pkg / "http", staging / "http", pkg, staging)
    scaffold_adapters(staging / "http", staging)
    code = (staging / "adapters/api/human_task_api.py").read_text()
    assert "class HumanTaskApiAdapter:\n    def __init__(self, api_client: ApiClient) -> None:\n" \
           "        self._api = HumanTaskApi(api_client)\n" in code
    assert "async def first" not in code  # the template's own methods are not copied
    assert "@validate_call" not in code
    src = shadow_src(root, staging, tmp_path / "shadow")
    done = run_python(src, """
import asyncio, inspect
from conductor.asyncio_client.adapters.api.human_task_api import HumanTaskApiAdapter
from conductor.asyncio_client.http.api import HumanTaskApi
names = [n for n, f in inspect.getmembers(HumanTaskApi, inspect.iscoroutinefunction) if not n.startswith("_")]
assert names == [n for n, f in inspect.getmembers(HumanTaskApiAdapter, inspect.iscoroutinefunction)], names
for n in names:
    assert list(inspect.signature(getattr(HumanTaskApiAdapter, n)).parameters) == \\
        list(inspect.signature(getattr(HumanTaskApi, n)).parameters), n
calls = []
class Fake:
    async def search(self, **kwargs):
        calls.append(kwargs)
        return "result"
adapter = HumanTaskApiAdapter.__new__(HumanTaskApiAdapter)
adapter._api = Fake()
print(asyncio.run(adapter.search(human_task_search={"x": 1})), sorted(calls[0]))
""")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(" ", 1)[0] == "result"
    assert "'human_task_search'" in done.stdout and "'_request_timeout'" in done.stdout
    # These facades hide the generated methods, so the Orkes clients' calls rightly do not resolve.
    assert any("WorkflowResourceApiAdapter has no method start_workflow" in p
               for p in check_references(staging, pkg))
    # Scaffolded forwarding passes every argument by keyword, so no later reorder can misbind it.
    from conductor_regen.analysis.binding import check_bindings
    from conductor_regen.analysis.source_tree import SourceTree, staged_tree

    bound = check_bindings(SourceTree("conductor.asyncio_client", pkg),
                           staged_tree(staging, pkg, "conductor.asyncio_client"), root)
    scaffolded = [c for c in bound.calls if "adapters/api/human_task_api.py" in c.where]
    assert scaffolded and all(c.shape.positional == 0 for c in scaffolded if c.target != "HumanTaskApi.__init__")
    assert {c.target for c in scaffolded} >= {"HumanTaskApi.search", "HumanTaskApi.get"}


# --- the pieces ---------------------------------------------------------------------------------------------

def test_generated_classes_come_from_the_package_exports(v2_http: Path) -> None:
    apis = generated_classes(v2_http / "api/__init__.py", "conductor.asyncio_client.http.api", "Api")
    assert ("human_task_api", "HumanTaskApi") in [(g.module, g.cls) for g in apis]
    models = generated_classes(v2_http / "models/__init__.py", "conductor.asyncio_client.http.models")
    assert len(models) == 18


def test_generated_classes_fall_back_to_the_files_and_skip_odd_names(tmp_path: Path) -> None:
    api = tmp_path / "api"
    api.mkdir()
    (api / "__init__.py").write_text("")
    (api / "things_api.py").write_text("class ThingsApi:\n    pass\n")
    (api / "not-a-module.py").write_text("class OddApi:\n    pass\n")
    found = generated_classes(api / "__init__.py", "p.api", "Api")
    assert [(g.module, g.cls) for g in found] == [("things_api", "ThingsApi")]


@pytest.mark.parametrize("code, expected, rendered", [
    ("from p.m.a import A\nfrom p.m.b import B\n", ImportStyle("single"), "from p.m.x import X as Y\n"),
    ("from p.m.a import (\n    A,\n)\n", ImportStyle("paren", True), "from p.m.x import (\n    X as Y,\n)\n"),
    ("from p.m.a import \\\n    A" + "a" * 80 + "\nfrom p.m.b import B\n", ImportStyle("backslash"),
     "from p.m.x import X as Y\n"),
])
def test_import_style_is_detected_from_the_file(code: str, expected: ImportStyle, rendered: str) -> None:
    style = detect_import_style(code, "p.m.")
    assert style == expected
    assert style.render("p.m.x", "X as Y") == rendered


def test_long_lines_wrap_in_the_detected_style() -> None:
    long_module = "p.m." + "x" * 80
    assert ImportStyle("backslash").render(long_module, "Y") == f"from {long_module} import \\\n    Y\n"
    assert ImportStyle("paren").render(long_module, "Y") == f"from {long_module} import (\n    Y,\n)\n"


def test_an_unsorted_init_gets_new_exports_at_the_end(staged: Staged) -> None:
    _root, _pkg, staging = staged
    init = staging / "adapters/models/__init__.py"
    text = init.read_text()
    tag = "from conductor.asyncio_client.adapters.models.tag_adapter import (\n    TagAdapter as Tag,\n)\n"
    init.write_text(tag + text.replace(tag, ""))
    scaffold_adapters(staging / "http", staging)
    new = init.read_text()
    assert new.index("HumanTaskSearchResultAdapter") > new.index("WorkflowTaskAdapter as WorkflowTask")
