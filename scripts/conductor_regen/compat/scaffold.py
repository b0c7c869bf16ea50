"""Scaffold adapters for new generated APIs and models (the guide's step 4), as idempotent codemods.

New API classes get `adapters/api/<module>.py` in the SDK's own style (a subclass one-liner, or a
facade holding the generated API), wired into the Orkes base client; new models get
`adapters/models/<module>_adapter.py` and an export line in `adapters/models/__init__.py`.
Also here: a unit test for each new API adapter (the guide's step 5.5), and deprecated aliases in
the adapters for operations the server renamed.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import logging
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from conductor_regen.file_tree import write_text_no_follow
from conductor_regen.compat.codemods import (
    add_to_all,
    append_to_class,
    class_functions,
    dotted,
    find_class,
    import_key,
    imports_for,
    insert_import,
    replace_class,
    used_names,
)
from conductor_regen.errors import VerificationError
from conductor_regen.client.code_index import current_index
from conductor_regen.client.references import DEFAULT_PACKAGE, module_bindings
from conductor_regen.sdk.target import safe_join

log = logging.getLogger(__name__)

# Wrapped imports are only used past these widths: isort's default for backslashes, black's for parens.
BACKSLASH_WIDTH = 79
PAREN_WIDTH = 88


@dataclasses.dataclass(frozen=True)
class Generated:
    """One generated class: its module name (file stem) and class name."""

    module: str
    cls: str


@dataclasses.dataclass(frozen=True)
class ImportStyle:
    """How a file wraps its long `from x import y` lines: "single", "paren" or "backslash"."""

    wrap: str = "single"
    always: bool = False  # wrap even when the line would fit

    def render(self, module: str, names: str) -> str:
        """One import statement in this style, ending in a newline."""
        line = f"from {module} import {names}"
        width = BACKSLASH_WIDTH if self.wrap == "backslash" else PAREN_WIDTH
        if self.wrap == "single" or (not self.always and len(line) <= width):
            return line + "\n"
        if self.wrap == "paren":
            return f"from {module} import (\n    {names},\n)\n"
        return f"from {module} import \\\n    {names}\n"


def detect_import_style(code: str, prefix: str) -> ImportStyle:
    """The wrapping used by the file's imports from modules under `prefix`."""
    module = current_index().cst_of(code)
    styles: List[Tuple[str, bool]] = []  # (style, fits on one line)
    for stmt in module.body:
        key = import_key(stmt)
        if not key.startswith(prefix):
            continue
        text = cst.Module([]).code_for_node(stmt).strip()
        flat = " ".join(text.replace("\\\n", " ").replace("(", " ").replace(")", " ").split()).rstrip(",")
        style = "paren" if "(" in text else "backslash" if "\\\n" in text else "single"
        styles.append((style, len(flat) <= (BACKSLASH_WIDTH if style == "backslash" else PAREN_WIDTH)))
    wrapped = [s for s, _ in styles if s != "single"]
    if not wrapped:
        return ImportStyle("single")
    wrap = max(set(wrapped), key=wrapped.count)
    # Short lines wrapped anyway (the example SDK's adapters/models/__init__.py) mean "always wrap".
    always = all(s != "single" for s, _ in styles) and any(fits for s, fits in styles if s != "single")
    return ImportStyle(wrap, always)


def generated_classes(package_init: Path, package: str, suffix: str = "") -> List[Generated]:
    """The classes a generated `api`/`models` package exports, from its `__init__.py` (else its files)."""
    found: Dict[str, Generated] = {}
    folder = package_init.parent
    if package_init.is_file():
        bindings, _, _ = module_bindings(current_index().ast_of(package_init.read_text(encoding="utf-8")), package, True)
        for name, binding in bindings.items():
            if binding.kind == "from" and binding.source.startswith(package + "."):
                module = binding.source[len(package) + 1:]
                if "." not in module and (folder / f"{module}.py").is_file():
                    found[name] = Generated(module, binding.original)
    if not found:
        for path in sorted(folder.glob("*.py")):
            if path.name == "__init__.py":
                continue
            for stmt in current_index().ast_of(path.read_text(encoding="utf-8")).body:
                if isinstance(stmt, ast.ClassDef) and stmt.name.endswith(suffix):
                    found[stmt.name] = Generated(path.stem, stmt.name)
    usable = [g for g in found.values() if g.module.isidentifier() and g.cls.isidentifier()]
    for skipped in set(found.values()) - set(usable):
        log.warning("not scaffolding %s.%s: not a Python identifier", skipped.module, skipped.cls)
    return sorted(usable, key=lambda g: (g.module, g.cls))


