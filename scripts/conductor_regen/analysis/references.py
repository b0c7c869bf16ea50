"""Reference check: every SDK import of the package and every `self.<x>_api.<method>(` call must resolve.

Resolution is static (ast), so a staged tree can be checked before it is swapped in: names are
followed through `__init__.py` re-exports, and methods through the adapter's (generated) base classes.
"""

from __future__ import annotations

import ast
import dataclasses
import logging
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

from conductor_regen.analysis.code_index import content_key, current_index, walk_statements
from conductor_regen.analysis.source_tree import DEFAULT_PACKAGE, SourceTree, sdk_root_of, staged_tree

log = logging.getLogger(__name__)

# --- what a module binds ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Binding:
    """How a module-level name is bound: a definition, a value, or an import from `source`."""

    kind: str  # "class" | "function" | "value" | "from" | "module"
    source: str = ""  # for "from": the module imported from; for "module": the module bound
    original: str = ""  # for "from": the name in `source`
    node: Optional[ast.AST] = None


@dataclasses.dataclass
class ModuleInfo:
    """A parsed module and its top-level bindings."""

    name: str
    path: Path
    tree: ast.Module
    bindings: Dict[str, Binding]
    star_sources: List[str]
    dynamic: bool  # defines a module-level __getattr__


def absolute_module(module: Optional[str], level: int, current: str, is_package: bool) -> str:
    """The absolute name an ImportFrom refers to (relative imports resolved against `current`)."""
    if not level:
        return module or ""
    parts = current.split(".")
    if not is_package:
        parts = parts[:-1]
    parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join(parts + ([module] if module else []))


