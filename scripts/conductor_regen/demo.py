"""`invoke demo`: the main job on the bundled example SDK and specs, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .config import Settings
from .errors import ConfigError
from .pipeline import generate
from .progress import StepLog


def fixture_paths(fixtures: Path) -> tuple[Path, Path, Path]:
    """The example SDK and its v1/v2 specs that ship under tests/fixtures."""
    sdk = fixtures / "example_sdk"
    v1 = fixtures / "specs" / "orkes-v1.json"
    v2 = fixtures / "specs" / "orkes-v2.json"
    for path in (sdk, v1, v2):
        if not path.exists():
            raise ConfigError(f"demo fixture {path} is missing", "run the demo from a full clone of this project")
    return sdk, v1, v2


def run_demo(fixtures: Path, workdir: Path, settings: Settings) -> Iterator[str]:
    """Generate the example v2 client into `workdir` and describe what was produced."""
    _sdk, _v1, v2 = fixture_paths(fixtures)
    steps = StepLog()
    result = generate(str(v2), workdir / "staging", settings, steps, env={})
    pkg = result.tree.package_dir
    yield f"generated {pkg.relative_to(workdir)} from {v2.name}:"
    yield f"  {result.check.api_modules} API modules: " + ", ".join(
        sorted(p.stem for p in (pkg / "api").glob("*.py") if p.stem != "__init__"))
    yield f"  {result.check.model_modules} models, {result.check.imported_modules} modules import cleanly"
    yield "  fixups applied: " + (", ".join(f.name for f in result.spec.fixups) or "none")
    total = sum(s.seconds for s in steps.steps)
    yield f"done in {total:.1f}s"