# --- the SDK's existing adapters -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ApiAdapter:
    """An existing API adapter: its file, class, the generated class it wraps and how."""

    path: Path
    cls: str
    generated: str
    style: str  # "subclass" | "facade"
    import_source: str  # where it imports the generated class from
    attribute: str = ""  # facade: the attribute holding the generated API


def existing_api_adapters(api_dir: Path, package: str) -> List[ApiAdapter]:
    """API adapters in `adapters/api`, recognised by subclassing or holding a generated API class."""
    http_api = f"{package}.http.api"
    out: List[ApiAdapter] = []
    for path in sorted(api_dir.glob("*.py")):
        if path.name == "__init__.py":
            continue
        module = f"{package}.adapters.api.{path.stem}"
        tree = current_index().ast_of(path.read_text(encoding="utf-8"))
        bindings, _, _ = module_bindings(tree, module, False)
        generated = {name: b.source for name, b in bindings.items()
                     if b.kind == "from" and (b.source == http_api or b.source.startswith(http_api + "."))}
        for stmt in tree.body:
            if not isinstance(stmt, ast.ClassDef):
                continue
            bases = [b.id for b in stmt.bases if isinstance(b, ast.Name) and b.id in generated]
            if bases:
                out.append(ApiAdapter(path, stmt.name, bases[0], "subclass", generated[bases[0]]))
                continue
            held = _held_api(stmt, generated)
            if held:
                out.append(ApiAdapter(path, stmt.name, held[1], "facade", generated[held[1]], held[0]))
    return out


def _held_api(cls: ast.ClassDef, generated: Dict[str, str]) -> Optional[Tuple[str, str]]:
    for node in ast.walk(cls):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name) and node.value.func.id in generated):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                    return target.attr, node.value.func.id
    return None


def _adapter_style(adapters: Sequence[ApiAdapter]) -> str:
    facades = sum(a.style == "facade" for a in adapters)
    # The guide's style wins ties and empty folders.
    return "facade" if facades > len(adapters) - facades else "subclass"


# --- writing adapters -------------------------------------------------------------------------------

def _subclass_module(import_source: str, base: str, adapter: str) -> str:
    return f"from {import_source} import {base}\n\n\nclass {adapter}({base}): ...\n"


class _Rename(cst.CSTTransformer):
    def __init__(self, names: Dict[str, str]) -> None:
        super().__init__()
        self.names = names

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value=self.names.get(updated.value, updated.value))

    def leave_SimpleString(self, original: cst.SimpleString, updated: cst.SimpleString) -> cst.SimpleString:
        # Docstrings name the classes too ("Facade over the generated XApi").
        value = updated.value
        for old, new in self.names.items():
            value = re.sub(rf"\b{re.escape(old)}\b", new, value)
        return updated.with_changes(value=value)


