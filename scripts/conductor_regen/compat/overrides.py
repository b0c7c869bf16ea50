"""Realign the annotations of hand-written adapter overrides with the regenerated methods they override (libcst).

An API adapter (`class UserResourceApiAdapter(UserResourceApi)`) that overrides a generated method
usually copies that method's annotations and forwards to `super()`. When the spec changes a
response or parameter schema (on the real SDK: DELETE /users/{id} now answers the named `Response`
schema, so `delete_user` returns `Dict[str, object]`, not `object`), the copy no longer matches
its base and mypy reports the override as incompatible, although nothing changed at run time.

An annotation is realigned only when all of these hold, so a deliberate choice is never touched:
- it is, as text, the live (old) base method's annotation: a copy, not the maintainer's own type;
- the regenerated base's annotation for the same return or parameter name differs;
- every `return` of the override returns `super().<same method>(...)` (awaited or not): it hands
  back exactly what the base returns, and passes its arguments on to the base.
The names the new annotation needs are imported as the generated module imports them; if one
cannot be found, the override is left alone. Each realignment is a `local edit:` note.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from conductor_regen.analysis.code_index import current_index

log = logging.getLogger(__name__)

FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]
Methods = Dict[str, Dict[str, Tuple[FunctionNode, Path]]]  # class -> method -> (definition, module file)
_BUILTINS = frozenset(dir(builtins))
_STDLIB = frozenset(sys.stdlib_module_names)


def _index(api_dir: Path) -> Methods:
    """Every class's methods in the generated API modules."""
    out: Methods = {}
    for path in sorted(api_dir.glob("*.py")):
        try:
            tree = current_index().ast_file(path)
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                out[node.name] = {f.name: (f, path) for f in node.body
                                  if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return out


def _text(node: Optional[ast.expr]) -> str:
    return "" if node is None else ast.unparse(node)


def _forwards(func: FunctionNode) -> bool:
    """Every return hands back `super().<func.name>(...)` (awaited or not), and there is at least one."""
    returns: List[ast.Return] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Return):
                returns.append(child)
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                visit(child)

    visit(func)

    def is_super_call(value: Optional[ast.expr]) -> bool:
        if isinstance(value, ast.Await):
            value = value.value
        return (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
                and value.func.attr == func.name and isinstance(value.func.value, ast.Call)
                and isinstance(value.func.value.func, ast.Name) and value.func.value.func.id == "super")

    return bool(returns) and all(is_super_call(r.value) for r in returns)


def _params(func: FunctionNode) -> Dict[str, ast.arg]:
    a = func.args
    return {p.arg: p for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)}


def _bound_names(tree: ast.Module) -> Set[str]:
    """Names the module binds at top level (imports, classes, functions, assignments)."""
    names: Set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _imports_for(names: Set[str], generated: Path) -> Optional[List[str]]:
    """`from m import n` lines that bind `names` as the generated module binds them (None: one is not imported there)."""
    tree = current_index().ast_file(generated)
    found: Dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                bound = alias.asname or alias.name
                if bound in names:
                    found[bound] = f"from {node.module} import {alias.name}" + (
                        f" as {alias.asname}" if alias.asname else "")
    return None if set(found) != names else sorted(set(found.values()))


@dataclasses.dataclass(frozen=True)
class Realign:
    """One override to realign: its annotations to replace ("return" or a parameter name -> new text)."""

    cls: str
    method: str
    line: int
    base: str  # the generated class
    changes: Tuple[Tuple[str, str, str], ...]  # (what, old text, new text)


class _Rewrite(cst.CSTTransformer):
    def __init__(self, plans: Sequence[Realign]) -> None:
        super().__init__()
        self.plans = {(p.cls, p.method): dict((what, new) for what, _, new in p.changes) for p in plans}
        self.classes: List[str] = []

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node.name.value)

    def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
        self.classes.pop()
        return updated

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
        plan = self.plans.get((self.classes[-1], updated.name.value)) if self.classes else None
        if plan is None:
            return updated

        def param(p: cst.Param) -> cst.Param:
            new = plan.get(f"param {p.name.value}")
            return p if new is None else p.with_changes(annotation=cst.Annotation(cst.parse_expression(new)))

        params = updated.params.with_changes(
            params=[param(p) for p in updated.params.params],
            kwonly_params=[param(p) for p in updated.params.kwonly_params],
            posonly_params=[param(p) for p in updated.params.posonly_params])
        returns = updated.returns
        if "return" in plan:
            returns = cst.Annotation(cst.parse_expression(plan["return"]))
        return updated.with_changes(params=params, returns=returns)


