"""`regenerate --branch NAME --commit --skip-if-held-by REF`: the spec-drift workflow's second night with the same
spec. A run's commit carries the key of its input (`run_input`) as a trailer; when REF is one commit on HEAD with
this run's key, the branch is made at it and nothing is regenerated. Anything else about REF regenerates.
(The workflow's three nights, with the real runs: tests/e2e/test_drift_workflow.py.)"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest
from support.fake_sdk import make_sdk, target_of
from support.paths import SPEC_V1, SPEC_V2

from conductor_regen.checkout.git_branch import repo_of
from conductor_regen.commands.drift import held_commit, regenerate_on_branch, run_input
from conductor_regen.commands.pr_body import CommitText
from conductor_regen.commands.plan import RegenOptions
from conductor_regen.config import Settings
from conductor_regen.errors import VerificationError
from conductor_regen.progress import StepLog
from conductor_regen.spec.intake import load_spec

ARGV = ("regenerate", "--spec", "/runner/_temp/spec.json", "--branch", "drift", "--commit", "--keep-failed",
        "--skip-if-held-by", "refs/remotes/origin/drift", "--pr-body", "/runner/_temp/pr.md", "--yes")
OPTIONS = RegenOptions(spec=str(SPEC_V2), yes=True, keep_failed=True, branch="drift", commit=True,
                       held_by="refs/heads/held", argv=ARGV)


def _key(options: RegenOptions = OPTIONS, settings: Settings = Settings(), spec: Path = SPEC_V2) -> str:
    return run_input(load_spec(str(spec), settings.fetch).sha256, settings, options)


def test_the_key_leaves_out_places_and_follows_everything_that_shapes_the_run() -> None:
    key = _key()
    elsewhere = ("regenerate", "--spec=/other/spec.json", "--branch", "drift", "--commit", "--keep-failed",
                 "--skip-if-held-by=origin/drift", "--pr-body", "pr.md", "--report", "r.json", "--verbose")
    assert _key(dataclasses.replace(OPTIONS, argv=elsewhere)) == key
    others: Dict[str, Tuple[RegenOptions, Settings, Path]] = {
        "spec": (OPTIONS, Settings(), SPEC_V1),
        "gate session": (dataclasses.replace(OPTIONS, argv=ARGV + ("--session", "lint")), Settings(), SPEC_V2),
        "accept": (dataclasses.replace(OPTIONS, accept="by design"), Settings(), SPEC_V2),
        "skip tests": (dataclasses.replace(OPTIONS, skip_tests=True), Settings(), SPEC_V2),
        "generator": (OPTIONS, dataclasses.replace(Settings(), generator=dataclasses.replace(
            Settings().generator, version="7.15.0")), SPEC_V2),
        "removed": (OPTIONS, dataclasses.replace(Settings(), sdk=dataclasses.replace(Settings().sdk, removed="drop")),
                    SPEC_V2),
        "fixups": (OPTIONS, dataclasses.replace(Settings(), fixups=dataclasses.replace(
            Settings().fixups, strip_path_prefix="")), SPEC_V2),
    }
    keys = {name: _key(*args) for name, args in others.items()}
    assert all(k != key for k in keys.values()) and len(set(keys.values())) == len(keys), keys


def _git(root: Path, *args: str, stdin: str = "") -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True, input=stdin).stdout


def _held(root: Path, parent: str, message: str) -> str:
    """A commit on `parent` with `message`, named refs/heads/held (as last night's run would have pushed it)."""
    tree = _git(root, "rev-parse", f"{parent}^{{tree}}").strip()
    commit = _git(root, "commit-tree", tree, "-p", parent, "-F", "-", stdin=message).strip()
    _git(root, "update-ref", "refs/heads/held", commit)
    return commit


def _run(root: Path, tmp_path: Path, options: RegenOptions = OPTIONS) -> Tuple[Any, str]:
    """regenerate_on_branch with a runner that must not be reached when the commit is held."""
    steps = StepLog()
    settings = dataclasses.replace(Settings(), cache_dir=tmp_path / "cache", backups_dir=tmp_path / "backups")
    options = dataclasses.replace(options, pr_body=tmp_path / "pr.md")
    made = regenerate_on_branch(target_of(root), options, settings, steps, lambda plan: True)
    return made, "\n".join(f"{s.name}: {s.detail}" for s in steps.steps)


def test_a_held_commit_becomes_the_branch_and_nothing_runs(git_sdk: Path, tmp_path: Path) -> None:
    head = _git(git_sdk, "rev-parse", "HEAD").strip()
    text = CommitText("Regenerate the async client from spec v2 (sha256 6dbc85e4dac3)", "## Breaks SDK code (3)\n",
                      _key())
    commit = _held(git_sdk, head, text.message)

    made, steps = _run(git_sdk, tmp_path)

    assert made.report is None and made.branch == "drift" and made.commit == commit
    assert _git(git_sdk, "rev-parse", "refs/heads/drift").strip() == commit
    assert (tmp_path / "pr.md").read_text() == text.body  # without the trailer, as the run wrote it
    assert "holds this run's client; nothing regenerated" in steps and "obtain spec" not in steps
    assert not (tmp_path / "cache" / "work").exists() or not any((tmp_path / "cache" / "work").iterdir())


def test_a_held_tree_that_failed_the_gate_fails_again(git_sdk: Path, tmp_path: Path) -> None:
    head = _git(git_sdk, "rev-parse", "HEAD").strip()
    text = CommitText("Regenerate the async client from spec v2 (sha256 6dbc85e4dac3), gate failed", "body\n",
                      _key())
    commit = _held(git_sdk, head, text.message)
    with pytest.raises(VerificationError) as caught:
        _run(git_sdk, tmp_path)
    assert "holds this run's client, and that tree failed the gate; branch drift is at it" in caught.value.message
    assert _git(git_sdk, "rev-parse", "refs/heads/drift").strip() == commit


@pytest.mark.parametrize("case, why", [
    ("missing", "it names no commit"),
    ("not on HEAD", "it is not one commit on HEAD"),
    ("by hand", "its commit was not made by a run on a branch (no input key)"),
    ("other input", "it was made from another spec, tool version or options"),
])
def test_anything_else_regenerates(git_sdk: Path, case: str, why: str) -> None:
    head = _git(git_sdk, "rev-parse", "HEAD").strip()
    subject = "Regenerate the async client from spec v2 (sha256 6dbc85e4dac3)"
    if case == "not on HEAD":
        (git_sdk / "README.md").write_text("moved on\n")
        _git(git_sdk, "commit", "-qam", "main moved on")
        _held(git_sdk, head, CommitText(subject, "b\n", _key()).message)
        head = _git(git_sdk, "rev-parse", "HEAD").strip()
    elif case == "by hand":
        _held(git_sdk, head, f"{subject}\n\nfixed by hand\n")
    elif case == "other input":
        _held(git_sdk, head, CommitText(subject, "b\n", _key(spec=SPEC_V1)).message)
    assert held_commit(repo_of(git_sdk), head, OPTIONS, Settings(), None) == (None, why)
    # The same commit with this run's key on HEAD is held: only the case above differs.
    if case != "missing":
        _held(git_sdk, head, CommitText(subject, "b\n", _key()).message)
        assert held_commit(repo_of(git_sdk), head, OPTIONS, Settings(), None)[0] is not None
