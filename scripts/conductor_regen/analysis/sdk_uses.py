"""What hand-written SDK code does with the generated client, beyond calling it (read by the binding walker).

Binding proves a call still binds; what a change means at run time also depends on what the code
does around the call: whether it returns or reads the result (a return type swapped for another
breaks those), which method makes the call (a removed operation breaks every public method that
still calls it), which hand-written methods call that method in turn, and which model fields an
adapter redeclares (a generated field's type change does not reach code that goes through the adapter).
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Dict, List, Optional, Tuple

from conductor_regen.analysis.signatures import FunctionNode

RETURNED, READ = "returned", "read"


@dataclasses.dataclass(frozen=True)
class ResultUse:
    """One use of a call's result: returned by the enclosing method, or read (an attribute, an item)."""

    how: str  # RETURNED or READ
    where: str  # "src/.../orkes/orkes_workflow_client.py:71"
    caller: str  # "OrkesWorkflowClient.execute_workflow" (or a module-level function's name)
    promised: str = ""  # the caller's return annotation, for RETURNED ("" when it has none)
    detail: str = ""  # ".status", "[...]" for READ


@dataclasses.dataclass(frozen=True)
class HandCall:
    """A call from hand-written code to a hand-written method (or an adapter's own method)."""

    callee: str  # "OrkesWorkflowClient.execute_workflow"
    caller: str
    where: str
    uses: Tuple[ResultUse, ...] = ()


@dataclasses.dataclass(frozen=True)
class FieldDeclaration:
    """A field a hand-written model adapter declares itself, replacing the generated declaration."""

    model: str  # the generated model it derives from: "WorkflowDef"
    field: str  # the Python name: "input_template"
    adapter: str  # "WorkflowDefAdapter"
    annotation: str  # "Optional[Dict[str, Any]]"
    where: str


def caller_name(cls: Optional[str], func: FunctionNode) -> str:
    """`Class.method`, or the function's own name at module level."""
    return f"{cls}.{func.name}" if cls else func.name


def is_public(qualified: str) -> bool:
    """A public name: no part starts with a single underscore (dunder methods count as public)."""
    parts = [p for p in qualified.split(".") if p]
    return bool(parts) and all(not p.startswith("_") or (p.startswith("__") and p.endswith("__")) for p in parts)


def _unwrap(expr: Optional[ast.expr]) -> Optional[ast.expr]:
    while isinstance(expr, ast.Await):
        expr = expr.value
    return expr


def result_uses(func: FunctionNode, where: str, caller: str) -> Dict[int, Tuple[ResultUse, ...]]:
    """{id(call node): uses} for the calls in `func` whose result is returned or read.

    `return await api.x(...)`, `r = await api.x(...)` then `return r` or `r.field` / `r[...]`, and
    `(await api.x(...)).field` count; a result passed on to another call, or dropped, does not.
    """
    promised = ast.unparse(func.returns) if func.returns is not None else ""
    uses: Dict[int, List[ResultUse]] = {}
    bound: Dict[str, List[ast.Call]] = {}
    for node in ast.walk(func):
        value = getattr(node, "value", None)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target = node.target.id
        else:
            continue
        call = _unwrap(value)
        if isinstance(call, ast.Call):
            bound.setdefault(target, []).append(call)
    for node in ast.walk(func):
        if isinstance(node, ast.Return):
            inner = _unwrap(node.value)
            calls = [inner] if isinstance(inner, ast.Call) else \
                bound.get(inner.id, []) if isinstance(inner, ast.Name) else []
            for call in calls:
                uses.setdefault(id(call), []).append(ResultUse(RETURNED, f"{where}:{node.lineno}", caller, promised))
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, ast.Load):
            inner = _unwrap(node.value)
            calls = [inner] if isinstance(inner, ast.Call) else \
                bound.get(inner.id, []) if isinstance(inner, ast.Name) else []
            what = f".{node.attr}" if isinstance(node, ast.Attribute) else "[...]"
            for call in calls:
                uses.setdefault(id(call), []).append(ResultUse(READ, f"{where}:{node.lineno}", caller, "", what))
    return {key: tuple(found) for key, found in uses.items()}


def field_declarations(cls: ast.ClassDef, model: str, where: str) -> List[FieldDeclaration]:
    """The annotated fields a model adapter's class body declares (private names and ClassVars left out)."""
    found: List[FieldDeclaration] = []
    for stmt in cls.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        name, annotation = stmt.target.id, ast.unparse(stmt.annotation)
        if name.startswith("_") or name == "model_config" or annotation.startswith("ClassVar"):
            continue
        found.append(FieldDeclaration(model, name, cls.name, annotation, f"{where}:{stmt.lineno}"))
    return found
