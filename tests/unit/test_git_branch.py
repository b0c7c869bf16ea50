"""checkout/git_branch.py: the git plumbing of a run on a branch, on real repositories in a temp folder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conductor_regen.errors import SdkError
from conductor_regen.checkout import git_branch as gitb


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=root,
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg" / "http").mkdir(parents=True)
    (root / "pkg" / "http" / "a.py").write_text("A = 1\n")
    (root / "pkg" / "http" / "gone.py").write_text("GONE = 1\n")
    (root / "other.txt").write_text("other\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "init")
    _git(root, "config", "user.name", "Maintainer")
    _git(root, "config", "user.email", "m@example.com")
    return root


def test_a_commit_in_a_scratch_worktree_becomes_a_branch(repo: Path, tmp_path: Path) -> None:
    head = gitb.head_commit(repo)
    current = _git(repo, "symbolic-ref", "HEAD")
    wt = tmp_path / "work" / "repo"
    gitb.add_worktree(repo, wt, head)
    assert _git(wt, "rev-parse", "HEAD").strip() == head
    assert not gitb.changed_paths(wt, ["pkg/http"])
    assert gitb.commit_paths(wt, ["pkg/http"], "nothing\n") is None  # nothing changed there

    (wt / "pkg" / "http" / "a.py").write_text("A = 2\n")
    (wt / "pkg" / "http" / "gone.py").unlink()
    (wt / "pkg" / "http" / "new.py").write_text("NEW = 1\n")
    (wt / "pkg" / "http" / "__pycache__").mkdir()
    (wt / "pkg" / "http" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (wt / "other.txt").write_text("not the run's\n")
    assert gitb.changed_paths(wt, ["pkg/http"])

    commit = gitb.commit_paths(wt, ["pkg/http", "pkg/adapters"], "Subject\n\nBody\n")  # adapters: no such folder
    assert commit is not None
    gitb.create_branch(repo, "drift/x", commit)
    gitb.remove_worktree(repo, wt)

    assert not wt.exists() and _git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert _git(repo, "symbolic-ref", "HEAD") == current and gitb.head_commit(repo) == head
    assert _git(repo, "rev-parse", "drift/x").strip() == commit
    assert _git(repo, "log", "-1", "--format=%an <%ae>%n%B", "drift/x") == \
        "Maintainer <m@example.com>\nSubject\n\nBody\n\n"
    assert sorted(_git(repo, "diff", "--name-status", head, "drift/x").splitlines()) == [
        "A\tpkg/http/new.py", "D\tpkg/http/gone.py", "M\tpkg/http/a.py"]
    assert gitb.branch_exists(repo, "drift/x") and not gitb.branch_exists(repo, "drift/y")
    with pytest.raises(SdkError, match="could not create branch drift/x"):
        gitb.create_branch(repo, "drift/x", head)  # never moves an existing branch
    assert _git(repo, "rev-parse", "drift/x").strip() == commit


def test_a_killed_runs_worktree_is_forgotten(repo: Path, tmp_path: Path) -> None:
    head = gitb.head_commit(repo)
    old = tmp_path / "old" / "repo"
    gitb.add_worktree(repo, old, head)
    shutil.rmtree(old.parent)  # what the sweep of a killed run's work folder leaves: a registration, no folder
    gitb.add_worktree(repo, tmp_path / "new" / "repo", head)
    listed = _git(repo, "worktree", "list", "--porcelain")
    assert str(old) not in listed and listed.count("worktree ") == 2


def test_the_repository_around_an_sdk(repo: Path, tmp_path: Path) -> None:
    found = gitb.repo_of(repo / "pkg")
    assert found.top == repo.resolve() and found.sdk_rel == "pkg"
    assert gitb.repo_of(repo).sdk_rel == "."
    with pytest.raises(SdkError, match="is not in a git checkout"):
        gitb.repo_of(tmp_path)