def _top_level(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    # Definitions under if/try/with at module level still bind module names (TYPE_CHECKING, fallbacks).
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _top_level(stmt.body)
            yield from _top_level(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            for block in (stmt.body, stmt.orelse, stmt.finalbody, *[h.body for h in stmt.handlers]):
                yield from _top_level(block)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            yield from _top_level(stmt.body)


def _target_names(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target_names(element)


def module_bindings(tree: ast.Module, name: str, is_package: bool) -> Tuple[Dict[str, Binding], List[str], bool]:
    """Top-level bindings, star-import sources and whether the module has a module-level __getattr__."""
    bindings: Dict[str, Binding] = {}
    stars: List[str] = []
    dynamic = False
    for stmt in _top_level(tree.body):
        if isinstance(stmt, ast.ClassDef):
            bindings[stmt.name] = Binding("class", node=stmt)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            bindings[stmt.name] = Binding("function", node=stmt)
            dynamic = dynamic or stmt.name == "__getattr__"
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                for bound in _target_names(target):
                    bindings[bound] = Binding("value", node=stmt)
        elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and isinstance(stmt.target, ast.Name):
            bindings[stmt.target.id] = Binding("value", node=stmt)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    bindings[alias.asname] = Binding("module", source=alias.name, node=stmt)
                else:
                    head = alias.name.split(".")[0]
                    bindings[head] = Binding("module", source=head, node=stmt)
        elif isinstance(stmt, ast.ImportFrom):
            source = absolute_module(stmt.module, stmt.level, name, is_package)
            for alias in stmt.names:
                if alias.name == "*":
                    stars.append(source)
                else:
                    bindings[alias.asname or alias.name] = Binding("from", source, alias.name, stmt)
    return bindings, stars, dynamic


# --- resolving names, classes and methods ------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Target:
    """What a name resolves to. `hops` are the (module, name) re-exports followed to get there."""

    kind: str  # "class" | "function" | "value" | "module" | "external"
    module: str
    name: str
    node: Optional[ast.AST] = None
    hops: Tuple[Tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class MemberLookup:
    """Where a class member was found, or why it was not."""

    found: bool
    owner: Optional[Target] = None  # the class that defines it
    missing_base: str = ""  # an in-package base class that does not resolve


class Resolver:
    """Static name resolution over one SourceTree, with parsed modules cached."""

    def __init__(self, tree: SourceTree) -> None:
        self.tree = tree
        self._modules: Dict[str, Optional[ModuleInfo]] = {}
        # Keyed by the class node's id; the node is kept alongside, so the id cannot be reused meanwhile.
        self._attributes: Dict[Tuple[str, str, int], Tuple[object, Dict[str, Target]]] = {}

    def module(self, dotted: str) -> Optional[ModuleInfo]:
        """The parsed module `dotted`, or None if it does not exist in this view (or is not ours)."""
        if dotted not in self._modules:
            self._modules[dotted] = self._load(dotted)
        return self._modules[dotted]

    def _load(self, dotted: str) -> Optional[ModuleInfo]:
        path = self.tree.module_file(dotted)
        if path is None:
            return None
        index = current_index()
        try:
            text = index.read(path)
            parsed = index.ast_of(text, str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
            log.warning("cannot parse %s: %s", path, exc)
            parsed = ast.Module(body=[], type_ignores=[])
            text = ""
        is_package = path.name == "__init__.py"
        # The bindings depend only on the content, the module's name and whether it is a package.
        bindings, stars, dynamic = index.memo(("bindings", content_key(text), dotted, is_package),
                                              lambda: module_bindings(parsed, dotted, is_package))
        return ModuleInfo(dotted, path, parsed, bindings, stars, dynamic)

    def resolve(self, module: str, name: str, _seen: Optional[Set[Tuple[str, str]]] = None) -> Optional[Target]:
        """What `from module import name` gives, or None if it would fail."""
        if not self.tree.is_internal(module):
            return Target("external", module, name)
        seen = _seen if _seen is not None else set()
        if (module, name) in seen:
            return None  # an import cycle binds nothing
        seen.add((module, name))
        info = self.module(module)
        if info is None:
            return None
        binding = info.bindings.get(name)
        if binding is not None:
            return self._follow(info, name, binding, seen)
        submodule = f"{module}.{name}"
        if info.path.name == "__init__.py" and self.module(submodule) is not None:
            return Target("module", submodule, name, hops=((module, name),))
        for source in info.star_sources:
            found = self.resolve(source, name, seen)
            if found is not None:
                return dataclasses.replace(found, hops=((module, name), *found.hops))
        if info.dynamic:
            return Target("value", module, name)
        return None

    def _follow(self, info: ModuleInfo, name: str, binding: Binding, seen: Set[Tuple[str, str]]) -> Optional[Target]:
        hop = ((info.name, name),)
        if binding.kind in ("class", "function", "value"):
            return Target(binding.kind, info.name, name, binding.node, hop)
        if binding.kind == "module":
            kind = "module" if self.tree.is_internal(binding.source) else "external"
            if kind == "module" and self.module(binding.source) is None:
                return None
            return Target(kind, binding.source, name, None, hop)
        found = self.resolve(binding.source, binding.original, seen)
        if found is None and self.tree.is_internal(binding.source):
            # `from pkg import submodule` works even when pkg/__init__ does not bind it.
            submodule = f"{binding.source}.{binding.original}"
            if self.module(submodule) is not None:
                found = Target("module", submodule, binding.original)
        return None if found is None else dataclasses.replace(found, hops=hop + found.hops)

    def resolve_expr(self, module: str, expr: ast.expr) -> Optional[Target]:
        """Resolve a Name or dotted Attribute expression used in `module`."""
        if isinstance(expr, ast.Subscript):
            return self.resolve_expr(module, expr.value)
        if isinstance(expr, ast.Name):
            return self.resolve(module, expr.id)
        if isinstance(expr, ast.Attribute):
            head = self.resolve_expr(module, expr.value)
            if head is None or head.kind == "external":
                return head
            if head.kind == "module":
                return self.resolve(head.module, expr.attr)
            return Target("value", head.module, expr.attr)
        return Target("external", "", "")

    def find_member(self, cls: Target, member: str, _seen: Optional[Set[Tuple[str, str]]] = None) -> MemberLookup:
        """Look `member` up in class `cls` and its bases (assignments and nested defs count)."""
        seen = _seen if _seen is not None else set()
        key = (cls.module, cls.name)
        if key in seen or not isinstance(cls.node, ast.ClassDef):
            return MemberLookup(False)
        seen.add(key)
        if member in class_members(cls.node):
            return MemberLookup(True, cls)
        if "__getattr__" in class_members(cls.node):
            delegates = [t for t in self.self_attributes(cls).values() if t.kind == "class"]
            for delegate in delegates:
                found = self.find_member(delegate, member, seen)
                if found.found:
                    return found
            if not delegates:
                return MemberLookup(True, cls)  # dynamic: nothing to check against
        missing_base = ""
        for base in cls.node.bases:
            target = self.resolve_expr(cls.module, base)
            if target is None:
                missing_base = missing_base or ast.unparse(base)
                continue
            if target.kind == "external":
                if not (isinstance(base, ast.Name) and base.id == "object"):
                    return MemberLookup(True, target)  # a base we cannot see into may define it
                continue
            if target.kind == "class":
                found = self.find_member(target, member, seen)
                if found.found:
                    return found
                missing_base = missing_base or found.missing_base
        return MemberLookup(False, None, missing_base)

    def self_attributes(self, cls: Target, _seen: Optional[Set[Tuple[str, str]]] = None) -> Dict[str, Target]:
        """`self.<attr> = SomeClass(...)` in the methods of `cls` and its bases, resolved to classes."""
        if _seen is None:
            # Asked once per class and file by the reference check; a partial answer (inside a cycle) is not kept.
            key = (cls.module, cls.name, id(cls.node))
            if key not in self._attributes:
                self._attributes[key] = (cls.node, self.self_attributes(cls, set()))
            return dict(self._attributes[key][1])
        seen = _seen
        if not isinstance(cls.node, ast.ClassDef) or (cls.module, cls.name) in seen:
            return {}
        seen.add((cls.module, cls.name))
        attrs: Dict[str, Target] = {}
        for base in cls.node.bases:
            target = self.resolve_expr(cls.module, base)
            if target is not None and target.kind == "class":
                attrs.update(self.self_attributes(target, seen))
        for attr, func in _self_assignments(cls.node):
            made = self.resolve_expr(cls.module, func)
            if made is not None and made.kind == "class":
                attrs[attr] = made
        return attrs


def _self_assignments(cls: ast.ClassDef) -> List[Tuple[str, ast.expr]]:
    """`self.<attr> = <func>(...)` anywhere in a class, in walk order; walked once per class node."""
    def compute() -> Tuple[ast.ClassDef, List[Tuple[str, ast.expr]]]:
        found: List[Tuple[str, ast.expr]] = []
        for node in walk_statements(cls):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                found += [(attr, node.value.func) for attr in map(_self_attr, node.targets) if attr is not None]
        return cls, found

    # The memo keeps the node alive alongside its id, so the id cannot name another node meanwhile.
    return current_index().memo(("self_assignments", id(cls)), compute)[1]


def class_members(node: ast.ClassDef) -> Dict[str, ast.stmt]:
    """Names a class body defines: methods, nested classes and assigned attributes (aliases)."""
    members: Dict[str, ast.stmt] = {}
    for stmt in _top_level(node.body):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            members[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                for bound in _target_names(target):
                    members[bound] = stmt
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            members[stmt.target.id] = stmt
    return members


def _self_attr(expr: ast.expr) -> Optional[str]:
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
        return expr.attr
    return None


# --- finding the unresolved references --------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Problem:
    """One reference that does not resolve; `kind` is "module", "symbol" or "method"."""

    path: Path
    line: int
    kind: str
    module: str  # the module imported from (module/symbol), or the class's module (method)
    name: str  # the symbol, or the method
    owner: str = ""  # method problems: the class the call goes through
    missing_base: str = ""

    def render(self, tree: SourceTree, sdk_root: Path) -> str:
        """`file:line: what is missing`, with the file as it will be in the SDK."""
        where = f"{tree.display_path(self.path, sdk_root)}:{self.line}"
        if self.kind == "module":
            return f"{where}: missing module {self.module}"
        if self.kind == "symbol":
            return f"{where}: missing symbol {self.name} (imported from module {self.module})"
        why = f" (its base class {self.missing_base} is missing)" if self.missing_base else ""
        return f"{where}: {self.owner} has no method {self.name}{why}"


def _is_package_file(path: Path) -> bool:
    return path.name == "__init__.py"


def file_problems(resolver: Resolver, path: Path, module: str) -> List[Problem]:
    """Unresolved package imports and `self.<attr>.<method>(` calls in one file."""
    tree = resolver.tree
    try:
        parsed = current_index().ast_file(path)
    except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
        log.warning("cannot parse %s: %s", path, exc)
        return []
    problems: List[Problem] = []
    for node in _checked_nodes(parsed):
        if isinstance(node, ast.ImportFrom):
            source = absolute_module(node.module, node.level, module, _is_package_file(path))
            if not tree.is_internal(source):
                continue
            if resolver.module(source) is None:
                problems += [Problem(path, node.lineno, "symbol", source, a.name) for a in node.names]
                continue
            for alias in node.names:
                if alias.name != "*" and resolver.resolve(source, alias.name) is None:
                    problems.append(Problem(path, node.lineno, "symbol", source, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if tree.is_internal(alias.name) and resolver.module(alias.name) is None:
                    problems.append(Problem(path, node.lineno, "module", alias.name, ""))
        elif isinstance(node, ast.ClassDef):
            problems += _call_problems(resolver, path, module, node)
    return problems


def _checked_nodes(parsed: ast.Module) -> List[ast.AST]:
    """The imports and classes of a module at any depth, in walk order; walked once per parsed module."""
    def compute() -> Tuple[ast.Module, List[ast.AST]]:
        return parsed, [n for n in walk_statements(parsed) if isinstance(n, (ast.ImportFrom, ast.Import, ast.ClassDef))]

    # Keyed by the tree's id, kept alive alongside (the index hands out one tree per content).
    return current_index().memo(("checked_nodes", id(parsed)), compute)[1]


def _self_calls(node: ast.ClassDef) -> List[Tuple[ast.Call, ast.Attribute, str]]:
    """`self.<attr>.<method>(...)` calls anywhere in a class, in walk order: (call, its func, attr)."""
    def compute() -> Tuple[ast.ClassDef, List[Tuple[ast.Call, ast.Attribute, str]]]:
        found: List[Tuple[ast.Call, ast.Attribute, str]] = []
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
                attr = _self_attr(call.func.value)
                if attr is not None:
                    found.append((call, call.func, attr))
        return node, found

    return current_index().memo(("self_calls", id(node)), compute)[1]


def _call_problems(resolver: Resolver, path: Path, module: str, node: ast.ClassDef) -> List[Problem]:
    cls = Target("class", module, node.name, node)
    attrs = {a: t for a, t in resolver.self_attributes(cls).items() if resolver.tree.is_internal(t.module)}
    if not attrs:
        return []
    problems: List[Problem] = []
    for call, func, attr in _self_calls(node):
        if attr not in attrs:
            continue
        owner = attrs[attr]
        found = resolver.find_member(owner, func.attr)
        if not found.found:
            problems.append(Problem(path, call.lineno, "method", owner.module, func.attr,
                                    owner.name, found.missing_base))
    return problems


def find_problems(tree: SourceTree, skip: Sequence[str] = (),
                  files: Optional[Sequence[Tuple[Path, str]]] = None) -> List[Problem]:
    """Unresolved references in every file of `tree` (or just `files`), sorted and deduplicated."""
    resolver = Resolver(tree)
    found: Dict[Tuple[object, ...], Problem] = {}
    for path, module in (files if files is not None else tree.source_files(skip)):
        for problem in file_problems(resolver, path, module):
            found.setdefault(dataclasses.astuple(problem), problem)
    return sorted(found.values(), key=lambda p: (str(p.path), p.line, p.kind, p.name))


def check_references(staging: Path, sdk_package_dir: Path, package: str = DEFAULT_PACKAGE,
                     sdk_root: Optional[Path] = None,
                     replace: Optional[Mapping[str, Path]] = None) -> Tuple[str, ...]:
    """Check the staged tree (staged folders over the live package); return `file:line: ...` problems."""
    tree = staged_tree(staging, sdk_package_dir, package, **dict(replace or {}))
    root = sdk_root or sdk_root_of(sdk_package_dir, package)
    problems = find_problems(tree)
    if problems:
        log.debug("%d unresolved reference(s) in the staged tree", len(problems))
    return tuple(p.render(tree, root) for p in problems)
