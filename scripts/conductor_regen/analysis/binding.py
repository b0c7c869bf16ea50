"""Call binding check: every hand-written call into the generated client must still bind, the way Python would.

A name that resolves can still break its callers: a new required parameter, a duplicated name
(`task_reference_name2`), or a positional argument that silently lands on another parameter because
the generator moved a now-optional one behind the required ones. Each call from SDK code outside
`http/` into a generated API method, or a generated model's constructor, is bound statically (ast)
against the *new* signature with `inspect.Signature.bind`'s rules and compared with the *live* one.
Receivers are resolved with reference_check's Resolver: `OrkesBaseClient` wiring
(`self.workflow_api = WorkflowResourceApiAdapter(...)`), facade attributes (`self._api = X(...)`),
`super()` in subclass adapters, annotated or assigned locals, and classes themselves.
"""

from __future__ import annotations

import ast
import dataclasses
import logging
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

from conductor_regen.analysis.code_index import current_index
from conductor_regen.analysis.models import field_required_alias
from conductor_regen.analysis.references import Resolver, Target, class_members
from conductor_regen.analysis.sdk_uses import (FieldDeclaration, HandCall, ResultUse, caller_name, field_declarations,
                                               result_uses)
from conductor_regen.analysis.signatures import (
    KEYWORD_ONLY,
    CallShape,
    FunctionNode,
    Param,
    Problem,
    Signature,
    bind,
    decorators,
    keyword_shape,
    shifts,
    signature_of,
)
from conductor_regen.analysis.source_tree import SourceTree

log = logging.getLogger(__name__)

# Container and string methods share names with operations (`get`, `update`, `search`...); a call
# of one on a receiver we cannot type is almost always not a generated API call.
_BUILTIN_METHODS = frozenset(dir(dict) + dir(list) + dir(str) + dir(set))


# --- call sites ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class CallSite:
    """A call from SDK code into the generated client, with both signatures."""

    path: Path  # the file as read (a staged copy for managed folders)
    where: str  # "src/.../orkes/orkes_workflow_client.py:46", as it will be in the SDK
    line: int
    col: int  # ast col_offset (utf-8 bytes) of the call
    target: str  # the generated (or overriding adapter) callable: "WorkflowResourceApi.start_workflow"
    generated: Tuple[str, str]  # (generated class, member) the call reaches, for the impact index
    shape: CallShape
    live: Optional[Signature]
    new: Signature
    through_adapter: bool = False  # the callable is the adapter's own (an override or an alias)
    caller: str = ""  # the hand-written method making the call: "OrkesWorkflowClient.execute_workflow"
    uses: Tuple[ResultUse, ...] = ()  # what that method does with the result (returns it, reads it)

    def new_problems(self) -> List[Problem]:
        """Problems against the new signature that the live one does not have (plus shifts)."""
        now = bind(self.new, self.shape)
        before = {(p.kind, p.detail) for p in bind(self.live, self.shape)} if self.live else set()
        fresh = [p for p in now if (p.kind, p.detail) not in before]
        if self.live is not None and not self.shape.star:
            fresh += shifts(self.live, self.new, self.shape)
        return fresh

    def old_problems(self) -> List[Problem]:
        """Problems the call already had against the live signature (pre-existing, not the run's doing)."""
        return bind(self.live, self.shape) if self.live else []


@dataclasses.dataclass(frozen=True)
class Finding:
    """A call that the regeneration breaks or silently re-routes."""

    site: CallSite
    problems: Tuple[Problem, ...]
    repairable: bool  # passing the positional arguments by their live names makes it bind
    managed: bool  # in a folder the run may rewrite

    def render(self) -> str:
        """`file:line: Owner.method: problem; ... (live: sig; new: sig)`."""
        what = "; ".join(f"{p.kind} {p.detail}" for p in self.problems)
        live = self.site.live.text() if self.site.live else "-"
        return f"{self.site.where}: {self.site.target}: {what} (live: {live}; new: {self.site.new.text()})"


