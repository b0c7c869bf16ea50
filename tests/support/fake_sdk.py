"""Builders for small, real SDK checkouts used by the sdk_target/lock/backup/swap/restore tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Tuple, Union

from conductor_regen.config import SdkConfig
from conductor_regen.checkout.target import SdkTarget, resolve_sdk
from support.paths import REPO

PACKAGE = Path("src/conductor/asyncio_client")

OLD_FILES: Dict[str, str] = {
    "__init__.py": "",
    "http/__init__.py": "from .api_client import ApiClient\n",
    "http/api_client.py": "class ApiClient:\n    version = 'old'\n",
    "http/api/workflow_resource_api.py": "class WorkflowResourceApi:\n    pass\n",
    "http/models/workflow.py": "class Workflow:\n    name: str\n",
    "adapters/__init__.py": "",
    "adapters/models/workflow_adapter.py": "from ...http.models.workflow import Workflow\n",
    "orkes/__init__.py": "",
    "orkes/orkes_clients.py": "class OrkesClients:\n    pass\n",
}

NEW_HTTP: Dict[str, str] = {
    "http/__init__.py": "from .api_client import ApiClient\nfrom .configuration import Configuration\n",
    "http/api_client.py": "class ApiClient:\n    version = 'new'\n",
    "http/configuration.py": "class Configuration:\n    pass\n",
    "http/api/workflow_resource_api.py": "class WorkflowResourceApi:\n    def start(self): ...\n",
}

Snapshot = Dict[str, Union[bytes, Tuple[str, str]]]


def make_sdk(base: Path, name: str = "conductor-python", git: bool = False) -> Path:
    """Create a fake SDK checkout under `base` and return its root."""
    root = base / name
    for rel, text in OLD_FILES.items():
        path = root / PACKAGE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "README.md").write_text("fake sdk\n")
    # A relative link that stays inside the tree: it must be kept as a link, never followed.
    os.symlink("api_client.py", root / PACKAGE / "http" / "client_alias.py")
    if git:
        git_commit_all(root)
    return root


def git_commit_all(root: Path) -> None:
    """Initialise a git repository at `root` with everything committed."""
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"], cwd=root, check=True
    )


def target_of(root: Path) -> SdkTarget:
    """Resolve the fake SDK with the default configuration."""
    return resolve_sdk(SdkConfig(root=root))


def snapshot(top: Path) -> Snapshot:
    """Every file (bytes) and symlink (target) under `top`, by relative path; nothing ignored."""
    found: Snapshot = {}
    if not os.path.lexists(top):
        return found
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(top).as_posix()
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_file():
                found[rel] = path.read_bytes()
            elif path.is_dir() and not any(path.iterdir()):
                found[rel + "/"] = b"<empty dir>"
    return found


def write_files(base: Path, files: Dict[str, str]) -> None:
    """Write `files` (relative path -> text) under `base`."""
    for rel, text in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def child_env(**extra: str) -> Dict[str, str]:
    """Environment for a child Python that can import conductor_regen from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "scripts")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env.update(extra)
    return env


def spawn(code: str, *args: str, **env: str) -> "subprocess.Popen[str]":
    """Start `python -c code args...` with conductor_regen importable."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=child_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, proc: "subprocess.Popen[str]", timeout: float = 10.0) -> None:
    """Wait until `path` exists; fail with the child's output if it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"child exited {proc.returncode} before {path} appeared:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"timed out waiting for {path}:\n{out}\n{err}")
        time.sleep(0.01)
