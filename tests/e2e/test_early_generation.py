"""regenerate starts the generator before validation ends (EarlyGeneration): a spec that fails validation
stops it and leaves no work behind, and a no-op rerun never starts it.

A stand-in `java` first on PATH records its pid and then sleeps, so "stopped" and "never started" are
observed, not assumed; the real generator makes the first tree of the no-op case.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Dict

import pytest
from support.paths import SPEC_V1
from support.spec_variants import oss_like_spec
from support.sdk_copies import backup_dirs, cli_env, commit_all, debris, new_sdk, run_cli, sdk_digest, write

pytestmark = pytest.mark.e2e

SLOW_JAVA = """#!/bin/sh
echo $$ >> "{marker}"
sleep 60
"""


def _slow_java(tmp_path: Path) -> "tuple[Dict[str, str], Path]":
    bin_dir, marker = tmp_path / "bin", tmp_path / "java-pids.txt"
    java = bin_dir / "java"
    write(java, SLOW_JAVA.format(marker=marker))
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, marker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie is not running
        return handle.read().split()[2] != "Z"


def test_a_spec_refused_by_validation_stops_the_early_generator(tmp_path: Path) -> None:
    root = new_sdk(tmp_path)
    before = sdk_digest(root)
    path_env, marker = _slow_java(tmp_path)
    cache = tmp_path / "cache"

    r = run_cli("regenerate", "--spec", str(oss_like_spec(tmp_path / "oss.json")), "--sdk", str(root), "--yes",
                "--skip-tests", "--no-cache", env=cli_env(tmp_path / "backups", cache, **path_env))

    assert r.code != 0 and "Conductor OSS" in r.the_error(), r
    pids = [int(p) for p in marker.read_text().split()] if marker.exists() else []
    assert pids, "the generator was not started before validation ended (the premise of this test)"
    deadline = time.monotonic() + 60
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids), "the generator outlived the failed run"
    assert sdk_digest(root) == before and debris(root) == [] and backup_dirs(tmp_path / "backups") == []
    assert list(cache.glob("regen-*")) == [] and list(cache.rglob("*.tmp-*")) == []


def test_a_no_op_rerun_never_starts_the_generator(tmp_path: Path, generator_cache: Path) -> None:
    root = new_sdk(tmp_path)
    env = cli_env(tmp_path / "backups", generator_cache)
    first = run_cli("regenerate", "--spec", str(SPEC_V1), "--sdk", str(root), "--yes", "--skip-tests", "--force",
                    env=env)
    assert first.code == 0, first
    commit_all(root)
    path_env, marker = _slow_java(tmp_path)

    again = run_cli("regenerate", "--spec", str(SPEC_V1), "--sdk", str(root), "--yes", "--skip-tests", "--no-cache",
                    env={**env, **path_env})

    assert again.code == 0 and "generate skipped" in again.stderr, again
    assert not marker.exists(), marker.read_text()
