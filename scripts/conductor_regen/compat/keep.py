"""Keep what the server's API removed but the SDK still uses: old modules, exports and methods, deprecated.

Runs on the staged tree after local edits. A reference that no longer resolves against the new http/
but did resolve against the previous one is satisfied from the previous generated code: a missing
module is copied, a missing re-export line is copied into the new `__init__.py`, a missing method
is carried over (with its `_with_http_info`/`_without_preload_content`/`_serialize` siblings).
"""

from __future__ import annotations

import ast
import dataclasses
import logging
import re
import shutil
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

import libcst as cst

from conductor_regen.file_tree import write_text_no_follow
from conductor_regen.compat.method_splice import carry_with_libcst, splice_methods
from conductor_regen.compat import DEPRECATION_MARK
from conductor_regen.compat.codemods import (
    add_to_all,
    append_to_class,
    class_functions,
    ensure_module_import,
    imports_for,
    insert_import,
    prepend_warning,
    replace_class,
)
from conductor_regen.config import REMOVED_POLICIES
from conductor_regen.errors import ConfigError, VerificationError
from conductor_regen.analysis.code_index import current_index
from conductor_regen.analysis.operations import module_operations
from conductor_regen.analysis.references import ModuleInfo, Problem, Resolver, Target, file_problems
from conductor_regen.analysis.source_tree import DEFAULT_PACKAGE, SourceTree, sdk_root_of, staged_tree
from conductor_regen.file_tree import safe_join

log = logging.getLogger(__name__)

POLICIES = REMOVED_POLICIES
# Each round can only uncover what the previous one copied in; real chains are a few links long.
MAX_ROUNDS = 20


@dataclasses.dataclass(frozen=True)
class KeepModule:
    """Copy a whole module of the previous http/ into the new one."""

    module: str


@dataclasses.dataclass(frozen=True)
class KeepExport:
    """Copy the import line that binds `name` in `module` (a re-export) from the previous http/."""

    module: str
    name: str


@dataclasses.dataclass(frozen=True)
class KeepMethod:
    """Carry method `method` of generated class `cls` (in `module`) over from the previous http/."""

    module: str
    cls: str
    method: str


Action = object  # one of KeepModule, KeepExport, KeepMethod


@dataclasses.dataclass(frozen=True)
class Removal:
    """A removed item the SDK still references, and the first place that does."""

    action: Action
    what: str
    referenced_at: str


def spec_version(http_dir: Path) -> str:
    """The spec's info.version as the generator wrote it into the package header ('' if unknown)."""
    for name in ("configuration.py", "api_client.py", "models/__init__.py"):
        path = http_dir / name
        if path.is_file():
            found = re.search(r"The version of the OpenAPI document: (\S+)", path.read_text(encoding="utf-8"))
            if found:
                # The version comes from the spec; keep it to a harmless token before it goes into code.
                return re.sub(r"[^\w.+-]", "", found.group(1))[:40]
    return ""


class _TrackingResolver(Resolver):
    """A Resolver that records every module a lookup consults (existing or not), cached answers included.

    What a file's check finds depends only on the modules it consulted: keeping an item writes one
    module, so a file that never consulted it has the same problems as in the previous round.
    """

    def __init__(self, tree: SourceTree) -> None:
        super().__init__(tree)
        self.consulted: Set[str] = set()
        self._attributes_seen: Dict[Tuple[str, str, int], Tuple[object, Dict[str, Target], FrozenSet[str]]] = {}

    def module(self, dotted: str) -> Optional[ModuleInfo]:
        """As Resolver.module, noting `dotted` as consulted."""
        self.consulted.add(dotted)
        return super().module(dotted)

    def self_attributes(self, cls: Target, _seen: Optional[Set[Tuple[str, str]]] = None) -> Dict[str, Target]:
        """As Resolver.self_attributes, with the modules behind a cached answer noted again on each use."""
        if _seen is not None:
            return super().self_attributes(cls, _seen)
        key = (cls.module, cls.name, id(cls.node))
        if key not in self._attributes_seen:
            outer, self.consulted = self.consulted, set()
            try:
                attributes = super().self_attributes(cls, set())
            finally:
                consulted, self.consulted = self.consulted, outer
            # The node is kept alongside its id, so the id cannot name another node meanwhile.
            self._attributes_seen[key] = (cls.node, attributes, frozenset(consulted))
        _node, attributes, behind = self._attributes_seen[key]
        self.consulted |= behind
        return dict(attributes)


