"""Reference check: SDK imports and Orkes-client calls must resolve against the staged tree."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict

from support.staged_sdk import copy_example, line_of, package_dir, stage

from conductor_regen.compat.keep import keep_removed
from conductor_regen.analysis.references import check_references

PKG = "src/conductor/asyncio_client"


def test_the_example_sdk_resolves_against_itself(tmp_path: Path) -> None:
    root = copy_example(tmp_path)
    assert check_references(tmp_path / "no-staging", package_dir(root)) == ()


def test_v2_without_keeping_lists_every_broken_reference(tmp_path: Path, v2_http: Path) -> None:
    root = copy_example(tmp_path)
    pkg = package_dir(root)
    staging = stage(root, v2_http, tmp_path / "staging")
    assert keep_removed(pkg / "http", staging / "http", pkg, staging, policy="drop") == ()
    problems = check_references(staging, pkg)
    orkes = pkg / "orkes"

    def call(file: str, needle: str) -> str:
        return f"{PKG}/orkes/{file}:{line_of(orkes / file, needle)}"

    assert problems == (
        f"{PKG}/adapters/api/metrics_token_resource_api.py:1: missing symbol MetricsTokenResourceApi "
        "(imported from module conductor.asyncio_client.http.api)",
        f"{PKG}/adapters/models/metrics_token_adapter.py:1: missing symbol MetricsToken "
        "(imported from module conductor.asyncio_client.http.models)",
        f"{call('orkes_metadata_client.py', 'self.metadata_api.get(')}: MetadataResourceApiAdapter has no method get",
        f"{call('orkes_metrics_client.py', 'self.metrics_token_api.token(')}: MetricsTokenResourceApiAdapter has "
        "no method token (its base class MetricsTokenResourceApi is missing)",
        f"{call('orkes_secret_client.py', 'self.secret_api.delete_secret(')}: SecretResourceApiAdapter has no "
        "method delete_secret",
        f"{call('orkes_task_client.py', 'self.task_api.search1(')}: TaskResourceApiAdapter has no method search1",
        f"{call('orkes_workflow_client.py', 'self.workflow_api.search(')}: WorkflowResourceApiAdapter has no "
        "method search",
    )


def test_paths_are_relative_to_the_sdk_root_and_the_check_is_read_only(tmp_path: Path, v2_http: Path) -> None:
    root = copy_example(tmp_path)
    staging = stage(root, v2_http, tmp_path / "staging")
    before = sorted(p.as_posix() for p in tmp_path.rglob("*"))
    problems = check_references(staging, package_dir(root))
    assert problems and all(p.startswith(PKG + "/") for p in problems)
    assert sorted(p.as_posix() for p in tmp_path.rglob("*")) == before


def test_an_alias_in_the_adapter_satisfies_a_renamed_method(tmp_path: Path, v2_http: Path) -> None:
    root = copy_example(tmp_path)
    staging = stage(root, v2_http, tmp_path / "staging")
    adapter = staging / "adapters" / "api" / "workflow_resource_api.py"
    adapter.write_text(adapter.read_text().replace(": ...", ":\n    search = WorkflowResourceApi.search1\n"))
    problems = check_references(staging, package_dir(root))
    assert not [p for p in problems if "WorkflowResourceApiAdapter" in p]


# --- resolution rules on small trees ------------------------------------------------------------------

def write_tree(base: Path, files: Dict[str, str]) -> Path:
    """A package `conductor.asyncio_client` under base/src; returns the package folder."""
    pkg = base / "src" / "conductor" / "asyncio_client"
    for rel, text in {"../__init__.py": "", "__init__.py": "", **files}.items():
        path = (pkg / rel).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return pkg


GENERATED = {
    "http/__init__.py": "",
    "http/api/__init__.py": "from conductor.asyncio_client.http.api.things_api import ThingsApi\n",
    "http/api/things_api.py": "class ThingsApi:\n    async def list_things(self): ...\n    async def get_thing(self): ...\n",
    "http/models/__init__.py": "from .thing import *\n",
    "http/models/thing.py": "class Thing:\n    pass\n",
}


def test_re_exports_star_imports_relative_imports_and_inherited_methods_resolve(tmp_path: Path) -> None:
    pkg = write_tree(tmp_path, {
        **GENERATED,
        "adapters/__init__.py": "",
        "adapters/api/__init__.py": "",
        "adapters/api/things_api.py": "from ...http.api import ThingsApi\n\n\nclass ThingsApiAdapter(ThingsApi):\n"
                                      "    def extra(self): ...\n",
        "adapters/models/__init__.py": "from conductor.asyncio_client.http.models import Thing as Thing\n",
        "orkes/__init__.py": "",
        "orkes/base.py": "from conductor.asyncio_client.adapters.api.things_api import ThingsApiAdapter\n\n\n"
                         "class Base:\n    def __init__(self, c):\n        self.things_api = ThingsApiAdapter(c)\n",
        "orkes/client.py": "import conductor.asyncio_client.http.models.thing\n"
                           "from conductor.asyncio_client.adapters.models import Thing\n"
                           "from conductor.asyncio_client.http import api\n"
                           "from .base import Base\n\n\nclass Client(Base):\n"
                           "    async def run(self):\n        await self.things_api.list_things()\n"
                           "        self.things_api.extra()\n        return self.things_api.get_thing()\n",
    })
    assert check_references(tmp_path / "none", pkg) == ()


def test_missing_modules_symbols_and_methods_are_reported_with_lines(tmp_path: Path) -> None:
    pkg = write_tree(tmp_path, {
        **GENERATED,
        "orkes/__init__.py": "",
        "orkes/client.py": "import conductor.asyncio_client.http.models.gone\n"
                           "from conductor.asyncio_client.http.models import Gone, Thing\n"
                           "from conductor.asyncio_client.http.api import ThingsApi\n\n\nclass Client:\n"
                           "    def __init__(self):\n        self.things_api = ThingsApi()\n\n"
                           "    async def run(self):\n        return await self.things_api.delete_thing()\n",
    })
    assert check_references(tmp_path / "none", pkg) == (
        f"{PKG}/orkes/client.py:1: missing module conductor.asyncio_client.http.models.gone",
        f"{PKG}/orkes/client.py:2: missing symbol Gone (imported from module conductor.asyncio_client.http.models)",
        f"{PKG}/orkes/client.py:11: ThingsApi has no method delete_thing",
    )


def test_a_facade_with_getattr_is_checked_against_the_class_it_holds(tmp_path: Path) -> None:
    pkg = write_tree(tmp_path, {
        **GENERATED,
        "adapters/__init__.py": "",
        "adapters/api/__init__.py": "",
        "adapters/api/things_api.py": "from conductor.asyncio_client.http.api import ThingsApi\n\n\n"
                                      "class ThingsApiAdapter:\n    def __init__(self, c):\n"
                                      "        self._api = ThingsApi(c)\n\n"
                                      "    def __getattr__(self, name):\n        return getattr(self._api, name)\n",
        "orkes/__init__.py": "",
        "orkes/client.py": "from conductor.asyncio_client.adapters.api.things_api import ThingsApiAdapter\n\n\n"
                           "class Client:\n    def __init__(self, c):\n        self.things_api = ThingsApiAdapter(c)\n\n"
                           "    async def run(self):\n        await self.things_api.list_things()\n"
                           "        await self.things_api.nope()\n",
    })
    assert check_references(tmp_path / "none", pkg) == (
        f"{PKG}/orkes/client.py:10: ThingsApiAdapter has no method nope",
    )


def test_staged_folders_replace_the_live_ones(tmp_path: Path) -> None:
    pkg = write_tree(tmp_path / "sdk", {
        **GENERATED,
        "orkes/__init__.py": "",
        "orkes/client.py": "from conductor.asyncio_client.http.api import ThingsApi\n",
    })
    staging = tmp_path / "staging"
    shutil.copytree(pkg / "http", staging / "http")
    (staging / "http" / "api" / "__init__.py").write_text("")
    assert check_references(staging, pkg) == (
        f"{PKG}/orkes/client.py:1: missing symbol ThingsApi (imported from module conductor.asyncio_client.http.api)",
    )
    assert check_references(tmp_path / "none", pkg) == ()


def test_a_file_that_does_not_parse_is_skipped_not_fatal(tmp_path: Path) -> None:
    pkg = write_tree(tmp_path, {**GENERATED, "orkes/__init__.py": "", "orkes/broken.py": "def (:\n"})
    assert check_references(tmp_path / "none", pkg) == ()