def _facade_module(template: ApiAdapter, generated: Generated, adapter: str, new_http: Path,
                   package: str) -> str:
    """A facade adapter for `generated`, built like `template`: its __init__ (and __getattr__, if any)."""
    template_code = template.path.read_text(encoding="utf-8")
    template_cls = find_class(current_index().cst_of(template_code), template.cls)
    assert template_cls is not None
    kept = [f for n, f in class_functions(template_cls).items() if n.startswith("__") and n.endswith("__")]
    docstring = [s for s in template_cls.body.body[:1] if _is_docstring_stmt(s)] \
        if isinstance(template_cls.body, cst.IndentedBlock) else []
    members: List[cst.BaseStatement] = [*docstring, *kept] or [cst.parse_statement("...\n")]
    renamed = template_cls.with_changes(body=cst.IndentedBlock(body=members), leading_lines=[])
    visited = renamed.visit(_Rename({template.cls: adapter, template.generated: generated.cls}))
    assert isinstance(visited, cst.ClassDef)
    renamed = visited
    gen_module = f"{package}.http.api.{generated.module}"
    gen_code = safe_join(new_http / "api", f"{generated.module}.py").read_text(encoding="utf-8")
    if "__getattr__" not in class_functions(template_cls):
        renamed = append_to_class(renamed, _delegates(gen_code, generated.cls, template.attribute))
    class_code = cst.Module(body=[renamed]).code
    # The template's own imports (ApiClient, typing) and whatever the copied signatures need.
    needed = used_names([renamed]) - {generated.cls}
    template_module = f"{package}.adapters.api.{template.path.stem}"
    lines = imports_for(needed, template_code, template_module, class_code)
    lines += imports_for(needed, gen_code, gen_module, class_code + "".join(lines))
    source = template.import_source if template.import_source == f"{package}.http.api" else gen_module
    lines.append(f"from {source} import {generated.cls}\n")
    return _import_block(lines, package) + "\n\n" + class_code


def _import_block(lines: Sequence[str], package: str) -> str:
    """Merge `from m import ...` lines per module; other packages first, then ours (isort's order)."""
    froms: Dict[str, Set[str]] = {}
    plain: Set[str] = set()
    for line in lines:
        if line.startswith("from "):
            module, names = line[5:].strip().split(" import ", 1)
            froms.setdefault(module, set()).update(n.strip() for n in names.split(","))
        else:
            plain.add(line.strip())
    ours = [m for m in froms if m == package or m.startswith(package + ".")]
    groups = [sorted(plain) + [f"from {m} import {', '.join(sorted(froms[m]))}" for m in sorted(set(froms) - set(ours))],
              [f"from {m} import {', '.join(sorted(froms[m]))}" for m in sorted(ours)]]
    return "\n".join("\n".join(g) + "\n" for g in groups if g)


def _is_ellipsis_stmt(stmt: cst.CSTNode) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.Ellipsis))


def _is_docstring_stmt(stmt: cst.CSTNode) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, cst.SimpleString))


def _delegates(gen_code: str, gen_cls: str, attribute: str) -> List[cst.BaseStatement]:
    """Methods that forward each public method of the generated class to `self.<attribute>`."""
    cls = find_class(current_index().cst_of(gen_code), gen_cls)
    if cls is None:
        return []
    out: List[cst.BaseStatement] = []
    for name, func in class_functions(cls).items():
        if name.startswith("_"):
            continue
        params = func.params
        named = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
        args = [f"{a}={a}" for a in named if a != "self"]
        if isinstance(params.star_arg, cst.Param):
            args.append(f"*{params.star_arg.name.value}")
        if params.star_kwarg is not None:
            args.append(f"**{params.star_kwarg.name.value}")
        call = f"return {'await ' if func.asynchronous else ''}self.{attribute}.{name}("
        if len(call) + len(", ".join(args)) + 9 <= PAREN_WIDTH:
            code = call + ", ".join(args) + ")\n"
        else:
            code = call + "\n" + "".join(f"    {a},\n" for a in args) + ")\n"
        doc = cst.parse_statement(f'"""Forwards to {gen_cls}.{name}."""\n')
        out.append(func.with_changes(decorators=[], body=cst.IndentedBlock(body=[doc, cst.parse_statement(code)]),
                                     leading_lines=[cst.EmptyLine(indent=False)]))
    return out


