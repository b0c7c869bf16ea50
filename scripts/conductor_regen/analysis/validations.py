"""Client-side validation of a generated model's fields: what pydantic checks, and whether a change loosens it.

The generator writes checks two ways: as constraints in the annotation
(`Annotated[int, Field(strict=True, ge=0, le=99)]`, `min_length`, ...) and as `@field_validator`
methods (`name_validate_regular_expression` for a `pattern`, `status_validate_enum` for an `enum`).
A change that only drops or loosens checks changes no type: values the SDK sent or read before are
still accepted, only values the old client rejected now pass (to the server, or to the caller).
"""

from __future__ import annotations

import ast
import re
from typing import Dict, List, Optional, Sequence, Tuple

Check = Tuple[str, Tuple[str, ...]]  # ("ge", ("0",)), ("pattern", ("^\\w*$",)), ("enum", ("A", "B"))

# Field(...) keywords that are not checks (strict is part of the type: StrictInt).
_NOT_CHECKS = frozenset({"strict", "description", "alias", "title", "examples", "default", "default_factory",
                         "serialization_alias", "validation_alias", "json_schema_extra", "deprecated"})
_PLAIN_TO_STRICT = {"str": "StrictStr", "int": "StrictInt", "bool": "StrictBool", "float": "StrictFloat",
                    "bytes": "StrictBytes"}
# Bounds where a smaller new value accepts more, and where a larger one does.
_LOWER = frozenset({"ge", "gt", "min_length", "min_items"})
_UPPER = frozenset({"le", "lt", "max_length", "max_items"})
_VALIDATOR_RE = re.compile(r"^field_validator\((['\"])(\w+)\1")


def _parse(text: str) -> Optional[ast.expr]:
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None


def _field_call(meta: ast.expr) -> Optional[ast.Call]:
    if isinstance(meta, ast.Call) and getattr(meta.func, "id", getattr(meta.func, "attr", "")) == "Field":
        return meta
    return None


class _Strip(ast.NodeTransformer):
    """`Annotated[base, Field(...)]` -> base (strict: `StrictX`), collecting the constraints it drops."""

    def __init__(self) -> None:
        self.checks: List[Check] = []

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        head = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", "")
        if head != "Annotated":
            return self.generic_visit(node)
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        base, meta = self.visit(args[0]), args[1:]
        strict = False
        for call in filter(None, map(_field_call, meta)):
            for keyword in call.keywords:
                if keyword.arg == "strict":
                    strict = isinstance(keyword.value, ast.Constant) and keyword.value.value is True
                elif keyword.arg and keyword.arg not in _NOT_CHECKS:
                    self.checks.append((keyword.arg, (ast.unparse(keyword.value),)))
        if strict and isinstance(base, ast.Name) and base.id in _PLAIN_TO_STRICT:
            return ast.Name(_PLAIN_TO_STRICT[base.id])
        return base if isinstance(base, ast.expr) else node


def split(annotation: str) -> Tuple[str, Tuple[Check, ...]]:
    """(the annotation without its constraints, the constraints): `Annotated[int, Field(strict=True, ge=0)]`
    -> (`StrictInt`, (("ge", ("0",)),))."""
    node = _parse(annotation)
    if node is None:
        return annotation.strip(), ()
    stripper = _Strip()
    plain = stripper.visit(node)
    return ast.unparse(plain), tuple(sorted(stripper.checks))


def validator_checks(method: str, decorator: str, source: str) -> Tuple[str, Optional[Check]]:
    """(the field a `@field_validator` method checks, what it checks) from its decorator and source.

    The generator's validators test `re.match(r"...", value)` (a pattern) or `value not in
    set([...])` (an enum); anything else is kept as an opaque check named after the method.
    """
    hit = _VALIDATOR_RE.match(decorator.strip().lstrip("@"))
    if not hit:
        return "", None
    try:
        tree: Optional[ast.Module] = ast.parse(_dedent(source))
    except SyntaxError:
        tree = None
    for node in ast.walk(tree) if tree is not None else ():
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        if name in ("re.match", "re.fullmatch", "re.search") and node.args and \
                isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            return hit.group(2), ("pattern", (node.args[0].value,))
        if name == "set" and node.args and isinstance(node.args[0], (ast.List, ast.Tuple, ast.Set)):
            values = [e.value for e in node.args[0].elts if isinstance(e, ast.Constant)]
            return hit.group(2), ("enum", tuple(sorted(str(v) for v in values)))
    return hit.group(2), ("validator", (method,))


def _dedent(source: str) -> str:
    lines = source.splitlines()
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return "\n".join(line[indent:] for line in lines)


def describe(check: Check) -> str:
    """`ge=0`, `pattern /^\\w*$/`, `enum {A, B}`."""
    name, values = check
    if name == "pattern":
        return f"pattern /{values[0]}/"
    if name == "enum":
        return "enum {" + ", ".join(values) + "}"
    if name == "validator":
        return f"validator {values[0]}"
    return f"{name}={values[0]}" if len(values) == 1 else f"{name}={values}"


def _number(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None


def _loosens(name: str, old: Tuple[str, ...], new: Tuple[str, ...]) -> bool:
    """Whether the same check with new values accepts everything the old one did."""
    if name == "enum":
        return set(old) <= set(new)
    before, after = _number(old[0]) if old else None, _number(new[0]) if new else None
    if before is None or after is None:
        return False
    return after <= before if name in _LOWER else after >= before if name in _UPPER else False


def compare(old: Sequence[Check], new: Sequence[Check]) -> Tuple[List[str], List[str]]:
    """(loosened, tightened) descriptions between two sets of checks; both empty when nothing changed."""
    before: Dict[str, Tuple[str, ...]] = dict(old)
    after: Dict[str, Tuple[str, ...]] = dict(new)
    loosened: List[str] = []
    tightened: List[str] = []
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            loosened.append(f"{describe((name, before[name]))} dropped")
        elif name not in before:
            tightened.append(f"{describe((name, after[name]))} added")
        elif before[name] != after[name]:
            text = f"{describe((name, before[name]))} -> {describe((name, after[name]))}"
            if name == "enum" and set(before[name]) < set(after[name]):
                text = "enum also accepts " + ", ".join(sorted(set(after[name]) - set(before[name])))
            (loosened if _loosens(name, before[name], after[name]) else tightened).append(text)
    return loosened, tightened
