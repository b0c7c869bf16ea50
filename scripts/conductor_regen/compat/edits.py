"""`invoke detect-edits`: find the SDK's deliberate edits to generated code and propose them as transforms.

Diffs the committed http/ against a pristine regeneration from the same spec and writes each difference
in data/local_edits.json's format: whole-file `content` for small files that differ entirely,
`find`/`replace` for line changes. Every proposal is checked by applying it to the pristine text.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from conductor_regen.compat import DEPRECATION_MARK
from conductor_regen.config import Settings
from conductor_regen.errors import VerificationError
from conductor_regen.compat.local_edits import LocalEdit
from conductor_regen.progress import StepLog
from conductor_regen.generator.provenance import IN_SDK
from conductor_regen.checkout.target import SdkTarget
from conductor_regen.checkout.work_dirs import new_work_dir

log = logging.getLogger(__name__)

# Files a run writes into http/ itself, and caches; neither is an edit.
IGNORED_NAMES = frozenset({IN_SDK})
IGNORED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache"})
# A file that shares no line with its pristine version is proposed whole only up to this size.
WHOLE_FILE_LIMIT = 4096
REASON = "TODO: say why the SDK changes this (proposed by invoke detect-edits)"


@dataclasses.dataclass(frozen=True)
class ProposedEdit:
    """One proposed transform, in the shape of a data/local_edits.json entry."""

    name: str
    file: str
    reason: str = REASON
    find: Optional[str] = None
    pattern: Optional[str] = None
    replace: Optional[str] = None
    content: Optional[str] = None

    def to_json(self) -> Dict[str, str]:
        """The JSON object for data/local_edits.json (keys in the file's order, unset ones left out)."""
        fields = (("name", self.name), ("file", self.file), ("reason", self.reason), ("find", self.find),
                  ("pattern", self.pattern), ("replace", self.replace), ("content", self.content))
        return {k: v for k, v in fields if v is not None}

    def as_local_edit(self) -> LocalEdit:
        """The same transform as the pipeline applies it."""
        return LocalEdit(**self.to_json())


@dataclasses.dataclass(frozen=True)
class OneSided:
    """Files present in only one of the two trees (not proposed as edits)."""

    only_committed: Tuple[str, ...]
    only_pristine: Tuple[str, ...]


def _files(root: Path) -> Dict[str, Path]:
    out: Dict[str, Path] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and not (IGNORED_PARTS & set(rel.parts)) and path.name not in IGNORED_NAMES \
                and path.suffix != ".pyc":
            out[rel.as_posix()] = path
    return out


def one_sided(committed_http: Path, pristine_http: Path) -> OneSided:
    """Which files exist on one side only (kept removed modules, deleted files, hand-added files)."""
    committed, pristine = _files(committed_http), _files(pristine_http)
    return OneSided(tuple(sorted(committed.keys() - pristine.keys())),
                    tuple(sorted(pristine.keys() - committed.keys())))


def _slug(rel: str) -> str:
    stem = rel[:-3] if rel.endswith(".py") else rel
    return re.sub(r"[^0-9a-zA-Z]+", "-", stem).strip("-").lower() or "file"


def _unique(text: str, fragment: str) -> bool:
    return bool(fragment) and text.count(fragment) == 1


def _hunk_edit(old_lines: Sequence[str], i1: int, i2: int, new_lines: Sequence[str], j1: int,
               j2: int, pristine: str) -> Optional[Tuple[str, str]]:
    """find/replace for one changed block: trimmed to the changed text, widened until it is unique."""
    for context in range(0, 6):
        a1, a2 = max(0, i1 - context), min(len(old_lines), i2 + context)
        before, after = old_lines[a1:i1], old_lines[i2:a2]
        find = "".join([*before, *old_lines[i1:i2], *after])
        replace = "".join([*before, *new_lines[j1:j2], *after])
        if not context:
            find, replace = _trim(find, replace)
        if _unique(pristine, find) and replace not in pristine:
            return find, replace
    return None


def _trim(find: str, replace: str) -> Tuple[str, str]:
    """Drop shared leading indentation and the shared final newline (the edits file's readable form)."""
    lead = len(find) - len(find.lstrip(" \t"))
    shared = 0
    while shared < lead and shared < len(replace) and replace[shared] == find[shared]:
        shared += 1
    find, replace = find[shared:], replace[shared:]
    if find.endswith("\n") and replace.endswith("\n"):
        find, replace = find[:-1], replace[:-1]
    return find, replace


def _common_substitution(pairs: Sequence[Tuple[str, str]], pristine: str,
                         committed: str) -> Optional[Tuple[str, str, List[str]]]:
    """One find/replace that explains every changed line, if each changes the same fragment the same way.

    Also returns, per line, the text before the fragment (for a pattern that ignores the old value).
    """
    fragments = set()
    contexts: List[str] = []
    for old, new in pairs:
        prefix = 0
        while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
            prefix += 1
        suffix = 0
        while suffix < min(len(old), len(new)) - prefix and old[-1 - suffix] == new[-1 - suffix]:
            suffix += 1
        # Widen to whole quoted strings or words, so the edit reads as a value change.
        start, end_old, end_new = prefix, len(old) - suffix, len(new) - suffix
        while start > 0 and not old[start - 1] in " (=,:[{":
            start -= 1
        while end_old < len(old) and not old[end_old] in " )=,:]}\n":
            end_old += 1
            end_new += 1
        fragments.add((old[start:end_old], new[start:end_new]))
        contexts.append(old[:start].lstrip())
    if len(fragments) != 1:
        return None
    find, replace = fragments.pop()
    if find and replace not in pristine and pristine.replace(find, replace) == committed:
        return find, replace, contexts
    return None


def _value_pattern(find: str, replace: str, contexts: Sequence[str], pristine: str,
                   committed: str) -> Optional[Tuple[str, str]]:
    """pattern/replace for a quoted value set at fixed places, so a different old value still matches.

    Generated defaults such as the server URL come from the spec; a pattern keeps working when it changes.
    """
    quote = find[:1]
    if len(find) < 2 or quote not in "'\"" or find[-1] != quote or quote in find[1:-1] or not all(contexts):
        return None
    places = "|".join(re.escape(c).replace("\\ ", " ") for c in dict.fromkeys(contexts))
    pattern = f"({places}){quote}[^{quote}\\n]*{quote}"
    replacement = "\\1" + replace.replace("\\", "\\\\")
    new, count = re.subn(pattern, replacement, pristine)
    if new == committed and count == len(contexts):
        return pattern, replacement
    return None


def _propose_file(rel: str, pristine: str, committed: str) -> List[ProposedEdit]:
    name = _slug(rel)
    old_lines = pristine.splitlines(keepends=True)
    new_lines = committed.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    opcodes = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    shares_lines = any(op[0] == "equal" for op in matcher.get_opcodes())
    if not committed or (not shares_lines and len(committed.encode()) <= WHOLE_FILE_LIMIT):
        return [ProposedEdit(f"{name}-content", rel, content=committed)]
    replaced = [op for op in opcodes if op[0] == "replace" and op[2] - op[1] == op[4] - op[3]]
    if len(opcodes) > 1 and len(replaced) == len(opcodes):
        pairs = [(old_lines[i1 + k], new_lines[j1 + k]) for _, i1, i2, j1, _ in replaced for k in range(i2 - i1)]
        common = _common_substitution(pairs, pristine, committed)
        if common:
            find, replace, contexts = common
            pattern = _value_pattern(find, replace, contexts, pristine, committed)
            if pattern:
                return [ProposedEdit(f"{name}-value", rel, pattern=pattern[0], replace=pattern[1])]
            return [ProposedEdit(f"{name}-replace", rel, find=find, replace=replace)]
    edits: List[ProposedEdit] = []
    text = pristine
    # Later hunks first, so line numbers of earlier ones stay valid in `text`.
    for number, (_, i1, i2, j1, j2) in enumerate(reversed(opcodes)):
        lines = text.splitlines(keepends=True)
        pair = _hunk_edit(lines, i1, i2, new_lines, j1, j2, text)
        if pair is None:
            log.info("%s: a change is not unique enough for find/replace; proposing the whole file", rel)
            return [ProposedEdit(f"{name}-content", rel, content=committed)]
        suffix = f"-{len(opcodes) - number}" if len(opcodes) > 1 else ""
        edit = ProposedEdit(f"{name}-edit{suffix}", rel, find=pair[0], replace=pair[1])
        text = edit.as_local_edit().apply(text)
        edits.append(edit)
    return list(reversed(edits))


def _without_kept(pristine: str, committed: str) -> str:
    """The committed text minus the blocks compat_keep wrote (they carry its deprecation mark)."""
    if DEPRECATION_MARK not in committed:
        return committed
    old, new = pristine.splitlines(keepends=True), committed.splitlines(keepends=True)
    out: List[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        kept = tag != "equal" and DEPRECATION_MARK in "".join(new[j1:j2])
        out += old[i1:i2] if kept else new[j1:j2]
    return "".join(out)


def detect_edits(committed_http: Path, pristine_http: Path) -> List[ProposedEdit]:
    """Propose transforms that turn the pristine tree into the committed one (files on both sides only).

    Blocks that compat_keep carried over (removed methods, export lines) are left out: the next run
    keeps them again by itself, so they are not local edits.
    """
    committed, pristine = _files(committed_http), _files(pristine_http)
    proposals: List[ProposedEdit] = []
    for rel in sorted(committed.keys() & pristine.keys()):
        try:
            old = pristine[rel].read_text(encoding="utf-8")
            new = committed[rel].read_text(encoding="utf-8")
        except UnicodeDecodeError:
            log.info("%s: not text, skipped", rel)
            continue
        new = _without_kept(old, new)
        if old == new:
            continue
        edits = _propose_file(rel, old, new)
        result = old
        for edit in edits:
            result = edit.as_local_edit().apply(result)
        if result != new:
            raise VerificationError(f"proposed edits for {rel} do not reproduce the committed file",
                                    "report this; meanwhile write the edit by hand")
        proposals += edits
    return proposals


@dataclasses.dataclass(frozen=True)
class Detection:
    """What `invoke detect-edits` found in an SDK."""

    spec: str  # "" when no spec was found: only references to hand-written code are proposed
    edits: Tuple[ProposedEdit, ...]
    sides: OneSided
    # Edits found with no spec: generated code referring to hand-written code, re-made by every run.
    carried: Tuple[str, ...] = ()

    def to_json(self) -> str:
        """The proposals as a data/local_edits.json document."""
        return json.dumps([e.to_json() for e in self.edits], indent=2) + "\n"

    def lines(self) -> List[str]:
        """A summary for humans."""
        out = ([f"{len(self.edits)} proposed edit(s) against a pristine generation from {self.spec}:"] if self.spec
               else ["no spec recorded or given: no pristine generation to diff against (pass --spec for that)"])
        out += [f"  {e.name}: {e.file} ({'content' if e.content is not None else 'pattern' if e.pattern else 'find/replace'})"
                for e in self.edits]
        out += [f"  only in the SDK (not an edit): {f}" for f in self.sides.only_committed]
        out += [f"  only in the generated tree (deleted by the SDK?): {f}" for f in self.sides.only_pristine]
        if self.carried:
            out.append(f"{len(self.carried)} edit(s) referring to hand-written code (every run re-makes them; "
                       "no entry needed):")
            out += [f"  {line}" for line in self.carried]
        return out


def recorded_spec(http_dir: Path) -> Optional[str]:
    """The spec file the live client was generated from, if the provenance names one that still exists."""
    from conductor_regen.generator.provenance import read_provenance

    prov = read_provenance(http_dir / IN_SDK)
    if prov is not None and Path(prov.spec_source).is_file():
        return prov.spec_source
    return None


def detect_in_sdk(target: SdkTarget, spec: Optional[str], settings: Settings, steps: StepLog,
                  env: Optional[Mapping[str, str]] = None) -> Detection:
    """Generate `spec` pristine (fixups and import fixing as a run does) and diff the SDK's http/ to it.

    The SDK is read under its shared lock: no run swaps it meanwhile.
    """
    from conductor_regen.checkout.lock import sdk_read_lock

    with sdk_read_lock(target):
        return _detect_in_sdk(target, spec, settings, steps, env)


def _detect_in_sdk(target: SdkTarget, spec: Optional[str], settings: Settings, steps: StepLog,
                   env: Optional[Mapping[str, str]]) -> Detection:
    from conductor_regen.compat.imports import fix_imports
    from conductor_regen.generator.pipeline import generate

    from conductor_regen.compat.hand_refs import rules_from

    package = ".".join(target.package_dir.relative_to(target.root / "src").parts)
    with steps.step("find references to hand-written code") as step:
        rules = rules_from(target.http_dir, package)
        carried = tuple(f"{r.describe()} ({len(r.live_files)} file(s))" for r in rules)
        step.detail = f"{len(rules)} edit(s)"
    source = spec or recorded_spec(target.http_dir)
    if not source:
        # The first meeting with an SDK: no spec, so only the edits that name hand-written code.
        return Detection("", (), OneSided((), ()), carried)
    work = new_work_dir(settings.cache_dir, "detect-edits")
    try:
        generated = generate(source, work / "staging", settings, steps, env)
        pristine = work / "pristine"
        shutil.copytree(generated.tree.package_dir, pristine)
        # A run fixes imports before the local edits, so such rewrites are not edits.
        fix_imports([pristine], settings.generator)
        with steps.step("diff against the SDK") as step:
            edits = tuple(detect_edits(target.http_dir, pristine))
            sides = one_sided(target.http_dir, pristine)
            step.detail = f"{len(edits)} edit(s), {len(sides.only_committed) + len(sides.only_pristine)} one-sided file(s)"
        return Detection(source, edits, sides, carried)
    finally:
        shutil.rmtree(work, ignore_errors=True)
