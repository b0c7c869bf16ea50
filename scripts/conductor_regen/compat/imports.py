"""Fix imports: rewrite the generator's default package names to the SDK's package, with libcst."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import libcst as cst

from conductor_regen.file_tree import write_text_no_follow
from conductor_regen.config import GeneratorConfig


def default_names(config: GeneratorConfig) -> Tuple[str, ...]:
    """Package names the generator falls back to: its default, and ones derived from projectName."""
    derived = re.sub(r"[^0-9a-zA-Z_]", "_", config.project_name)
    names = ["openapi_client", derived]
    return tuple(n for n in dict.fromkeys(names) if n and n != config.package_name)


def _dotted(node: cst.BaseExpression) -> Optional[str]:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr.value}" if head else None
    return None


def _build(dotted: str) -> Union[cst.Name, cst.Attribute]:
    parts = dotted.split(".")
    node: Union[cst.Name, cst.Attribute] = cst.Name(parts[0])
    for part in parts[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


class _Rewriter(cst.CSTTransformer):
    def __init__(self, old: Sequence[str], new: str) -> None:
        super().__init__()
        self.old = tuple(old)
        self.new = new
        self.changes = 0

    def _swap(self, dotted: str) -> Optional[str]:
        for old in self.old:
            if dotted == old or dotted.startswith(old + "."):
                return self.new + dotted[len(old):]
        return None

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom) -> cst.ImportFrom:
        if updated.module is not None and not updated.relative:
            new = self._swap(_dotted(updated.module) or "")
            if new:
                self.changes += 1
                return updated.with_changes(module=_build(new))
        return updated

    def leave_ImportAlias(self, original: cst.ImportAlias, updated: cst.ImportAlias) -> cst.ImportAlias:
        new = self._swap(_dotted(updated.name) or "")
        if new:
            self.changes += 1
            return updated.with_changes(name=_build(new))
        return updated

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        # Only the outermost chain matters: `openapi_client.models.Foo` -> the SDK's package.
        dotted = _dotted(updated)
        if dotted and isinstance(updated.value, cst.Name):
            new = self._swap(dotted)
            if new:
                self.changes += 1
                return _build(new)
        return updated


@dataclasses.dataclass(frozen=True)
class ImportFix:
    """One rewritten file."""

    path: Path
    rewrites: int


def fix_source(source: str, old: Sequence[str], new: str) -> Tuple[str, int]:
    """Rewrite one module's imports and dotted references; return (code, rewrites)."""
    if not any(name in source for name in old):
        return source, 0  # most files: skip the parse
    tree = cst.parse_module(source)
    rewriter = _Rewriter(old, new)
    fixed = tree.visit(rewriter)
    return fixed.code, rewriter.changes


def fix_imports(roots: Iterable[Path], config: GeneratorConfig) -> List[ImportFix]:
    """Rewrite every .py file under `roots` in place; idempotent."""
    old = default_names(config)
    fixes: List[ImportFix] = []
    roots = list(roots)
    real_roots = [r.resolve() for r in roots]
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if path.is_symlink() and any(path.resolve().is_relative_to(r) for r in real_roots):
                continue  # the file it links to is rewritten itself
            source = path.read_text(encoding="utf-8")
            code, count = fix_source(source, old, config.package_name)
            if count and code != source:
                write_text_no_follow(path, code)
                fixes.append(ImportFix(path, count))
    return fixes
