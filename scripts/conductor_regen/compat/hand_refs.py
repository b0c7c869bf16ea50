"""Generated code that reaches into hand-written SDK code: always a deliberate edit, carried into each new tree.

The generator only writes references inside its own package (http/). An import or attribute path from
http/ into the rest of the SDK (adapters/, orkes/, ...) was put there by hand, e.g. every API module's
`from conductor.asyncio_client.adapters import ApiClient` (the adapter with token refresh). Such
references are found in the live client with no spec at all, and re-made in the new tree by the same
rule: an import edit seen consistently across a folder applies to every module of that folder in the
new tree, new modules included. One that cannot be re-made stops the run before the swap.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import AbstractSet, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from conductor_regen.analysis.code_index import content_key, current_index, walk_statements
from conductor_regen.compat.codemods import ast_dotted, dotted


@dataclasses.dataclass(frozen=True)
class HandRef:
    """One reference from a generated file into hand-written code."""

    file: str  # posix path relative to http/
    kind: str  # "import" (`name` imported from `target`) or "attribute" (the dotted path `target`)
    target: str
    name: str = ""

    def render(self) -> str:
        """`api/x.py: ApiClient from conductor.asyncio_client.adapters`."""
        what = f"{self.name} from {self.target}" if self.kind == "import" else self.target
        return f"{self.file}: {what}"


@dataclasses.dataclass(frozen=True)
class CarryRule:
    """An edit to re-make: `name` imported from `target` in the files `scope` covers (or an attribute path)."""

    kind: str
    target: str
    name: str
    scope: str  # a folder ("api/", "" for http/ itself) when `folder`, else one file
    live_files: Tuple[str, ...]
    folder: bool = False  # seen in every module of the folder that imports the name: new modules get it too

    def covers(self, rel: str) -> bool:
        """Whether the rule applies to the http/-relative file `rel`."""
        return _folder(rel) == self.scope if self.folder else rel == self.scope

    def describe(self) -> str:
        """For notes and detect-edits: what the rule does and where."""
        where = f"every module of http/{self.scope} that imports it" if self.folder else f"http/{self.scope}"
        if self.kind == "import":
            return f"{self.name} imported from {self.target} in {where}"
        return f"{self.target} (not the generated package) in {where}"


@dataclasses.dataclass(frozen=True)
class Carried:
    """What carrying the hand-written references into a new tree did."""

    rules: Tuple[CarryRule, ...]
    files: Dict[str, Tuple[str, ...]]  # rule description -> new-tree files that now hold it
    failures: Tuple[str, ...]

    def notes(self) -> List[str]:
        """One `carried over edit:` note per rule (the report lists them)."""
        out = []
        for rule in self.rules:
            done = self.files.get(rule.describe(), ())
            out.append(f"carried over edit: {rule.describe()}: {len(done)} file(s) in the new tree "
                       f"({len(rule.live_files)} in the live client)")
        return out


def _is_hand_written(module: str, package: str) -> bool:
    """A module of the SDK (same top-level package) outside the generated http/ package."""
    top = package.split(".")[0]
    generated = f"{package}.http"
    inside_sdk = module == top or module.startswith(top + ".")
    return inside_sdk and not (module == generated or module.startswith(generated + "."))


def _resolve(module_name: Optional[str], level: int, rel: str, package: str) -> str:
    """The absolute module of a `from ... import`, relative imports resolved against the file's package."""
    name = module_name or ""
    if not level:
        return name
    parts = [*f"{package}.http".split("."), *rel.split("/")[:-1]]
    base = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join([*base, name] if name else base)


def _imported(node: cst.ImportFrom) -> List[str]:
    if isinstance(node.names, cst.ImportStar):
        return []
    return [dotted(a.name) for a in node.names if a.asname is None]


class _Finder(ast.NodeVisitor):
    """Every from-import (name -> module, the last one wins) and every outermost attribute path into the SDK."""

    def __init__(self, rel: str, package: str) -> None:
        self.rel, self.package = rel, package
        self.imports: Dict[str, str] = {}
        self.attributes: Set[str] = set()

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = _resolve(node.module, node.level, self.rel, self.package)
        for alias in node.names:
            if alias.name != "*" and alias.asname is None:
                self.imports[alias.name] = module

    def visit_Import(self, node: ast.Import) -> None:
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        path = ast_dotted(node)
        if path and _is_hand_written(path, self.package):
            self.attributes.add(path)
        # The outermost chain only: the parts of `a.b.c` are not references of their own.


def _may_refer(text: str, package: str) -> bool:
    """A cheap textual test: a relative import, or a dotted name into the SDK outside http/."""
    if re.search(r"^\s*from \.", text, re.M):
        return True
    top = re.escape(package.split(".")[0])
    return any(_is_hand_written(m.group(0), package) for m in re.finditer(rf"\b{top}(?:\.\w+)*", text))