@dataclasses.dataclass
class _Scaffolder:
    new_http: Path
    staging: Path
    package: str
    notes: List[str] = dataclasses.field(default_factory=list)

    @property
    def adapters(self) -> Path:
        return self.staging / "adapters"

    def apis(self) -> List[Tuple[Generated, str]]:
        """Create missing API adapters; return (generated, adapter class) for each one created."""
        api_dir = self.adapters / "api"
        if not api_dir.is_dir():
            return []
        existing = existing_api_adapters(api_dir, self.package)
        covered = {a.generated for a in existing} | {a.cls for a in existing}
        style = _adapter_style(existing)
        template = next((a for a in sorted(existing, key=lambda a: len(a.path.read_text(encoding="utf-8")))
                         if a.style == style), None)
        created: List[Tuple[Generated, str]] = []
        for gen in generated_classes(self.new_http / "api" / "__init__.py", f"{self.package}.http.api", "Api"):
            adapter = f"{gen.cls}Adapter"
            if gen.cls in covered or adapter in covered:
                continue
            path = safe_join(api_dir, f"{gen.module}.py")
            if path.exists():
                log.warning("not scaffolding %s: %s exists but defines no adapter for it", gen.cls, path)
                continue
            if style == "facade" and template is not None:
                code = _facade_module(template, gen, adapter, self.new_http, self.package)
            else:
                source = template.import_source if template is not None else f"{self.package}.http.api"
                if source != f"{self.package}.http.api":
                    source = f"{self.package}.http.api.{gen.module}"
                code = _subclass_module(source, gen.cls, adapter)
            write_text_no_follow(path, code)
            created.append((gen, adapter))
            self.notes.append(f"created adapters/api/{path.name} ({adapter}, {style} style)")
            self._export(safe_join(api_dir, "__init__.py"), f"{self.package}.adapters.api", gen.module, adapter, adapter,
                         only_if_exporting=True)
        return created

    def models(self) -> None:
        """Create missing model adapters and their exports."""
        model_dir = self.adapters / "models"
        if not model_dir.is_dir():
            return
        init = safe_join(model_dir, "__init__.py")
        init_code = init.read_text(encoding="utf-8") if init.is_file() else ""
        exported, _, _ = module_bindings(current_index().ast_of(init_code), f"{self.package}.adapters.models", True)
        import_source = self._model_import_source(model_dir)
        for gen in generated_classes(self.new_http / "models" / "__init__.py", f"{self.package}.http.models"):
            adapter = f"{gen.cls}Adapter"
            path = safe_join(model_dir, f"{gen.module}_adapter.py")
            if not path.exists():
                source = import_source if import_source == f"{self.package}.http.models" \
                    else f"{self.package}.http.models.{gen.module}"
                write_text_no_follow(path, _subclass_module(source, gen.cls, adapter))
                self.notes.append(f"created adapters/models/{path.name} ({adapter})")
            elif adapter not in {s.name for s in current_index().ast_of(path.read_text(encoding="utf-8")).body
                                 if isinstance(s, ast.ClassDef)}:
                log.warning("not exporting %s: %s defines no %s", gen.cls, path, adapter)
                continue
            if gen.cls not in exported:
                self._export(init, f"{self.package}.adapters.models", f"{gen.module}_adapter", adapter, gen.cls)

    def _model_import_source(self, model_dir: Path) -> str:
        http_models = f"{self.package}.http.models"
        for path in sorted(model_dir.glob("*_adapter.py")):
            for stmt in current_index().ast_of(path.read_text(encoding="utf-8")).body:
                if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.module.startswith(http_models):
                    return stmt.module
        return http_models

    def _export(self, init: Path, parent: str, module: str, adapter: str, public: str,
                only_if_exporting: bool = False) -> None:
        """Add `from parent.module import adapter as public` (and `__all__`) to an `__init__.py`."""
        code = init.read_text(encoding="utf-8") if init.is_file() else ""
        tree = current_index().cst_of(code)
        if only_if_exporting and not any(import_key(s).startswith(parent + ".") for s in tree.body):
            return
        names = adapter if adapter == public else f"{adapter} as {public}"
        style = detect_import_style(code, parent + ".")
        tree = add_to_all(insert_import(tree, style.render(f"{parent}.{module}", names)), public)
        if tree.code != code:
            write_text_no_follow(init, tree.code)
            rel = init.relative_to(self.staging).as_posix()
            self.notes.append(f"exported {public} from {rel}")

    def wire(self, created: Sequence[Tuple[Generated, str]]) -> None:
        """Give the Orkes base client an attribute for each new API adapter."""
        if not created or not (self.staging / "orkes").is_dir():
            return
        path = safe_join(self.staging, "orkes/orkes_base_client.py")
        if not path.is_file():
            return
        code = path.read_text(encoding="utf-8")
        tree = current_index().cst_of(code)
        prefix = f"{self.package}.adapters.api."
        style = detect_import_style(code, prefix)
        for gen, adapter in created:
            tree = self._wire_one(tree, gen, adapter, style, prefix)
        if tree.code != code:
            write_text_no_follow(path, tree.code)

    def _wire_one(self, tree: cst.Module, gen: Generated, adapter: str, style: ImportStyle,
                  prefix: str) -> cst.Module:
        adapter_names = {_bound_name(s) for s in tree.body if import_key(s).startswith(prefix)} - {""}
        for stmt in tree.body:
            if not isinstance(stmt, cst.ClassDef):
                continue
            init = class_functions(stmt).get("__init__")
            if init is None or not isinstance(init.body, cst.IndentedBlock):
                continue
            body = list(init.body.body)
            made = [(i, a) for i, a in enumerate(_self_assignments(body)) if a is not None and a[1] in adapter_names]
            if not made:
                continue
            if any(a[1] == adapter for _, a in made if a is not None):
                return tree
            taken = {a[0] for a in _self_assignments(body) if a is not None}
            choices = [gen.module.replace("_resource_api", "_api"), gen.module]
            attr = next((c for c in choices if c not in taken), "")
            if not attr:
                self.notes.append(f"not wired: {adapter} (attributes {', '.join(choices)} are taken)")
                return tree
            index, last = made[-1]
            assert last is not None
            args = last[2]
            body.insert(index + 1, cst.parse_statement(f"self.{attr} = {adapter}({args})\n"))
            new_init = init.with_changes(body=init.body.with_changes(body=body))
            cls = stmt.with_changes(body=stmt.body.with_changes(
                body=[new_init if s is init else s for s in stmt.body.body]))
            tree = tree.with_changes(body=[cls if s is stmt else s for s in tree.body])
            tree = insert_import(tree, style.render(f"{prefix}{gen.module}", adapter))
            self.notes.append(f"wired self.{attr} = {adapter}(...) into orkes/orkes_base_client.py")
            return tree
        self.notes.append(f"not wired: {adapter} (no Orkes base client __init__ builds API adapters)")
        return tree


