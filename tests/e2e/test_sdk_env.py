"""The import gate runs in the SDK's own environment: a uv-built virtualenv with its declared dependencies.

A module that needs a package the SDK declares but this tool's interpreter lacks (shortuuid, as in the
real SDK) is imported and checked, never excused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.sdk_copies import new_sdk, pkg, run_core, write
from support.paths import SPEC_V1

from conductor_regen.checkout.env import env_key, sdk_python
from conductor_regen.generator.verify import import_all

MODULE = "conductor.asyncio_client.short_ids"


@pytest.fixture
def regen_cache(generator_cache: Path) -> Path:
    return generator_cache


def needs_shortuuid(root: Path) -> None:
    """Declare shortuuid (the real SDK does) and use it in a module of the async client."""
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('urllib3 = ">=2.1.0,<3"\n', 'urllib3 = ">=2.1.0,<3"\nshortuuid = ">=1.0"\n'))
    write(pkg(root) / "short_ids.py", "import shortuuid\n\nNEW_ID = shortuuid.uuid\n")


def test_a_declared_dependency_is_imported_not_excused(tmp_path: Path, regen_cache: Path) -> None:
    root = new_sdk(tmp_path, mutate=needs_shortuuid)
    # The premise: this tool's own interpreter cannot import the module.
    tool_env = dict(import_all([root / "src"], ["conductor.asyncio_client"]).failures)
    assert "No module named 'shortuuid'" in tool_env.get(MODULE, ""), tool_env

    report, error, steps = run_core(root, tmp_path / "backups", regen_cache, SPEC_V1)

    assert error is None, error
    assert report is not None and report.outcome == "succeeded"
    assert [n for n in report.notes if "did not import" in n or "tool's environment" in n] == []
    status = {s.name: s.status for s in steps.steps}
    assert status["SDK environment"] == status["import gate"] == "ok", status
    exe = sdk_python(root, regen_cache, f"{__import__('sys').version_info[0]}.{__import__('sys').version_info[1]}")
    assert import_all([root / "src"], ["conductor.asyncio_client"], str(exe)).failures == ()


def test_the_environment_is_keyed_by_the_packaging_files(tmp_path: Path) -> None:
    a = new_sdk(tmp_path, "a")
    b = new_sdk(tmp_path, "b", mutate=needs_shortuuid)
    assert env_key(a, "3.11") == env_key(new_sdk(tmp_path, "a2"), "3.11")  # same files, same environment
    assert env_key(a, "3.11") != env_key(b, "3.11") and env_key(a, "3.11") != env_key(a, "3.12")
