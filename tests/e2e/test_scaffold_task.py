"""`invoke scaffold-adapters`: scaffolding on the live SDK, with the same safety as regenerate.

Committed copies of the example SDK with one API adapter (token_resource_api) and its wiring in the
Orkes base client deleted; the task runs as a user runs it (`python -m invoke ...`), with the session's
shared cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest
from support.sdk_copies import (
    PACKAGE,
    backup_dirs,
    cli_env,
    commit_all,
    debris,
    diff,
    manifest,
    new_sdk,
    pkg,
    run_cli,
    sdk_digest,
    write,
)
from support.paths import EXAMPLE_SDK

pytestmark = pytest.mark.e2e  # runs invoke and a nested pytest

ADAPTER = "adapters/api/token_resource_api.py"
BASE_CLIENT = "orkes/orkes_base_client.py"
TEST_REL = "tests/unit/orkes/test_async_token_resource_api_adapter.py"
IMPORT = ("from conductor.asyncio_client.adapters.api.token_resource_api import \\\n"
          "    TokenResourceApiAdapter\n")
WIRING = "        self.token_api = TokenResourceApiAdapter(self.api_client)\n"


def drop_token_adapter(root: Path) -> None:
    """The SDK as if TokenResourceApi were new: no adapter file, no import, no attribute."""
    (pkg(root) / ADAPTER).unlink()
    base = pkg(root) / BASE_CLIENT
    text = base.read_text()
    assert IMPORT in text and WIRING in text
    base.write_text(text.replace(IMPORT, "").replace(WIRING, ""))


@pytest.fixture
def env(tmp_path: Path, generator_cache: Path) -> Dict[str, str]:
    """Backups of the test's own; the session's cache (scaffolding generates nothing, but its import gate reuses
    the SDK environment kept there)."""
    return cli_env(tmp_path / "backups", generator_cache)


def scaffold(root: Path, env: Dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    return run_cli("scaffold-adapters", "--sdk", str(root), *args, env=env)


def test_scaffold_adapters_recreates_the_adapter_then_is_a_noop_and_restore_undoes_it(
        tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path, mutate=drop_token_adapter)
    before = sdk_digest(root)

    dry = scaffold(root, env, "--dry-run")
    assert dry.code == 0, dry
    assert f"  + {TEST_REL} (tests TokenResourceApiAdapter)" in dry.stderr, dry
    # The file listing is in the report (the last line names it); the output shows the counts.
    dry_report = Path(dry.stdout.splitlines()[-1].split("report: ", 1)[1])
    assert f"`{ADAPTER}`" in dry_report.read_text() and f"`{BASE_CLIENT}`" in dry_report.read_text(), dry
    assert sdk_digest(root) == before and backup_dirs(tmp_path / "backups") == []

    r = scaffold(root, env, "--yes")

    assert r.code == 0, r
    assert r.stdout.splitlines()[-1].endswith("report.md"), r
    # The adapter comes back exactly as the example SDK has it; the wiring is back too.
    assert (pkg(root) / ADAPTER).read_bytes() == (EXAMPLE_SDK / PACKAGE / ADAPTER).read_bytes()
    base = (pkg(root) / BASE_CLIENT).read_text()
    assert IMPORT in base and WIRING in base
    added, removed, changed = diff(before, sdk_digest(root))
    assert added == sorted([f"{PACKAGE}/{ADAPTER}", TEST_REL]) and removed == []
    assert changed == [f"{PACKAGE}/{BASE_CLIENT}"]
    assert debris(root) == []
    [backup] = backup_dirs(tmp_path / "backups")
    assert manifest(backup)["outcome"] == "succeeded" and manifest(backup)["added_outside"] == [TEST_REL]
    filed = json.loads((backup / "report.json").read_text())
    assert filed["command"] == "invoke scaffold-adapters"
    status = {s["name"]: s["status"] for s in filed["steps"]}
    assert status["swap"] == status["add adapter tests"] == status["import gate"] == "ok", status
    # The SDK's own tests pass, the new adapter test included.
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:benchmark", "tests"],
                          capture_output=True, text=True, cwd=root, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert done.returncode == 0 and "38 passed" in done.stdout, done.stdout + done.stderr

    commit_all(root, "scaffolded")
    committed = sdk_digest(root)
    again = scaffold(root, env, "--yes")
    assert again.code == 0, again
    assert Path(again.stdout.splitlines()[-1].split("report: ", 1)[1]).read_text().startswith(
        "# Regeneration report: no-op"), again
    assert sdk_digest(root) == committed and len(backup_dirs(tmp_path / "backups")) == 1

    back = run_cli("restore", "--yes", "--sdk", str(root), "--backup", backup.name, env=env)
    assert back.code == 0, back
    assert sdk_digest(root) == before


FAILS_WITH_TOKEN_ADAPTER = '''\
"""Imports while the token adapter is missing; fails once it exists (a stand-in for a broken module)."""
import importlib.util

assert importlib.util.find_spec("conductor.asyncio_client.adapters.api.token_resource_api") is None
'''


def test_a_failed_import_gate_rolls_everything_back(tmp_path: Path, env: Dict[str, str]) -> None:
    def mutate(root: Path) -> None:
        drop_token_adapter(root)
        write(pkg(root) / "orkes/fragile_client.py", FAILS_WITH_TOKEN_ADAPTER)

    root = new_sdk(tmp_path, mutate=mutate)
    before = sdk_digest(root)

    r = scaffold(root, env, "--yes")

    assert r.code != 0, r
    line = r.the_error()
    assert "fail to import after the swap" in line and "fragile_client" in line, line
    assert sdk_digest(root) == before  # the adapter test written before the gate is gone too
    assert debris(root) == []
    [backup] = backup_dirs(tmp_path / "backups")
    assert manifest(backup)["outcome"] == "rolled-back" and manifest(backup)["added_outside"] == [TEST_REL]


def test_a_dirty_tree_is_refused_unless_allowed(tmp_path: Path, env: Dict[str, str]) -> None:
    root = new_sdk(tmp_path, mutate=drop_token_adapter)
    write(pkg(root) / "adapters/api/scratch.py", "# uncommitted\n")
    before = sdk_digest(root)

    r = scaffold(root, env, "--yes")

    assert r.code != 0 and "uncommitted change(s) in the managed folders" in r.the_error(), r
    assert sdk_digest(root) == before and backup_dirs(tmp_path / "backups") == []
    allowed = scaffold(root, env, "--yes", "--allow-dirty")
    assert allowed.code == 0, allowed
    assert (pkg(root) / ADAPTER).is_file() and (pkg(root) / "adapters/api/scratch.py").is_file()
