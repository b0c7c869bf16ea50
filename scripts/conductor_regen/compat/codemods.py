"""Small libcst edits shared by compat_keep and scaffold: add imports, extend __all__, warn, carry names."""

from __future__ import annotations

import ast
import textwrap
from typing import Dict, List, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from conductor_regen.analysis.code_index import current_index
from conductor_regen.analysis.references import absolute_module, module_bindings


def dotted(node: Optional[cst.BaseExpression]) -> str:
    """`a.b.c` for a Name/Attribute chain ('' for anything else)."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr.value}" if head else ""
    return ""


def ast_dotted(node: ast.expr) -> str:
    """`a.b.c` for an ast Name/Attribute chain ('' for anything else), as `dotted` reads libcst."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = ast_dotted(node.value)
        return f"{head}.{node.attr}" if head else ""
    return ""


def _import_of(stmt: cst.CSTNode) -> Optional[cst.BaseSmallStatement]:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        small = stmt.body[0]
        if isinstance(small, (cst.Import, cst.ImportFrom)):
            return small
    return None


def import_key(stmt: cst.CSTNode) -> str:
    """The module an import statement names (first alias for `import a, b`), '' if not an import."""
    small = _import_of(stmt)
    if isinstance(small, cst.ImportFrom):
        return "." * len(small.relative) + dotted(small.module)
    if isinstance(small, cst.Import):
        return dotted(small.names[0].name)
    return ""


def is_docstring(stmt: cst.CSTNode) -> bool:
    """Whether `stmt` is a bare string statement (a docstring where it comes first)."""
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _header_end(body: Sequence[cst.CSTNode]) -> int:
    """Index after the leading docstring/imports block (where new imports go when nothing fits better)."""
    end = 0
    for index, stmt in enumerate(body):
        if _import_of(stmt) is not None or (index == 0 and is_docstring(stmt)):
            end = index + 1
        else:
            break
    return end


def _flat(stmt: cst.CSTNode) -> str:
    """An import statement's code with wrapping and comments ignored, for duplicate checks."""
    code = cst.Module([]).code_for_node(stmt.with_changes(leading_lines=[]))
    code = code.split("#", 1)[0] if "#" in code else code
    return " ".join(code.replace("\\\n", " ").replace("(", " ").replace(")", " ").replace(",", " ").split())


def _parent(key: str) -> str:
    return key.rsplit(".", 1)[0] if "." in key.lstrip(".") else ""


def insert_import(module: cst.Module, statement: str, comment: str = "") -> cst.Module:
    """Add an import statement next to its siblings (sorted position if they are sorted); idempotent."""
    new_stmt = cst.parse_statement(statement)
    code = _flat(new_stmt)
    key = import_key(new_stmt)
    body = list(module.body)
    # Equal flat code means equal module, so only same-module imports are printed (printing is the cost).
    if any(_import_of(s) is not None and import_key(s) == key and _flat(s) == code for s in body):
        return module
    parent = _parent(key)
    siblings = [i for i, s in enumerate(body)
                if parent and _parent(import_key(s)) == parent and isinstance(_import_of(s), cst.ImportFrom)]
    lines = [cst.EmptyLine(comment=cst.Comment(f"# {comment}"))] if comment else []
    if siblings:
        keys = [import_key(body[i]) for i in siblings]
        index = siblings[-1] + 1
        if keys == sorted(keys):
            later = [i for i, k in zip(siblings, keys) if k > key]
            index = later[0] if later else index
        if index <= siblings[-1]:
            before = body[index]
            assert isinstance(before, cst.SimpleStatementLine)
            new_stmt = new_stmt.with_changes(leading_lines=[*before.leading_lines, *lines])
            body[index] = before.with_changes(leading_lines=[])
        else:
            new_stmt = new_stmt.with_changes(leading_lines=lines)
    else:
        index = _header_end(body)
        blank = [cst.EmptyLine(indent=False)] if index > 0 and _import_of(body[index - 1]) is None else []
        new_stmt = new_stmt.with_changes(leading_lines=[*blank, *lines])
    body.insert(index, new_stmt)
    return module.with_changes(body=body)


def add_to_all(module: cst.Module, name: str) -> cst.Module:
    """Append `name` to a literal `__all__` list or tuple (sorted position if it is sorted); idempotent."""
    body = list(module.body)
    for index, stmt in enumerate(body):
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
            continue
        assign = stmt.body[0]
        if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1
                and isinstance(assign.targets[0].target, cst.Name)
                and assign.targets[0].target.value == "__all__"
                and isinstance(assign.value, (cst.List, cst.Tuple))):
            continue
        container = assign.value
        values = [e.value for e in container.elements]
        names = [v.evaluated_value if isinstance(v, cst.SimpleString) else None for v in values]
        if name in names:
            return module
        quote = '"'
        if values and isinstance(values[0], cst.SimpleString):
            quote = values[0].quote
        new_value = cst.SimpleString(f"{quote}{name}{quote}")
        position = len(values)
        plain = [n for n in names if isinstance(n, str)]
        if len(plain) == len(names) and plain == sorted(plain):
            position = next((i for i, n in enumerate(plain) if n > name), len(values))
        values.insert(position, new_value)
        elements = _elements(container, values)
        new_assign = assign.with_changes(value=container.with_changes(elements=elements))
        body[index] = stmt.with_changes(body=[new_assign])
        return module.with_changes(body=body)
    return module