def _find(text: str, rel: str, package: str) -> _Finder:
    """The file's references (from the shared code index: a content is parsed and walked once)."""
    def compute() -> _Finder:
        finder = _Finder(rel, package)
        tree = current_index().ast_of(text, rel)
        # An attribute path into the SDK starts with the package's top name, which ASCII source must
        # spell out (no other spelling normalizes to it). Where it occurs only inside imports, no
        # expression names it, and the imports (statements) are all there is to read.
        if text.isascii():
            imports = [n for n in walk_statements(tree, depth_first=True) if isinstance(n, (ast.Import, ast.ImportFrom))]
            if not _mentioned_outside(text, imports, package.split(".")[0]):
                for node in imports:
                    if isinstance(node, ast.ImportFrom):
                        finder.visit_ImportFrom(node)
                return finder
        finder.visit(tree)
        return finder

    return current_index().memo(("hand_refs", content_key(text), rel, package), compute)


def _mentioned_outside(text: str, statements: Sequence[ast.stmt], word: str) -> bool:
    """Whether `word` occurs in ASCII `text` outside the given statements (in code, strings or comments)."""
    if word not in text:
        return False
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    spans = sorted((starts[n.lineno - 1] + n.col_offset, starts[(n.end_lineno or n.lineno) - 1] + (n.end_col_offset or 0))
                   for n in statements)
    outside, last = [], 0
    for begin, end in spans:
        outside.append(text[last:begin])
        last = max(last, end)
    outside.append(text[last:])
    return re.search(rf"\b{re.escape(word)}\b", " ".join(outside)) is not None


def _parse(path: Path, rel: str, package: str, wanted: Callable[[str], bool]) -> Optional[_Finder]:
    """The file's imports and attribute paths (none when `wanted(text)` is false); None if unparsable."""
    try:
        text = current_index().read(path)
        return _find(text, rel, package) if wanted(text) else _Finder(rel, package)
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return None


