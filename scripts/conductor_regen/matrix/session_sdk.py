"""The SDK checkout a test session runs on: where it is, whether it is one, and when its install is stale."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from conductor_regen.checkout.target import is_run_file
from conductor_regen.file_tree import digest_entry

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


def _packaging_digest(kind: bytes, sdk: Path) -> "hashlib._Hash":
    """A sha256 started with `kind` and the SDK's packaging files (both hashes below depend on them)."""
    digest = hashlib.sha256(kind)
    for name in _FINGERPRINT_FILES:
        path = sdk / name
        if path.is_file():
            digest.update(f"{name}\0".encode() + path.read_bytes() + b"\0")
    return digest


def sdk_fingerprint(sdk: Path) -> str:
    """Hash of what the SDK's wheel is built from: its packaging files and every file under src/ (path, bytes).

    Content, not location or mtimes: a copy of the same checkout builds the same wheel, so a reused
    virtualenv need not reinstall it, while any edit, added or removed file under src/ makes its copy stale.
    A symlink counts by its target's name (never followed: one to /dev/zero must not hang the session), and
    anything but a file or a symlink (a FIFO, a socket) by its name alone. A run's lock and journal do not count:
    the test gate installs the SDK while its run holds them.
    """
    digest = _packaging_digest(b"fingerprint-v3\0", sdk)
    package_dir = sdk / PACKAGE_DIR
    files: List[Tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(sdk / "src"):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        files.extend((Path(dirpath, name).relative_to(sdk).as_posix(), Path(dirpath, name))
                     for name in filenames
                     if not name.endswith((".pyc", ".pyo")) and not is_run_file(Path(dirpath, name), package_dir))
    for rel, path in sorted(files):
        mode = path.lstat().st_mode
        entry = digest_entry(path) if stat.S_ISREG(mode) or stat.S_ISLNK(mode) else "special"
        digest.update(f"{rel}\0{entry}\n".encode())
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


def requirements_key(sdk: Path, extra: Sequence[str]) -> str:
    """Hash of what a session installs besides the SDK's code: its packaging files and the extra requirements.

    Not the checkout's location or its src/ tree: another copy of the same SDK (each gate's run, each test)
    needs the SDK reinstalled, not every requirement resolved again.
    """
    digest = _packaging_digest(b"requirements-v1\0", sdk)
    for requirement in extra:
        digest.update(requirement.encode() + b"\0")
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class InstallState:
    """What a session's virtualenv holds: its requirements' key and the fingerprint of the SDK installed."""

    requirements: str
    sdk: str

    @classmethod
    def read(cls, marker: Path) -> Optional["InstallState"]:
        """The state a virtualenv recorded; None when it recorded none (a fresh virtualenv)."""
        try:
            lines = marker.read_text(encoding="utf-8").split()
        except OSError:
            return None
        if len(lines) == 1:  # an older marker: the SDK's fingerprint alone, requirements unknown
            return cls("", lines[0])
        return cls(lines[0], lines[1]) if len(lines) == 2 else None

    def write(self, marker: Path) -> None:
        """Record the state once the installs succeeded."""
        marker.write_text(f"{self.requirements}\n{self.sdk}\n", encoding="utf-8")


def needs_install(stored: Optional[InstallState], now: InstallState) -> bool:
    """Whether the requirements must be installed (resolved) again: a fresh virtualenv, or they changed.

    With the same requirements a reused virtualenv has them all; at most the SDK's own code changed,
    which `needs_reinstall` settles with one install of the SDK alone.
    """
    return stored is None or stored.requirements != now.requirements


def recorded(stored: Optional[InstallState], now: InstallState, installed_now: bool) -> InstallState:
    """What the virtualenv holds after this run: the SDK now, and the requirements only if they are in.

    When they needed installing and the install did not run (`-R` skips it), the old key stays: a later
    run without `-R` must still install them, not trust a record of what never happened.
    """
    if installed_now or not needs_install(stored, now):
        return now
    return InstallState(stored.requirements if stored is not None else "", now.sdk)
