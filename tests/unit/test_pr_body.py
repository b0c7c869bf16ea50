"""The commit message of `regenerate --branch NAME --commit` (and its pull request body), from a run's JSON report:
true breaks first (method, file:line, what to do), then removed-but-kept, then compatible changes, the counts,
the gate's verdict and the command that reproduces it."""

from __future__ import annotations

from typing import Any, Dict, List

from conductor_regen.commands.pr_body import CommitText, commit_text, reproduce_command, what_to_do
from conductor_regen.analysis.changes import Change

SHA = "6dbc85e4dac3fd3d0b3b41aba8f4e98c69837627ad4ebf864b413d9da3a55f58"


def _change(severity: str, kind: str, operation: str, detail: str, impact: str, **rest: Any) -> Dict[str, Any]:
    return {"severity": severity, "kind": kind, "operation": operation, "detail": detail, "impact": impact,
            "impact_detail": rest.pop("impact_detail", ""), "old": rest.pop("old", ""), "new": rest.pop("new", ""),
            "where": rest.pop("where", []), "methods": rest.pop("methods", [])}


CHANGES: List[Dict[str, Any]] = [
    _change("breaking", "operation-removed", "DELETE /secrets/{key}",
            "SecretResourceApi.delete_secret: the server's API no longer has it; the new client keeps it (deprecated)",
            "breaks SDK code", new="SecretResourceApi.delete_secret",
            impact_detail="the server no longer has it; called by OrkesSecretClient.delete_secret at x.py:27",
            where=["src/conductor/asyncio_client/orkes/orkes_secret_client.py:27"],
            methods=["OrkesSecretClient.delete_secret"]),
    _change("breaking", "operation-return-changed", "GET /workflow/{workflowId}", "Workflow -> Task",
            "breaks SDK code", old="Workflow", new="Task", impact_detail="now Task: returns it promising Workflow",
            where=["src/conductor/asyncio_client/orkes/orkes_workflow_client.py:67"],
            methods=["OrkesWorkflowClient.get_workflow"]),
    _change("breaking", "field-removed", "WorkflowDef.restartable", "WorkflowDef.restartable is gone",
            "used by SDK, repaired", impact_detail="field kept on the model's adapter (deprecated)"),
    _change("breaking", "field-type-changed", "WorkflowSummary.executionTime", "(StrictInt -> StrictStr)",
            "not used by SDK code"),
    _change("compatible", "api-added", "HumanTaskApi", "new HumanTaskApi (human_task_api.py)", "not used by SDK code"),
]


def _report(outcome: str = "succeeded", **extra: Any) -> Dict[str, Any]:
    return {"outcome": outcome, "spec": {"source": "https://key:s3cr3t@orkes.example/api-docs?token=t",
                                         "version": "v2", "sha256": SHA},
            "generator": {"version": "7.14.0"}, "changes": CHANGES,
            "files": {"added": ["http/a.py"], "removed": [], "changed": ["http/b.py", "orkes/c.py"]},
            "steps": [{"name": "import gate", "status": "ok", "detail": "82 module(s)"},
                      {"name": "tests", "status": "ok" if outcome == "succeeded" else "failed",
                       "detail": "contract: 0 new failures"}],
            "tests": [{"session": "contract", "python": "", "result": "passed", "verdict": ""}],
            "notes": [], **extra}


def test_subject_says_the_spec_version_and_sha() -> None:
    text = commit_text(_report(), "conductor-regen regenerate ...")
    assert text.subject == "Regenerate the async client from spec v2 (sha256 6dbc85e4dac3)"
    assert text.message.startswith(text.subject + "\n\n") and text.message.endswith(text.body)
    failed = commit_text(_report("failed", error="gate failed after the swap: contract: 1 new failure"), "x",
                         kept_failed=True)
    assert failed.subject.endswith(", gate failed")


