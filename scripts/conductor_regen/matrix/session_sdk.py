"""The SDK checkout a test session runs on: where it is, whether it is one, and when its install is stale."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import List, Optional, Tuple

PACKAGE_DIR = "src/conductor/asyncio_client"


def resolve_invoked_path(value: Optional[str], invoked_from: str) -> Optional[Path]:
    """Make a path option (--sdk, --junit-dir, --baseline) absolute against where nox was started."""
    if not value:
        return None
    path = Path(os.path.expanduser(value))
    return (path if path.is_absolute() else Path(invoked_from) / path).resolve()


def sdk_problem(sdk: Optional[Path]) -> Optional[str]:
    """What is wrong with an SDK root (None when it looks like a conductor-python checkout)."""
    if sdk is None:
        return "no SDK checkout given (pass --sdk PATH or set CONDUCTOR_SDK_ROOT)"
    if not sdk.is_dir():
        return f"SDK checkout {sdk} does not exist"
    if not (sdk / PACKAGE_DIR).is_dir():
        return f"{sdk} has no {PACKAGE_DIR} (not a conductor-python checkout?)"
    return None


_FINGERPRINT_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "poetry.lock")


def sdk_fingerprint(sdk: Path) -> str:
    """Hash of the checkout's location, src/ tree (paths, sizes, mtimes) and packaging files.

    Any edit, added or removed file under src/ changes it, so a reused virtualenv can tell
    that its installed copy of the SDK is stale.
    """
    digest = hashlib.sha256(f"fingerprint-v1\0{sdk.resolve()}\0".encode())
    entries: List[Tuple[str, int, int]] = []
    src = sdk / "src"
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in filenames:
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(dirpath) / name
            st = path.stat()
            entries.append((path.relative_to(sdk).as_posix(), st.st_size, st.st_mtime_ns))
    for name in _FINGERPRINT_FILES:
        path = sdk / name
        if path.is_file():
            digest.update(f"{name}\0".encode() + path.read_bytes() + b"\0")
    for rel, size, mtime in sorted(entries):
        digest.update(f"{rel}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


def needs_reinstall(stored: Optional[str], current: str, installed_now: bool) -> bool:
    """Whether the venv's copy of the SDK must be reinstalled.

    `stored` is the fingerprint the venv recorded (None: never recorded), `installed_now`
    whether this run's normal install step ran. A fresh venv (nothing stored, install just
    ran) is current; anything else with a different fingerprint is stale (uv does not
    reinstall a local package whose version did not change, and `-R` skips installs).
    """
    if stored == current:
        return False
    return not (stored is None and installed_now)