def _add_imports(module: cst.Module, lines: Sequence[str]) -> cst.Module:
    """Insert `lines`: standard-library ones before the module's first import (after `__future__`), the rest
    after its last import (at the top when it has none), as isort would group them."""
    if not lines:
        return module
    body = list(module.body)
    imports = [i for i, stmt in enumerate(body) if isinstance(stmt, cst.SimpleStatementLine)
               and any(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body)]
    future = [i for i in imports if "__future__" in module.code_for_node(body[i])]
    first = next((i for i in imports if i not in future), len(future) and future[-1] + 1)
    last = imports[-1] + 1 if imports else 0
    stdlib = [cst.parse_statement(f"{line}\n") for line in lines if line.split()[1].split(".")[0] in _STDLIB]
    other = [cst.parse_statement(f"{line}\n") for line in lines if line.split()[1].split(".")[0] not in _STDLIB]
    rest = body[first:last]
    if stdlib and rest and isinstance(rest[0], cst.SimpleStatementLine) and not rest[0].leading_lines:
        rest[0] = rest[0].with_changes(leading_lines=[cst.EmptyLine()])  # a blank line after the stdlib group
    return module.with_changes(body=[*body[:first], *stdlib, *rest, *other, *body[last:]])


def _plan_file(path: Path, old: Methods, new: Methods) -> Tuple[List[Realign], Set[Path]]:
    """The overrides of one adapter module to realign, and the generated modules their new annotations come from."""
    tree = current_index().ast_file(path)
    plans: List[Realign] = []
    sources: Set[Path] = set()
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        bases = [b.id if isinstance(b, ast.Name) else b.attr for b in node.bases
                 if isinstance(b, (ast.Name, ast.Attribute))]
        base = next((b for b in bases if b in new and b in old), None)
        if base is None:
            continue
        for func in node.body:
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)) or not _forwards(func):
                continue
            if func.name not in old[base] or func.name not in new[base]:
                continue
            was, now = old[base][func.name][0], new[base][func.name][0]
            changes: List[Tuple[str, str, str]] = []
            if func.returns is not None and _text(func.returns) == _text(was.returns) != _text(now.returns) \
                    and now.returns is not None:
                changes.append(("return", _text(func.returns), _text(now.returns)))
            old_params, new_params = _params(was), _params(now)
            for name, p in _params(func).items():
                before, after = old_params.get(name), new_params.get(name)
                if p.annotation is None or before is None or after is None or after.annotation is None:
                    continue
                if _text(p.annotation) == _text(before.annotation) != _text(after.annotation):
                    changes.append((f"param {name}", _text(p.annotation), _text(after.annotation)))
            if changes:
                plans.append(Realign(node.name, func.name, func.lineno, base, tuple(changes)))
                sources.add(new[base][func.name][1])
    return plans, sources


def realign_overrides(old_http: Path, new_http: Path, staging: Path) -> Tuple[str, ...]:
    """Realign copied annotations of forwarding overrides in the staged `adapters/api` with the new base; notes."""
    adapters = staging / "adapters" / "api"
    if not adapters.is_dir() or not (old_http / "api").is_dir() or not (new_http / "api").is_dir():
        return ()
    old, new = _index(old_http / "api"), _index(new_http / "api")
    notes: List[str] = []
    for path in sorted(adapters.glob("*.py")):
        try:
            plans, _ = _plan_file(path, old, new)
        except (SyntaxError, UnicodeDecodeError):
            continue
        if not plans:
            continue
        code = path.read_text(encoding="utf-8")
        bound = _bound_names(current_index().ast_of(code))
        kept: List[Realign] = []
        imports: Set[str] = set()
        for plan in plans:
            needed = {n.id for _, _, text in plan.changes for n in ast.walk(ast.parse(text, mode="eval"))
                      if isinstance(n, ast.Name)} - bound - _BUILTINS
            lines = _imports_for(needed, new[plan.base][plan.method][1])
            if lines is None:
                log.info("%s: %s.%s not realigned: the new annotation needs a name the generated module does not "
                         "import", path, plan.cls, plan.method)
                continue
            kept.append(plan)
            imports.update(lines)
        if not kept:
            continue
        module = _add_imports(current_index().cst_of(code).visit(_Rewrite(kept)), sorted(imports))
        path.write_text(module.code, encoding="utf-8")
        rel = path.relative_to(staging).as_posix()
        for plan in kept:
            what = "; ".join(f"{'returns' if w == 'return' else w.replace('param ', 'parameter ')} {new_text} "
                             f"(was {old_text})" for w, old_text, new_text in plan.changes)
            notes.append(f"local edit: {rel}:{plan.line}: {plan.cls}.{plan.method} realigned with the regenerated "
                         f"{plan.base}.{plan.method}: {what}; it forwards to super(), and its old annotation "
                         "copied the old base's")
    for note in notes:
        log.info("%s", note)
    return tuple(notes)
