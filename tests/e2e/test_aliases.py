"""Deprecated aliases in the API adapters for operations the server renamed (`--no-pin-names`).

Real trees: the example SDK (v1 client) against the plain, unpinned v2 generator output, where
GET /workflow/search is `search1` (was `search`), GET /tasks/search `search2` (was `search1`) and
GET /metadata/workflow/{name} `get1` (was `get`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.sdk_copies import new_sdk, pkg, run_core, sdk_digest
from support.paths import SPEC_V2
from support.staged_sdk import copy_example, digest, package_dir, run_python, shadow_src, stage
from test_scaffold import EXPLICIT_FACADE, GETATTR_FACADE, make_facades

from conductor_regen.compat.keep import keep_removed
from conductor_regen.analysis.references import check_references
from conductor_regen.compat.scaffold.aliases import alias_renamed

WORKFLOW_NOTE = (
    "added deprecated alias(es) WorkflowResourceApiAdapter.search, WorkflowResourceApiAdapter.search_with_http_info, "
    "WorkflowResourceApiAdapter.search_without_preload_content -> search1 in adapters/api/workflow_resource_api.py: "
    "GET /workflow/search was renamed by the server's API")
SEARCH_ALIAS = '''\
    async def search(self, *args: Any, **kwargs: Any) -> Any:
        """Deprecated alias of search1: the server's API renamed the operation."""
        warnings.warn(
            "WorkflowResourceApiAdapter.search is deprecated; use search1 (GET /workflow/search)",
            DeprecationWarning,
            stacklevel=2,
        )
        return await self.search1(*args, **kwargs)
