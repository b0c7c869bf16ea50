"""`regenerate --branch NAME --commit` refuses, in one line and before any work, what it cannot do safely:
bad usage (exit 2), a folder that is not a git checkout, a branch that exists, uncommitted work in the managed
folders, no identity to commit as. Nothing is touched: no branch, no worktree, the same files."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List

import pytest
from support.fake_sdk import make_sdk, target_of
from support.programs import one_error_line, run_as
from support.sdk_copies import cli_env, sdk_digest

from conductor_regen.commands.drift import check_branch_run
from conductor_regen.commands.plan import RegenOptions
from conductor_regen.errors import ConfigError, SdkError

OPTIONS = RegenOptions(spec="spec.json", yes=True, skip_tests=True, branch="drift/x", commit=True)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def _state(root: Path) -> List[str]:
    return [_git(root, "branch", "--list"), _git(root, "worktree", "list", "--porcelain"),
            _git(root, "rev-parse", "HEAD")]


@pytest.mark.parametrize("args, says", [
    (["--branch", "drift/x"], "--branch goes with --commit"),
    (["--commit"], "--commit goes with --branch NAME"),
    (["--pr-body", "pr.md"], "--pr-body goes with --branch NAME --commit"),
    (["--skip-if-held-by", "origin/x"], "--skip-if-held-by goes with --branch NAME --commit"),
    (["--branch", "drift/x", "--commit", "--dry-run"], "--dry-run and --branch ask for opposite things"),
    (["--branch", "drift/x", "--commit", "--allow-dirty"], "the branch starts from HEAD"),
    (["--branch", "a..b", "--commit"], "--branch 'a..b' is not a valid git branch name"),
])
def test_bad_usage_is_refused_before_any_work(git_sdk: Path, tmp_path: Path, args: List[str], says: str) -> None:
    before, state = sdk_digest(git_sdk), _state(git_sdk)
    r = run_as("conductor-regen", "regenerate", "--sdk", str(git_sdk), "--spec", str(tmp_path / "absent.json"),
               "--skip-tests", "--yes", *args, env=cli_env(tmp_path / "backups", tmp_path / "cache"), cwd=tmp_path)
    assert r.code == 2, r
    assert says in one_error_line(r)
    assert sdk_digest(git_sdk) == before and _state(git_sdk) == state
    assert not (tmp_path / "cache").exists()  # not even a work folder


def test_a_folder_that_is_not_a_git_checkout(tmp_path: Path, isolated_git: Path) -> None:
    plain = make_sdk(tmp_path)
    with pytest.raises(SdkError) as caught:
        check_branch_run(target_of(plain), OPTIONS)
    assert "is not in a git checkout" in caught.value.message and "drop --branch/--commit" in caught.value.hint


def test_a_repository_without_a_commit(tmp_path: Path, isolated_git: Path) -> None:
    root = make_sdk(tmp_path)
    _git(root, "init", "-q")
    with pytest.raises(SdkError) as caught:
        check_branch_run(target_of(root), OPTIONS)
    assert "has no commit yet" in caught.value.message


def test_a_branch_that_exists_already(git_sdk: Path) -> None:
    _git(git_sdk, "branch", "drift/x")
    state = _state(git_sdk)
    with pytest.raises(SdkError) as caught:
        check_branch_run(target_of(git_sdk), OPTIONS)
    assert caught.value.message == "branch drift/x exists already"
    assert "git branch -D drift/x" in caught.value.hint
    assert _state(git_sdk) == state


def test_uncommitted_work_in_the_managed_folders(git_sdk: Path) -> None:
    edited = git_sdk / "src/conductor/asyncio_client/http/api_client.py"
    edited.write_text(edited.read_text() + "# local edit\n")
    with pytest.raises(SdkError) as caught:
        check_branch_run(target_of(git_sdk), OPTIONS)
    assert "1 uncommitted change(s) in the managed folders: src/conductor/asyncio_client/http/api_client.py" \
        in caught.value.message
    assert "without them" in caught.value.message and caught.value.hint == "commit or stash them first"
    # Outside the managed folders, work in progress is no concern of the run (it starts from HEAD).
    edited.write_text(edited.read_text().replace("# local edit\n", ""))
    (git_sdk / "README.md").write_text("edited\n")
    assert check_branch_run(target_of(git_sdk), OPTIONS).top == git_sdk.resolve()


def test_no_identity_to_commit_as(tmp_path: Path, isolated_git: Path) -> None:
    root = make_sdk(tmp_path, git=True)
    with pytest.raises(SdkError) as caught:
        check_branch_run(target_of(root), OPTIONS)
    assert "git has no identity for the commit" in caught.value.message
    assert "git config user.email you@example.com" in caught.value.hint


def test_an_sdk_inside_a_bigger_repository(tmp_path: Path, isolated_git: Path) -> None:
    # The SDK need not be the repository's top folder: the worktree holds it at the same place.
    mono = tmp_path / "mono"
    sdk = make_sdk(mono / "clients", name="python")
    _git(mono, "init", "-q")
    _git(mono, "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    _git(mono, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init")
    _git(mono, "config", "user.name", "M")
    _git(mono, "config", "user.email", "m@x")
    found = check_branch_run(target_of(sdk), OPTIONS)
    assert found.top == mono.resolve() and found.sdk_rel == "clients/python"
    assert found.sdk_root_in(tmp_path / "wt") == tmp_path / "wt" / "clients" / "python"


def test_usage_refusals_need_no_sdk() -> None:
    from conductor_regen.commands.drift import check_usage

    check_usage(RegenOptions(spec="s"))  # no branch run at all: nothing to refuse
    with pytest.raises(ConfigError):
        check_usage(RegenOptions(spec="s", commit=True))
