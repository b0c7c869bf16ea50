"""An installed conductor-regen, with no clone of this project around, runs every command from an SDK checkout.

The wheel is built from the working tree as a clean clone has it, installed into a fresh virtualenv (runtime
dependencies only, no dev extras), as a uv tool and with pipx, and run from a committed copy of the example SDK outside
this repository, with per-user folders of its own: `demo`, `diff`, `regenerate` with its default gate (contract +
async_tests), `test` (a session of each kind), `backups`, `restore`; and a gate that cannot run refuses before any
work.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterator

import pytest
from support.paths import EXAMPLE_SDK, REPO, SPEC_V1, SPEC_V2
from support.sdk_copies import files_only, git, new_sdk, sdk_digest
from support.wheel_install import (Installed, build_wheel, clean_source, install_as_uv_tool, install_in_venv,
                                   install_with_pipx, isolated_env, relative_files, wheel_files)

from conductor_regen.config_sources import checkout_key
from conductor_regen.generator.backends import find_java, java_release
from conductor_regen.matrix.interpreters import current_python
from conductor_regen.matrix.sessions import ALL_SESSIONS

pytestmark = pytest.mark.e2e

PY = current_python()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("user")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, home: Path) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = clean_source(work / "src")
    return build_wheel(source, work / "dist", isolated_env(home))


@pytest.fixture(scope="module")
def venv_tool(tmp_path_factory: pytest.TempPathFactory, wheel: Path, home: Path) -> Installed:
    return install_in_venv(wheel, tmp_path_factory.mktemp("venv") / "venv", isolated_env(home))


@pytest.fixture
def sdk(tmp_path: Path) -> Iterator[Path]:
    """A committed copy of the example SDK, outside this repository."""
    root = new_sdk(tmp_path, "conductor-python")
    assert REPO not in root.parents
    yield root


def test_the_wheel_ships_the_sessions_the_demo_and_its_data(wheel: Path) -> None:
    files = wheel_files(wheel)
    for needed in ("conductor_regen/matrix/noxfile.py", "conductor_regen/matrix/nox_sessions.py",
                   "conductor_regen/matrix/contract/in_sdk_venv/driver.py", "conductor_regen/data/local_edits.json",
                   "conductor_regen/py.typed"):
        assert needed in files
    # The demo's example SDK (every file, its pyproject and README too) and both specs, byte for byte the tree's.
    shipped = sorted(f[len("conductor_regen/data/demo/example_sdk/"):] for f in files
                     if f.startswith("conductor_regen/data/demo/example_sdk/"))
    assert shipped == relative_files(EXAMPLE_SDK) and "pyproject.toml" in shipped
    assert {"conductor_regen/data/demo/specs/orkes-v1.json", "conductor_regen/data/demo/specs/orkes-v2.json"} <= set(files)
    # Every module of the package ships; nothing from tests/, no bytecode, no caches.
    modules = relative_files(REPO / "scripts" / "conductor_regen")
    assert {f"conductor_regen/{m}" for m in modules} <= set(files)
    assert not [f for f in files if f.startswith("tests/") or "__pycache__" in f or f.endswith(".pyc")
                or "/.pytest_cache/" in f or "/.nox/" in f]


def test_an_installed_tool_runs_every_command_from_an_sdk_checkout(venv_tool: Installed, sdk: Path, home: Path,
                                                                     tmp_path: Path) -> None:
    tool = venv_tool
    package = tool.site_package()
    assert REPO not in package.parents and "site-packages" in package.parts
    spec = Path(shutil.copy(SPEC_V2, tmp_path / "swagger.json"))
    committed = sdk_digest(sdk)
    package_before = relative_files(package)
    store = home / "data" / "conductor-regen" / "backups" / checkout_key(sdk)

    version = tool.run("--version", cwd=sdk)
    assert version.code == 0 and version.stdout.startswith("conductor-regen "), version

    # demo: the packaged example SDK, regenerated in a workspace of its own (the gate: regenerate's, below).
    demo = tool.run("demo", "--skip-tests", cwd=sdk)
    assert demo.code == 0, demo
    assert "# Regeneration report: succeeded" in demo.stdout and "| tests | skipped |" in demo.stdout, demo
    assert sdk_digest(sdk) == committed and not store.exists()

    # diff: the report on stdout, nothing touched.
    diff = tool.run("diff", "--spec", str(spec), "--format", "json", cwd=sdk)
    assert diff.code == 0, diff
    assert "idempotencyKey" in diff.stdout and json.loads(diff.stdout)
    assert sdk_digest(sdk) == committed

    # test: a session of each kind the packaged noxfile has (a pytest row, one that skips without a server, a tool
    # session, the contract) on this Python; lint judged against git HEAD, the contract against v1 (the committed
    # tree records no spec). The other pytest rows, and typecheck beside lint, run the same code with other inputs.
    v1 = Path(shutil.copy(SPEC_V1, tmp_path / "v1.json"))
    sessions = ["async_tests", "async_integration", "lint", "contract"]
    assert set(sessions) <= set(ALL_SESSIONS)
    matrix = tool.run("test", *[a for s in sessions for a in ("--session", s)], "--python", PY, cwd=sdk,
                      timeout=900, REGEN_CONTRACT_SPEC=str(v1))
    assert matrix.code == 0, matrix
    rows = {line.split()[0]: line.split()[2] for line in matrix.stdout.splitlines()[1:] if line.split()[:1]}
    assert {s: rows.get(s) for s in sessions} == {
        s: "skipped" if s == "async_integration" else "passed" for s in sessions}, matrix
    junit = home / "cache" / "conductor-regen" / "junit"
    assert (junit / "contract.xml").is_file() and (junit / f"async_tests-{PY}.xml").is_file()
    assert (junit / "lint.xml").is_file() and (home / "cache" / "conductor-regen" / "nox" / "envs").is_dir()
    assert sdk_digest(sdk) == committed

    # regenerate with its default gate (contract + async_tests) after the swap; the contract failure the committed
    # tree has too (WorkflowAdapter.from_dict drops v2's idempotencyKey) is pre-existing and does not stop it.
    done = tool.run("regenerate", "--spec", str(spec), "--yes", cwd=sdk)
    assert done.code == 0, done
    gate = next(line for line in done.stderr.splitlines() if "✓ tests" in line)
    assert "contract:" in gate and "0 new failures" in gate and f"async_tests-{PY} passed" in gate, done
    assert done.stdout.startswith("report: "), done
    regenerated = sdk_digest(sdk)
    assert regenerated != committed and git(sdk, "status", "--porcelain")
    backups = [m.parent for m in store.rglob("manifest.json")]  # the per-user store of this checkout
    assert len(backups) == 1, sorted(store.rglob("*"))
    listing = tool.run("backups", cwd=sdk)
    assert listing.code == 0 and backups[0].name in listing.stdout, listing
    # The generator's JVM class archive went to the per-user cache (REGEN_CLASS_ARCHIVES is not set here).
    if java_release(find_java()) is not None:
        archives = home / "cache" / "conductor-regen" / "generator" / "class-archives"
        assert [p.suffix for p in archives.iterdir()] == [".jsa"], sorted(archives.iterdir())

    # (The gate ran contract and async_tests after the swap; `test` ran every session above: not again here.)

    # restore: back to the committed tree, the adapter test the run added outside the managed folders included.
    restored = tool.run("restore", "--yes", cwd=sdk)
    assert restored.code == 0, restored
    assert files_only(sdk_digest(sdk)) == files_only(committed), restored
    assert not git(sdk, "status", "--porcelain", "--untracked-files=all")

    # The installed package got nothing but bytecode: no .nox, caches or JUnit files beside its modules.
    assert relative_files(package) == package_before


def test_a_uv_tool_install_runs_the_demo_and_the_contract_and_refuses_a_gate_that_cannot_run(
        tmp_path: Path, wheel: Path, sdk: Path, home: Path) -> None:
    # The user of the venv install above, who installs the tool again with uv: their per-user cache (the
    # generator's output, the sessions' virtualenvs) serves this install too, as it would on their machine.
    tool = install_as_uv_tool(wheel, tmp_path / "uv", isolated_env(home))
    assert REPO not in tool.site_package().parents
    # First without its noxfile, as if the package were shipped without it: a gate that cannot run refuses.
    noxfile = tool.site_package() / "matrix" / "noxfile.py"
    shipped = noxfile.read_bytes()
    noxfile.unlink()
    committed = sdk_digest(sdk)
    store = home / "data" / "conductor-regen" / "backups" / checkout_key(sdk)
    refused = tool.run("regenerate", "--spec", str(SPEC_V2), "--yes", cwd=sdk)
    assert refused.code == 2, refused
    assert "test gate cannot run" in refused.the_error() and "noxfile" in refused.the_error(), refused
    assert "✓ generate" not in refused.stderr and "✓ back up" not in refused.stderr, refused
    assert sdk_digest(sdk) == committed and not store.exists()
    assert tool.run("test", "--session", "contract", cwd=sdk).code == 2
    # Without the gate a run goes ahead, and says so; the packaged demo is found. (Its gate: the venv test above.)
    demo = tool.run("demo", "--skip-tests", cwd=sdk)
    assert demo.code == 0 and "# Regeneration report: succeeded" in demo.stdout, demo
    assert "--skip-tests" in demo.stdout + demo.stderr, demo
    # With its noxfile back, the packaged sessions run. The committed SDK records no spec: the contract checks it
    # against v1, the spec it was generated from.
    noxfile.write_bytes(shipped)
    spec = Path(shutil.copy(SPEC_V1, tmp_path / "v1.json"))
    junit = home / "cache" / "conductor-regen" / "junit" / "contract.xml"
    junit.unlink(missing_ok=True)  # written by this run, not left by another
    contract = tool.run("test", "--session", "contract", "--python", PY, cwd=sdk, REGEN_CONTRACT_SPEC=str(spec))
    assert contract.code == 0 and "contract" in contract.stdout and "passed" in contract.stdout, contract
    assert junit.is_file()


def test_a_pipx_install_regenerates_diffs_and_restores(tmp_path: Path, wheel: Path, sdk: Path,
                                                       generator_cache: Path) -> None:
    home = tmp_path / "user"
    # The per-user defaults are the venv install's test above; here the session's cache lends the generator's
    # output and the SDK's environment, so this run does not build its own.
    tool = install_with_pipx(wheel, tmp_path / "pipx", isolated_env(home, REGEN_CACHE_DIR=str(generator_cache)))
    assert REPO not in tool.site_package().parents
    before = sdk_digest(sdk)
    changes = tool.run("diff", "--spec", str(SPEC_V2), "--exit-code", cwd=sdk)
    assert changes.code == 1 and changes.stdout.startswith("#"), changes  # the report alone on stdout
    run = tool.run("regenerate", "--spec", str(SPEC_V2), "--yes", "--skip-tests", cwd=sdk)
    assert run.code == 0 and sdk_digest(sdk) != before, run
    undone = tool.run("restore", "--yes", cwd=sdk)
    assert undone.code == 0 and sdk_digest(sdk) == before, undone
    assert (home / "data" / "conductor-regen" / "backups" / checkout_key(sdk)).is_dir()
