"""The response contract on the real SDK (conductor-python at 225f598f) regenerated from the real spec.

The shared spec changes `POST /workflow/execute/{name}/{version}`'s 200 response from WorkflowRun to
SignalResponse, so `OrkesWorkflowClient.execute_workflow` (annotated `-> WorkflowRunAdapter`) now
returns a `SignalResponseAdapter`. The pristine tree, judged against the same spec, parses that body
as a WorkflowRun and drops its new keys: another rule, so the wrong return type is new. Skipped
without ../shared.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Dict, Tuple

import pytest
from support.paths import REAL_SPEC, REPO, SHARED
from support.sdk_copies import cli_env, commit_all, git, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TARBALL = SHARED / "sdk" / "conductor-python-225f598f.tar.gz"
LAST = re.compile(r"^contract: (\d+) of (\d+) SDK methods exercised, (\d+) sent spec-valid requests, "
                  r"(\d+) returned what they promise, (\d+) new failures$", re.M)


@pytest.mark.skipif(not (REAL_SPEC.is_file() and TARBALL.is_file()), reason="needs ../shared (real spec and SDK)")
def test_execute_workflow_returning_a_signal_response_is_a_new_failure(tmp_path: Path) -> None:
    with tarfile.open(TARBALL) as tar:
        tar.extractall(tmp_path, filter="data") if sys.version_info >= (3, 12) else tar.extractall(tmp_path)  # noqa: S202
    sdk = tmp_path / "conductor-python"
    git(sdk, "init", "-q")
    commit_all(sdk, "conductor-python 225f598f")
    env: Dict[str, str] = cli_env(tmp_path / "backups", tmp_path / "cache")
    done = run_cli("regenerate", "--sdk", str(sdk), "--spec", str(REAL_SPEC), "--skip-tests", "--yes",
                   env=env, timeout=600)
    assert done.code == 0, done.output[-3000:]

    def contract(*args: str) -> Tuple[subprocess.CompletedProcess[str], float]:
        envdir = tmp_path / "nox"
        reuse = ["-R"] if envdir.is_dir() and any(envdir.iterdir()) else []
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), "--envdir", str(envdir),
                               *reuse, "-s", "contract", "--", "--sdk", str(sdk), "--junit-dir",
                               str(tmp_path / "junit"), *args],
                              cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False, env=env)
        return proc, time.monotonic() - started

    # The spec comes from the provenance; the baseline is this run's backup (the pristine tree), automatically.
    proc, _ = contract()
    out = proc.stdout
    assert proc.returncode != 0, out[-3000:]
    assert "baseline: backup " in proc.stderr, proc.stderr[-2000:]
    exercised, total, valid, kept, new = (int(x) for x in LAST.findall(out)[-1])
    assert total >= 250 and exercised >= 0.95 * total and valid >= 0.9 * total
    assert kept >= 200, out[-3000:]
    for method in ("execute_workflow", "execute_workflow_with_return_strategy"):
        assert re.search(rf"^new OrkesWorkflowClient\.{method}: wrong return type: returns SignalResponseAdapter, "
                         r"promises WorkflowRunAdapter$", out, re.M), out[-4000:]
    # The pristine tree failed it by another rule: the body parsed as a WorkflowRun lost SignalResponse's keys.
    assert 1 <= new <= 5
    assert re.search(r"^pre-existing OrkesWorkflowClient\.update_state: drops response data: ", out, re.M), out[-4000:]

    # Judged again (the pristine verdicts come from the cache): the same bytes; --absolute counts everything.
    again, _ = contract()
    assert (tmp_path / "junit" / "contract.xml").is_file() and LAST.findall(again.stdout)[-1] == LAST.findall(out)[-1]
    absolute, _ = contract("--absolute")
    assert int(LAST.findall(absolute.stdout)[-1][4]) > 20
