"""Issue 12's done-when on the real SDK: lint and typecheck after a regeneration from the shared spec.

The shared SDK (conductor-python at 225f598f, committed to git) is regenerated from the shared Orkes
spec. Then:
- `lint` exits 0 with its counts;
- `typecheck` reports exactly one new finding: `OrkesWorkflowClient.execute_workflow` promises a
  `WorkflowRunAdapter` while the spec now declares `SignalResponse` for POST /workflow/execute (a real
  change a maintainer decides on); `UserResourceApiAdapter.delete_user` is not new, because assembly
  realigned its copied return annotation (`local edit:` note);
- once the maintainer accepts that finding with a reason, `typecheck` exits 0 (`0 new, 1 accepted`);
- one new use of an undefined name in `orkes/` makes both sessions exit non-zero and name it.

Skips without ../shared. Runtime: about five minutes (a regeneration, mypy on two trees).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Dict

import pytest
from support.paths import REAL_SPEC, SHARED
from support.sdk_copies import cli_env, commit_all, git, run_cli
from test_noxfile_sessions import NOXFILE

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

TARBALL = SHARED / "sdk" / "conductor-python-225f598f.tar.gz"
PKG = "src/conductor/asyncio_client"
CLIENT = f"{PKG}/orkes/orkes_workflow_client.py"
ANCHOR = "        await self.workflow_api.pause_workflow(workflow_id=workflow_id)\n"
REASON = "spec v2 declares SignalResponse for POST /workflow/execute; the public type stays until the SDK decides"


def _nox(envdir: Path, env: Dict[str, str], session: str, sdk: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "nox", "-f", str(NOXFILE), "--envdir", str(envdir), "-s", session, "--",
           "--sdk", str(sdk), *extra]
    return subprocess.run(cmd, cwd=sdk.parent, env=env, capture_output=True, text=True, timeout=900, check=False)


def _verdict(output: str, name: str) -> str:
    match = re.search(rf"^{name}: \w+ \(.*\): \d+ new, (\d+ accepted, )?\d+ fixed, \d+ pre-existing \(vs backup .*\)$",
                      output, re.M)
    assert match, output
    return match.group(0)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, object]:
    if not (TARBALL.is_file() and REAL_SPEC.is_file()):
        pytest.skip(f"the shared SDK or spec is not in {SHARED}")
    base = tmp_path_factory.mktemp("real-lint")
    with tarfile.open(TARBALL) as tar:
        tar.extractall(base, filter="data")
    sdk = base / "conductor-python"
    git(sdk, "init", "-q")
    commit_all(sdk, "pristine")
    env = cli_env(base / "backups", base / "cache")
    done = run_cli("regenerate", "--sdk", str(sdk), "--spec", str(REAL_SPEC), "--yes", "--skip-tests", env=env,
                   timeout=1200)
    assert done.code == 0, done.stdout + done.stderr
    report = Path(done.stdout.strip().splitlines()[-1].split("report: ", 1)[1]).read_text()
    return {"sdk": sdk, "env": env, "report": report}


def test_lint_and_typecheck_mean_something_on_the_regenerated_real_sdk(regenerated: Dict[str, object],
                                                                       envdir: Path) -> None:
    sdk, env, report = regenerated["sdk"], regenerated["env"], regenerated["report"]
    assert isinstance(sdk, Path) and isinstance(env, dict) and isinstance(report, str)
    assert ("local edit: adapters/api/user_resource_api.py:42: UserResourceApiAdapter.delete_user realigned with the "
            "regenerated UserResourceApi.delete_user: returns Dict[str, object] (was object)") in report

    lint = _nox(envdir, env, "lint", sdk)
    out = lint.stdout + lint.stderr
    assert lint.returncode == 0, out
    assert re.search(r": 0 new, \d+ fixed, [1-9]\d* pre-existing", _verdict(out, "lint"))

    typecheck = _nox(envdir, env, "typecheck", sdk)
    out = typecheck.stdout + typecheck.stderr
    assert typecheck.returncode != 0
    assert ": 1 new, " in _verdict(out, "typecheck")
    (new,) = re.findall(r"^  new: (.*)$", out, re.M)
    assert new.startswith(f"{CLIENT}:") and "return-value" in new and '"SignalResponse"' in new
    assert new.endswith("(in OrkesWorkflowClient.execute_workflow)")
    assert "delete_user" not in out

    accepted = _nox(envdir, env, "typecheck", sdk, "--accept", REASON)
    out = accepted.stdout + accepted.stderr
    assert accepted.returncode == 0, out
    assert ": 0 new, 1 accepted, " in _verdict(out, "typecheck")
    assert f"OrkesWorkflowClient.execute_workflow) -- {REASON}" in out
    assert (sdk / ".conductor-regen" / "accepted-findings.json").is_file()
    again = _nox(envdir, env, "typecheck", sdk)
    assert again.returncode == 0 and ": 0 new, 1 accepted, " in _verdict(again.stdout + again.stderr, "typecheck")

    client = sdk / CLIENT
    original = client.read_text()
    assert ANCHOR in original
    client.write_text(original.replace(ANCHOR, "        audit_pause(workflow_id)\n" + ANCHOR))
    try:
        for name, rule in (("lint", "F821 Undefined name `audit_pause`"),
                           ("typecheck", 'name-defined Name "audit_pause" is not defined')):
            proc = _nox(envdir, env, name, sdk)
            out = proc.stdout + proc.stderr
            assert proc.returncode != 0, out
            assert ": 1 new, " in _verdict(out, name)
            assert re.search(rf"^  new: {re.escape(CLIENT)}:\d+:\d+: {re.escape(rule)} "
                             r"\(in OrkesWorkflowClient\.pause_workflow\)$", out, re.M), out
    finally:
        client.write_text(original)
    shutil.rmtree(sdk / ".conductor-regen")
