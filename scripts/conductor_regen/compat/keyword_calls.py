"""Keyword codemod: pass positional arguments of calls into the generated client by name (libcst).

When the generator reorders a signature (a parameter turned optional moves behind the required
ones), a positional call silently binds the wrong parameter. Naming each argument after the
parameter it fills in the *live* signature keeps the call's meaning, and makes it immune to the
next reorder. Formatting and comments are kept: only `value` becomes `name=value`.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from conductor_regen.analysis.binding import Finding

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Rewrite:
    """One call to rewrite: where it starts and the names of its leading positional arguments."""

    line: int
    column: int  # in characters, as libcst counts
    names: Tuple[str, ...]


class _KeywordArgs(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, rewrites: Sequence[Rewrite]) -> None:
        super().__init__()
        self.todo: Dict[Tuple[int, int], Tuple[str, ...]] = {(r.line, r.column): r.names for r in rewrites}
        self.done: List[Tuple[int, int]] = []

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        start = self.get_metadata(PositionProvider, original).start
        names = self.todo.get((start.line, start.column))
        if names is None:
            return updated
        args = list(updated.args)
        for index, name in enumerate(names):
            arg = args[index]
            if arg.keyword is not None or arg.star:
                break
            args[index] = arg.with_changes(keyword=cst.Name(name), equal=cst.AssignEqual(
                whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))
        self.done.append((start.line, start.column))
        return updated.with_changes(args=args)


def rewrite_file(path: Path, rewrites: Sequence[Rewrite]) -> int:
    """Apply `rewrites` to one file in place; return how many calls changed."""
    code = path.read_text(encoding="utf-8")
    transformer = _KeywordArgs(rewrites)
    module = MetadataWrapper(cst.parse_module(code)).visit(transformer)
    if module.code != code:
        path.write_text(module.code, encoding="utf-8")
    missed = set(transformer.todo) - set(transformer.done)
    for line, column in sorted(missed):
        log.warning("%s:%d:%d: call to rewrite not found", path, line, column)
    return len(transformer.done)


def _char_column(path: Path, line: int, byte_col: int, cache: Dict[Path, List[bytes]]) -> int:
    """ast counts columns in UTF-8 bytes, libcst in characters."""
    if path not in cache:
        cache[path] = path.read_bytes().splitlines()
    return len(cache[path][line - 1][:byte_col].decode("utf-8", errors="replace"))


def rewrite_findings(findings: Sequence[Finding], staging: Path) -> List[str]:
    """Rewrite the repairable findings whose file lies under `staging`; return one note per call."""
    by_file: Dict[Path, List[Tuple[Rewrite, Finding]]] = {}
    lines: Dict[Path, List[bytes]] = {}
    root = staging.resolve()
    for finding in findings:
        site = finding.site
        if not (finding.repairable and finding.managed and site.live is not None):
            continue
        if root not in site.path.resolve().parents:
            continue  # never write outside the staged copies
        names = tuple(site.live.positional_names()[:site.shape.positional])
        column = _char_column(site.path, site.line, site.col, lines)
        by_file.setdefault(site.path, []).append((Rewrite(site.line, column, names), finding))
    notes: List[str] = []
    for path in sorted(by_file):
        items = by_file[path]
        rewrite_file(path, [r for r, _ in items])
        for rewrite, finding in sorted(items, key=lambda i: (i[0].line, i[0].column)):
            notes.append(f"local edit: {finding.site.where}: {finding.site.target} now called with keywords "
                         f"({', '.join(rewrite.names)}), so the new order "
                         f"{finding.site.new.text()} cannot misbind it")
    return notes
