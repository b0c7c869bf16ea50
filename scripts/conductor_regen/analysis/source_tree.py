"""The package as it would import: the live folder with staged first-level folders swapped in."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple

from conductor_regen.file_tree import safe_join

DEFAULT_PACKAGE = "conductor.asyncio_client"
_SKIP_DIRS = frozenset({"__pycache__"})


@dataclasses.dataclass(frozen=True)
class SourceTree:
    """The package as it would import: the live folder with some first-level folders replaced (staged)."""

    package: str
    package_dir: Path
    overrides: Tuple[Tuple[str, Path], ...] = ()

    def folder(self, first: str) -> Path:
        """Where the first-level entry `first` of the package lives in this view."""
        for name, path in self.overrides:
            if name == first:
                return path
        return safe_join(self.package_dir, first)

    def is_internal(self, dotted: str) -> bool:
        """True for the package itself and anything under it."""
        return dotted == self.package or dotted.startswith(self.package + ".")

    def module_file(self, dotted: str) -> Optional[Path]:
        """The file that defines module `dotted` (a package's `__init__.py`), if it exists."""
        if not self.is_internal(dotted):
            return None
        rest = dotted[len(self.package):].lstrip(".")
        if not rest:
            init = self.package_dir / "__init__.py"
            return init if init.is_file() else None
        parts = rest.split(".")
        if not all(part.isidentifier() for part in parts):
            return None
        folder = self.folder(parts[0])
        inner = "/".join(parts[1:])
        if inner:
            candidates = [safe_join(folder, inner + ".py"), safe_join(folder, inner + "/__init__.py")]
        else:
            candidates = [folder / "__init__.py", safe_join(self.package_dir, parts[0] + ".py")]
        for path in candidates:
            if path.is_file():
                return path
        return None

    def source_files(self, skip: Sequence[str] = ()) -> Iterator[Tuple[Path, str]]:
        """Every .py file of the view with its module name, first-level entries in `skip` left out."""
        firsts = {p.name for p in self.package_dir.iterdir()} if self.package_dir.is_dir() else set()
        firsts |= {name for name, _ in self.overrides}
        for first in sorted(firsts):
            if first in skip or first in _SKIP_DIRS or first.startswith("."):
                continue
            path = self.folder(first)
            if path.is_file() and path.suffix == ".py":
                yield path, self._dotted(first[:-3])
            elif path.is_dir():
                for file in sorted(path.rglob("*.py")):
                    rel = file.relative_to(path)
                    if _SKIP_DIRS & set(rel.parts) or any(p.startswith(".") for p in rel.parts):
                        continue
                    parts = [first, *rel.with_suffix("").parts]
                    if parts[-1] == "__init__":
                        parts.pop()
                    yield file, self._dotted(".".join(parts))

    def display_path(self, path: Path, sdk_root: Path) -> str:
        """`path` as the SDK would have it after the swap, relative to the SDK root."""
        for name, folder in self.overrides:
            try:
                rel = path.relative_to(folder)
            except ValueError:
                continue
            path = self.package_dir / name / rel
            break
        try:
            return path.relative_to(sdk_root).as_posix()
        except ValueError:
            return path.as_posix()

    def _dotted(self, rest: str) -> str:
        return self.package if rest in ("", "__init__") else f"{self.package}.{rest}"


def staged_tree(staging: Path, sdk_package_dir: Path, package: str = DEFAULT_PACKAGE,
                **replace: Path) -> SourceTree:
    """A view of the package with every folder present in `staging` (and in `replace`) swapped in."""
    overrides: Dict[str, Path] = {}
    if staging.is_dir():
        for child in sorted(staging.iterdir()):
            if child.is_dir() and not child.name.startswith(".") and child.name not in _SKIP_DIRS:
                overrides[child.name] = child
    overrides.update(replace)
    return SourceTree(package, sdk_package_dir, tuple(sorted(overrides.items())))


def sdk_root_of(sdk_package_dir: Path, package: str = DEFAULT_PACKAGE) -> Path:
    """The checkout root: above the import root, which is `src` in the SDK's layout."""
    import_root = sdk_package_dir
    for _ in package.split("."):
        import_root = import_root.parent
    return import_root.parent if import_root.name == "src" else import_root
