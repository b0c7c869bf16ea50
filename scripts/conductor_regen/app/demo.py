"""`invoke demo`: the main job on the bundled example SDK and specs, offline."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Tuple

from conductor_regen.config import Settings
from conductor_regen.errors import ConfigError
from conductor_regen.progress import StepLog
from conductor_regen.app.plan import Confirm, RegenOptions, TestRunner
from conductor_regen.app.regenerate import regenerate
from conductor_regen.sdk.target import resolve_sdk


def fixture_paths(fixtures: Path) -> Tuple[Path, Path, Path]:
    """The example SDK and its v1/v2 specs that ship under tests/fixtures."""
    sdk = fixtures / "example_sdk"
    v1 = fixtures / "specs" / "orkes-v1.json"
    v2 = fixtures / "specs" / "orkes-v2.json"
    for path in (sdk, v1, v2):
        if not path.exists():
            raise ConfigError(f"demo fixture {path} is missing", "run the demo from a full clone of this project")
    return sdk, v1, v2


def _never(_plan: object) -> bool:
    return True


def run_demo(fixtures: Path, workdir: Path, settings: Settings, run_tests: Optional[TestRunner] = None,
             confirm: Confirm = _never) -> Iterator[str]:
    """Copy the example SDK (a v1 client) into `workdir` and regenerate it from spec v2."""
    example, _v1, v2 = fixture_paths(fixtures)
    sdk_root = workdir / "example_sdk"
    shutil.copytree(example, sdk_root, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    # The demo keeps its backups in its own workspace rather than in this project's store.
    settings = dataclasses.replace(settings, backups_dir=workdir / "backups",
                                   sdk=dataclasses.replace(settings.sdk, root=sdk_root))
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