def _bound_name(stmt: cst.CSTNode) -> str:
    if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.ImportFrom):
        names = stmt.body[0].names
        if isinstance(names, Sequence) and len(names) == 1:
            alias = names[0]
            return alias.asname.name.value if alias.asname else dotted(alias.name)  # type: ignore[union-attr]
    return ""


def _self_assignments(body: Sequence[cst.BaseStatement]) -> List[Optional[Tuple[str, str, str]]]:
    """For each statement: (attribute, class, call arguments) if it is `self.attr = Class(args)`."""
    out: List[Optional[Tuple[str, str, str]]] = []
    for stmt in body:
        found: Optional[Tuple[str, str, str]] = None
        if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Assign):
            assign = stmt.body[0]
            target = assign.targets[0].target if len(assign.targets) == 1 else None
            if (isinstance(target, cst.Attribute) and dotted(target.value) == "self"
                    and isinstance(assign.value, cst.Call) and isinstance(assign.value.func, cst.Name)):
                args = cst.Module([]).code_for_node(assign.value).split("(", 1)[1].rsplit(")", 1)[0]
                found = (target.attr.value, assign.value.func.value, args)
        out.append(found)
    return out


def scaffold_adapters(new_http: Path, staging: Path, package: str = DEFAULT_PACKAGE) -> Tuple[str, ...]:
    """Create adapters (and exports, and base-client wiring) for generated classes that lack one."""
    scaffolder = _Scaffolder(new_http, staging, package)
    created = scaffolder.apis()
    scaffolder.models()
    scaffolder.wire(created)
    for note in scaffolder.notes:
        log.info("%s", note)
    return tuple(scaffolder.notes)


