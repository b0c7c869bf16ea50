"""Git for a run on a branch: the repository around an SDK checkout, a scratch worktree, one commit.

Pure git plumbing, no policy: `commands/drift.py` decides what is refused and what the commit says. Every
call runs git in its own process group, bounded by GIT_TIMEOUT, with no Orkes credential in its
environment and no terminal prompt.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from conductor_regen.child_env import GIT_TIMEOUT, Limit, child_env, run
from conductor_regen.errors import ConfigError, SdkError

# Never committed from a run's tree, whatever the SDK's .gitignore says.
_NEVER = (":(exclude,glob)**/__pycache__/**", ":(exclude,glob)**/*.pyc")


@dataclass(frozen=True)
class GitRepo:
    """The work tree holding an SDK checkout: its top folder, and where the SDK sits in it."""

    top: Path
    sdk_rel: str  # posix path of the SDK root inside the work tree ("." when it is the top)

    def sdk_root_in(self, worktree: Path) -> Path:
        """The SDK root inside another work tree of the same repository."""
        return worktree if self.sdk_rel == "." else worktree / self.sdk_rel


def git(cwd: Path, *args: str, check: bool = True, stdin: Optional[str] = None) -> Tuple[int, str, str]:
    """Run `git args` in `cwd`; (exit code, stdout, stderr). With `check`, a failure is an SdkError."""
    limit = Limit(GIT_TIMEOUT, f"`git {args[0]}` in {cwd}", hint="check the repository (a stale lock?)",
                  error=SdkError)
    env = child_env({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    try:
        done = run(["git", *args], limit, cwd=cwd, env=env, input=stdin.encode() if stdin is not None else None)
    except FileNotFoundError:
        raise SdkError("git is not installed", "install git; a run on a branch needs it") from None
    out = done.stdout.decode("utf-8", "replace")
    err = done.stderr.decode("utf-8", "replace").strip()
    if check and done.returncode != 0:
        first = (err.splitlines() or [f"exit {done.returncode}"])[0]
        raise SdkError(f"`git {' '.join(args[:2])}` failed in {cwd}: {first}",
                       "fix the repository's state, then run again")
    return done.returncode, out, err


def repo_of(sdk_root: Path) -> GitRepo:
    """The git work tree `sdk_root` is in (an SdkError if none)."""
    code, out, _ = git(sdk_root, "rev-parse", "--show-toplevel", check=False)
    if code != 0 or not out.strip():
        raise SdkError(f"{sdk_root} is not in a git checkout, so there is no branch to make",
                       "run it in a clone of the SDK's repository, or drop --branch/--commit")
    top = Path(out.strip()).resolve()
    return GitRepo(top, sdk_root.resolve().relative_to(top).as_posix())


def head_commit(top: Path) -> str:
    """The commit HEAD names (an SdkError for a repository with no commit yet)."""
    code, out, _ = git(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    if code != 0:
        raise SdkError(f"{top} has no commit yet, so there is nothing to branch from",
                       "commit the SDK first (git add -A && git commit)")
    return out.strip()


def check_branch_name(top: Path, name: str) -> None:
    """Refuse a name git would not take as a branch (ConfigError: bad usage)."""
    code, _, _ = git(top, "check-ref-format", "--branch", name, check=False)
    if code != 0 or name.startswith("-"):
        raise ConfigError(f"--branch {name!r} is not a valid git branch name",
                          "use letters, digits, '.', '_', '-' and '/' (e.g. conductor-regen/spec-drift)")


def branch_exists(top: Path, name: str) -> bool:
    """Does the local branch `name` exist?"""
    return git(top, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}", check=False)[0] == 0


def identity(top: Path) -> Tuple[str, str]:
    """(user.name, user.email) as the repository's git config resolves them (an SdkError when either is unset)."""
    found = [git(top, "config", "--get", key, check=False)[1].strip() for key in ("user.name", "user.email")]
    if not all(found):
        raise SdkError(f"git has no identity for the commit in {top} (user.name and user.email)",
                       'set one in the repository: git config user.name "Your Name" && '
                       "git config user.email you@example.com")
    return found[0], found[1]


def add_worktree(top: Path, path: Path, commit: str) -> None:
    """A new work tree at `path` with `commit` checked out, detached: no branch exists until the run commits."""
    git(top, "worktree", "prune")  # a killed run's scratch folder is gone: forget its registration
    git(top, "worktree", "add", "--quiet", "--detach", str(path), commit)


def remove_worktree(top: Path, path: Path) -> None:
    """Remove a work tree made by `add_worktree` and its registration (the branch it committed to stays)."""
    if git(top, "worktree", "remove", "--force", "--force", str(path), check=False)[0] != 0:
        shutil.rmtree(path, ignore_errors=True)
        git(top, "worktree", "prune", check=False)


def changed_paths(worktree: Path, paths: Sequence[str]) -> bool:
    """Does anything under `paths` differ from the work tree's HEAD (untracked files included)?"""
    out = git(worktree, "status", "--porcelain", "--untracked-files=all", "--", *paths, *_NEVER)[1]
    return bool(out.strip())


def commit_paths(worktree: Path, paths: Sequence[str], message: str) -> Optional[str]:
    """Commit everything under `paths` (added, changed, removed) with `message`; the new commit, or None when
    nothing there changed. Hooks do not run: the run's own gate is the check, and a hook must not rewrite the tree."""
    # A path that neither exists nor is tracked (a managed folder this SDK lacks) would fail `git add`.
    paths = [p for p in paths if os.path.lexists(worktree / p) or git(worktree, "ls-files", "--", p)[1].strip()]
    if not paths:
        return None
    git(worktree, "add", "--all", "--", *paths, *_NEVER)
    if git(worktree, "diff", "--cached", "--quiet", check=False)[0] == 0:
        return None
    git(worktree, "commit", "--quiet", "--no-verify", "--file", "-", stdin=message)
    return git(worktree, "rev-parse", "HEAD")[1].strip()


def create_branch(top: Path, name: str, commit: str) -> None:
    """Create the local branch `name` at `commit`; never moves an existing one (an SdkError if it exists now)."""
    code, _, err = git(top, "branch", "--no-track", name, commit, check=False)
    if code != 0:
        raise SdkError(f"could not create branch {name}: {(err.splitlines() or ['?'])[0]}",
                       f"the commit is {commit[:12]}; `git branch NEWNAME {commit[:12]}` keeps it under another name")


def commit_of(top: Path, ref: str) -> Optional[str]:
    """The commit `ref` names (a branch, a remote-tracking branch, a sha), or None when it names none."""
    if ref.startswith("-"):
        return None
    code, out, _ = git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    return out.strip() if code == 0 else None


def parents_and_message(top: Path, commit: str) -> Tuple[List[str], str]:
    """A commit's parents and its raw message."""
    out = git(top, "show", "--no-patch", "--format=%P%n%B", commit)[1]
    parents, _, message = out.partition("\n")
    return parents.split(), message
