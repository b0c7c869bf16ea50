"""The real SDK judged by the nox sessions after a regeneration from the shared spec: contract, lint, typecheck.

The shared SDK (conductor-python at 225f598f, committed to git) is regenerated once for the module from the
shared Orkes spec (`regenerate --skip-tests --yes`, with the session's generator cache). Then:
- the response contract: the spec changes `POST /workflow/execute/{name}/{version}`'s 200 response from
  WorkflowRun to SignalResponse, so `OrkesWorkflowClient.execute_workflow` (annotated `-> WorkflowRunAdapter`)
  now returns a `SignalResponseAdapter`. The pristine tree (this run's backup, the automatic baseline), judged
  against the same spec, parses that body as a WorkflowRun and drops its new keys: another rule, so the wrong
  return type is new. Judged again (the pristine verdicts come from the cache), the JUnit file is the same
  byte for byte; `--absolute` counts every failure;
- issue 12's done-when: `lint` exits 0 with its counts; `typecheck` reports exactly one new finding:
  `OrkesWorkflowClient.execute_workflow` promises a `WorkflowRunAdapter` while the spec now declares
  `SignalResponse` (a real change a maintainer decides on); `UserResourceApiAdapter.delete_user` is not new,
  because assembly realigned its copied return annotation (`local edit:` note); once the maintainer accepts
  that finding with a reason, `typecheck` exits 0 (`0 new, 1 accepted`); one new use of an undefined name in
  `orkes/` makes both sessions exit non-zero and name it.

The contract test comes first and only reads the tree; the lint test then edits a client file (put back in a
`finally`) and records an accepted finding, whose `.conductor-regen` folder it removes however it ends.
Skips without ../shared. Runtime: two to three minutes on two cores (a regeneration unless the session's cache
already holds it, three contract runs, mypy on two trees).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest
from support.paths import REAL_SDK, REAL_SPEC, SHARED
from support.sdk_copies import cli_env, real_sdk_checkout, run_cli
from test_contract_session import LAST_LINE as LAST
from test_noxfile_sessions import NOXFILE

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PKG = "src/conductor/asyncio_client"
CLIENT = f"{PKG}/orkes/orkes_workflow_client.py"
ANCHOR = "        await self.workflow_api.pause_workflow(workflow_id=workflow_id)\n"
REASON = "spec v2 declares SignalResponse for POST /workflow/execute; the public type stays until the SDK decides"


@dataclasses.dataclass(frozen=True)
class Regenerated:
    sdk: Path  # the regenerated checkout
    env: Dict[str, str]  # its backups and the session's generator cache, for the CLI and the sessions
    report: str  # the run's Markdown report


def _nox(envdir: Path, env: Dict[str, str], session: str, sdk: Path, *extra: str,
         reuse: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "nox", "-f", str(NOXFILE), "--envdir", str(envdir), *(["-R"] if reuse else []),
           "-s", session, "--", "--sdk", str(sdk), *extra]
    return subprocess.run(cmd, cwd=sdk.parent, env=env, capture_output=True, text=True, timeout=900, check=False)


def _verdict(output: str, name: str) -> str:
    match = re.search(rf"^{name}: \w+ \(.*\): \d+ new, (\d+ accepted, )?\d+ fixed, \d+ pre-existing \(vs backup .*\)$",
                      output, re.M)
    assert match, output
    return match.group(0)


@pytest.fixture(scope="module")
def regenerated(generator_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Regenerated:
    """The shared SDK, committed and regenerated from the shared spec once for this module."""
    if not (REAL_SDK.is_file() and REAL_SPEC.is_file()):
        pytest.skip(f"the shared SDK or spec is not in {SHARED}")
    base = tmp_path_factory.mktemp("real-sessions")
    sdk = real_sdk_checkout(base)
    env = cli_env(base / "backups", generator_cache)
    done = run_cli("regenerate", "--sdk", str(sdk), "--spec", str(REAL_SPEC), "--yes", "--skip-tests", env=env,
                   timeout=1200)
    assert done.code == 0, done.output[-3000:]
    report = Path(done.stdout.strip().splitlines()[-1].split("report: ", 1)[1]).read_text()
    return Regenerated(sdk, env, report)


def test_execute_workflow_returning_a_signal_response_is_a_new_contract_failure(regenerated: Regenerated,
                                                                                  tmp_path: Path) -> None:
    sdk, env = regenerated.sdk, regenerated.env
    envdir, junit = tmp_path / "nox", tmp_path / "junit"

    # The spec comes from the provenance; the baseline is this run's backup (the pristine tree), automatically.
    proc = _nox(envdir, env, "contract", sdk, "--junit-dir", str(junit))
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
    again = _nox(envdir, env, "contract", sdk, "--junit-dir", str(tmp_path / "again"), reuse=True)
    assert again.returncode == proc.returncode and LAST.findall(again.stdout)[-1] == LAST.findall(out)[-1]
    assert (tmp_path / "again" / "contract.xml").read_bytes() == (junit / "contract.xml").read_bytes()
    absolute = _nox(envdir, env, "contract", sdk, "--junit-dir", str(junit), "--absolute", reuse=True)
    assert int(LAST.findall(absolute.stdout)[-1][4]) > 20


def test_lint_and_typecheck_mean_something_on_the_regenerated_real_sdk(regenerated: Regenerated,
                                                                       envdir: Path) -> None:
    sdk, env, report = regenerated.sdk, regenerated.env, regenerated.report
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

    try:
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
    finally:
        shutil.rmtree(sdk / ".conductor-regen", ignore_errors=True)
