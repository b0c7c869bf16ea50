"""Spec drift, piece by piece, as real subprocesses on committed copies of the example SDK (its client came from
spec v1), with the real generator (shared cache):

- `diff --exit-code` says whether regenerating would change the client: 0 for the SDK's own spec (fetched from
  a server with Orkes auth, or with its keys in another order), 1 for spec v2, 3 when the diff itself fails;
- `regenerate --branch NAME --commit` runs in a scratch worktree and leaves exactly one commit on NAME, the
  maintainer's branch, HEAD and files untouched; a failed gate leaves no branch, or with --keep-failed keeps it.

The workflow that strings them together runs night after night in test_drift_workflow.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest
from conftest import SpecReply, SpecServer
from support.paths import SPEC_V1, SPEC_V2
from support.programs import run_as
from support.sdk_copies import cli_env, commit_body, git, new_sdk, pkg, sdk_digest, write

KEY, SECRET, TOKEN = "app-key", "app-secret", "tok-123"


@pytest.fixture
def env(tmp_path: Path, generator_cache: Path) -> Dict[str, str]:
    return cli_env(tmp_path / "backups", generator_cache, CONDUCTOR_AUTH_KEY=KEY, CONDUCTOR_AUTH_SECRET=SECRET)


def _reordered(document: Any, parent: str = "") -> Any:
    """The same document with every object's keys reversed, except a schema's `properties` (whose order is the
    generated model's field order, so it does change the client)."""
    if isinstance(document, dict):
        items = list(document.items())
        if parent != "properties":
            items.reverse()
        return {k: _reordered(v, k) for k, v in items}
    if isinstance(document, list):
        return [_reordered(v) for v in document]
    return document


def test_diff_exit_code_from_a_server_with_auth(tmp_path: Path, env: Dict[str, str], spec_server: SpecServer) -> None:
    sdk = new_sdk(tmp_path)
    before = sdk_digest(sdk)
    spec_server.require_auth(KEY, SECRET, TOKEN)
    v1 = json.loads(SPEC_V1.read_text())
    # Night 1: the server still serves the SDK's own spec, in other bytes (compact, keys in another order).
    spec_server.serve("/api-docs", SpecReply(body=json.dumps(_reordered(v1), separators=(",", ":")).encode()))

    same = run_as("conductor-regen", "diff", "--spec", spec_server.base_url, "--exit-code", env=env, cwd=sdk,
                  timeout=600)

    assert same.code == 0, same
    assert same.stdout.startswith("## API changes") and "0 breaking, 0 compatible, 0 info" in same.stdout
    assert same.stderr.rstrip().endswith("regenerating would not change the client"), same
    assert spec_server.hits["POST /api/token"] >= 1 and spec_server.seen_headers["/api-docs"]["X-Authorization"] \
        == TOKEN

    spec_server.serve("/api-docs", SpecReply(body=SPEC_V2.read_bytes()))
    changed = run_as("conductor-regen", "diff", "--spec", spec_server.base_url, "--exit-code", "--quiet",
                     "--format", "json", env=env, cwd=sdk, timeout=600)

    assert changed.code == 1 and changed.stderr == "", changed  # like `git diff --exit-code`: no error line
    assert json.loads(changed.stdout)["summary"]["impact"]["breaks SDK code"] == 3

    # --fail-on-breaking keeps its meaning (1, with its error line); the breaking change is also a change.
    breaking = run_as("conductor-regen", "diff", "--spec", spec_server.base_url, "--exit-code", "--fail-on-breaking",
                      "--quiet", env=env, cwd=sdk, timeout=600)
    assert breaking.code == 1 and "ERROR: 5 breaking change(s)" in breaking.stderr, breaking

    # The diff itself failing is neither "same" nor "changed".
    wrong = dict(env, CONDUCTOR_AUTH_SECRET="nope")
    failed = run_as("conductor-regen", "diff", "--spec", spec_server.base_url, "--exit-code", "--quiet", env=wrong,
                    cwd=sdk, timeout=600)
    assert failed.code == 3 and failed.stderr.startswith("ERROR: ") and failed.stdout == "", failed
    missing = run_as("conductor-regen", "diff", "--spec", str(tmp_path / "absent.json"), "--exit-code", "--quiet",
                     env=env, cwd=sdk)
    assert missing.code == 3 and "spec file not found" in missing.stderr, missing
    assert run_as("conductor-regen", "diff", "--spec", str(tmp_path / "absent.json"), "--quiet", env=env,
                  cwd=sdk).code == 1  # without --exit-code, a failure is 1 as always

    assert sdk_digest(sdk) == before


def _branches(root: Path) -> str:
    return git(root, "branch", "--list", "--format=%(refname:short)")


def test_regenerate_on_a_branch_leaves_one_commit_and_the_checkout_alone(tmp_path: Path,
                                                                         env: Dict[str, str]) -> None:
    sdk = new_sdk(tmp_path)
    git(sdk, "config", "user.name", "Maintainer")
    git(sdk, "config", "user.email", "m@example.com")
    # Work in progress outside the managed folders stays where it is, and stays out of the branch.
    write(sdk / "NOTES.md", "work in progress\n")
    head, current, before = git(sdk, "rev-parse", "HEAD").strip(), _branches(sdk), sdk_digest(sdk)
    pr_body = tmp_path / "out" / "pr.md"

    r = run_as("conductor-regen", "regenerate", "--spec", str(SPEC_V2), "--branch", "drift/v2", "--commit",
               "--pr-body", str(pr_body), "--yes", "--skip-tests", env=env, cwd=sdk, timeout=600)

    assert r.code == 0, r
    assert r.stdout.startswith("branch: drift/v2 at ") and r.stdout.splitlines()[-1].startswith("report: "), r
    report = Path(r.stdout.splitlines()[-1].split("report: ", 1)[1])
    assert report.read_text().startswith("# Regeneration report: succeeded")
    # The maintainer's checkout: same HEAD, same branch, same files; one more branch, no worktree left behind.
    assert git(sdk, "rev-parse", "HEAD").strip() == head and git(sdk, "symbolic-ref", "--short", "HEAD")
    assert sdk_digest(sdk) == before
    assert _branches(sdk) == "".join(sorted(current.splitlines(keepends=True) + ["drift/v2\n"]))
    assert len(git(sdk, "worktree", "list", "--porcelain").split("worktree ")) == 2
    # Exactly one commit on the branch, on top of HEAD.
    assert git(sdk, "rev-list", f"{head}..drift/v2").split() == [git(sdk, "rev-parse", "drift/v2").strip()]
    subject = git(sdk, "log", "-1", "--format=%s", "drift/v2").strip()
    body, _ = commit_body(sdk, "drift/v2")
    assert subject == "Regenerate the async client from spec v2 (sha256 6dbc85e4dac3)"
    assert body.strip() == pr_body.read_text().strip()
    assert body.index("## Breaks SDK code (3)") < body.index("## Removed from the server") \
        < body.index("## Compatible changes") < body.index("## Counts") < body.index("## Gate: passed") \
        < body.index("## Reproduce")
    for method in ("OrkesMetricsClient.get_metrics_token", "OrkesSecretClient.delete_secret"):
        assert f"**`{method}`** at `src/conductor/asyncio_client/orkes/" in body
    assert "kept as `SecretResourceApi.delete_secret` (deprecated)" in body
    assert "- tests: skipped — --skip-tests" in body
    assert f"$ conductor-regen regenerate --spec {SPEC_V2} --branch drift/v2 --commit --pr-body {pr_body}" in body
    changed = git(sdk, "diff", "--name-only", head, "drift/v2").split()
    assert f"{'src/conductor/asyncio_client'}/http/.regen-provenance.json" in changed
    assert "tests/unit/orkes/test_async_human_task_api_adapter.py" in changed  # added outside, committed too
    assert "NOTES.md" not in changed and all(p.startswith(("src/", "tests/")) for p in changed)
    # The branch's tree is what a run in place gives (the same provenance, the same adapter test).
    assert not any((tmp_path / "backups").rglob("manifest.json")), "the worktree's backups go with it"

    again = run_as("conductor-regen", "regenerate", "--spec", str(SPEC_V2), "--branch", "drift/v2", "--commit",
                   "--yes", "--skip-tests", env=env, cwd=sdk, timeout=600)
    assert again.code == 1 and "ERROR: branch drift/v2 exists already" in again.stderr, again
    assert "✓ generate" not in again.stderr  # refused before any work

    # Merged, the same spec has nothing left to do: no commit, no branch.
    git(sdk, "merge", "--quiet", "--ff-only", "drift/v2")
    merged = git(sdk, "rev-parse", "HEAD").strip()
    nothing = run_as("conductor-regen", "regenerate", "--spec", str(SPEC_V2), "--branch", "drift/none", "--commit",
                     "--yes", "--skip-tests", env=env, cwd=sdk, timeout=600)
    assert nothing.code == 0 and nothing.stdout.startswith("branch: none made (no-op: "), nothing
    assert "drift/none" not in _branches(sdk) and git(sdk, "rev-parse", "HEAD").strip() == merged


BROKEN = '''\
"""Imports fine against the v1 client, raises at import against v2 (Workflow gains idempotencyKey)."""
from conductor.asyncio_client.http.models.workflow import Workflow

assert "idempotency_key" not in Workflow.model_fields
'''


def test_a_failed_gate_leaves_no_branch_unless_kept(tmp_path: Path, env: Dict[str, str]) -> None:
    sdk = new_sdk(tmp_path, mutate=lambda root: write(pkg(root) / "orkes" / "broken_client.py", BROKEN))
    git(sdk, "config", "user.name", "Maintainer")
    git(sdk, "config", "user.email", "m@example.com")
    current, before = _branches(sdk), sdk_digest(sdk)

    failed = run_as("conductor-regen", "regenerate", "--spec", str(SPEC_V2), "--branch", "drift/v2", "--commit",
                    "--yes", "--skip-tests", env=env, cwd=sdk, timeout=600)

    assert failed.code == 1, failed
    line = failed.the_error()
    assert "fail to import after the swap" in line and "no branch was made, your checkout is as it was" in line
    assert _branches(sdk) == current and sdk_digest(sdk) == before
    assert len(git(sdk, "worktree", "list", "--porcelain").split("worktree ")) == 2

    kept = run_as("conductor-regen", "regenerate", "--spec", str(SPEC_V2), "--branch", "drift/v2", "--commit",
                  "--keep-failed", "--pr-body", str(tmp_path / "pr.md"), "--yes", "--skip-tests", env=env, cwd=sdk,
                  timeout=600)

    assert kept.code == 1, kept
    assert "branch drift/v2 keeps the failed tree (commit " in kept.the_error()
    assert _branches(sdk) != current and sdk_digest(sdk) == before
    subject = git(sdk, "log", "-1", "--format=%s", "drift/v2").strip()
    body, _ = commit_body(sdk, "drift/v2")
    assert subject.endswith(", gate failed") and "## Gate: failed" in body and "do not merge it as it is" in body
    assert "fail to import after the swap" in body and (tmp_path / "pr.md").read_text().strip() == body.strip()
