"""Generated code that refers to hand-written code is a deliberate edit: found with no spec, carried into every run.

The example SDK is changed as the real one is (every API module imports ApiClient from
conductor.asyncio_client.adapters, the adapter with token refresh), then regenerated with the real
OpenAPI Generator from the fixture specs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List

import pytest
from support.sdk_copies import (
    PACKAGE,
    PROVENANCE,
    backup_dirs,
    diff,
    new_sdk,
    pkg,
    run_core,
    sdk_digest,
    settings_for,
    target_for,
)
from support.paths import SPEC_V1, SPEC_V2

from conductor_regen.compat.edits import detect_in_sdk
from conductor_regen.compat.hand_refs import rules_from
from conductor_regen.progress import StepLog

GENERATED_IMPORT = "from conductor.asyncio_client.http.api_client import ApiClient, RequestSerialized\n"
ADAPTER_IMPORT = ("from conductor.asyncio_client.http.api_client import RequestSerialized\n"
                  "from conductor.asyncio_client.adapters import ApiClient\n")
PACKAGE_NAME = "conductor.asyncio_client"


@pytest.fixture
def regen_cache(generator_cache: Path) -> Path:
    return generator_cache


def adapter_client(root: Path) -> None:
    """The real SDK's edit: every API module takes ApiClient from the adapters."""
    for module in sorted((pkg(root) / "http" / "api").glob("*_api.py")):
        text = module.read_text()
        assert GENERATED_IMPORT in text, module
        module.write_text(text.replace(GENERATED_IMPORT, ADAPTER_IMPORT))


def api_client_sources(http: Path) -> Dict[str, str]:
    """For each API module that imports ApiClient, the module it imports it from."""
    found: Dict[str, str] = {}
    for module in sorted((http / "api").glob("*.py")):
        for line in module.read_text().splitlines():
            m = re.match(r"from (\S+) import (.*)$", line)
            if m and "ApiClient" in [n.strip() for n in m.group(2).split(",")]:
                found[module.name] = m.group(1)
    return found


def test_the_references_are_found_without_a_spec(tmp_path: Path) -> None:
    root = new_sdk(tmp_path, mutate=adapter_client)
    http = pkg(root) / "http"
    rules = rules_from(http, PACKAGE_NAME)
    [folder_rule] = [r for r in rules if r.kind == "import"]  # one rule for the seven API modules' edit
    assert folder_rule.folder
    assert (folder_rule.scope, folder_rule.name, folder_rule.target) == ("api/", "ApiClient", "conductor.asyncio_client.adapters")
    imports = list(folder_rule.live_files)
    assert imports == sorted(f"api/{m.name}" for m in (http / "api").glob("*_api.py")) and len(imports) == 7
    assert [r.target for r in rules if r.kind == "attribute"] == ["conductor.asyncio_client.adapters.models"]


def test_a_run_carries_the_edit_byte_for_byte(tmp_path: Path, regen_cache: Path) -> None:
    root = new_sdk(tmp_path, mutate=adapter_client)
    before = sdk_digest(root)

    report, error, _ = run_core(root, tmp_path / "backups", regen_cache, SPEC_V1)

    assert error is None, error
    assert report is not None and report.outcome == "succeeded"
    # v1 on a v1 tree: the edit is re-made exactly, so only the provenance file is new.
    assert diff(before, sdk_digest(root)) == ([f"{PACKAGE}/{PROVENANCE}"], [], [])
    carried = [n for n in report.notes if n.startswith("carried over edit: ApiClient")]
    assert carried == ["carried over edit: ApiClient imported from conductor.asyncio_client.adapters in every "
                       "module of http/api/ that imports it: 7 file(s) in the new tree (7 in the live client)"]


def test_new_api_modules_get_the_edit_too(tmp_path: Path, regen_cache: Path) -> None:
    root = new_sdk(tmp_path, mutate=adapter_client)

    # keep_failed: the tree stays for inspection whatever the gates say about the example adapters on v2.
    report, error, _ = run_core(root, tmp_path / "backups", regen_cache, SPEC_V2, keep_failed=True)

    assert error is None or "import" in error.message, error
    sources = api_client_sources(pkg(root) / "http")
    assert "human_task_api.py" in sources  # an API module the live client did not have
    assert set(sources.values()) == {"conductor.asyncio_client.adapters"}, sources


def test_an_edit_that_cannot_be_carried_stops_the_run_before_the_swap(tmp_path: Path, regen_cache: Path) -> None:
    def odd_edit(root: Path) -> None:
        adapter_client(root)
        rest = pkg(root) / "http" / "rest.py"
        rest.write_text(rest.read_text() + "\nfrom conductor.asyncio_client.adapters import ApiClient  # noqa\n")

    root = new_sdk(tmp_path, mutate=odd_edit)
    before = sdk_digest(root)

    report, error, _ = run_core(root, tmp_path / "backups", regen_cache, SPEC_V1)

    assert report is None and error is not None
    assert "cannot be carried into the new tree" in error.message and "http/rest.py" in error.message, error
    assert sdk_digest(root) == before and backup_dirs(tmp_path / "backups") == []


def test_detect_edits_needs_no_spec(tmp_path: Path, regen_cache: Path) -> None:
    root = new_sdk(tmp_path, mutate=adapter_client)
    s = settings_for(root, tmp_path / "backups", regen_cache)

    found = detect_in_sdk(target_for(s), None, s, StepLog(), env={})

    lines: List[str] = found.lines()
    assert lines[0].startswith("no spec recorded or given")
    assert any("ApiClient imported from conductor.asyncio_client.adapters in every module of http/api/" in line
               and "(7 file(s))" in line for line in lines), lines
    assert any("conductor.asyncio_client.adapters.models" in line for line in lines), lines
    assert found.to_json() == "[]\n"


def test_an_edit_made_in_only_some_modules_of_a_folder_stays_per_file(tmp_path: Path) -> None:
    def two_modules(root: Path) -> None:
        for name in ("task_resource_api.py", "workflow_resource_api.py"):
            module = pkg(root) / "http" / "api" / name
            module.write_text(module.read_text().replace(GENERATED_IMPORT, ADAPTER_IMPORT))

    root = new_sdk(tmp_path, mutate=two_modules)
    rules = [r for r in rules_from(pkg(root) / "http", PACKAGE_NAME) if r.kind == "import"]
    assert [(r.folder, r.scope) for r in rules] == [(False, "api/task_resource_api.py"),
                                                   (False, "api/workflow_resource_api.py")]