@dataclasses.dataclass(frozen=True)
class BindingResult:
    """Every call checked, what breaks, what was already broken, and receivers we could not type."""

    calls: Tuple[CallSite, ...]
    findings: Tuple[Finding, ...]
    preexisting: Tuple[str, ...]
    unresolved: Tuple[str, ...]
    rewritten: Tuple[str, ...] = ()  # notes of keyword rewrites applied to reach this state
    rewritten_at: Tuple[str, ...] = ()  # file:line of each rewritten call
    # Where SDK code reads attribute names and imports names (for the impact of model changes).
    attributes: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    imported: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    # Fields model adapters declare themselves, and calls between hand-written methods (for impact).
    declarations: Tuple[FieldDeclaration, ...] = ()
    hand_calls: Tuple[HandCall, ...] = ()

    def summary(self) -> str:
        """One line for the steps table."""
        text = f"{len(self.calls)} call(s) bound, {len(self.findings)} finding(s)"
        if self.rewritten:
            text += f", {len(self.rewritten)} rewritten to keywords"
        if self.preexisting:
            text += f", {len(self.preexisting)} pre-existing"
        return text + f", {len(self.unresolved)} unresolved receiver(s)"

    def figures(self) -> Dict[str, object]:
        """The report's `binding` section."""
        return {"calls": len(self.calls), "findings": [f.render() for f in self.findings],
                "rewritten": list(self.rewritten), "preexisting": list(self.preexisting),
                "unresolved": list(self.unresolved)}


class _Sides:
    """The live and new views of the package, resolved side by side."""

    def __init__(self, live: SourceTree, new: SourceTree) -> None:
        self.live = Resolver(live)
        self.new = Resolver(new)
        self.http = f"{new.package}.http"
        self._model_cache: Dict[Tuple[int, str, str], Optional[Signature]] = {}

    def in_http(self, module: str) -> bool:
        return module == self.http or module.startswith(self.http + ".")

    def generated_ancestor(self, resolver: Resolver, cls: Target, seen: Optional[Set[Tuple[str, str]]] = None
                           ) -> Optional[Target]:
        """The first generated class in `cls`'s bases (itself included)."""
        seen = seen if seen is not None else set()
        if (cls.module, cls.name) in seen or not isinstance(cls.node, ast.ClassDef):
            return None
        seen.add((cls.module, cls.name))
        if self.in_http(cls.module):
            return cls
        for base in cls.node.bases:
            target = resolver.resolve_expr(cls.module, base)
            if target is not None and target.kind == "class":
                found = self.generated_ancestor(resolver, target, seen)
                if found is not None:
                    return found
        return None

    def counterpart(self, cls: Target) -> Optional[Target]:
        """The same class in the live view."""
        found = self.live.resolve(cls.module, cls.name)
        return found if found is not None and found.kind == "class" else None


def _member_def(resolver: Resolver, cls: Target, member: str, skip_self: bool,
                depth: int = 0) -> Optional[Tuple[Target, ast.stmt]]:
    """Where `member` is defined for `cls` (its bases only with `skip_self`, as `super()` looks)."""
    if depth > 5 or not isinstance(cls.node, ast.ClassDef):
        return None
    owners: List[Target] = []
    if skip_self:
        for base in cls.node.bases:
            target = resolver.resolve_expr(cls.module, base)
            if target is not None and target.kind == "class":
                owners.append(target)
    else:
        owners.append(cls)
    for owner in owners:
        found = resolver.find_member(owner, member)
        if not found.found or found.owner is None or not isinstance(found.owner.node, ast.ClassDef):
            continue
        stmt = class_members(found.owner.node).get(member)
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Name):
            # `search = search1`: a class-body alias binds like the method it names.
            return _member_def(resolver, found.owner, stmt.value.id, False, depth + 1)
        if stmt is not None:
            return found.owner, stmt
    return None