# --- tests for new API adapters (the guide's step 5.5) -------------------------------------------------

# Where the SDK keeps its async unit tests; the test sessions collect `test_async_*` there.
ADAPTER_TESTS_DIR = "tests/unit/orkes"


@dataclasses.dataclass(frozen=True)
class OutsideFile:
    """A file a run adds outside the managed folders: SDK-root-relative path, content, and what it is for."""

    path: str
    content: str
    about: str


def _public_operations(code: str, cls_name: str) -> List[str]:
    """Public `async def` names of a generated API class, in file order."""
    for stmt in current_index().ast_of(code).body:
        if isinstance(stmt, ast.ClassDef) and stmt.name == cls_name:
            return [f.name for f in stmt.body if isinstance(f, ast.AsyncFunctionDef) and not f.name.startswith("_")]
    return []


def _required_init_args(path: Path, cls_name: str) -> Optional[int]:
    """How many positional arguments (besides self) the class's own __init__ requires; None if unknown."""
    for stmt in current_index().ast_of(path.read_text(encoding="utf-8")).body:
        if not (isinstance(stmt, ast.ClassDef) and stmt.name == cls_name):
            continue
        for func in stmt.body:
            if isinstance(func, ast.FunctionDef) and func.name == "__init__":
                args = func.args
                if args.kwonlyargs and any(d is None for d in args.kw_defaults):
                    return None
                positional = [*args.posonlyargs, *args.args][1:]
                return len(positional) - len(args.defaults)
    return None


def _test_import_style(tests_dir: Path, package: str) -> ImportStyle:
    """The import wrapping of the SDK's existing async tests (its backslash style, in the real SDK)."""
    for path in sorted(tests_dir.glob("test_async_*.py")):
        try:
            return detect_import_style(path.read_text(encoding="utf-8"), package + ".")
        except (OSError, UnicodeDecodeError, cst.ParserSyntaxError):
            continue
    return ImportStyle("single")


def _adapter_test_module(adapter: ApiAdapter, gen: Generated, operations: Sequence[str], package: str,
                         style: ImportStyle) -> str:
    """A pytest module checking that `adapter` imports, wraps `gen` and keeps its operations async."""
    imports = {f"{package}.adapters.api.{adapter.path.stem}": adapter.cls, f"{package}.http.api.{gen.module}": gen.cls}
    lines: List[str] = []
    if adapter.style == "facade":
        required = _required_init_args(adapter.path, adapter.cls)
        if required in (0, 1):
            imports[f"{package}.http.api_client"] = "ApiClient"
            lines += [f"    adapter = {adapter.cls}({'ApiClient()' if required else ''})",
                      f"    assert isinstance(adapter.{adapter.attribute}, {gen.cls})"]
        else:
            # An __init__ this test cannot satisfy: check the class holds the API, without an instance.
            lines.append(f"    assert {gen.cls}.__name__ in inspect.getsource({adapter.cls})")
    else:
        lines += [f"    assert issubclass({adapter.cls}, {gen.cls})", f"    adapter = {adapter.cls}"]
    members = f"getattr({gen.cls}, name), getattr(adapter, name)" if any("adapter =" in x for x in lines) \
        else f"getattr({gen.cls}, name),"
    listed = "".join(f'    "{name}",\n' for name in operations)
    header = (
        f'"""{adapter.cls} imports, wraps the generated {gen.cls} and keeps its operations async."""\n'
        "# Written by conductor-regen when it scaffolded the adapter; later runs never overwrite it.\n"
        "from __future__ import annotations\n\n"
        "import inspect\n\n"
        + "".join(style.render(m, n) for m, n in sorted(imports.items()))
        + f"\n# {gen.cls}'s operations when the adapter was scaffolded.\n"
        + (f"OPERATIONS = (\n{listed})\n\n\n" if listed else "OPERATIONS: tuple = ()\n\n\n")
    )
    body = "\n".join([
        f"def test_{adapter.path.stem}_adapter():",
        *lines,
        f"    public = [name for name, _ in inspect.getmembers({gen.cls}, inspect.isfunction)",
        '              if not name.startswith("_")]',
        "    assert public and set(OPERATIONS) <= set(public)",
        "    for name in public:",
        f"        for member in ({members}):",
        "            # pydantic's validate_call wraps each operation; releases before 2.7 hid the coroutine flag.",
        "            assert inspect.iscoroutinefunction(member) or \\",
        "                inspect.iscoroutinefunction(inspect.unwrap(member)), name",
    ])
    return header + body + "\n"