def _scan(http_dir: Path, package: str, whole: AbstractSet[str] = frozenset()) -> Dict[str, _Finder]:
    """Parse the files that may refer to hand-written code (every file of the folders in `whole`)."""
    found: Dict[str, _Finder] = {}
    for path in sorted(http_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(http_dir).as_posix()
        finder = _parse(path, rel, package, lambda text: _may_refer(text, package) or _folder(rel) in whole)
        if finder is not None:
            found[rel] = finder
    return found


def _refs(scanned: Dict[str, _Finder], package: str) -> List[HandRef]:
    refs: List[HandRef] = []
    for rel, finder in scanned.items():
        refs += [HandRef(rel, "import", module, name) for name, module in sorted(finder.imports.items())
                 if _is_hand_written(module, package)]
        refs += [HandRef(rel, "attribute", path) for path in sorted(finder.attributes)]
    return refs


def _folder(rel: str) -> str:
    return rel.rpartition("/")[0] + "/" if "/" in rel else ""


def rules_from(http_dir: Path, package: str) -> List[CarryRule]:
    """The carry rules for a live client: an import edit made in every module of a folder that imports
    the name becomes a folder rule (new modules get it too); anything else stays per file."""
    scanned = _scan(http_dir, package)
    refs = _refs(scanned, package)
    rules: List[CarryRule] = []
    groups: Dict[Tuple[str, str, str], List[str]] = {}
    for ref in refs:
        if ref.kind == "attribute":
            rules.append(CarryRule("attribute", ref.target, "", ref.file, (ref.file,)))
        else:
            groups.setdefault((_folder(ref.file), ref.name, ref.target), []).append(ref.file)
    # Whether a folder's edit is consistent needs every module of it, not just those the text test picked.
    scanned = _scan(http_dir, package, {folder for folder, _, _ in groups})
    for (folder, name, target), files in sorted(groups.items()):
        importers = [rel for rel, f in scanned.items() if _folder(rel) == folder and name in f.imports]
        consistent = all(scanned[rel].imports[name] == target for rel in importers)
        if consistent and len(files) > 1:
            rules.append(CarryRule("import", target, name, folder, tuple(sorted(files)), folder=True))
        else:
            rules += [CarryRule("import", target, name, rel, (rel,)) for rel in sorted(files)]
    return rules


def _move_import(module: cst.Module, rel: str, package: str, name: str, target: str) -> Optional[cst.Module]:
    """Take `name` out of the generated-package import that brings it, and import it from `target` right after.

    Only top-level statements change, so the module's body is rebuilt without visiting the whole tree.
    None when no such import is there.
    """
    body: List[cst.BaseStatement] = []
    moved = False
    generated = f"{package}.http"
    for stmt in module.body:
        node = _only_import_from(stmt)
        if moved or node is None or name not in _imported(node):
            body.append(stmt)
            continue
        imported = _resolve(dotted(node.module) if node.module is not None else None, len(node.relative), rel,
                            package)
        if not (imported == generated or imported.startswith(generated + ".")):
            body.append(stmt)
            continue
        assert isinstance(stmt, cst.SimpleStatementLine) and not isinstance(node.names, cst.ImportStar)
        rest = [a for a in node.names if not (a.asname is None and dotted(a.name) == name)]
        new = cst.parse_statement(f"from {target} import {name}\n")
        if rest:
            rest[-1] = rest[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            body.append(stmt.with_changes(body=[node.with_changes(names=rest)]))
            body.append(new)
        else:
            body.append(new.with_changes(leading_lines=stmt.leading_lines))
        moved = True
    return module.with_changes(body=body) if moved else None


def _move_import_in_text(code: str, rel: str, package: str, name: str, target: str) -> Optional[str]:
    """`_move_import` on just the import statement's lines (found with the ast), spliced back into `code`.

    A generated API module is thousands of lines; libcst parses only the few lines that change. None
    when the shortcut does not apply (the caller then edits the whole module, with the same result).
    """
    if "\r" in code:
        return None
    body = current_index().ast_of(code, rel).body
    generated = f"{package}.http"
    for i, stmt in enumerate(body):
        if not (isinstance(stmt, ast.ImportFrom)
                and any(a.name == name and a.asname is None for a in stmt.names)):
            continue
        module = _resolve(stmt.module, stmt.level, rel, package)
        if not (module == generated or module.startswith(generated + ".")):
            continue
        end = stmt.end_lineno or stmt.lineno
        alone = ((i == 0 or (body[i - 1].end_lineno or 0) < stmt.lineno)
                 and (i + 1 == len(body) or body[i + 1].lineno > end) and stmt.col_offset == 0)
        lines = code.split("\n")
        if not alone or end >= len(lines):
            return None  # shares a line with another statement, or ends the file without a newline
        start_at = sum(len(line) + 1 for line in lines[: stmt.lineno - 1])
        end_at = start_at + sum(len(line) + 1 for line in lines[stmt.lineno - 1: end])
        snippet = cst.parse_module(code[start_at:end_at])
        if len(snippet.body) != 1 or _only_import_from(snippet.body[0]) is None:
            return None
        moved = _move_import(snippet, rel, package, name, target)
        return None if moved is None else code[:start_at] + moved.code + code[end_at:]
    return None


def _only_import_from(stmt: cst.CSTNode) -> Optional[cst.ImportFrom]:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.ImportFrom):
        return stmt.body[0]
    return None


class _Repoint(cst.CSTTransformer):
    """Replace the attribute path `old` with `new` wherever it appears whole."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, cst.parse_expression(new)
        self.count = 0

    def visit_Import(self, node: cst.Import) -> bool:
        return False  # the statement that makes the generated package importable stays as it is

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def leave_Attribute(self, original: cst.Attribute,
                        updated: cst.Attribute) -> Union[cst.Attribute, cst.BaseExpression]:
        if dotted(original) == self.old:
            self.count += 1
            return self.new
        return updated


def _generated_twin(path: str, package: str) -> str:
    """`conductor.asyncio_client.adapters.models` -> `conductor.asyncio_client.http.models`."""
    if not path.startswith(package + "."):
        return ""
    rest = path[len(package) + 1:].split(".")[1:]
    return ".".join([package, "http", *rest])


def _carry_one(rule: CarryRule, rel: str, path: Path, package: str) -> Optional[bool]:
    """Apply `rule` to one new-tree file: True when it now holds the edit, None when not applicable."""
    index = current_index()
    code = index.read(path)
    finder = _find(code, rel, package)
    if rule.kind == "import":
        if finder.imports.get(rule.name) == rule.target:
            return True
        if rule.name not in finder.imports:
            return None if rule.folder else False
        fast = _move_import_in_text(code, rel, package, rule.name, rule.target)
        if fast is not None:
            path.write_text(fast, encoding="utf-8")
            return True
        moved = _move_import(index.cst_of(code), rel, package, rule.name, rule.target)
        if moved is None:
            return False
        new = moved
    else:
        if rule.target in finder.attributes:
            return True
        twin = _generated_twin(rule.target, package)
        repoint = _Repoint(twin, rule.target)
        new = index.cst_of(code).visit(repoint) if twin else index.cst_of(code)
        if not repoint.count:
            return False
    path.write_text(new.code, encoding="utf-8")
    return True


def carry_refs(live_http: Path, new_http: Path, package: str) -> Carried:
    """Re-make the live client's references to hand-written code in the new tree (in place)."""
    rules = rules_from(live_http, package) if live_http.is_dir() else []
    done: Dict[str, Tuple[str, ...]] = {}
    failures: List[str] = []
    new_files = sorted(p.relative_to(new_http).as_posix() for p in new_http.rglob("*.py")
                       if "__pycache__" not in p.parts)
    for rule in rules:
        held: List[str] = []
        for rel in (f for f in new_files if rule.covers(f)):
            outcome = _carry_one(rule, rel, new_http / rel, package)
            if outcome:
                held.append(rel)
            elif outcome is False:
                failures.append(f"http/{rel}: cannot re-make {rule.describe()}")
        done[rule.describe()] = tuple(held)
    return Carried(tuple(rules), done, tuple(failures))
