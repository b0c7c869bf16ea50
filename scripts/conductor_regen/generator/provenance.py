"""Provenance: where a generated tree came from, so later steps can skip work and report origin."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

from conductor_regen import __version__

FILENAME = "provenance.json"
# Recorded inside the SDK's generated package so the next run knows what produced the live tree.
IN_SDK = ".regen-provenance.json"


def public_source(source: str) -> str:
    """Drop any user:password@ and ?query from a URL so credentials (`?token=`) never reach a file."""
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        host = parts.netloc.rsplit("@", 1)[1] if "@" in parts.netloc else parts.netloc
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    return source


def recorded_source(source: str) -> str:
    """A spec's source as provenance records it: a URL without credentials, a file by its absolute path (read
    later from elsewhere, by the contract session say, a relative path would name another file)."""
    if urlsplit(source).scheme in ("http", "https"):
        return public_source(source)
    return os.path.abspath(os.path.expanduser(source))


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Inputs that fully determine a generated tree (no timestamps, so it is deterministic)."""

    spec_source: str
    spec_sha256: str
    spec_version: str
    input_sha256: str  # the repaired spec actually fed to the generator
    generator_backend: str
    generator_version: str
    generator_options: Tuple[str, ...]
    fixups: Tuple[str, ...]
    tool_version: str = __version__

    def cache_key(self) -> str:
        """Hash of everything that changes the output; the source location and backend do not."""
        material = json.dumps(
            [self.input_sha256, self.generator_version, list(self.generator_options), self.tool_version]
        )
        return hashlib.sha256(material.encode()).hexdigest()[:32]

    def to_json(self) -> Dict[str, Any]:
        """Plain-JSON form, stable key order."""
        data = dataclasses.asdict(self)
        data["spec_source"] = public_source(self.spec_source)
        data["generator_options"] = list(self.generator_options)
        data["fixups"] = list(self.fixups)
        data["cache_key"] = self.cache_key()
        return data


def write_provenance(prov: Provenance, path: Path) -> None:
    """Write provenance as pretty JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(prov.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_provenance(path: Path) -> Optional[Provenance]:
    """Read provenance back, or None when absent or unreadable (treated as unknown origin)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data.pop("cache_key", None)
        data["generator_options"] = tuple(data["generator_options"])
        data["fixups"] = tuple(data["fixups"])
        return Provenance(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None
