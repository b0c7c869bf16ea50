"""`regenerate --branch NAME --commit`: the whole run on a new branch, ending in one reviewable commit.

The run (gate included) happens in a scratch `git worktree` of the SDK's repository, checked out
detached at the current HEAD, so the maintainer's branch, HEAD and work tree are never touched.
When the run succeeds, what it changed (the managed folders and the files it added outside them)
is committed there with the impact summary as the message (commands/pr_body.py), and only then is the
branch NAME created at that commit: a failed run leaves no branch, unless `--keep-failed` asks to
keep the failed tree, which is then committed and branched all the same and the error says so.
Nothing is pushed. The scratch worktree, its staging and its backups go when the command ends.

`--skip-if-held-by REF` (the spec-drift workflow passes its remote branch): the commit's message carries a key
of the run's input (`run_input`: the spec, this tool's version, the generator and the options). When REF names
one commit on HEAD with this run's key, the branch is made there and nothing is regenerated; a held tree that
failed the gate fails this run as it failed that one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

from conductor_regen.commands.plan import Confirm, RegenOptions, TestRunner
from conductor_regen import __version__
from conductor_regen.commands.pr_body import CommitText, commit_text, reproduce_command
from conductor_regen.commands.report import Report
from conductor_regen.config import Settings
from conductor_regen.errors import ConfigError, RegenError, SdkError, VerificationError
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

    report: Optional[Report]  # None: the branch was made at the commit --skip-if-held-by names, nothing ran
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
        for flag, passed in (("--pr-body", options.pr_body is not None), ("--skip-if-held-by", bool(options.held_by))):
            if passed:
                raise ConfigError(f"{flag} goes with --branch NAME --commit", f"pass those too, or drop {flag}")
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
    if options.held_by:
        held = _held(repo, head, options, settings, steps, env)
        if held is not None:
            return _reuse(repo, held, options, keep, steps)
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
            exc.message = _after_failure(exc, scratch, options, settings, keep, steps)
            raise
        # Its backup goes with the worktree: the report names none (the branch is the undo).
        report = dataclasses.replace(report, backup_id=None)
        _keep_report(scratch.report, keep, report)
        if report.outcome != "succeeded":  # a no-op: the client already is what this spec gives
            return BranchRun(report, keep)
        data = json.loads(report.to_json())
        text = commit_text(data, _reproduce(options), input_key=_input_of(data, settings, options))
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


def _after_failure(exc: RegenError, scratch: _Scratch, options: RegenOptions, settings: Settings, keep: Path,
                   steps: StepLog) -> str:
    """A failed run: no branch, or with --keep-failed the failed tree committed on it. The error's new message."""
    from conductor_regen.checkout.signals import RunInterrupted

    _keep_report(scratch.report, keep, None)
    data = _failed_report(scratch.report)
    where = f" (report: {keep.with_suffix('.md')})" if data is not None else ""
    if (options.keep_failed and data is not None and data.get("outcome") == "failed"
            and not isinstance(exc, RunInterrupted) and gitb.changed_paths(scratch.worktree, scratch.run_paths())):
        text = commit_text(data, _reproduce(options), kept_failed=True,
                           input_key=_input_of(data, settings, options))
        commit = _commit(scratch, options, text, steps)
        return (f"{exc.message}; branch {options.branch} keeps the failed tree (commit {commit[:12]}, "
                f"--keep-failed){where}")
    return f"{exc.message}; no branch was made, your checkout is as it was{where}"


# --- --skip-if-held-by: a commit that already holds this run's client ---------------------------------

# Flags whose values are places on the runner, not the run's input: another runner's paths give the same client.
_PLACES = ("--spec", "--report", "--pr-body", "--skip-if-held-by", "--sdk")
# Switches that change how a run talks or whether it asks, not what it commits.
_NOT_INPUT = ("--yes", "--verbose", "--quiet", "--no-cache")