class _Keeper:
    """One keep_removed run: the old and new views of the package, and what was kept so far."""

    def __init__(self, old_http: Path, new_http: Path, sdk_package_dir: Path, staging: Path,
                 package: str, version: str) -> None:
        self.package = package
        self.http = f"{package}.http"
        self.old_http = old_http
        self.new_http = new_http
        self.old_tree = staged_tree(staging, sdk_package_dir, package, http=old_http)
        self.new_tree = staged_tree(staging, sdk_package_dir, package, http=new_http)
        self.old = Resolver(self.old_tree)
        self.root = sdk_root_of(sdk_package_dir, package)
        self.sdk_files = list(self.new_tree.source_files(skip=("http",)))
        self.touched: Dict[Path, str] = {}
        # Each file's planned removals and the modules its check consulted; a later round re-checks a
        # file only if one of those (or the file itself) was written since (`changed`).
        self._checked: Dict[Tuple[Path, str], Tuple[Tuple[Tuple[Action, str, str], ...], FrozenSet[str]]] = {}
        self.changed: Set[str] = set()
        self.spec = f"spec {version}" if version else "the new spec"
        self._endpoints: Optional[Dict[Tuple[str, str], str]] = None

    # --- planning -------------------------------------------------------------------------------

    def in_http(self, module: str) -> bool:
        return module == self.http or module.startswith(self.http + ".")

    def removals(self) -> List[Removal]:
        """What the new http/ lacks that the SDK references and the old http/ had (deduplicated)."""
        new = _TrackingResolver(self.new_tree)
        files = self.sdk_files + sorted(self.touched.items())
        found: Dict[Action, Removal] = {}
        for path, module in files:
            checked = self._checked.get((path, module))
            if checked is None or module in self.changed or checked[1] & self.changed:
                new.consulted = set()
                planned = tuple((action, what, f"{self.new_tree.display_path(problem.path, self.root)}:{problem.line}")
                                for problem in file_problems(new, path, module)
                                for action, what in self._plan(problem, new))
                checked = self._checked[(path, module)] = (planned, frozenset(new.consulted))
            for action, what, where in checked[0]:
                found.setdefault(action, Removal(action, what, where))
        self.changed = set()
        return list(found.values())

    def _wrote(self, dest: Path, module: str) -> None:
        self.touched[dest] = module
        self.changed.add(module)

    def _plan(self, problem: Problem, new: Resolver) -> List[Tuple[Action, str]]:
        if problem.kind == "module":
            if self.in_http(problem.module) and self.old.module(problem.module) is not None:
                return [(KeepModule(problem.module), problem.module)]
            return []
        if problem.kind == "symbol":
            return self._plan_symbol(problem.module, problem.name, new)
        return self._plan_method(problem, new)

    def _plan_symbol(self, module: str, name: str, new: Resolver) -> List[Tuple[Action, str]]:
        target = self.old.resolve(module, name)
        if target is None or target.kind == "external":
            return []
        plan: List[Tuple[Action, str]] = []
        for hop_module, hop_name in target.hops:
            if not self.in_http(hop_module):
                continue
            if new.module(hop_module) is None:
                if self.old.module(hop_module) is not None:
                    plan.append((KeepModule(hop_module), f"{hop_name} ({self._rel(hop_module)})"))
                continue
            if new.resolve(hop_module, hop_name) is None:
                binding = self.old.module(hop_module)
                kind = binding.bindings.get(hop_name) if binding else None
                if kind is not None and kind.kind == "from":
                    plan.append((KeepExport(hop_module, hop_name), f"{hop_name} (exported by {hop_module})"))
                else:
                    log.info("cannot keep %s.%s: it was defined in a module that still exists", hop_module,
                             hop_name)
        if target.kind == "module" and self.in_http(target.module) and new.module(target.module) is None:
            plan.append((KeepModule(target.module), self._rel(target.module)))
        return plan

    def _plan_method(self, problem: Problem, new: Resolver) -> List[Tuple[Action, str]]:
        cls = self.old.resolve(problem.module, problem.owner)
        if cls is None or cls.kind != "class":
            return []
        found = self.old.find_member(cls, problem.name)
        owner = found.owner
        if not found.found or owner is None or not self.in_http(owner.module):
            return []
        if new.module(owner.module) is None:
            return [(KeepModule(owner.module), f"{owner.name} ({self._rel(owner.module)})")]
        return [(KeepMethod(owner.module, owner.name, problem.name), f"{owner.name}.{problem.name}")]

    def _rel(self, module: str) -> str:
        path = self.old_tree.module_file(module)
        return f"http/{path.relative_to(self.old_http).as_posix()}" if path else module

    # --- applying -------------------------------------------------------------------------------

    def apply(self, action: Action) -> Optional[str]:
        """Carry one item over; return a note, or None if there was nothing to do."""
        if isinstance(action, KeepModule):
            return self._keep_module(action.module)
        if isinstance(action, KeepExport):
            return self._keep_export(action.module, action.name)
        assert isinstance(action, KeepMethod)
        return self._keep_method(action.module, action.cls, action.method)

    def _keep_module(self, module: str) -> Optional[str]:
        source = self.old_tree.module_file(module)
        if source is None:
            return None
        rel = source.relative_to(self.old_http).as_posix()
        dest = safe_join(self.new_http, rel)
        if dest.exists():
            return None
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
        tree = current_index().cst_file(dest)
        kind = rel.split("/", 1)[0]
        classes = [s.name.value for s in tree.body if isinstance(s, cst.ClassDef)]
        if kind == "api":
            tree = self._deprecate_api_classes(tree)
        elif kind == "models":
            tree = self._deprecate_models(tree)
        write_text_no_follow(dest, tree.code)
        self._wrote(dest, module)
        what = {"api": "API module", "models": "model"}.get(kind, "module")
        return (f"kept removed {what} http/{rel} ({', '.join(classes) or 'no classes'}): "
                f"removed from {self.spec}, still used by the SDK; deprecated")

    def _message(self, subject: str, renamed_to: str = "") -> str:
        if renamed_to:
            return (f"{subject} was renamed to {renamed_to} in the server's API ({self.spec}); "
                    f"the old name is {DEPRECATION_MARK}")
        return f"{subject} was removed from the server's API ({self.spec}) and is {DEPRECATION_MARK}"

    def _deprecate_api_classes(self, tree: cst.Module) -> cst.Module:
        for stmt in list(tree.body):
            if not isinstance(stmt, cst.ClassDef):
                continue
            functions = class_functions(stmt)
            cls = stmt
            for name, func in functions.items():
                if not name.startswith("_"):
                    cls = _replace_function(cls, func, prepend_warning(func, self._message(f"{stmt.name.value}.{name}")))
            tree = replace_class(tree, cls)
        return ensure_module_import(tree, "warnings")

    def _deprecate_models(self, tree: cst.Module) -> cst.Module:
        changed = False
        for stmt in list(tree.body):
            if not isinstance(stmt, cst.ClassDef) or "BaseModel" not in {_base_name(b.value) for b in stmt.bases}:
                continue
            # Pydantic calls model_post_init after __init__ and model_validate alike, so both warn.
            message = self._message(stmt.name.value)
            existing = class_functions(stmt).get("model_post_init")
            if existing is not None:
                cls = _replace_function(stmt, existing, prepend_warning(existing, message))
            else:
                hook = cst.parse_statement(
                    "def model_post_init(self, context: object) -> None:\n"
                    f"    warnings.warn({message!r}, DeprecationWarning, stacklevel=3)\n"
                    "    super().model_post_init(context)\n")
                cls = append_to_class(stmt, [hook.with_changes(leading_lines=[cst.EmptyLine(indent=False)])])
            tree = replace_class(tree, cls)
            changed = True
        return ensure_module_import(tree, "warnings") if changed else tree

    def _keep_export(self, module: str, name: str) -> Optional[str]:
        old_info = self.old.module(module)
        dest = self.new_tree.module_file(module)
        if old_info is None or dest is None:
            return None
        binding = old_info.bindings.get(name)
        if binding is None or not isinstance(binding.node, ast.ImportFrom):
            return None
        alias = next(a for a in binding.node.names if (a.asname or a.name) == name)
        line = f"from {binding.source} import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
        code = dest.read_text(encoding="utf-8")
        tree = insert_import(current_index().cst_of(code), line + "\n",
                             comment=f"{DEPRECATION_MARK}: removed from the server's API ({self.spec})")
        if name in _literal_all(old_info.tree):
            tree = add_to_all(tree, name)
        new_code = tree.code
        if new_code == code:
            return None
        write_text_no_follow(dest, new_code)
        self._wrote(dest, module)
        return f"kept export {name} in {self._rel(module)}"

    def _keep_method(self, module: str, cls_name: str, method: str) -> Optional[str]:
        source = self.old_tree.module_file(module)
        dest = self.new_tree.module_file(module)
        if source is None or dest is None:
            return None
        old_code = source.read_text(encoding="utf-8")
        new_code = dest.read_text(encoding="utf-8")
        present = _class_methods(new_code, cls_name)
        if present is None or _class_methods(old_code, cls_name) is None:
            return None
        wanted = _methods_to_carry(old_code, cls_name, present, method)
        if not wanted:
            return None
        old_endpoint = next((e for e in (_endpoints(old_code).get((cls_name, n)) for n in wanted) if e), None)
        renamed = self.endpoints().get(old_endpoint, "") if old_endpoint else ""
        if renamed == f"{cls_name}.{method}":
            renamed = ""  # only the public method went; its endpoint helper is still there
        warnings = {name: self._message(f"{cls_name}.{name}", renamed + name[len(method):] if renamed else "")
                    for name in wanted if not name.startswith("_")}
        is_package = source.name == "__init__.py"
        code = splice_methods(old_code, new_code, cls_name, wanted, warnings,
                              lambda used: imports_for(used, old_code, module, new_code, is_package))
        if code is None:
            log.debug("carrying %s.%s with libcst: a layout the text splice leaves alone", cls_name, method)
            code = carry_with_libcst(old_code, new_code, cls_name, wanted, warnings, module, is_package)
        write_text_no_follow(dest, code)
        self._wrote(dest, module)
        helpers = [name for name in wanted if name != method]
        why = f"renamed to {renamed}" if renamed else "removed"
        return (f"kept method {cls_name}.{method} in {self._rel(module)}"
                + (f" (with {', '.join(helpers)})" if helpers else "")
                + f": {why} in {self.spec}, still used by the SDK; deprecated")

    def endpoints(self) -> Dict[Tuple[str, str], str]:
        """(HTTP method, path) -> `Class.method` across the new http/api modules."""
        if self._endpoints is None:
            self._endpoints = {}
            for path in sorted((self.new_http / "api").glob("*.py")):
                for (cls, name), endpoint in _endpoints(path.read_text(encoding="utf-8")).items():
                    self._endpoints.setdefault(endpoint, f"{cls}.{name}")
        return self._endpoints


