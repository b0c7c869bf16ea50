"""Incremental mode (`--only`): swap in just some API modules and the models they need.

The guide's recovery advice is to "update specific async APIs one at a time"; this keeps the rest of
the live http/ byte for byte.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import List, Sequence, Set

from conductor_regen.file_tree import write_text_no_follow
from conductor_regen.errors import ConfigError
from conductor_regen.file_tree import safe_join

_MODEL_IMPORT = re.compile(r"from [\w.]+\.models\.(\w+) import ")
_MODULE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def models_needed(generated: Path, api_modules: Sequence[str]) -> List[str]:
    """Model modules the given API modules use, transitively (models import each other)."""
    todo = [generated / "api" / f"{m}.py" for m in api_modules]
    seen: Set[str] = set()
    while todo:
        text = todo.pop().read_text(encoding="utf-8")
        for name in _MODEL_IMPORT.findall(text):
            if name not in seen and (generated / "models" / f"{name}.py").is_file():
                seen.add(name)
                todo.append(generated / "models" / f"{name}.py")
    return sorted(seen)


def _export_lines(init: Path, module: str) -> List[str]:
    pattern = re.compile(rf"^from [\w.]+\.{re.escape(module)} import ")
    return [line for line in init.read_text(encoding="utf-8").splitlines() if pattern.match(line)]


def _add_exports(generated_init: Path, dest_init: Path, modules: Sequence[str]) -> None:
    """Append the generated export lines for `modules` that the live __init__ lacks."""
    if not dest_init.is_file() or not generated_init.is_file():
        return
    text = dest_init.read_text(encoding="utf-8")
    missing = [line for m in modules for line in _export_lines(generated_init, m) if line not in text]
    if missing:
        write_text_no_follow(dest_init, text.rstrip("\n") + "\n" + "\n".join(missing) + "\n")


def merge_only(generated: Path, live_http: Path, dest: Path, only: Sequence[str]) -> None:
    """Write to `dest` the live http/ with the `only` API modules (and their models) from `generated`."""
    available = sorted(p.stem for p in (generated / "api").glob("*.py") if p.stem != "__init__")
    unknown = [m for m in only if not _MODULE_NAME.match(m) or m not in available]
    if unknown:
        raise ConfigError(f"--only names unknown API module(s): {', '.join(unknown)}",
                          f"choose from: {', '.join(available)}")
    shutil.copytree(live_http, dest, symlinks=True)
    models = models_needed(generated, only)
    for folder, names in (("api", list(only)), ("models", models)):
        for name in names:
            shutil.copyfile(generated / folder / f"{name}.py", safe_join(dest / folder, f"{name}.py"))
        _add_exports(generated / folder / "__init__.py", dest / folder / "__init__.py", names)
