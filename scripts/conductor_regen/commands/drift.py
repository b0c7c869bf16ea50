"""`regenerate --branch NAME --commit`: the whole run on a new branch, ending in one reviewable commit.

The run (gate included) happens in a scratch `git worktree` of the SDK's repository, checked out
detached at the current HEAD, so the maintainer's branch, HEAD and work tree are never touched.
When the run succeeds, what it changed (the managed folders and the files it added outside them)
is committed there with the impact summary as the message (commands/pr_body.py), and only then is the
branch NAME created at that commit: a failed run leaves no branch, unless `--keep-failed` asks to
keep the failed tree, which is then committed and branched all the same and the error says so.
Nothing is pushed. The scratch worktree, its staging and its backups go when the command ends.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional

from conductor_regen.commands.plan import Confirm, RegenOptions, TestRunner
from conductor_regen.commands.pr_body import CommitText, commit_text, reproduce_command
from conductor_regen.commands.report import Report
from conductor_regen.config import Settings
from conductor_regen.errors import ConfigError, RegenError, SdkError
from conductor_regen.progress import StepLog
from conductor_regen.checkout import git_branch as gitb
from conductor_regen.checkout.signals import deferred
from conductor_regen.checkout.target import SdkTarget, git_dirty_paths, resolve_sdk
from conductor_regen.checkout.work_dirs import new_work_dir

if TYPE_CHECKING:
    from conductor_regen.checkout.backups import Backup


@dataclasses.dataclass(frozen=True)
class BranchRun:
    """What a run on a branch left: the run's report, and the branch and commit it made (none for a no-op)."""

    report: Report
    report_path: Path  # where the JSON report was written (Markdown beside it)
    branch: str = ""
    commit: str = ""
    text: Optional[CommitText] = None


def check_usage(options: RegenOptions) -> None:
    """Option combinations a run on a branch refuses, before any work (bad usage: exit 2)."""
    if bool(options.branch) != options.commit:
        given, missing = ("--branch", "--commit") if options.branch else ("--commit", "--branch NAME")
        raise ConfigError(f"{given} goes with {missing}: a run on a branch ends in one commit there, and a commit "
                          "is made only on a new branch", "pass both (--branch NAME --commit), or neither")
    if not options.branch:
        if options.pr_body is not None:
            raise ConfigError("--pr-body goes with --branch NAME --commit", "pass those too, or drop --pr-body")
        return
    if options.dry_run:
        raise ConfigError("--dry-run and --branch ask for opposite things: a dry run changes nothing, a run on a "
                          "branch commits", "drop --branch for the plan (`invoke regenerate --dry-run`)")
    if options.allow_dirty:
        raise ConfigError("--allow-dirty with --branch: the branch starts from HEAD, so uncommitted changes would "
                          "not be in it", "commit them first, or run without --branch")


def check_branch_run(target: SdkTarget, options: RegenOptions) -> gitb.GitRepo:
    """Everything a run on a branch needs, checked before any work: a git checkout with a commit, a new branch
    name, a clean managed tree (the run starts from HEAD, without uncommitted work), an identity to commit as."""
    check_usage(options)
    gitb.check_branch_name(target.root, options.branch)
    repo = gitb.repo_of(target.root)
    gitb.head_commit(repo.top)
    if gitb.branch_exists(repo.top, options.branch):
        raise SdkError(f"branch {options.branch} exists already", f"pick another name, or delete it first "
                       f"(git branch -D {options.branch}) if it holds nothing you need")
    dirty = git_dirty_paths(target)
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" (+{len(dirty) - 5} more)" if len(dirty) > 5 else "")
        raise SdkError(f"{len(dirty)} uncommitted change(s) in the managed folders: {shown}; the branch would "
                       "start from HEAD without them", "commit or stash them first")
    gitb.identity(repo.top)
    return repo


def default_report_path(target: SdkTarget, settings: Settings) -> Path:
    """Where a run on a branch files its report without --report (its backup goes with its scratch worktree)."""
    return settings.cache_dir / "reports" / f"{target.name}-branch.json"


@dataclasses.dataclass(frozen=True)
class _Scratch:
    """A run's scratch place: the work folder, the worktree in it, and the SDK checkout inside that."""

    repo: gitb.GitRepo
    work: Path
    worktree: Path
    target: SdkTarget
    backups_dir: Path

    @property
    def report(self) -> Path:
        return self.work / "report.json"

    def backups(self) -> List["Backup"]:
        """The run's backups: taken of the worktree, in the settings' store (the gate's judge finds them there)."""
        from conductor_regen.checkout.backups import list_backups

        return list_backups(self.backups_dir, self.target.name, self.target.root)

    def run_paths(self) -> List[str]:
        """What the run may have changed, relative to the worktree: the managed folders, and the files it
        added outside them (recorded in its backup's manifest)."""
        from conductor_regen.checkout.backups import added_outside, load_manifest

        paths = [p.relative_to(self.worktree).as_posix() for p in self.target.managed_paths()]
        for backup in self.backups():
            paths += [(self.target.root / rel).relative_to(self.worktree).as_posix()
                      for rel in added_outside(load_manifest(backup))]
        return paths

    def drop_backups(self) -> None:
        """The worktree is gone, so are its backups: the branch is the undo (`git branch -D`)."""
        for backup in self.backups():
            shutil.rmtree(backup.path, ignore_errors=True)


