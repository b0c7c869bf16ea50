"""`invoke demo`: the main job on the bundled example SDK and specs, offline.

The example SDK and its specs ship inside the package (`conductor_regen/data/demo/`), so the demo runs from a
wheel install (`uv tool install`, `pipx install`) as well as from a clone; the tests use the same files.
"""

from __future__ import annotations

import dataclasses
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Tuple

from conductor_regen.config import Settings
from conductor_regen.config_sources import DEMO_DATA
from conductor_regen.errors import ConfigError
from conductor_regen.progress import StepLog
from conductor_regen.commands.plan import Confirm, RegenOptions, TestRunner
from conductor_regen.commands.regenerate import regenerate
from conductor_regen.checkout.target import resolve_sdk


def fixture_paths(data: Path = DEMO_DATA) -> Tuple[Path, Path, Path]:
    """The example SDK and its v1/v2 specs that ship with the package (under `data/demo/`).

    The demo's test gate checks the contract against v2, the run's spec (the pristine tree records none)."""
    sdk = data / "example_sdk"
    v1 = data / "specs" / "orkes-v1.json"
    v2 = data / "specs" / "orkes-v2.json"
    for path in (sdk, v1, v2):
        if not path.exists():
            raise ConfigError(f"demo data {path} is missing",
                              "reinstall conductor-regen (uv tool install --reinstall, pipx reinstall, "
                              "or python -m pip install --force-reinstall)")
    return sdk, v1, v2


def _writable(root: Path) -> None:
    for path in (root, *root.rglob("*")):
        if not path.is_symlink():
            mode = path.stat().st_mode
            if not mode & stat.S_IWUSR:
                path.chmod(mode | stat.S_IWUSR)


def _never(_plan: object) -> bool:
    return True


def demo_settings(settings: Settings, workdir: Path) -> Settings:
    """The demo's settings: its SDK copy, and its backups in its own workspace rather than in the user's store.

    Its test gate takes these too: the gate judges failures against the backup the run made."""
    return dataclasses.replace(settings, backups_dir=workdir / "backups",
                               sdk=dataclasses.replace(settings.sdk, root=workdir / "example_sdk"))


def run_demo(workdir: Path, settings: Settings, run_tests: Optional[TestRunner] = None,
             confirm: Confirm = _never, data: Path = DEMO_DATA) -> Iterator[str]:
    """Copy the example SDK (a v1 client) into `workdir` and regenerate it from spec v2."""
    example, _v1, v2 = fixture_paths(data)
    sdk_root = workdir / "example_sdk"
    shutil.copytree(example, sdk_root, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    _writable(sdk_root)  # an installed package may be read-only (a system or store install): the copy is ours
    settings = demo_settings(settings, workdir)
    yield f"example SDK copied to {sdk_root}; regenerating it from {v2.name} (v1 -> v2)"
    target = resolve_sdk(settings.sdk)
    options = RegenOptions(spec=str(v2), yes=True, skip_tests=run_tests is None, command="invoke demo")
    report = regenerate(target, options, settings, StepLog(), confirm, run_tests, env={})
    yield report.to_markdown()


@contextmanager
def demo_workspace(keep: bool = False) -> Iterator[Path]:
    """A temporary folder for the demo's SDK copy and backups, removed afterwards unless `keep`."""
    workdir = Path(tempfile.mkdtemp(prefix="conductor-regen-demo-"))
    try:
        yield workdir
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
