"""Type changes by direction: does the new annotation accept more, less, the same, or something else?

A request parameter (or a model only sent to the server) that accepts more stays compatible for
callers; a response field that narrows stays compatible for readers. Annotations are compared
structurally from their source text (`Optional`, `Union`, `List`, `Dict`, `Annotated`, pydantic's
`Strict*`), without importing anything.
"""

from __future__ import annotations

import ast
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

SAME, WIDER, NARROWER, UNRELATED = "same", "wider", "narrower", "unrelated"
REQUEST, RESPONSE = "request", "response"

# pydantic's strict types accept a subset of what the plain type accepts.
_STRICT = {"StrictStr": "str", "StrictInt": "int", "StrictBool": "bool", "StrictFloat": "float",
           "StrictBytes": "bytes"}
_ANY = {"Any", "object"}
_CONTAINERS = {"List": "list", "list": "list", "Dict": "dict", "dict": "dict", "Set": "set", "set": "set",
               "Tuple": "tuple", "tuple": "tuple"}


def _parse(text: str) -> Optional[ast.expr]:
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and node.value is None:
        return "None"
    return ast.unparse(node)


def _args(node: ast.Subscript) -> List[ast.expr]:
    inner = node.slice
    return list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]


def _members(node: ast.expr) -> List[ast.expr]:
    """The alternatives of a Union/Optional (the node itself otherwise)."""
    if isinstance(node, ast.Subscript):
        head = _name(node.value)
        if head == "Optional":
            return [*_members(_args(node)[0]), ast.Constant(None)]
        if head == "Union":
            return [m for arg in _args(node) for m in _members(arg)]
        if head == "Annotated":
            return [_annotated(node)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return [*_members(node.left), *_members(node.right)]
    return [node]


_PLAIN = {v: k for k, v in _STRICT.items()}


def _annotated(node: ast.Subscript) -> ast.expr:
    """`Annotated[str, Field(strict=True)]` is `StrictStr`; other constraints make a narrower, opaque type."""
    base, *meta = _args(node)
    keywords = {k.arg for m in meta if isinstance(m, ast.Call) for k in m.keywords if k.arg}
    if keywords <= {"strict", "description", "alias", "title", "examples"}:
        if "strict" in keywords and isinstance(base, ast.Name) and base.id in _PLAIN:
            return ast.Name(_PLAIN[base.id])
        return base
    return ast.Subscript(ast.Name("_Constrained"), ast.Tuple([_annotated_base(base, keywords), node], ast.Load()))


def _annotated_base(base: ast.expr, keywords: Set[str]) -> ast.expr:
    if "strict" in keywords and isinstance(base, ast.Name) and base.id in _PLAIN:
        return ast.Name(_PLAIN[base.id])
    return base


def _within(a: ast.expr, b: ast.expr) -> bool:
    """Whether every value of annotation `a` is a value of annotation `b`."""
    a_members, b_members = _members(a), _members(b)
    if len(a_members) > 1:
        return all(_within(m, b) for m in a_members)
    if len(b_members) > 1:
        return any(_within(a_members[0], m) for m in b_members)
    a, b = a_members[0], b_members[0]
    if ast.unparse(a) == ast.unparse(b) or _name(b) in _ANY:
        return True
    # A constrained type (ge/le/pattern...) lies within its base; the base does not lie within it.
    if isinstance(b, ast.Subscript) and _name(b.value) == "_Constrained":
        return False
    if isinstance(a, ast.Subscript) and _name(a.value) == "_Constrained":
        return _within(_args(a)[0], b)
    if isinstance(a, ast.Subscript) and isinstance(b, ast.Subscript):
        kind_a, kind_b = _CONTAINERS.get(_name(a.value)), _CONTAINERS.get(_name(b.value))
        args_a, args_b = _args(a), _args(b)
        return (kind_a is not None and kind_a == kind_b and len(args_a) == len(args_b)
                and all(_within(x, y) for x, y in zip(args_a, args_b)))
    if isinstance(a, ast.Subscript) or isinstance(b, ast.Subscript):
        # A bare container accepts any parametrised one of its kind.
        if isinstance(a, ast.Subscript) and not isinstance(b, ast.Subscript):
            return _CONTAINERS.get(_name(a.value)) is not None and \
                _CONTAINERS.get(_name(a.value)) == _CONTAINERS.get(_name(b))
        return False
    name_a, name_b = _name(a), _name(b)
    return _STRICT.get(name_a, name_a) == name_b


def direction(old: str, new: str) -> str:
    """How annotation `new` relates to `old`: same, wider (accepts more), narrower, or unrelated."""
    a, b = _parse(old), _parse(new)
    if a is None or b is None:
        return SAME if old.strip() == new.strip() else UNRELATED
    forward, backward = _within(a, b), _within(b, a)
    if forward and backward:
        return SAME
    if forward:
        return WIDER
    return NARROWER if backward else UNRELATED


def compatible(change: str, role: Set[str]) -> bool:
    """Whether a type change in this direction is harmless for a value with these roles."""
    if change == SAME:
        return True
    if change == WIDER:
        return role == {REQUEST}
    if change == NARROWER:
        return role == {RESPONSE}
    return False


# --- which schemas are sent, which are received ------------------------------------------------------

def _refs(node: Any, out: Set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            out.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)


def _closure(start: Set[str], schemas: Mapping[str, Any]) -> Set[str]:
    seen: Set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found: Set[str] = set()
        _refs(schemas.get(name), found)
        todo += sorted(found - seen)
    return seen


def schema_roles(spec: Optional[Mapping[str, Any]]) -> Dict[str, Set[str]]:
    """{schema name: {"request", "response"}}: where each schema (transitively) travels."""
    if not isinstance(spec, Mapping):
        return {}
    components = spec.get("components")
    schemas = components.get("schemas") if isinstance(components, Mapping) else None
    schemas = schemas if isinstance(schemas, Mapping) else {}
    sent: Set[str] = set()
    received: Set[str] = set()
    paths = spec.get("paths")
    for item in paths.values() if isinstance(paths, Mapping) else ():
        if not isinstance(item, Mapping):
            continue
        _refs(item.get("parameters"), sent)
        for operation in item.values():
            if isinstance(operation, Mapping):
                _refs(operation.get("parameters"), sent)
                _refs(operation.get("requestBody"), sent)
                _refs(operation.get("responses"), received)
    roles: Dict[str, Set[str]] = {}
    for role, names in ((REQUEST, _closure(sent, schemas)), (RESPONSE, _closure(received, schemas))):
        for name in names:
            roles.setdefault(name, set()).add(role)
    return roles


def describe(change: str, role: Set[str]) -> Tuple[str, str]:
    """(short direction text, where the value travels) for a change's detail."""
    travels = " and ".join(sorted(role)) if role else "unknown use"
    return {SAME: "equivalent", WIDER: "accepts more", NARROWER: "narrows",
            UNRELATED: "changes kind"}[change], travels