def test_sections_come_in_order_breaks_first() -> None:
    body = commit_text(_report(), "conductor-regen regenerate --spec s.json --branch b --commit").body
    heads = [line for line in body.splitlines() if line.startswith("## ")]
    assert heads == ["## Breaks SDK code (2)", "## Removed from the server, kept in the client (deprecated) (2)",
                     "## Needs a look (1)", "## Compatible changes (1)", "## Counts", "## Gate: passed",
                     "## Reproduce"]
    breaks = body.split("## Breaks SDK code (2)", 1)[1].split("## Removed", 1)[0]
    # Each broken method with its file:line and what to do.
    assert ("- **`OrkesSecretClient.delete_secret`** at "
            "`src/conductor/asyncio_client/orkes/orkes_secret_client.py:27`") in breaks
    assert "`OrkesWorkflowClient.get_workflow`** at `src/conductor/asyncio_client/orkes/orkes_workflow_client.py:67`" \
        in breaks
    assert breaks.count("  - what to do: ") == 2 and "new server answers 404" in breaks and "`Task`" in breaks
    kept = body.split("(deprecated) (2)", 1)[1].split("## Needs a look", 1)[0]
    assert ("- `DELETE /secrets/{key}` (operation-removed): kept as `SecretResourceApi.delete_secret` (deprecated); "
            "called by `OrkesSecretClient.delete_secret`") in kept
    assert "`WorkflowDef.restartable` (field-removed): field kept on the model's adapter (deprecated)" in kept
    assert "WorkflowSummary.executionTime" in body.split("## Needs a look", 1)[1].split("## Compatible", 1)[0]
    counts = body.split("## Counts", 1)[1].split("## Gate", 1)[0]
    assert "- breaks SDK code: 2" in counts and "- 1 public method calls operations the server no longer has" \
        in counts
    assert "- files: 1 added, 0 removed, 2 changed" in counts and "4 breaking, 1 compatible, 0 info" in counts


def test_the_gate_verdict_and_the_reproduce_command() -> None:
    body = commit_text(_report(), "conductor-regen regenerate --spec s.json --branch b --commit").body
    gate = body.split("## Gate: passed", 1)[1].split("## Reproduce", 1)[0]
    assert "- import gate: ok — 82 module(s)" in gate and "- session contract: passed" in gate
    assert "```console\n$ conductor-regen regenerate --spec s.json --branch b --commit\n```" in body
    # The source is named without credentials.
    assert "spec: `https://orkes.example/api-docs`, info.version v2, sha256 `" + SHA + "`" in body
    assert "s3cr3t" not in body and "token=" not in body

    failed = commit_text(_report("failed", error="gate failed after the swap: contract: 1 new failure",
                                 notes=["review: OrkesWorkflowClient.get_workflow (x.py:67): wrong return type"]),
                         "x", kept_failed=True).body
    assert "## Gate: failed\n\n**gate failed after the swap: contract: 1 new failure**" in failed
    assert "- review: OrkesWorkflowClient.get_workflow (x.py:67): wrong return type" in failed
    assert "do not merge it as it is" in failed


def test_nothing_broken_says_so() -> None:
    body = commit_text(_report(changes=[CHANGES[-1]]), "x").body
    assert "## Breaks SDK code (0)\n\nNothing hand-written breaks." in body


def test_what_to_do_follows_the_kind_of_break() -> None:
    binding = Change("breaking", "operation-signature-changed", "POST /x", "d", impact="breaks SDK code",
                     impact_detail="does not bind at a.py:3", old="f(a, b)", new="f(b, a)")
    assert what_to_do(binding).startswith("pass the arguments the new signature takes (`f(a, b)` -> `f(b, a)`)")
    field = Change("breaking", "field-type-changed", "M.f", "d", impact="breaks SDK code", old="int", new="str")
    assert what_to_do(field) == "update the SDK code there to the new shape (`int` -> `str`)"


def test_reproduce_command_is_the_typed_one_without_credentials() -> None:
    argv = ["--search-root", "/repo", "regenerate", "--spec", "https://k:s@host/api-docs?token=x", "--branch",
            "drift x", "--commit", "--pr-body=/tmp/p r.md"]
    assert reproduce_command(argv, "invoke", "ignored", "ignored") == (
        "invoke regenerate --spec https://host/api-docs --branch 'drift x' --commit '--pr-body=/tmp/p r.md'")
    assert reproduce_command([], "conductor-regen", "spec.json", "b") == (
        "conductor-regen regenerate --spec spec.json --branch b --commit")


def test_a_message_reads_back_as_its_subject_body_and_input_key() -> None:
    text = commit_text(_report(), "x", input_key="ab" * 32)
    assert text.message.endswith(f"\n\nConductor-Regen-Input: {'ab' * 32}\n")
    assert CommitText.from_message(text.message) == text
    plain = commit_text(_report("failed", error="gate failed after the swap: contract: 1 new failure"), "x")
    assert CommitText.from_message(plain.message) == plain and plain.gate_failed and not text.gate_failed
    # A key that is not the message's last line, or not a sha256, is no key.
    assert CommitText.from_message(text.message + "edited by hand\n").input_key == ""
    assert CommitText.from_message(text.message.replace("ab" * 32, "ab" * 31)).input_key == ""