def _callable_sig(sides: _Sides, resolver: Resolver, cls: Target, member: str, skip_self: bool,
                  instance: bool) -> Optional[Tuple[Signature, Target]]:
    found = _member_def(resolver, cls, member, skip_self)
    if found is None:
        return None
    owner, stmt = found
    if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    kinds = decorators(stmt)
    bound = "staticmethod" not in kinds and (instance or "classmethod" in kinds)
    return signature_of(stmt, f"{owner.name}.{member}", bound), owner


def _model_fields(resolver: Resolver, cls: Target, seen: Optional[Set[Tuple[str, str]]] = None) -> Dict[str, Param]:
    """Pydantic fields of `cls` and its in-package bases (subclass declarations win)."""
    seen = seen if seen is not None else set()
    if not isinstance(cls.node, ast.ClassDef) or (cls.module, cls.name) in seen:
        return {}
    seen.add((cls.module, cls.name))
    fields: Dict[str, Param] = {}
    for base in reversed(cls.node.bases):
        target = resolver.resolve_expr(cls.module, base)
        if target is not None and target.kind == "class":
            fields.update(_model_fields(resolver, target, seen))
    for stmt in cls.node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        name = stmt.target.id
        annotation = ast.unparse(stmt.annotation)
        if name.startswith("_") or name == "model_config" or annotation.startswith("ClassVar"):
            continue
        value = ast.unparse(stmt.value) if stmt.value is not None else None
        required, alias = field_required_alias(value)
        fields[name] = Param(name, KEYWORD_ONLY, required, (alias,) if alias and alias != name else ())
    return fields


def _constructor_sig(sides: _Sides, resolver: Resolver, cls: Target) -> Optional[Tuple[Signature, Target]]:
    """A generated API's `__init__`, or a generated model's fields as keyword-only parameters."""
    generated = sides.generated_ancestor(resolver, cls)
    if generated is None:
        return None
    init = _callable_sig(sides, resolver, cls, "__init__", False, True)
    if init is not None and not (init[1].module.startswith(sides.http + ".models")):
        return init
    if not generated.module.startswith(sides.http + ".models"):
        return None
    params = tuple(sorted(_model_fields(resolver, cls).values(), key=lambda p: p.name))
    return Signature(f"{cls.name}()", params), generated


# --- walking SDK code ----------------------------------------------------------------------------------

@dataclasses.dataclass
class _Scope:
    module: str
    cls: Optional[Target]
    locals: Dict[str, Target]
    caller: str = ""  # the enclosing function, "Class.method"
    uses: Dict[int, Tuple[ResultUse, ...]] = dataclasses.field(default_factory=dict)  # by id(call node)


def _shape(call: ast.Call) -> CallShape:
    positional = 0
    star = False
    for arg in call.args:
        if isinstance(arg, ast.Starred):
            star = True
            break
        positional += 1
    keywords = tuple(k.arg for k in call.keywords if k.arg is not None)
    return CallShape(positional, keywords, star, any(k.arg is None for k in call.keywords))


def _local_types(resolver: Resolver, module: str, func: FunctionNode) -> Dict[str, Target]:
    """Locals typed by annotation or by construction (`x = Cls(...)`); names bound two ways are dropped."""
    seen: Dict[str, Optional[Target]] = {}

    def note(name: str, expr: Optional[ast.expr]) -> None:
        target = resolver.resolve_expr(module, expr) if expr is not None else None
        target = target if target is not None and target.kind in ("class", "external") else None
        if name in seen and (seen[name] is None or target is None or seen[name] != target):
            seen[name] = None
        else:
            seen[name] = target

    for arg in (*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs):
        if arg.annotation is not None:
            note(arg.arg, _unoptional(arg.annotation))
    for node in ast.walk(func):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            note(node.target.id, _unoptional(node.annotation))
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    note(target.id, node.value.func)
    return {name: t for name, t in seen.items() if t is not None}


