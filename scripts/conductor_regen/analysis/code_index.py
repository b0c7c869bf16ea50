"""One parse per file content: ast trees and libcst modules keyed by the sha256 of the source.

Assembly reads the same files many times over: the live tree, the staged copy (mostly the same
bytes) and the tree each step leaves behind. The reference check, keep-removed, keep-fields,
scaffold, the binding check and carried edits all look them up here, so a content is parsed once
per run; an edited file has new bytes, hence a new key, and is parsed again. Callers must treat
what they get as read-only (libcst modules are immutable; ast trees are shared, so never mutate one).
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import gc
import hashlib
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Hashable, Iterator, Optional, Tuple, TypeVar

if TYPE_CHECKING:  # imported where a module is parsed: a no-op run never needs libcst (0.1 s to import)
    import libcst as cst

T = TypeVar("T")

# Statements, and the nodes that hold blocks of them; no expression holds a statement.
_BLOCKS = tuple(getattr(ast, name) for name in ("stmt", "excepthandler", "match_case") if hasattr(ast, name))

# Past this many cached contents the cache starts afresh: a bound for long-lived processes (tests).
DEFAULT_LIMIT = 20_000


def content_key(text: str) -> str:
    """The sha256 of the source's UTF-8 bytes (the file's bytes, for a file read as UTF-8)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def walk_statements(node: ast.AST, depth_first: bool = False) -> Iterator[ast.AST]:
    """The statements under `node` (and except handlers, match cases; `node` first) in `ast.walk` order.

    With `depth_first`, in the order `ast.NodeVisitor` meets them instead. Every statement's parent is
    a statement, handler, case or the module, so skipping expressions changes neither order among
    statements; it spares walking every expression (most nodes of a generated module).
    """
    todo = deque([node])
    while todo:
        current = todo.pop() if depth_first else todo.popleft()
        children = [child for child in ast.iter_child_nodes(current) if isinstance(child, _BLOCKS)]
        todo.extend(reversed(children) if depth_first else children)
        yield current


class CodeIndex:
    """Parsed sources by content hash; counts real parses so tests can see a lookup that did not parse."""

    def __init__(self, limit: int = DEFAULT_LIMIT, freeze: bool = False) -> None:
        self.limit = limit
        # A run keeps every tree it parses until it ends: millions of objects without reference cycles.
        # Each full collection of the cyclic GC walked them all to free nothing (about 3.9 s of a 9 s
        # regenerate of the real SDK, 1.6 s of it in assembly). Frozen (gc.freeze), the collector skips
        # them; reference counting still frees a tree the index lets go. `run_index` unfreezes at the end.
        self.freeze = freeze
        self._ast: Dict[str, ast.Module] = {}
        self._cst: Dict[str, cst.Module] = {}
        self._memo: Dict[Tuple[Hashable, ...], object] = {}
        self._lock = threading.Lock()
        self.ast_parses = 0
        self.cst_parses = 0

    def read(self, path: Path) -> str:
        """The file's text (UTF-8); reading is cheap, parsing is what the index saves."""
        return path.read_text(encoding="utf-8")

    def ast_of(self, text: str, filename: str = "<unknown>") -> ast.Module:
        """`ast.parse(text)`, once per content; a SyntaxError is raised every time (never cached)."""
        key = content_key(text)
        tree = self._ast.get(key)
        if tree is None:
            tree = ast.parse(text, filename)
            with self._lock:
                self.ast_parses += 1
                self._room(self._ast)[key] = tree
                self._kept()
        return tree

    def cst_of(self, text: str) -> cst.Module:
        """`libcst.parse_module(text)`, once per content (for codemods that edit or print code)."""
        key = content_key(text)
        module = self._cst.get(key)
        if module is None:
            import libcst

            module = libcst.parse_module(text)
            with self._lock:
                self.cst_parses += 1
                self._room(self._cst)[key] = module
                self._kept()
        return module

    def remember(self, module: cst.Module) -> str:
        """The code of a module a codemod made, kept so the next edit of that content needs no parse.

        libcst prints exactly what it parsed, so the module stands for a parse of its own code; for
        files edited many times in a row (an `__init__.py` gaining exports, an API module kept methods).
        """
        code = module.code
        with self._lock:
            self._room(self._cst)[content_key(code)] = module
            self._kept()
        return code

    def ast_file(self, path: Path) -> ast.Module:
        """The ast of a file's current content."""
        return self.ast_of(self.read(path), str(path))

    def cst_file(self, path: Path) -> cst.Module:
        """The libcst module of a file's current content."""
        return self.cst_of(self.read(path))

    def memo(self, key: Tuple[Hashable, ...], compute: Callable[[], T]) -> T:
        """A value derived from parsed code, computed once per key (the key must include the content hash)."""
        if key in self._memo:
            return self._memo[key]  # type: ignore[return-value]  # stored by this method under this key
        value = compute()
        with self._lock:
            self._room(self._memo)[key] = value
        return value

    def _kept(self) -> None:
        if self.freeze:
            gc.freeze()  # moves what is tracked now to the permanent generation: constant time

    def _room(self, cache: Dict[Any, Any]) -> Dict[Any, Any]:
        if len(cache) >= self.limit:
            cache.clear()
        return cache


_default = CodeIndex()
_active: Optional[CodeIndex] = None


@atexit.register
def _release() -> None:
    # Letting interpreter shutdown tear down thousands of cached trees took ~15 s on the real SDK;
    # dropping them while the interpreter is whole takes well under a second.
    global _default
    _default = CodeIndex()


def current_index() -> CodeIndex:
    """The run's index (see `run_index`), else a process-wide one."""
    return _active if _active is not None else _default


@contextlib.contextmanager
def run_index() -> Iterator[CodeIndex]:
    """A fresh index for one run, used by every step (threads included) until the block ends."""
    global _active
    previous, index = _active, CodeIndex(freeze=True)
    _active = index
    try:
        yield index
    finally:
        _active = previous
        gc.unfreeze()  # what the run froze is collectable again (the next full collection looks at it)