def run_input(spec_sha256: str, settings: Settings, options: RegenOptions) -> str:
    """The key of what a run on a branch commits: the spec (sha256 of its normal form), this tool's version, the
    settings that shape the tree or the gate, and the command's options other than places (`_PLACES`)."""
    words: List[str] = []
    argv = list(options.argv)
    argv = argv[argv.index("regenerate") + 1:] if "regenerate" in argv else argv
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _PLACES:
            skip = True
        elif word.partition("=")[0] not in _PLACES and word not in _NOT_INPUT:
            words.append(word)
    generator = settings.generator
    data = {
        "spec": spec_sha256, "tool": __version__, "options": words,
        "generator": [generator.backend, generator.version, generator.package_name, generator.project_name,
                      generator.library],
        "fixups": [settings.fixups.enabled, list(settings.fixups.skip), settings.fixups.strip_path_prefix],
        "sdk": [settings.sdk.package_dir, list(settings.sdk.managed), settings.sdk.removed, settings.sdk.keyword_calls],
        "run": [options.skip_tests, options.keep_failed, list(options.only), options.pin_names, options.force,
                options.accept],
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _input_of(report: Mapping[str, Any], settings: Settings, options: RegenOptions) -> str:
    return run_input(str((report.get("spec") or {}).get("sha256") or ""), settings, options)


@dataclasses.dataclass(frozen=True)
class HeldCommit:
    """A commit that already holds this run's client: --skip-if-held-by's branch is made there."""

    commit: str
    text: CommitText  # its message read back


def _held(repo: gitb.GitRepo, head: str, options: RegenOptions, settings: Settings, steps: StepLog,
          env: Optional[Mapping[str, str]]) -> Optional[HeldCommit]:
    """The commit `options.held_by` names, when it is one commit on HEAD made from this run's input; else None."""
    ref = options.held_by
    with steps.step("held already?") as step:
        held, why = held_commit(repo, head, options, settings, env)
        step.detail = (f"yes: {ref} at {held.commit[:12]} (one commit on HEAD) holds this run's client; nothing "
                       "regenerated" if held is not None else f"no: {ref}: {why}; regenerating")
    return held


def held_commit(repo: gitb.GitRepo, head: str, options: RegenOptions, settings: Settings,
                env: Optional[Mapping[str, str]]) -> Tuple[Optional[HeldCommit], str]:
    """(the commit `options.held_by` names, "") when it is one commit on HEAD made from this run's input (the
    key in its trailer); else (None, why not)."""
    from conductor_regen.spec.intake import load_spec

    commit = gitb.commit_of(repo.top, options.held_by)
    if commit is None:
        return None, "it names no commit"
    parents, message = gitb.parents_and_message(repo.top, commit)
    if parents != [head]:
        return None, "it is not one commit on HEAD"
    text = CommitText.from_message(message)
    if not text.input_key:
        return None, "its commit was not made by a run on a branch (no input key)"
    if run_input(load_spec(options.spec, settings.fetch, env).sha256, settings, options) != text.input_key:
        return None, "it was made from another spec, tool version or options"
    return HeldCommit(commit, text), ""


def _reuse(repo: gitb.GitRepo, held: HeldCommit, options: RegenOptions, keep: Path, steps: StepLog) -> BranchRun:
    """The branch at the held commit, --pr-body written; a held tree that failed the gate fails this run too."""
    with steps.step("branch") as step:
        gitb.create_branch(repo.top, options.branch, held.commit)
        step.detail = f"{options.branch} at {held.commit[:12]}: {held.text.subject}"
    if options.pr_body is not None:
        _write(options.pr_body, held.text.body)
    if held.text.gate_failed:
        raise VerificationError(
            f"{options.held_by} holds this run's client, and that tree failed the gate; branch {options.branch} "
            f"is at it (commit {held.commit[:12]}, --keep-failed)",
            f"fix it on {options.held_by}, or drop --skip-if-held-by to run the gate again")
    return BranchRun(None, keep, options.branch, held.commit, held.text)