def _unoptional(annotation: ast.expr) -> ast.expr:
    """`Optional[X]` -> `X`; string annotations are parsed."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return annotation
    if (isinstance(annotation, ast.Subscript) and isinstance(annotation.value, (ast.Name, ast.Attribute))
            and (getattr(annotation.value, "id", None) or getattr(annotation.value, "attr", None)) == "Optional"):
        return annotation.slice
    return annotation


class _Walker:
    """Finds the calls of one file and resolves them on both sides."""

    def __init__(self, sides: _Sides, operation_names: Set[str]) -> None:
        self.sides = sides
        self.operation_names = operation_names
        self.calls: List[CallSite] = []
        self.unresolved: List[str] = []
        self.attributes: Dict[str, List[str]] = {}
        self.imported: Dict[str, List[str]] = {}
        self.declarations: List[FieldDeclaration] = []
        self.hand_calls: List[HandCall] = []

    def file(self, path: Path, module: str, where: str, tree: ast.Module) -> None:
        self._body(tree.body, _Scope(module, None, {}), path, where)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                self.attributes.setdefault(node.attr, []).append(f"{where}:{node.lineno}")
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    self.imported.setdefault(alias.name, []).append(f"{where}:{node.lineno}")

    def _body(self, body: Sequence[ast.stmt], scope: _Scope, path: Path, where: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                cls = self.sides.new.resolve(scope.module, stmt.name) if scope.cls is None else None
                cls = cls if cls is not None and cls.node is stmt else Target("class", scope.module, stmt.name, stmt)
                model = self.sides.generated_ancestor(self.sides.new, cls)
                if model is not None and model.module.startswith(self.sides.http + ".models") and model is not cls:
                    self.declarations += field_declarations(stmt, model.name, where)
                self._body(stmt.body, _Scope(scope.module, cls, {}), path, where)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                caller = caller_name(scope.cls.name if scope.cls else None, stmt)
                inner = _Scope(scope.module, scope.cls, _local_types(self.sides.new, scope.module, stmt), caller,
                               result_uses(stmt, where, caller))
                for node in _calls(stmt):
                    self._call(node, inner, path, where)
            else:
                for node in _calls(stmt):
                    self._call(node, scope, path, where)

    def _receiver(self, expr: ast.expr, scope: _Scope) -> Tuple[Optional[Target], bool, bool]:
        """(class, called on an instance, super()) for a call's receiver expression.

        A receiver known to be foreign (a module, or a class from another package) comes back as
        an "external" Target, so it is not counted as unresolved.
        """
        resolver = self.sides.new
        if (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "super"
                and scope.cls is not None):
            return scope.cls, True, True
        if isinstance(expr, ast.Name) and expr.id == "self" and scope.cls is not None:
            return scope.cls, True, False
        if isinstance(expr, ast.Name) and expr.id in scope.locals:
            return scope.locals[expr.id], True, False
        if (isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self"
                and scope.cls is not None):
            return resolver.self_attributes(scope.cls).get(expr.attr), True, False
        if isinstance(expr, (ast.Name, ast.Attribute)):
            target = resolver.resolve_expr(scope.module, expr)
            if target is not None and target.kind in ("class", "external", "module"):
                return target, False, False
        return None, True, False

    def _call(self, call: ast.Call, scope: _Scope, path: Path, where: str) -> None:
        sides = self.sides
        func = call.func
        found: Optional[Tuple[Signature, Target]] = None
        live: Optional[Tuple[Signature, Target]] = None
        if isinstance(func, ast.Attribute):
            cls, instance, is_super = self._receiver(func.value, scope)
            if cls is None:
                if func.attr in self.operation_names and func.attr not in _BUILTIN_METHODS:
                    self.unresolved.append(f"{where}:{call.lineno}: {ast.unparse(func)}(...)")
                return
            if cls.kind != "class":
                return
            found = _callable_sig(sides, sides.new, cls, func.attr, is_super, instance)
            if found is None:
                return
            twin = sides.counterpart(cls)
            live = _callable_sig(sides, sides.live, twin, func.attr, is_super, instance) if twin else None
            member = func.attr
        else:
            cls = sides.new.resolve_expr(scope.module, func) if isinstance(func, ast.Name) else None
            if cls is None or cls.kind != "class":
                return
            found = _constructor_sig(sides, sides.new, cls)
            twin = sides.counterpart(cls)
            live = _constructor_sig(sides, sides.live, twin) if twin and found else None
            member = "__init__"
        if found is None:
            return
        sig, owner = found
        generated = owner if sides.in_http(owner.module) else sides.generated_ancestor(sides.new, owner)
        uses = scope.uses.get(id(call), ())
        if generated is None:
            # A hand-written method of a hand-written class: not the generator's business, but a caller of one.
            self.hand_calls.append(HandCall(sig.owner, scope.caller, f"{where}:{call.lineno}", uses))
            return
        self.calls.append(CallSite(path, f"{where}:{call.lineno}", call.lineno, call.col_offset, sig.owner,
                                   (generated.name, member), _shape(call), live[0] if live else None, sig,
                                   not sides.in_http(owner.module), scope.caller, uses))


def _calls(node: ast.AST) -> Iterator[ast.Call]:
    """Calls under `node`, not descending into nested classes (they get their own scope)."""
    stack: List[ast.AST] = [node]
    while stack:
        current = stack.pop()
        for child in ast.iter_child_nodes(current):
            if isinstance(child, ast.ClassDef):
                continue
            if isinstance(child, ast.Call):
                yield child
            stack.append(child)


def operation_names(tree: SourceTree) -> Set[str]:
    """Public method names of the generated API classes in a view (what an unresolved call may be)."""
    from conductor_regen.analysis.operations import module_operations

    names: Set[str] = set()
    api = tree.folder("http") / "api"
    for path in sorted(api.glob("*.py")) if api.is_dir() else []:
        _cls, ops = module_operations(path.read_text(encoding="utf-8"), path.stem)
        names.update(ops.values())
    return names


def check_bindings(live: SourceTree, new: SourceTree, sdk_root: Path,
                   managed: Sequence[str] = ("http", "adapters", "orkes")) -> BindingResult:
    """Bind every SDK call into the generated client against the new signatures (and compare with the live)."""
    sides = _Sides(live, new)
    walker = _Walker(sides, operation_names(new) | operation_names(live))
    for path, module in new.source_files(skip=("http",)):
        try:
            tree = current_index().ast_file(path)
        except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
            log.warning("cannot parse %s: %s", path, exc)
            continue
        walker.file(path, module, new.display_path(path, sdk_root), tree)
    calls = tuple(sorted(walker.calls, key=lambda c: (c.where.rsplit(":", 1)[0], c.line, c.col)))
    findings: List[Finding] = []
    preexisting: List[str] = []
    package_rel = new.display_path(new.package_dir, sdk_root)
    for site in calls:
        old = site.old_problems()
        if old:
            preexisting.append(f"{site.where}: {site.target}: "
                               + "; ".join(f"{p.kind} {p.detail}" for p in old))
        problems = site.new_problems()
        if not problems:
            continue
        repaired = keyword_shape(site.live, site.shape) if site.live is not None else None
        repairable = repaired is not None and site.shape.positional > 0 and not bind(site.new, repaired)
        first = site.where[len(package_rel) + 1:].split("/", 1)[0] if site.where.startswith(package_rel + "/") else ""
        findings.append(Finding(site, tuple(problems), repairable, first in managed))
    unresolved = tuple(sorted(set(walker.unresolved)))
    if unresolved:
        log.info("%d call(s) that look like generated API calls have receivers we cannot type", len(unresolved))
    return BindingResult(calls, tuple(findings), tuple(preexisting), unresolved,
                         attributes=_frozen(walker.attributes), imported=_frozen(walker.imported),
                         declarations=tuple(walker.declarations), hand_calls=tuple(walker.hand_calls))


def _frozen(index: Dict[str, List[str]]) -> Tuple[Tuple[str, Tuple[str, ...]], ...]:
    return tuple((name, tuple(sorted(set(wheres)))) for name, wheres in sorted(index.items()))
