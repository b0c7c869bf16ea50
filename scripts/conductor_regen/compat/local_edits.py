"""Local edits: the SDK's deliberate changes to generated code, re-applied as guarded, idempotent transforms.

Kept declarative (data/local_edits.json) rather than as .diff files, because diffs break silently on
generator upgrades (kubernetes-client/python #2549, #1076). A transform that no longer matches fails
loudly instead of being skipped.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

from conductor_regen.file_tree import write_text_no_follow
from conductor_regen.errors import ConfigError, VerificationError
from conductor_regen.file_tree import safe_join

DEFAULTS = Path(__file__).resolve().parents[1] / "data" / "local_edits.json"
# An SDK may keep its own list (same format) in its checkout; it replaces the defaults.
SDK_FILE = Path(".conductor-regen") / "local_edits.json"


@dataclasses.dataclass(frozen=True)
class LocalEdit:
    """One transform of one generated file (paths relative to the generated package)."""

    name: str
    file: str
    reason: str
    find: Optional[str] = None
    replace: Optional[str] = None
    pattern: Optional[str] = None
    content: Optional[str] = None

    def apply(self, text: str) -> str:
        """Return the edited text; raise when the edit no longer applies to this generator's output."""
        if self.content is not None:
            return self.content
        if self.find is not None and self.replace is not None:
            if self.replace in text:
                return text  # already applied
            if self.find not in text:
                raise VerificationError(
                    f"local edit '{self.name}' no longer applies: {self.file} has no {self.find!r}",
                    "the generator output changed; update data/local_edits.json (or the SDK's edits file)",
                )
            return text.replace(self.find, self.replace)
        if self.pattern is not None and self.replace is not None:
            new, count = re.subn(self.pattern, self.replace, text)
            if count == 0:
                raise VerificationError(
                    f"local edit '{self.name}' no longer applies: {self.file} does not match /{self.pattern}/",
                    "the generator output changed; update data/local_edits.json (or the SDK's edits file)",
                )
            return new
        raise ConfigError(f"local edit '{self.name}' needs content, find+replace or pattern+replace")


def load_edits(path: Path = DEFAULTS) -> Tuple[LocalEdit, ...]:
    """Read a JSON list of edits."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        return tuple(LocalEdit(**item) for item in raw)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read local edits from {path}: {exc}", "fix the JSON file") from exc


def edits_for(sdk_root: Path) -> Tuple[LocalEdit, ...]:
    """The SDK's own edits file when it has one, else this project's Conductor defaults."""
    own = sdk_root / SDK_FILE
    return load_edits(own) if own.is_file() else load_edits()


def apply_edits(package_dir: Path, edits: Sequence[LocalEdit]) -> List[str]:
    """Apply `edits` to a generated package in place; return the names of edits that changed a file."""
    changed: List[str] = []
    for edit in edits:
        path = safe_join(package_dir, edit.file)
        if not path.is_file():
            raise VerificationError(f"local edit '{edit.name}': {edit.file} is not in the generated package",
                                    "update or remove the edit")
        text = path.read_text(encoding="utf-8")
        new = edit.apply(text)
        if new != text:
            write_text_no_follow(path, new)
            changed.append(edit.name)
    return changed
