"""A cache of what a check found on a tree, keyed by the tree's fingerprint and what else the check depends on.

One JSON file per (kind of check, tree, key), written whole and renamed into place, so concurrent runs can race
for one safely. The gates keep their verdicts about the pristine tree here (`matrix.pristine`), verify its
import checks of cached generated trees (`generator.run`), and the import gate its clean checks of staging
(`commands.gate`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

from conductor_regen.atomic_io import atomic_write_bytes


def _cache_file(cache_dir: Path, kind: str, fingerprint: str, key: str) -> Path:
    name = hashlib.sha256(f"{kind}\0{fingerprint}\0{key}".encode()).hexdigest()[:32]
    return cache_dir / f"{kind}-{name}.json"


def cached(cache_dir: Path, kind: str, fingerprint: str, key: str) -> Optional[Any]:
    """What a check found on the tree with `fingerprint` (None when it never ran there)."""
    path = _cache_file(cache_dir, kind, fingerprint, key)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def store(cache_dir: Path, kind: str, fingerprint: str, key: str, data: Any) -> None:
    """Remember what a check found on the tree with `fingerprint`."""
    path = _cache_file(cache_dir, kind, fingerprint, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())


def cached_count(cache_dir: Path, kind: str, fingerprint: str, key: str) -> Optional[int]:
    """A count of modules a check stored (`cached`), or None: never stored, or not a positive count (a damaged file)."""
    count = cached(cache_dir, kind, fingerprint, key)
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else None
