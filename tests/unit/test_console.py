"""The `conductor-regen` command (`python -m conductor_regen`): same tasks as `invoke`, run from anywhere.

Real subprocesses. "Installed" runs use a copy of the package outside this repository (as a wheel
install would have it), with XDG folders in tmp so the per-user store is observable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from support.sdk_copies import git, new_sdk, pkg, sdk_digest
from support.paths import REPO, SPEC_V2

from conductor_regen import __version__
from conductor_regen.config_sources import checkout_key

PACKAGE_SRC = REPO / "scripts" / "conductor_regen"


def console(*args: str, cwd: Path, env: Dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conductor_regen", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, input="", timeout=timeout)


def plain_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not (k.startswith("REGEN_") or k.startswith("CONDUCTOR_"))}
    env.update(PYTHONPATH=str(REPO / "scripts"), PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


@pytest.fixture
def installed(tmp_path: Path) -> Dict[str, str]:
    """Environment running a copy of the package that lives outside any clone of this project."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE_SRC, site / "conductor_regen", ignore=shutil.ignore_patterns("__pycache__"))
    return plain_env(PYTHONPATH=str(site), XDG_DATA_HOME=str(tmp_path / "xdg-data"),
                     XDG_CACHE_HOME=str(tmp_path / "xdg-cache"))


def task_names(listing: str) -> List[str]:
    return sorted(t["name"] for t in json.loads(listing)["tasks"])


# --- 1. the command -------------------------------------------------------------------------------

def test_version_is_the_package_version(tmp_path: Path) -> None:
    done = console("--version", cwd=tmp_path, env=plain_env())
    assert done.returncode == 0, done.stderr
    pyproject = (REPO / "pyproject.toml").read_text()
    declared = re.search(r'^version = "([^"]+)"', pyproject, re.M)
    assert declared and done.stdout.strip() == f"conductor-regen {declared.group(1)}" == f"conductor-regen {__version__}"


def test_console_script_is_declared() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^\[project\.scripts\]\nconductor-regen = "conductor_regen\.cli\.console:main"$', pyproject, re.M)
    installed = shutil.which("conductor-regen")
    if installed is None:
        pytest.skip("conductor-regen is not on PATH (run `pip install -e .`)")
    done = subprocess.run([installed, "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("conductor-regen "), done


@pytest.mark.e2e
def test_list_from_any_folder_matches_invoke_in_the_repo(tmp_path: Path, installed: Dict[str, str]) -> None:
    in_repo = subprocess.run([sys.executable, "-m", "invoke", "--list", "--list-format", "json"], cwd=REPO,
                             env=plain_env(), capture_output=True, text=True)
    assert in_repo.returncode == 0, in_repo.stderr
    expected = task_names(in_repo.stdout)
    assert "regenerate" in expected and "restore" in expected
    elsewhere = tmp_path / "some" / "folder"
    elsewhere.mkdir(parents=True)
    for env in (plain_env(), installed):
        done = console("--list", "--list-format", "json", cwd=elsewhere, env=env)
        assert done.returncode == 0, done.stderr
        assert task_names(done.stdout) == expected
    # `invoke` itself still needs the repository: that is what the command is for.
    lost = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=elsewhere, env=plain_env(),
                          capture_output=True, text=True)
    assert lost.returncode != 0 and "Can't find any collection" in lost.stderr


# --- settings from the SDK and from the tool's invoke.yaml ------------------------------------------

def test_sdk_settings_apply_from_inside_the_checkout(tmp_path: Path) -> None:
    root = new_sdk(tmp_path)
    (root / "pyproject.toml").write_text('[tool.conductor-regen.fixups]\nskip = ["strip-path-prefix"]\n')
    inside = pkg(root) / "http"
    done = console("fixups", "--verbose", cwd=inside, env=plain_env())
    assert done.returncode == 0, done.stderr
    assert re.search(r"^strip-path-prefix +\[skipped\]", done.stdout, re.M), done.stdout
    # The resolved settings are talk, on stderr: stdout holds the listing alone.
    assert "resolved settings" not in done.stdout
    assert f"sdk.root = {str(root.resolve())!r}" in done.stderr.replace("PosixPath(", "").replace("')", "'")
    assert f"the SDK's own settings read from {root / 'pyproject.toml'}" in done.stderr
    # The environment still beats the SDK's file, and outside the checkout the file does not apply.
    outside = console("fixups", cwd=tmp_path, env=plain_env())
    assert re.search(r"^strip-path-prefix +\[on\]", outside.stdout, re.M), outside.stdout


def test_bad_sdk_settings_are_one_error_line(tmp_path: Path) -> None:
    root = new_sdk(tmp_path)
    (root / "invoke.yaml").write_text("regen:\n  generator:\n    heap: 1g\n")
    done = console("fixups", cwd=root, env=plain_env())
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"ERROR: unknown setting 'generator.heap' in {root / 'invoke.yaml'} / hint: known settings: "
        + done.stderr.split("known settings: ", 1)[1].strip()]


def test_the_tool_repositorys_invoke_yaml_is_read(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    shutil.copytree(PACKAGE_SRC, clone / "scripts" / "conductor_regen", ignore=shutil.ignore_patterns("__pycache__"))
    (clone / "pyproject.toml").write_text('[project]\nname = "conductor-regen"\n')
    (clone / "invoke.yaml").write_text("regen:\n  fixups:\n    skip: [drop-array-properties]\n")
    done = console("fixups", cwd=tmp_path, env=plain_env(PYTHONPATH=str(clone / "scripts")))
    assert done.returncode == 0, done.stderr
    assert re.search(r"^drop-array-properties +\[skipped\]", done.stdout, re.M), done.stdout


# --- done-when: regenerate and restore a fresh checkout, no --sdk -------------------------------------

@pytest.mark.e2e
def test_regenerate_and_restore_from_inside_a_checkout(generator_cache: Path, tmp_path: Path, installed: Dict[str, str],
                                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)
    env = dict(installed, REGEN_CACHE_DIR=str(generator_cache))
    below = root / "tests"
    below.mkdir(exist_ok=True)

    done = console("regenerate", "--spec", str(SPEC_V2), "--skip-tests", "--yes", cwd=below, env=env)

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert sdk_digest(root) != before
    assert (pkg(root) / "http" / "api" / "human_task_api.py").is_file()
    # Run outside the repository: the backup went to the per-user store, keyed by this checkout.
    store = tmp_path / "xdg-data" / "conductor-regen" / "backups" / checkout_key(root) / root.name
    runs = [p for p in store.iterdir() if p.is_dir()]
    assert len(runs) == 1, list(store.iterdir())
    # The last line points at the report, which names the program that made it.
    assert done.stdout.splitlines()[-1] == f"report: {runs[0] / 'report.md'}"
    assert "- command: `conductor-regen regenerate`" in (runs[0] / "report.md").read_text()

    back = console("restore", "--yes", cwd=pkg(root), env=env)

    assert back.returncode == 0, back.stdout + back.stderr
    assert sdk_digest(root) == before
    assert git(root, "status", "--porcelain") == ""