def _elements(container: Union[cst.List, cst.Tuple], values: List[cst.BaseExpression]) -> List[cst.Element]:
    old = list(container.elements)
    middle: Optional[cst.Comma] = next((e.comma for e in old[:-1] if isinstance(e.comma, cst.Comma)), None)
    opening = container.lbracket if isinstance(container, cst.List) else None
    if middle is None:
        ws = opening.whitespace_after if opening is not None else None
        if isinstance(ws, cst.ParenthesizedWhitespace):
            middle = cst.Comma(whitespace_after=ws)
        else:
            middle = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    last = old[-1].comma if old else cst.MaybeSentinel.DEFAULT
    out = [cst.Element(v, comma=middle) for v in values[:-1]]
    out.append(cst.Element(values[-1], comma=last))
    return out


def warn_statement(message: str, stacklevel: int = 2) -> cst.SimpleStatementLine:
    """`warnings.warn(<message>, DeprecationWarning, stacklevel=N)`; the message is quoted safely (repr)."""
    code = f"warnings.warn({message!r}, DeprecationWarning, stacklevel={int(stacklevel)})\n"
    stmt = cst.parse_statement(code)
    assert isinstance(stmt, cst.SimpleStatementLine)
    return stmt


def _is_deprecation_warn(stmt: cst.CSTNode) -> bool:
    return "DeprecationWarning" in cst.Module([]).code_for_node(stmt) and "warnings.warn" in \
        cst.Module([]).code_for_node(stmt)


def caller_stacklevel(func: cst.FunctionDef) -> int:
    """The stacklevel that blames `func`'s caller: pydantic's validate_call adds one frame."""
    decorators = {dotted(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator)
                  for d in func.decorators}
    return 3 if decorators & {"validate_call", "pydantic.validate_call"} else 2


def prepend_warning(func: cst.FunctionDef, message: str) -> cst.FunctionDef:
    """Put a deprecation warning first in `func` (after its docstring), unless one is there already."""
    if not isinstance(func.body, cst.IndentedBlock):
        return func
    body = list(func.body.body)
    start = 1 if body and is_docstring(body[0]) else 0
    if start < len(body) and _is_deprecation_warn(body[start]):
        return func
    body.insert(start, warn_statement(message, caller_stacklevel(func)))
    return func.with_changes(body=func.body.with_changes(body=body))


def ensure_module_import(module: cst.Module, name: str) -> cst.Module:
    """Make sure `import <name>` binds `name` at module level (a top-level `import name` is enough)."""
    for stmt in module.body:
        small = _import_of(stmt)
        if isinstance(small, cst.Import) and any(
                a.asname is None and dotted(a.name).split(".")[0] == name for a in small.names):
            return module
    return insert_import(module, f"import {name}\n")


def used_names(nodes: Sequence[cst.CSTNode]) -> Set[str]:
    """Plain names read by `nodes` (decorators and annotations included)."""
    names: Set[str] = set()
    for node in nodes:
        code = textwrap.dedent(cst.Module([]).code_for_node(node))
        for sub in ast.walk(ast.parse(code)):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
    return names


def imports_for(names: Set[str], source_code: str, source_module: str, target_code: str,
                is_package: bool = False) -> List[str]:
    """Import statements that bind `names` in source but not yet in target: absolute, one per module."""
    index = current_index()
    bindings, _, _ = module_bindings(index.ast_of(target_code), "", False)
    chosen: Dict[str, Tuple[str, str]] = {}  # bound name -> ("from m" | "import", imported text)
    for stmt in index.ast_of(source_code).body:
        if isinstance(stmt, ast.ImportFrom):
            head = f"from {absolute_module(stmt.module, stmt.level, source_module, is_package)}"
        elif isinstance(stmt, ast.Import):
            head = "import"
        else:
            continue
        for alias in stmt.names:
            bound = alias.asname or alias.name.split(".")[0]
            if bound in names and bound not in bindings:
                # A later import of the same name rebinds it, so the last one is what the code used.
                chosen.pop(bound, None)
                chosen[bound] = (head, alias.name + (f" as {alias.asname}" if alias.asname else ""))
    merged: Dict[str, List[str]] = {}
    for head, text in chosen.values():
        merged.setdefault(head, []).append(text)
    out: List[str] = []
    for head, texts in merged.items():
        if head == "import":
            out += [f"import {t}\n" for t in texts]
        else:
            out.append(f"{head} import {', '.join(sorted(texts))}\n")
    return out


def find_class(module: cst.Module, name: str) -> Optional[cst.ClassDef]:
    """The top-level class `name` of `module`."""
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and stmt.name.value == name:
            return stmt
    return None


def replace_class(module: cst.Module, new: cst.ClassDef) -> cst.Module:
    """`module` with its top-level class of the same name replaced by `new`."""
    body = [new if isinstance(s, cst.ClassDef) and s.name.value == new.name.value else s for s in module.body]
    return module.with_changes(body=body)


def class_functions(cls: cst.ClassDef) -> Dict[str, cst.FunctionDef]:
    """The methods defined directly in a class body, by name."""
    if not isinstance(cls.body, cst.IndentedBlock):
        return {}
    return {s.name.value: s for s in cls.body.body if isinstance(s, cst.FunctionDef)}


def append_to_class(cls: cst.ClassDef, nodes: Sequence[cst.BaseStatement]) -> cst.ClassDef:
    """Add statements at the end of a class body (a `...`-only body is replaced)."""
    if not isinstance(cls.body, cst.IndentedBlock):
        return cls.with_changes(body=cst.IndentedBlock(body=list(nodes)))
    body = [s for s in cls.body.body if not is_ellipsis(s)]
    return cls.with_changes(body=cls.body.with_changes(body=[*body, *nodes]))


def is_ellipsis(stmt: cst.CSTNode) -> bool:
    """Whether `stmt` is a bare `...` (a placeholder body)."""
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.Ellipsis))
