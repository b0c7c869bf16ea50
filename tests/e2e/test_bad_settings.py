"""A bad enumerated setting (removed-item policy, generator backend) from any source stops `invoke regenerate`
with one `ERROR: ... / hint: ...` line before any work: no step, no generator, no backup, the SDK untouched.

A stand-in `java` first on PATH records every start, so "no generator started" is observed, not assumed;
the control case shows the same setup does reach it with a good value.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from support import warm_cli
from support.paths import REPO, SPEC_V1
from support.sdk_copies import backup_dirs, cli_env, new_sdk, sdk_digest, write

pytestmark = pytest.mark.e2e

FAKE_JAVA = """#!/bin/sh
echo "$@" >> "{marker}"
exit 1
"""


def _setup(tmp_path: Path) -> Tuple[Path, Dict[str, str], Path]:
    """A committed SDK copy, an isolated store and cache, and PATH starting with the recording `java`."""
    bin_dir, marker = tmp_path / "bin", tmp_path / "java-started.txt"
    java = bin_dir / "java"
    write(java, FAKE_JAVA.format(marker=marker))
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    env = cli_env(tmp_path / "backups", tmp_path / "cache", PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return new_sdk(tmp_path), env, marker


def _regenerate(root: Path, env: Dict[str, str], *args: str,
                config: Optional[Path] = None) -> "subprocess.CompletedProcess[str]":
    core = ["-f", str(config)] if config else []
    argv = [sys.executable, "-m", "invoke", *core, "--search-root", str(REPO), "regenerate",
            "--spec", str(SPEC_V1), "--sdk", str(root), "--yes", "--skip-tests", *args]
    return warm_cli.run(argv, env=env, timeout=120)


def _error_lines(done: "subprocess.CompletedProcess[str]") -> List[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("ERROR:")]


REMOVED = "sdk.removed='kep' is not a policy"
BACKEND = "generator.backend='dokcer' is not a generator backend"
CASES = [
    # (source, how it is set, the setting's message, where the hint says it was set)
    ("cli", "--removed kep", REMOVED, "(set on the command line)"),
    ("cli", "--backend dokcer", BACKEND, "(set on the command line)"),
    ("env", "REGEN_REMOVED_POLICY=kep", REMOVED, "(set in the environment variable REGEN_REMOVED_POLICY)"),
    ("env", "REGEN_GENERATOR_BACKEND=dokcer", BACKEND, "(set in the environment variable REGEN_GENERATOR_BACKEND)"),
    ("invoke.yaml", "sdk.removed: kep", REMOVED, "(set in invoke.yaml)"),
    ("invoke.yaml", "generator.backend: dokcer", BACKEND, "(set in invoke.yaml)"),
    ("sdk invoke.yaml", "sdk.removed: kep", REMOVED, "/sdk/invoke.yaml)"),
    ("sdk pyproject", "generator.backend: dokcer", BACKEND, "/sdk/pyproject.toml)"),
]


def _apply(case: Tuple[str, str, str, str], tmp_path: Path, root: Path,
           env: Dict[str, str]) -> Tuple[List[str], Optional[Path]]:
    """Set the bad value in its source; returns the extra CLI arguments and the runtime config file (if any)."""
    source, setting = case[:2]
    if source == "cli":
        return setting.split(), None
    if source == "env":
        var, value = setting.split("=")
        env[var] = value
        return [], None
    key, value = setting.split(": ")
    section, name = key.split(".")
    if source == "invoke.yaml":  # the tool's invoke configuration (here a runtime file: invoke -f)
        config = tmp_path / "invoke.yaml"
        write(config, f"regen:\n  {section}:\n    {name}: {value}\n")
        return [], config
    if source == "sdk invoke.yaml":
        write(root / "invoke.yaml", f"regen:\n  {section}:\n    {name}: {value}\n")
    else:
        with open(root / "pyproject.toml", "a", encoding="utf-8") as handle:
            handle.write(f'\n[tool.conductor-regen.{section}]\n{name} = "{value}"\n')
    return [], None


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_a_bad_value_from_any_source_stops_before_any_work(tmp_path: Path, case: Tuple[str, str, str, str]) -> None:
    root, env, marker = _setup(tmp_path)
    args, config = _apply(case, tmp_path, root, env)
    before = sdk_digest(root)

    done = _regenerate(root, env, *args, config=config)

    assert done.returncode == 2, done
    [line] = _error_lines(done)
    assert case[2] in line and " / hint: use one of: " in line and line.endswith(case[3]), line
    assert done.stdout.strip() == "", done  # not a single step ran
    assert not marker.exists(), marker.read_text()  # no generator started
    assert sdk_digest(root) == before
    assert backup_dirs(tmp_path / "backups") == [] and not (tmp_path / "cache").exists()


def test_the_same_setup_with_a_good_value_reaches_the_generator(tmp_path: Path) -> None:
    # The control: without it, a marker that never appears would prove nothing.
    root, env, marker = _setup(tmp_path)
    before = sdk_digest(root)

    done = _regenerate(root, env, "--removed", "keep", "--backend", "jar", "--no-cache")

    assert done.returncode != 0, done
    assert marker.exists(), done
    assert sdk_digest(root) == before
