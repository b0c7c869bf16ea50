"""Deprecated aliases in the API adapters for operations the server renamed (same METHOD + path)."""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from conductor_regen.file_tree import write_text_no_follow
from conductor_regen.compat.codemods import (
    append_to_class,
    class_functions,
    find_class,
    import_key,
    insert_import,
    is_ellipsis,
    replace_class,
)
from conductor_regen.analysis.code_index import current_index
from conductor_regen.analysis.references import module_bindings
from conductor_regen.analysis.source_tree import DEFAULT_PACKAGE
from conductor_regen.file_tree import safe_join
from conductor_regen.compat.scaffold import (
    ApiAdapter,
    existing_api_adapters,
    generated_classes,
)

log = logging.getLogger(__name__)

VARIANTS = ("", "_with_http_info", "_without_preload_content")
# How an alias's docstring starts; later runs recognise their own aliases by it.
ALIAS_DOC = "Deprecated alias of"


def _class_functions_in(path: Path, cls_name: str) -> Dict[str, cst.FunctionDef]:
    cls = find_class(current_index().cst_file(path), cls_name)
    return class_functions(cls) if cls is not None else {}


def _generated_functions(path: Path, cls_name: str) -> Dict[str, bool]:
    """The methods a (generated) class defines directly, name -> whether it is `async` (read with ast)."""
    for stmt in current_index().ast_file(path).body:
        if isinstance(stmt, ast.ClassDef) and stmt.name == cls_name:
            return {f.name: isinstance(f, ast.AsyncFunctionDef) for f in stmt.body
                    if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return {}


def _alias_method(adapter: str, old: str, new: str, target: str, label: str, asynchronous: bool) -> cst.BaseStatement:
    """`async def old(self, *args, **kwargs)`: warn, then forward to `target` (e.g. `self.new`)."""
    # The label holds a path from the spec: json.dumps makes it a safe (double-quoted) Python literal.
    message = json.dumps(f"{adapter}.{old} is deprecated; use {new} ({label})")
    prefix, call = ("async ", "await ") if asynchronous else ("", "")
    code = (f"{prefix}def {old}(self, *args: Any, **kwargs: Any) -> Any:\n"
            f'    """{ALIAS_DOC} {new}: the server\'s API renamed the operation."""\n'
            f"    warnings.warn(\n        {message},\n        DeprecationWarning,\n        stacklevel=2,\n    )\n"
            f"    return {call}{target}(*args, **kwargs)\n")
    return cst.parse_statement(code).with_changes(leading_lines=[cst.EmptyLine(indent=False)])


def _ensure_stdlib_imports(tree: cst.Module, statements: Sequence[str], package: str) -> cst.Module:
    """Bind `warnings`/`Any` at module level; above the package's own imports, as isort puts them."""
    bound, _, _ = module_bindings(current_index().ast_of(tree.code), "", False)
    missing = [s for s in statements if s.split()[-1] not in bound]
    if not missing:
        return tree
    body = list(tree.body)
    imports = [i for i, s in enumerate(body) if import_key(s) and import_key(s) != "__future__"]
    ours = all(import_key(body[i]).split(".")[0] == package.split(".")[0] for i in imports)
    if not imports or not ours:
        for statement in missing:
            tree = insert_import(tree, statement + "\n")
        return tree
    first = body[imports[0]]
    assert isinstance(first, cst.SimpleStatementLine)
    new = [cst.parse_statement(s + "\n") for s in missing]
    new[0] = new[0].with_changes(leading_lines=first.leading_lines)
    body[imports[0]] = first.with_changes(leading_lines=[cst.EmptyLine(indent=False)])
    body[imports[0]:imports[0]] = new
    return tree.with_changes(body=body)


def alias_renamed(old_http: Path, new_http: Path, staging: Path, package: str = DEFAULT_PACKAGE) -> Tuple[str, ...]:
    """Give API adapters deprecated aliases for operations whose generated name changed (same METHOD + path).

    The alias keeps `adapter.old_name(...)` working (with a DeprecationWarning) by forwarding to the
    new name, so the previous generated code need not be carried over. An existing method of the
    same name in the adapter is never replaced, and a name the new class uses for another operation
    is never shadowed.
    """
    from conductor_regen.analysis.operations import read_client_operations

    api_dir = staging / "adapters" / "api"
    if not ((old_http / "api").is_dir() and (new_http / "api").is_dir() and api_dir.is_dir()):
        return ()
    old_ops, new_ops = read_client_operations(old_http), read_client_operations(new_http)
    adapters: Dict[str, List[ApiAdapter]] = {}
    for found in existing_api_adapters(api_dir, package):
        adapters.setdefault(found.generated, []).append(found)
    notes: List[str] = []
    notes += _shadowing_aliases(adapters, new_http, package)
    for key in sorted(old_ops.keys() & new_ops.keys()):
        old, new = old_ops[key], new_ops[key]
        if old.class_name != new.class_name or old.name == new.name:
            continue
        generated = _generated_functions(safe_join(new_http / "api", f"{new.module}.py"), new.class_name)
        for adapter in adapters.get(new.class_name, []):
            notes += _alias_one(adapter, old.name, new.name, generated, old.label, package)
    for note in notes:
        log.info("%s", note)
    return tuple(notes)


def _shadowing_aliases(adapters: Dict[str, List[ApiAdapter]], new_http: Path, package: str) -> List[str]:
    """Notes for aliases from earlier runs whose old name the new API now uses for another operation."""
    generated = {g.cls: g for g in generated_classes(new_http / "api" / "__init__.py", f"{package}.http.api", "Api")}
    notes: List[str] = []
    for cls_name, found in sorted(adapters.items()):
        gen = generated.get(cls_name)
        if gen is None:
            continue
        # The generated module (thousands of lines) is parsed only for an adapter that has aliases.
        names: Optional[Set[str]] = None
        for adapter in found:
            for name, func in _aliases_in(adapter).items():
                if names is None:
                    names = set(_generated_functions(safe_join(new_http / "api", f"{gen.module}.py"), cls_name))
                if name in names:
                    notes.append(f"check {adapter.cls}.{name}: it is a deprecated alias, but {cls_name}.{name} "
                                 "is now another operation, which the alias hides")
    return notes


def _aliases_in(adapter: ApiAdapter) -> Dict[str, cst.FunctionDef]:
    """The adapter's methods that are deprecated aliases (made by an earlier run), by name."""
    if ALIAS_DOC not in current_index().read(adapter.path):
        return {}  # a method's code is part of the file's: no alias here, and nothing to parse or print
    return {name: func for name, func in _class_functions_in(adapter.path, adapter.cls).items()
            if ALIAS_DOC in cst.Module([]).code_for_node(func)}


def _alias_one(adapter: ApiAdapter, old: str, new: str, generated: Dict[str, bool], label: str,
               package: str) -> List[str]:
    code = adapter.path.read_text(encoding="utf-8")
    tree = current_index().cst_of(code)
    cls = find_class(tree, adapter.cls)
    if cls is None:
        return []
    own = class_functions(cls)
    added: List[cst.BaseStatement] = []
    names: List[str] = []
    skipped: List[str] = []
    for variant in VARIANTS:
        old_name, new_name = old + variant, new + variant
        if new_name not in generated or not (old_name.isidentifier() and new_name.isidentifier()):
            continue
        if old_name in own:
            continue  # already aliased by an earlier run, or written by hand: never replaced
        if old_name in generated:
            skipped.append(old_name)  # the new class uses the old name for another operation
            continue
        # A facade that neither defines nor forwards the new name reaches it through the generated API.
        through_self = adapter.style == "subclass" or new_name in own or "__getattr__" in own
        target = f"self.{new_name}" if through_self else f"self.{adapter.attribute}.{new_name}"
        added.append(_alias_method(adapter.cls, old_name, new_name, target, label,
                                   generated[new_name]))
        names.append(old_name)
    notes = [f"not aliased: {adapter.cls}.{n} ({label} was renamed, but the new API uses {n} for another operation)"
             for n in skipped]
    if not added:
        return notes
    body = list(cls.body.body) if isinstance(cls.body, cst.IndentedBlock) else []
    if all(is_ellipsis(s) for s in body):
        added[0] = added[0].with_changes(leading_lines=[])  # right under `class X(...):`, as black has it
    tree = replace_class(tree, append_to_class(cls, added))
    tree = _ensure_stdlib_imports(tree, ["import warnings", "from typing import Any"], package)
    write_text_no_follow(adapter.path, tree.code)
    notes.append(f"added deprecated alias(es) {', '.join(f'{adapter.cls}.{n}' for n in names)} -> "
                 f"{new} in adapters/api/{adapter.path.name}: {label} was renamed by the server's API")
    return notes
