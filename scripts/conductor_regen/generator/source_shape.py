"""The shape of generated code: the second wall between a spec and code that runs.

spec/safety.py refuses names that could break out of a string before the generator starts. This
wall does not trust that (nor the generator's escaping): before anything imports a generated
module, its syntax tree must hold only what OpenAPI Generator's python templates write where
import runs code, at module and class level:
- imports, docstrings, `pass`, class and function definitions;
- assignments and annotations whose values are literals, names, attributes, subscripts (type
  expressions) or calls of the known field, config and typing helpers (`Field(...)`,
  `ConfigDict(...)`, `TypeVar(...)`, ...), with arguments of the same kinds;
- decorators, defaults and annotations of the same kinds, and `Model.model_rebuild()`.
Anywhere in a module, function bodies included, it refuses the names no generated code uses and a
payload needs (`__import__`, `eval`, `exec`, ...) and dunder attributes outside a short list.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

from conductor_regen.errors import VerificationError

# Calls the python templates make where a module or class body runs (pydantic v1 and v2 helpers).
ALLOWED_CALLS = frozenset({
    "Field", "ConfigDict", "TypeVar", "TypedDict", "NewType", "frozenset", "set", "tuple", "list", "dict",
    "field_validator", "model_validator", "field_serializer", "validator", "root_validator",
    "conlist", "constr", "conint", "confloat", "conbytes", "condecimal", "StrictStr",
})
FORBIDDEN_NAMES = frozenset({
    "__import__", "eval", "exec", "compile", "breakpoint", "globals", "locals", "vars", "delattr",
    "__builtins__", "__loader__", "__spec__", "exit", "quit", "help", "memoryview",
})
# Dunder attributes the templates use; any other (`__subclasses__`, `__globals__`, ...) is a payload's.
ALLOWED_DUNDERS = frozenset({
    "__init__", "__dict__", "__class__", "__new__", "__setattr__", "__name__", "__module__", "__doc__",
    "__fields__", "__annotations__", "__properties", "__str__", "__repr__", "__eq__",
})
# A cheap text test first: a module without these words cannot fail the whole-module scan.
_SUSPECT = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, FORBIDDEN_NAMES))) + r")\b|\.__\w+__\b")

Definition = Union[ast.FunctionDef, ast.AsyncFunctionDef]
Parse = Callable[[str, str], ast.Module]


class ShapeError(VerificationError):
    """A generated module holds something generated code never holds."""


def _value_problem(node: Optional[ast.expr]) -> Optional[ast.AST]:
    """The first sub-expression that is not a literal, a type expression or an allowed call."""
    if node is None or isinstance(node, ast.Constant):
        return None
    if isinstance(node, ast.Name):
        return node if node.id in FORBIDDEN_NAMES else None
    if isinstance(node, ast.Attribute):
        return node if _bad_attribute(node.attr) else _value_problem(node.value)
    if isinstance(node, ast.Subscript):
        return _value_problem(node.value) or _value_problem(node.slice)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return _first(node.elts)
    if isinstance(node, ast.Dict):
        return _first([k for k in node.keys if k is not None]) or _first(node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _value_problem(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):  # `X | None`
        return _value_problem(node.left) or _value_problem(node.right)
    if isinstance(node, ast.Call) and _call_name(node.func) in ALLOWED_CALLS:
        return (_value_problem(node.func) or _first(node.args)
                or _first([k.value for k in node.keywords if k.arg is not None])
                or next((k.value for k in node.keywords if k.arg is None), None))
    return node


def _first(nodes: Iterable[Optional[ast.expr]]) -> Optional[ast.AST]:
    return next((bad for bad in map(_value_problem, nodes) if bad is not None), None)


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _bad_attribute(attr: str) -> bool:
    return attr.startswith("__") and attr.endswith("__") and attr not in ALLOWED_DUNDERS


def _definition_problem(node: Definition) -> Optional[ast.AST]:
    """Decorators, defaults and annotations run when a `def` runs; the body does not."""
    args = node.args
    annotations = [a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    annotations += [a.annotation for a in (args.vararg, args.kwarg) if a is not None]
    return (_first(node.decorator_list) or _first(args.defaults) or _first(args.kw_defaults)
            or _first(annotations) or _value_problem(node.returns))


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


def _imports_only(body: Sequence[ast.stmt]) -> bool:
    return all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) for s in body)


def _statement_problem(stmt: ast.stmt, level: str) -> Optional[ast.AST]:
    """None when `stmt` is something the templates write at this level, else the node at fault."""
    if _is_docstring(stmt) or isinstance(stmt, ast.Pass):
        return None
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return None if level == "module" else stmt
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return _definition_problem(stmt)
    if isinstance(stmt, ast.ClassDef):
        return (_first(stmt.decorator_list) or _first(stmt.bases) or _first([k.value for k in stmt.keywords])
                or next((bad for s in stmt.body for bad in [_statement_problem(s, "class")] if bad), None))
    if isinstance(stmt, ast.AnnAssign):
        return (stmt.target if not isinstance(stmt.target, ast.Name) else None) or _first([stmt.annotation, stmt.value])
    if isinstance(stmt, ast.Assign):
        bad_target = next((t for t in stmt.targets if not isinstance(t, ast.Name)), None)
        return bad_target or _value_problem(stmt.value)
    if level == "module" and isinstance(stmt, ast.Expr) and _is_model_rebuild(stmt.value):
        return None
    if level == "module" and isinstance(stmt, ast.If) and _is_type_checking(stmt.test) and not stmt.orelse:
        return None if _imports_only(stmt.body) else stmt
    if level == "module" and isinstance(stmt, ast.Try) and _imports_only(stmt.body) and not stmt.finalbody \
            and all(_imports_only(h.body) and isinstance(h.type, ast.Name) for h in stmt.handlers):
        return None  # try: import x / except ImportError: import y
    return stmt


def _is_model_rebuild(node: ast.expr) -> bool:
    return (isinstance(node, ast.Call) and not node.args
            and all(k.arg is not None and isinstance(k.value, ast.Constant) for k in node.keywords)
            and isinstance(node.func, ast.Attribute) and node.func.attr == "model_rebuild"
            and isinstance(node.func.value, ast.Name))


def _is_type_checking(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "TYPE_CHECKING"


def _anywhere_problem(tree: ast.Module) -> Optional[ast.AST]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            return node
        if isinstance(node, ast.Attribute) and _bad_attribute(node.attr):
            return node
    return None


def module_problem(tree: ast.Module, text: str) -> Optional[ast.AST]:
    """The first node of a generated module that generated code never holds, or None."""
    for stmt in tree.body:
        bad = _statement_problem(stmt, "module")
        if bad is not None:
            return bad
    return _anywhere_problem(tree) if _SUSPECT.search(text) else None


def _describe(node: ast.AST) -> str:
    try:
        code = ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every node ast.parse makes
        code = type(node).__name__
    code = " ".join(code.split())
    return code[:80] + ("..." if len(code) > 80 else "")


def _python_files(pkg_dir: Path) -> Iterator[Path]:
    return iter(sorted(pkg_dir.rglob("*.py")))


def check_generated_shape(pkg_dir: Path, shown_as: Optional[Path] = None, parse: Parse = ast.parse) -> int:
    """Parse every module under `pkg_dir` and refuse the first one that holds more than generated code holds.

    Returns the number of modules checked. Nothing is imported or executed. `parse` may be a run's code
    index (`ast_of`), so that the trees parsed here serve assembly too.
    """
    count = 0
    for path in _python_files(pkg_dir):
        text = path.read_text(encoding="utf-8")
        where = (shown_as / path.relative_to(pkg_dir)) if shown_as else path
        try:
            tree = parse(text, str(path))
        except SyntaxError as exc:
            raise VerificationError(
                f"{where}:{exc.lineno}: generated code does not compile: {exc.msg}",
                "a value in the spec reached the code unescaped, or the generator version is wrong",
            ) from None
        bad = module_problem(tree, text)
        if bad is not None:
            raise ShapeError(
                f"{where}:{getattr(bad, 'lineno', 0)}: generated code holds `{_describe(bad)}`, which OpenAPI "
                "Generator's templates never write there; refused before anything imports it",
                "a value in the spec reached the code unescaped: find it in the spec (search for the text "
                "above) and fix it at its source; nothing was imported or changed",
            )
        count += 1
    return count