def adapter_tests(http: Path, staging: Path, live_package_dir: Path, sdk_root: Path,
                  package: str = DEFAULT_PACKAGE) -> List[OutsideFile]:
    """A test module for each API adapter that is new in `staging`, where the SDK has none yet."""
    staged_api, live_api = staging / "adapters" / "api", live_package_dir / "adapters" / "api"
    if not staged_api.is_dir():
        return []
    try:
        tests_dir = safe_join(sdk_root, ADAPTER_TESTS_DIR)
    except VerificationError:
        log.warning("not writing adapter tests: %s leads out of the SDK", ADAPTER_TESTS_DIR)
        return []
    new = [a for a in existing_api_adapters(staged_api, package) if not (live_api / a.path.name).exists()]
    if not new:
        return []
    if not tests_dir.is_dir():
        log.info("not writing adapter tests: the SDK has no %s/ folder", ADAPTER_TESTS_DIR)
        return []
    generated = {g.cls: g for g in generated_classes(http / "api" / "__init__.py", f"{package}.http.api", "Api")}
    style = _test_import_style(tests_dir, package)
    out: List[OutsideFile] = []
    seen: Set[str] = set()
    for adapter in new:
        gen = generated.get(adapter.generated)
        rel = f"{ADAPTER_TESTS_DIR}/test_async_{adapter.path.stem}_adapter.py"
        if gen is None or rel in seen or safe_join(sdk_root, rel).exists():
            continue
        seen.add(rel)
        code = safe_join(http / "api", f"{gen.module}.py").read_text(encoding="utf-8")
        content = _adapter_test_module(adapter, gen, _public_operations(code, gen.cls), package, style)
        out.append(OutsideFile(rel, content, adapter.cls))
    return out


# --- deprecated aliases for renamed operations ------------------------------------------------------------

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
    from conductor_regen.client.operations import read_client_operations

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
        names = set(_generated_functions(safe_join(new_http / "api", f"{gen.module}.py"), cls_name))
        for adapter in found:
            for name, func in _class_functions_in(adapter.path, adapter.cls).items():
                if name in names and ALIAS_DOC in cst.Module([]).code_for_node(func):
                    notes.append(f"check {adapter.cls}.{name}: it is a deprecated alias, but {cls_name}.{name} "
                                 "is now another operation, which the alias hides")
    return notes


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
    if all(_is_ellipsis_stmt(s) for s in body):
        added[0] = added[0].with_changes(leading_lines=[])  # right under `class X(...):`, as black has it
    tree = replace_class(tree, append_to_class(cls, added))
    tree = _ensure_stdlib_imports(tree, ["import warnings", "from typing import Any"], package)
    write_text_no_follow(adapter.path, tree.code)
    notes.append(f"added deprecated alias(es) {', '.join(f'{adapter.cls}.{n}' for n in names)} -> "
                 f"{new} in adapters/api/{adapter.path.name}: {label} was renamed by the server's API")
    return notes
