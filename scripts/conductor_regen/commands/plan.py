"""What a run was asked to do and what it would change: the options, the plan, the callbacks."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Tuple

from conductor_regen.commands.report import FileChanges
from conductor_regen.file_tree import digest_tree
from conductor_regen.generator.provenance import IN_SDK, Provenance, read_provenance
from conductor_regen.checkout.target import SdkTarget

if TYPE_CHECKING:  # libcst, which a no-op run does not need
    from conductor_regen.compat.scaffold.adapter_tests import OutsideFile


@dataclasses.dataclass(frozen=True)
class RegenOptions:
    """What the user asked for on the command line."""

    spec: str
    dry_run: bool = False
    yes: bool = False
    skip_tests: bool = False
    keep_failed: bool = False
    allow_dirty: bool = False
    only: Tuple[str, ...] = ()
    report_path: Optional[Path] = None
    use_cache: bool = True
    force: bool = False  # regenerate even when the recorded provenance matches
    pin_names: bool = True  # keep the live client's method names (operationIds pinned to them)
    accept: str = ""  # a reason: the gate's new contract/lint/typecheck findings are accepted with it
    command: str = "invoke regenerate"
    # A run on a branch (commands/drift.py): in a scratch worktree at HEAD, ending in one commit on the new branch.
    branch: str = ""  # --branch NAME
    commit: bool = False  # --commit (goes with --branch)
    pr_body: Optional[Path] = None  # --pr-body FILE: the commit's Markdown body, for a pull request
    held_by: str = ""  # --skip-if-held-by REF: a commit REF names that already holds this run's client is reused
    argv: Tuple[str, ...] = ()  # the command line as typed (the commit's "reproduce" command)


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run would change, computed before anything is touched."""

    folders: Tuple[str, ...]  # managed folders whose content changes
    files: FileChanges
    steps: Tuple[str, ...]
    outside: Tuple[OutsideFile, ...] = ()  # files added outside the managed folders, after the swap

    def lines(self, listing: bool = True) -> List[str]:
        """The plan for humans (dry run and the confirmation prompt); `listing` adds the files, 40 per kind."""
        out = ["plan:"]
        out += [f"  {n}. {s}" for n, s in enumerate(self.steps, 1)]
        out.append(f"files: {len(self.files.added)} added, {len(self.files.removed)} removed, "
                   f"{len(self.files.changed)} changed in {', '.join(self.folders) or 'no folder'}")
        for kind, names in (("+", self.files.added), ("-", self.files.removed), ("~", self.files.changed)):
            if not listing:
                break
            out += [f"  {kind} {n}" for n in sorted(names)[:40]]
            if len(names) > 40:
                out.append(f"  {kind} ... and {len(names) - 40} more")
        if self.outside:
            out.append(f"outside the managed folders: {len(self.outside)} added (undone by restore)")
            out += [f"  + {f.path} (tests {f.about})" for f in self.outside]
        return out


Confirm = Callable[[Plan], bool]


TestRunner = Callable[[SdkTarget], Tuple[bool, Tuple[Dict[str, str], ...]]]


def recorded_provenance(target: SdkTarget) -> Optional[Provenance]:
    """What produced the live generated tree, if this tool made it."""
    return read_provenance(target.http_dir / IN_SDK)


def diff_trees(old: Mapping[str, str], new: Mapping[str, str]) -> FileChanges:
    """Compare two {relative path: digest} maps."""
    return FileChanges(
        added=tuple(sorted(new.keys() - old.keys())),
        removed=tuple(sorted(old.keys() - new.keys())),
        changed=tuple(sorted(k for k in old.keys() & new.keys() if old[k] != new[k])),
    )


def package_name(target: SdkTarget) -> str:
    """The dotted name of the SDK's async client package (`conductor.asyncio_client`)."""
    return ".".join(target.package_dir.relative_to(target.root / "src").parts)


def make_plan(target: SdkTarget, staging: Path, staged_only: bool = False, tests: bool = True) -> Plan:
    """Diff the live managed folders against the staged ones (with `staged_only`, just those staged)."""
    names = tuple(n for n in target.managed
                  if (staging / n).exists() or (not staged_only and (target.package_dir / n).exists()))
    old = digest_tree(target.package_dir, names)
    new = digest_tree(staging, names)
    files = diff_trees(old, new)
    touched = {p.split("/", 1)[0] for p in (*files.added, *files.removed, *files.changed)}
    folders = tuple(n for n in names if n in touched)
    http = staging / "http" if (staging / "http").is_dir() else target.http_dir
    from conductor_regen.compat.scaffold.adapter_tests import adapter_tests  # libcst: not for a no-op run

    outside = tuple(adapter_tests(http, staging, target.package_dir, target.root, package_name(target)))
    steps = (
        "back up " + ", ".join(target.managed) + " to the backup store",
        "swap in " + (", ".join(folders) or "nothing") + " atomically (journaled)",
        *([f"add {len(outside)} test(s) for new adapters under tests/ (recorded in the backup)"] if outside else []),
        "check every module of conductor.asyncio_client imports",
        "run the test sessions, restore the backup if anything fails" if tests
        else "restore the backup if anything fails",
        "write the report",
    )
    return Plan(folders, files, steps, outside)