'''


def staged(tmp_path: Path, v2_http: Path):  # type: ignore[no-untyped-def]
    root = copy_example(tmp_path)
    return root, package_dir(root), stage(root, v2_http, tmp_path / "staging")


def test_renamed_operations_get_aliases_instead_of_kept_code(tmp_path: Path, v2_http: Path) -> None:
    root, pkg_dir, staging = staged(tmp_path, v2_http)

    notes = alias_renamed(pkg_dir / "http", staging / "http", staging)

    assert len(notes) == 3 and WORKFLOW_NOTE in notes, notes
    assert any(n.startswith("added deprecated alias(es) TaskResourceApiAdapter.search1,") and "-> search2" in n
               for n in notes), notes
    assert any(n.startswith("added deprecated alias(es) MetadataResourceApiAdapter.get,") and "-> get1" in n
               for n in notes), notes
    code = (staging / "adapters/api/workflow_resource_api.py").read_text()
    assert code.startswith("import warnings\nfrom typing import Any\n\n"
                           "from conductor.asyncio_client.http.api import WorkflowResourceApi\n\n\n"
                           "class WorkflowResourceApiAdapter(WorkflowResourceApi):\n" + SEARCH_ALIAS), code
    assert "return await self.search1_without_preload_content(*args, **kwargs)\n" in code
    # The Orkes clients' calls now resolve through the aliases: only the removed operation is kept.
    kept = keep_removed(pkg_dir / "http", staging / "http", pkg_dir, staging)
    assert not any("renamed to" in n for n in kept), kept
    assert any(n.startswith("kept method SecretResourceApi.delete_secret") for n in kept), kept
    assert "def search(" not in (staging / "http/api/workflow_resource_api.py").read_text()
    assert check_references(staging, pkg_dir) == ()
    # Idempotent.
    first = digest(staging)
    assert alias_renamed(pkg_dir / "http", staging / "http", staging) == ()
    assert digest(staging) == first

    src = shadow_src(root, staging, tmp_path / "shadow")
    done = run_python(src, """
import asyncio, warnings
from conductor.asyncio_client.adapters import ApiClient
from conductor.asyncio_client.adapters.api.workflow_resource_api import WorkflowResourceApiAdapter
from conductor.asyncio_client.configuration import Configuration
api = WorkflowResourceApiAdapter(ApiClient(Configuration()))
async def fake(*args, **kwargs):
    return ("search1", args, kwargs)
api.search1 = fake
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    async def caller():
        return await api.search(0, query="status=RUNNING")
    result = asyncio.run(caller())
[w] = caught
print(result)
print(w.category.__name__, w.filename)
print(w.message)
""")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "('search1', (0,), {'query': 'status=RUNNING'})",
        "DeprecationWarning <string>",  # stacklevel=2: the caller's line, not the adapter's
        "WorkflowResourceApiAdapter.search is deprecated; use search1 (GET /workflow/search)",
    ]


def test_an_existing_method_of_the_old_name_is_never_replaced(tmp_path: Path, v2_http: Path) -> None:
    _root, pkg_dir, staging = staged(tmp_path, v2_http)
    adapter = staging / "adapters/api/workflow_resource_api.py"
    mine = ("from conductor.asyncio_client.http.api import WorkflowResourceApi\n\n\n"
            "class WorkflowResourceApiAdapter(WorkflowResourceApi):\n"
            "    async def search(self, *args, **kwargs):\n"
            "        return await self.search1(*args, **kwargs)\n")
    adapter.write_text(mine)

    notes = alias_renamed(pkg_dir / "http", staging / "http", staging)

    code = adapter.read_text()
    assert mine.split("\n", 1)[1] in code and code.count("def search(") == 1
    assert "async def search_with_http_info(" in code
    assert any("WorkflowResourceApiAdapter.search_with_http_info" in n
               and "WorkflowResourceApiAdapter.search," not in n for n in notes), notes


@pytest.mark.parametrize("template, target", [
    (GETATTR_FACADE, "self.search1"),
    (EXPLICIT_FACADE, "self._api.search1"),
], ids=["getattr", "explicit"])
def test_facade_aliases_reach_the_new_name(tmp_path: Path, v2_http: Path, template: str, target: str) -> None:
    _root, pkg_dir, staging = staged(tmp_path, v2_http)
    make_facades(staging, template)
    alias_renamed(pkg_dir / "http", staging / "http", staging)
    code = (staging / "adapters/api/workflow_resource_api.py").read_text()
    assert f"        return await {target}(*args, **kwargs)\n" in code, code


def test_no_pin_names_regenerates_with_aliases_and_the_sdk_tests_pass(generator_cache: Path, tmp_path: Path,
                                                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    root = new_sdk(tmp_path)
    report, error, _ = run_core(root, tmp_path / "backups", generator_cache, SPEC_V2,
                                pin_names=False)

    assert error is None, error
    assert report is not None and report.outcome == "succeeded"
    assert WORKFLOW_NOTE in report.notes
    assert not any("renamed to" in n for n in report.notes), report.notes
    assert "async def search1(" in (pkg(root) / "http/api/workflow_resource_api.py").read_text()
    assert "def search(" not in (pkg(root) / "http/api/workflow_resource_api.py").read_text()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:benchmark"]
    before = sdk_digest(root)
    # The example SDK's own tests: the Orkes clients still call `search`, `search1` and `get`.
    done = subprocess.run([*pytest_cmd, "tests"], capture_output=True, text=True, env=env, cwd=root)
    assert done.returncode == 0 and "38 passed" in done.stdout, done.stdout + done.stderr
    # ... and they go through the aliases, which warn.
    done = subprocess.run([*pytest_cmd, "-W", "error::DeprecationWarning", "-k", "test_search_workflows", "tests"],
                          capture_output=True, text=True, env=env, cwd=root)
    assert done.returncode == 1, done.stdout
    assert "WorkflowResourceApiAdapter.search is deprecated; use search1 (GET /workflow/search)" in done.stdout
    assert sdk_digest(root) == before


def test_an_alias_that_a_later_api_would_hide_behind_is_reported(tmp_path: Path, v2_http: Path) -> None:
    _root, pkg_dir, staging = staged(tmp_path, v2_http)
    alias_renamed(pkg_dir / "http", staging / "http", staging)
    # A later server reuses the name `search` in WorkflowResourceApi for another operation.
    later = tmp_path / "later"
    shutil.copytree(staging / "http", later)
    api = later / "api/workflow_resource_api.py"
    api.write_text(api.read_text() + "\n    async def search(self) -> None:\n        return None\n")

    notes = alias_renamed(staging / "http", later, staging)

    assert notes == ("check WorkflowResourceApiAdapter.search: it is a deprecated alias, but "
                     "WorkflowResourceApi.search is now another operation, which the alias hides",)
