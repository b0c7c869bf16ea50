"""Carry methods of a generated class into its new version by splicing source lines, not by a libcst round trip.

keep-removed used to parse the whole new API module with libcst (the real SDK's integration module is
about 250 KB: 0.4 s a parse, as long again to print), append the old methods to the class and print
it back. This does the same edit on text: the methods' exact lines from the old file (located with the
cached `ast` trees), two blank lines before each, the deprecation warning after the docstring, and the
imports they need added by libcst to the small import header only. It is used only for the layouts
it reproduces byte for byte (plain generated code); for anything else it returns None and the caller
does the libcst edit (the unit tests check both give the same bytes).
"""

from __future__ import annotations

import ast
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import libcst as cst

from conductor_regen.analysis.code_index import current_index
from conductor_regen.compat.codemods import (
    append_to_class,
    ast_dotted,
    class_functions,
    ensure_module_import,
    find_class,
    imports_for,
    insert_import,
    prepend_warning,
    replace_class,
    used_names,
)

_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While,
             ast.With, ast.AsyncWith, ast.Try, ast.Match) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


class _Unsupported(Exception):
    """A layout the text splice might not reproduce exactly as libcst would: use libcst."""


def _first_line(stmt: ast.stmt) -> int:
    """The 1-based line a statement starts on, decorators included."""
    decorators: List[ast.expr] = getattr(stmt, "decorator_list", [])
    return min([stmt.lineno, *(d.lineno for d in decorators)])


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _require(condition: bool) -> None:
    if not condition:
        raise _Unsupported()


def _block_indent(lines: Sequence[str], body: Sequence[ast.stmt]) -> str:
    """The indentation of a block's first statement, which must start its own line (an indented block)."""
    line = lines[_first_line(body[0]) - 1]
    indent = _indent(line)
    _require(bool(indent) and not line[len(indent):].startswith("#"))
    # A suite on the header's line (`def f(): pass`) has code before the statement on that line.
    first = body[0]
    if not getattr(first, "decorator_list", None):
        _require(line[:first.col_offset].strip() == "")
    return indent


def _default_indent(tree: ast.Module, lines: Sequence[str]) -> str:
    """libcst's default indent: that of the first indented block in the file (the first INDENT token)."""
    for stmt in tree.body:
        if isinstance(stmt, _COMPOUND):
            body: object = getattr(stmt, "body", None)  # a match statement's block holds cases, not statements
            if not isinstance(body, list) or not body:
                raise _Unsupported()
            return _block_indent(lines, body)
    return "    "  # libcst's fallback when nothing is indented


def _only_blank(lines: Sequence[str], start: int, end: int) -> None:
    """Lines start..end-1 (0-based) must be empty: comments there belong to a block libcst would choose."""
    _require(all(line == "\n" for line in lines[start:end]))


def _top_class(tree: ast.Module, name: str) -> Tuple[int, ast.ClassDef]:
    found = [(i, s) for i, s in enumerate(tree.body) if isinstance(s, ast.ClassDef) and s.name == name]
    _require(len(found) == 1)
    return found[0]


def _next_start(siblings: Sequence[ast.stmt], index: int, default: int) -> int:
    """The 1-based first line of the statement after siblings[index], else `default`."""
    return _first_line(siblings[index + 1]) if index + 1 < len(siblings) else default


def _is_docstring(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.JoinedStr):
        raise _Unsupported()  # libcst may call an f-string concatenation a docstring; ast does not
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(
        stmt.value.value, (str, bytes))


def _stacklevel(func: ast.stmt) -> int:
    """As codemods.caller_stacklevel: pydantic's validate_call adds a frame."""
    names = {ast_dotted(d.func if isinstance(d, ast.Call) else d) for d in getattr(func, "decorator_list", [])}
    return 3 if names & {"validate_call", "pydantic.validate_call"} else 2


def _with_warning(lines: List[str], func: ast.stmt, first: int, message: str) -> Tuple[List[str], bool]:
    """The method's lines (starting at 1-based line `first`) with the warning as prepend_warning puts it."""
    body: List[ast.stmt] = getattr(func, "body")
    indent = _block_indent(lines, body)
    start = 1 if _is_docstring(body[0]) else 0
    if start:
        prev_end = body[0].end_lineno or body[0].lineno
        _require(len(body) < 2 or _first_line(body[1]) > prev_end)
    else:
        # The header's last line is the one before the body; it must end the header plainly (no comment).
        prev_end = _first_line(body[0]) - 1
        header = lines[prev_end - 1].rstrip()
        _require(header.endswith(":") and "#" not in header)
    if start < len(body):
        stmt = body[start]
        end = stmt.end_lineno or stmt.lineno
        text = "".join(lines[prev_end:end])
        if isinstance(stmt, _COMPOUND):
            _require("DeprecationWarning" not in "".join(lines[first - 1:func.end_lineno]))
        else:
            _require(start + 1 >= len(body) or _first_line(body[start + 1]) > end)
            if "DeprecationWarning" in text and "warnings.warn" in text:
                return lines[first - 1:func.end_lineno], False
    call = f"warnings.warn({message!r}, DeprecationWarning, stacklevel={_stacklevel(func)})\n"
    return lines[first - 1:prev_end] + [indent + call] + lines[prev_end:func.end_lineno], True