def regenerate_on_branch(target: SdkTarget, options: RegenOptions, settings: Settings, steps: StepLog,
                         confirm: Confirm, run_tests: Optional[TestRunner] = None,
                         env: Optional[Mapping[str, str]] = None) -> BranchRun:
    """Run `regenerate` in a scratch worktree at HEAD and commit the result on the new branch `options.branch`."""
    from conductor_regen.commands.regenerate import regenerate

    repo = check_branch_run(target, options)
    head = gitb.head_commit(repo.top)
    keep = options.report_path or default_report_path(target, settings)
    work = new_work_dir(settings.cache_dir, "regen")
    worktree = work / repo.top.name
    scratch: Optional[_Scratch] = None
    try:
        with steps.step("worktree") as step:
            gitb.add_worktree(repo.top, worktree, head)
            step.detail = f"at {head[:12]} (detached), for branch {options.branch}"
        scratch = _Scratch(repo, work, worktree,
                           resolve_sdk(dataclasses.replace(settings.sdk, root=repo.sdk_root_in(worktree))),
                           settings.backups_dir)
        wt_settings = dataclasses.replace(settings, sdk=dataclasses.replace(settings.sdk, root=scratch.target.root))
        try:
            report = regenerate(scratch.target, dataclasses.replace(options, report_path=scratch.report),
                                wt_settings, steps, confirm, run_tests, env)
        except RegenError as exc:
            exc.message = _after_failure(exc, scratch, options, keep, steps)
            raise
        # Its backup goes with the worktree: the report names none (the branch is the undo).
        report = dataclasses.replace(report, backup_id=None)
        _keep_report(scratch.report, keep, report)
        if report.outcome != "succeeded":  # a no-op: the client already is what this spec gives
            return BranchRun(report, keep)
        text = commit_text(json.loads(report.to_json()), _reproduce(options))
        commit = _commit(scratch, options, text, steps)
        return BranchRun(report, keep, options.branch, commit, text)
    finally:
        with deferred(act=False):  # the worktree goes whole; a signal now is acted on when the command ends
            if scratch is not None:
                scratch.drop_backups()
            if worktree.exists():
                gitb.remove_worktree(repo.top, worktree)
            shutil.rmtree(work, ignore_errors=True)


def _reproduce(options: RegenOptions) -> str:
    program = options.command.split(" ", 1)[0] or "conductor-regen"
    return reproduce_command(options.argv, program, options.spec, options.branch)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _keep_report(scratch: Path, keep: Path, report: Optional[Report]) -> None:
    """Put the run's report where it stays (its backup goes with the worktree): JSON at `keep`, Markdown beside it."""
    if report is not None:
        _write(keep, report.to_json())
        _write(keep.with_suffix(".md"), report.to_markdown())
        return
    data = _failed_report(scratch)
    if data is not None:
        data["backup_id"] = None
        _write(keep, json.dumps(data, indent=2, sort_keys=True) + "\n")
    markdown = scratch.with_suffix(".md")
    if markdown.is_file():
        _write(keep.with_suffix(".md"), re.sub(r"(?m)^- backup: `[^`]*`$", "- backup: none",
                                               markdown.read_text(encoding="utf-8")))


def _commit(scratch: _Scratch, options: RegenOptions, text: CommitText, steps: StepLog) -> str:
    """Commit what the run changed in the worktree, create the branch there, write --pr-body; the commit."""
    with steps.step("commit") as step:
        commit = gitb.commit_paths(scratch.worktree, scratch.run_paths(), text.message)
        if commit is None:
            raise SdkError("the run changed the SDK, yet git sees nothing to commit in the managed folders",
                           "check the SDK's .gitignore: it must not ignore generated files")
        gitb.create_branch(scratch.repo.top, options.branch, commit)
        step.detail = f"{options.branch} at {commit[:12]}: {text.subject}"
    if options.pr_body is not None:
        _write(options.pr_body, text.body)
    return commit


def _failed_report(path: Path) -> Optional[Dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _after_failure(exc: RegenError, scratch: _Scratch, options: RegenOptions, keep: Path, steps: StepLog) -> str:
    """A failed run: no branch, or with --keep-failed the failed tree committed on it. The error's new message."""
    from conductor_regen.checkout.signals import RunInterrupted

    _keep_report(scratch.report, keep, None)
    data = _failed_report(scratch.report)
    where = f" (report: {keep.with_suffix('.md')})" if data is not None else ""
    if (options.keep_failed and data is not None and data.get("outcome") == "failed"
            and not isinstance(exc, RunInterrupted) and gitb.changed_paths(scratch.worktree, scratch.run_paths())):
        text = commit_text(data, _reproduce(options), kept_failed=True)
        commit = _commit(scratch, options, text, steps)
        return (f"{exc.message}; branch {options.branch} keeps the failed tree (commit {commit[:12]}, "
                f"--keep-failed){where}")
    return f"{exc.message}; no branch was made, your checkout is as it was{where}"
