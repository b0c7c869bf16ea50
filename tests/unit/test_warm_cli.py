"""tests/support/warm_cli.py: a CLI run forked from the warm server is the run a fresh interpreter makes.

Each case runs the same command both ways and compares exit status, stdout and stderr: the environment
(a setting from it, and the per-user folders), the working folder (the SDK is found from it), stdin
(a prompt answered "n") and an error exit. Then what it must not do: fork when told not to, or for a
command it cannot run as `python -m` would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from support import warm_cli
from support.sdk_copies import cli_env, new_sdk, pkg
from support.programs import program_cmd

pytestmark = pytest.mark.e2e  # runs the CLI in processes, fresh and forked


def _both(argv: List[str], env: Dict[str, str], cwd: Path,
          input: Optional[str] = None) -> "subprocess.CompletedProcess[str]":
    warm = warm_cli.run(argv, env=env, cwd=cwd, input=input, timeout=120)
    fresh = warm_cli.run(argv, env=env, cwd=cwd, input=input, timeout=120, fresh=True)
    assert (warm.returncode, warm.stdout, warm.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    return warm


def test_the_environment_the_folder_and_stdin_are_the_runs_own(tmp_path: Path) -> None:
    sdk = new_sdk(tmp_path)
    env = cli_env(tmp_path / "backups", tmp_path / "cache")
    # The SDK found from the working folder, the backups folder from the environment.
    taken = warm_cli.run(program_cmd("conductor-regen", "backup"), env=env, cwd=sdk, timeout=120)
    assert taken.returncode == 0, taken
    listed = _both(program_cmd("conductor-regen", "backups"), env, sdk)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 2 and "-manual " in listed.stdout, listed
    # stdin answers the prompt: "n" declines the restore (of the changed tree).
    (pkg(sdk) / "http" / "extra.py").write_text("X = 1\n")
    declined = _both(program_cmd("conductor-regen", "restore"), env, sdk, input="n\n")
    assert declined.returncode != 0 and "restore" in declined.stderr.lower(), declined
    agreed = warm_cli.run(program_cmd("conductor-regen", "restore"), env=env, cwd=sdk, input="y\n", timeout=120)
    assert agreed.returncode == 0 and not (pkg(sdk) / "http" / "extra.py").exists(), agreed  # EOF would decline
    # A setting from the environment, checked before any work: one error naming it, exit 2.
    bad = _both(program_cmd("invoke", "backups", "--sdk", str(sdk)), {**env, "REGEN_BACKUPS_KEEP": "many"}, tmp_path)
    assert bad.returncode == 2 and bad.stderr.endswith("hint: fix it in the environment variable REGEN_BACKUPS_KEEP\n"), bad


def test_an_unknown_option_is_the_same_error(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "backups", tmp_path / "cache")
    for program in ("invoke", "conductor-regen"):
        done = _both(program_cmd(program, "regenerate", "--spce", "x.json"), env, tmp_path)
        assert done.returncode == 2 and "--spec" in done.stderr, done


def test_it_forks_only_what_it_can_run_as_python_m_would() -> None:
    # As the CLI tests' environments have it (a profiler's PYTHONPATH on this run's own must not matter).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") or k in warm_cli._HONOURED}
    assert warm_cli._forkable([sys.executable, "-m", "conductor_regen", "--help"], env)
    assert warm_cli._forkable([sys.executable, "-m", "invoke", "--list"], {**env, "PYTHONUNBUFFERED": "1"})
    assert not warm_cli._forkable([sys.executable, "-m", "nox", "--list"], env)
    assert not warm_cli._forkable(["conductor-regen", "--help"], env)
    assert not warm_cli._forkable([sys.executable, "-m", "invoke"], {**env, "PYTHONPATH": "/elsewhere"})
    assert not warm_cli._forkable([sys.executable, "-m", "invoke"], {**env, "LC_ALL": "C"} if
                                  env.get("LC_ALL") != "C" else {**env, "LC_ALL": "POSIX"})


def test_what_a_forked_run_changes_stays_in_it(tmp_path: Path) -> None:
    """It moves to its folder and takes its environment; this process keeps its own."""
    before = (os.getcwd(), dict(os.environ))
    done = warm_cli.run(program_cmd("conductor-regen", "--version"), env={**os.environ, "MARK": "1"}, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("conductor-regen "), done
    assert (os.getcwd(), dict(os.environ)) == before