def _method_lines(old_lines: List[str], old_cls: ast.ClassDef, class_next: int, names: Sequence[str],
                  warnings: Mapping[str, str]) -> Tuple[List[str], Set[str]]:
    """The carried methods' text (two blank lines before each) and the names they read.

    `class_next` is the first line of the statement after the class (or one past the file's end).
    """
    members = [s for s in old_cls.body if isinstance(s, _DEFS)]
    _require(len({f.name for f in members}) == len(members))
    out: List[str] = []
    used: Set[str] = set()
    for name in names:
        index, func = next((i, s) for i, s in enumerate(old_cls.body) if isinstance(s, _DEFS) and s.name == name)
        first, end = _first_line(func), func.end_lineno or func.lineno
        # Comments after the method may be its body's footer (carried) or the next one's (not): libcst decides.
        _only_blank(old_lines, end, _next_start(old_cls.body, index, class_next) - 1)
        text = old_lines[first - 1:end]
        if name in warnings:
            text, warned = _with_warning(old_lines, func, first, warnings[name])
            if warned:
                used |= {"warnings", "DeprecationWarning"}
        used |= {n.id for n in ast.walk(func) if isinstance(n, ast.Name)}
        out += ["\n", "\n", *text]
    return out, used


def splice_methods(old_code: str, new_code: str, cls_name: str, names: Sequence[str],
                   warnings: Mapping[str, str],
                   imports: Callable[[Set[str]], List[str]]) -> Optional[str]:
    """`new_code` with methods `names` of class `cls_name` carried from `old_code` (the libcst edit's bytes).

    `warnings` maps the public methods to their deprecation message; `imports(used names)` gives the
    import statements to add. None when the layout is one only libcst reproduces exactly.
    """
    try:
        return _splice(old_code, new_code, cls_name, names, warnings, imports)
    except _Unsupported:
        return None


def _splice(old_code: str, new_code: str, cls_name: str, names: Sequence[str], warnings: Mapping[str, str],
            imports: Callable[[Set[str]], List[str]]) -> str:
    _require("\r" not in old_code + new_code and old_code.endswith("\n") and new_code.endswith("\n"))
    index = current_index()
    old_tree, new_tree = index.ast_of(old_code), index.ast_of(new_code)
    old_lines, new_lines = old_code.splitlines(keepends=True), new_code.splitlines(keepends=True)
    old_position, old_cls = _top_class(old_tree, cls_name)
    position, new_cls = _top_class(new_tree, cls_name)
    _require(_default_indent(old_tree, old_lines) == _default_indent(new_tree, new_lines))
    _require(_block_indent(old_lines, old_cls.body) == _block_indent(new_lines, new_cls.body))
    # append_to_class drops `...` placeholders from the class body; leave that to libcst.
    _require(not any(isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and s.value.value is ...
                     for s in new_cls.body))
    old_next = _next_start(old_tree.body, old_position, len(old_lines) + 1)
    carried, used = _method_lines(old_lines, old_cls, old_next, names, warnings)
    end = new_cls.end_lineno or new_cls.lineno
    _only_blank(new_lines, end, _next_start(new_tree.body, position, len(new_lines) + 1) - 1)
    spliced = new_lines[:end] + carried + new_lines[end:]
    # Imports go into the header only: parsing and printing just that part with libcst gives the same
    # bytes as the whole module would, provided every top-level import is in it.
    imported = [i for i, s in enumerate(new_tree.body) if isinstance(s, (ast.Import, ast.ImportFrom))]
    _require(bool(imported) and imported[-1] + 1 <= position)
    after = new_tree.body[imported[-1] + 1]
    split = _first_line(after) - 1
    _require(split >= (new_tree.body[imported[-1]].end_lineno or 0))
    header = index.cst_of("".join(new_lines[:split]))
    for line in imports(used):
        header = insert_import(header, line)
    header = ensure_module_import(header, "warnings")
    return header.code + "".join(spliced[split:])


def carry_with_libcst(old_code: str, new_code: str, cls_name: str, wanted: List[str], warnings: Dict[str, str],
                       module: str, is_package: bool) -> str:
    """The libcst edit that `splice_methods` reproduces: for the layouts it leaves alone (and to test it against)."""
    index = current_index()
    old_cls, new_tree = find_class(index.cst_of(old_code), cls_name), index.cst_of(new_code)
    new_cls = find_class(new_tree, cls_name)
    assert old_cls is not None and new_cls is not None  # both files define it (checked with ast)
    old_functions = class_functions(old_cls)
    # Generated classes put two blank lines between methods; the old file's spacing may differ.
    spaced = [old_functions[name].with_changes(leading_lines=[cst.EmptyLine(indent=False)] * 2) for name in wanted]
    nodes = [prepend_warning(f, warnings[f.name.value]) if f.name.value in warnings else f for f in spaced]
    new_tree = replace_class(new_tree, append_to_class(new_cls, nodes))
    for line in imports_for(used_names(nodes), old_code, module, new_code, is_package):
        new_tree = insert_import(new_tree, line)
    new_tree = ensure_module_import(new_tree, "warnings")
    return index.remember(new_tree)  # the next kept method starts from it