def _class_methods(code: str, cls_name: str) -> Optional[Set[str]]:
    """The methods defined directly in the first top-level class `cls_name` (None if there is none)."""
    cls = next((n for n in current_index().ast_of(code).body if isinstance(n, ast.ClassDef) and n.name == cls_name),
               None)
    return None if cls is None else {f.name for f in cls.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _replace_function(cls: cst.ClassDef, old: cst.FunctionDef, new: cst.FunctionDef) -> cst.ClassDef:
    if old is new or not isinstance(cls.body, cst.IndentedBlock):
        return cls
    body = [new if s is old else s for s in cls.body.body]
    return cls.with_changes(body=cls.body.with_changes(body=body))


def _base_name(expr: cst.BaseExpression) -> str:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return ""


def _literal_all(tree: ast.Module) -> Set[str]:
    for stmt in tree.body:
        if (isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in stmt.targets)
                and isinstance(stmt.value, (ast.List, ast.Tuple))):
            return {e.value for e in stmt.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return set()


def _methods_to_carry(old_code: str, cls_name: str, present: Set[str], method: str) -> List[str]:
    """The method, its generated siblings and any old helper they call on self, minus what exists.

    Returned in the old class's order.
    """
    cls = next((n for n in current_index().ast_of(old_code).body if isinstance(n, ast.ClassDef) and n.name == cls_name), None)
    if cls is None:
        return []
    functions = {f.name: f for f in cls.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    wanted = [method, f"{method}_with_http_info", f"{method}_without_preload_content", f"_{method}_serialize"]
    queue = [name for name in wanted if name in functions and name not in present]
    chosen: Set[str] = set()
    while queue:
        name = queue.pop(0)
        if name in chosen:
            continue
        chosen.add(name)
        for node in ast.walk(functions[name]):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"
                    and node.attr in functions and node.attr not in present):
                queue.append(node.attr)
    return [name for name in functions if name in chosen]


def _endpoints(code: str) -> Dict[Tuple[str, str], Tuple[str, str]]:
    """(class, operation method) -> (HTTP method, resource path), read the way `operations` reads a client."""
    cls, ops = module_operations(code, "module")
    return {(cls, name): key for key, name in ops.items()} if cls else {}


def keep_removed(old_http: Path, new_http: Path, sdk_package_dir: Path, staging: Path,
                 policy: str = "keep", package: str = DEFAULT_PACKAGE,
                 version: Optional[str] = None) -> Tuple[str, ...]:
    """Apply the removed-but-referenced policy to `new_http` in place; return notes on what was kept."""
    if policy not in POLICIES:
        raise ConfigError(f"unknown policy {policy!r} for removed API items",
                          f"use one of: {', '.join(POLICIES)}")
    if policy == "drop" or not (old_http / "__init__.py").is_file():
        return ()
    keeper = _Keeper(old_http, new_http, sdk_package_dir, staging, package,
                     spec_version(new_http) if version is None else version)
    if policy == "fail":
        removals = keeper.removals()
        if removals:
            shown = "; ".join(f"{r.what} (used at {r.referenced_at})" for r in removals[:8])
            more = f" (+{len(removals) - 8} more)" if len(removals) > 8 else ""
            raise VerificationError(
                f"{len(removals)} item(s) removed from the server's API are still used by the SDK: {shown}{more}",
                "update the adapters and Orkes clients that use them, or rerun with the keep policy "
                "to retain them as deprecated",
            )
        return ()
    notes: List[str] = []
    for _ in range(MAX_ROUNDS):
        removals = keeper.removals()
        done = [note for note in (keeper.apply(r.action) for r in removals) if note]
        for note in done:
            log.info("%s", note)
        notes += done
        if not done:
            break
    return tuple(notes)
