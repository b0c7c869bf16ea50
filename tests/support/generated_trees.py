"""Real generated clients for the operation, name-pinning and change-analysis tests.

Every tree comes from the real OpenAPI Generator: through `python -m invoke generate` (as a user
runs it) or through the pipeline functions (for documents the CLI would not take as they are,
e.g. a pinned spec, whose operationIds repeat across classes). One generator cache per session.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Mapping

import pytest
from support import warm_cli
from support.paths import EXAMPLE_SDK, REPO

from conductor_regen.config import FixupConfig, Settings, resolve_settings
from conductor_regen.spec.fixups import apply_fixups
from conductor_regen.generator.run import generate_tree, package_dir
from conductor_regen.generator.backends import option_list
from conductor_regen.generator.provenance import Provenance

OLD_HTTP = EXAMPLE_SDK / "src" / "conductor" / "asyncio_client" / "http"
PACKAGE = "conductor.asyncio_client.http"


CLASS_ARCHIVES = "class-archives"  # in the shared folder: the one REGEN_CLASS_ARCHIVES names for every run


def session_cache_dir(factory: pytest.TempPathFactory) -> Path:
    """The session's one generator cache (what the `generator_cache` fixture returns): a fixed folder
    under the session's base temp, so no module-level state is needed to share it.

    Under pytest-xdist the workers share its generator output, validator findings, SDK environments,
    pristine-tree baselines, the SDK wheels the nox sessions install and the JVM's class archives (each written
    whole and renamed into place, so two workers can race for one safely; a wheel used within the hour is never
    pruned); the nox virtualenvs in it (`nox/envs`) stay each worker's own, as two sessions must not install
    into one. The class archives are the folder REGEN_CLASS_ARCHIVES names for the CLI runs, so the runs made in
    a worker's own process (which take their settings from the cache folder alone) start from them too.
    """
    path = factory.getbasetemp() / "generator-cache"
    path.mkdir(exist_ok=True)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared_folder(factory)
        # (folder in the cache, folder in the shared one); most keep their names
        links = [(n, n) for n in ("staging", "validation", "sdk-envs", "baselines", "nox/envs/.sdk-wheels")]
        links.append(("generator/class-archives", CLASS_ARCHIVES))
        for name, target in links:
            (shared / target).mkdir(parents=True, exist_ok=True)
            if not (path / name).exists():
                (path / name).parent.mkdir(parents=True, exist_ok=True)
                (path / name).symlink_to(shared / target, target_is_directory=True)
    return path


def shared_folder(factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this run sees (the run's base temp without xdist)."""
    base = factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-cache"


def repaired(spec: Path) -> Dict[str, Any]:
    """A spec file after the default fixups (paths without /api), as pinning and analysis see it."""
    document, _ = apply_fixups(json.loads(spec.read_text(encoding="utf-8")), FixupConfig())
    return document


def invoke_generate(spec: Path, output: Path, cache: Path) -> Path:
    """`invoke generate --spec SPEC --output OUTPUT`; returns the generated package folder."""
    env = {**os.environ, "REGEN_CACHE_DIR": str(cache)}
    done = warm_cli.run([sys.executable, "-m", "invoke", "--search-root", str(REPO), "generate",
                         "--spec", str(spec), "--output", str(output)], env=env, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    return package_dir(output, PACKAGE)


def settings(cache: Path) -> Settings:
    """Default settings with the session's cache."""
    return dataclasses.replace(resolve_settings(), cache_dir=cache)


def generate_document(document: Mapping[str, Any], output: Path, cache: Path) -> Path:
    """Run the generator on an in-memory document as is (no validation, no fixups)."""
    s = settings(cache)
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    prov = Provenance(spec_source="test", spec_sha256=digest, spec_version="test", input_sha256=digest,
                      generator_backend=s.generator.backend, generator_version=s.generator.version,
                      generator_options=tuple(option_list(s.generator)), fixups=())
    return generate_tree(dict(document), prov, s, output).package_dir


def generate_pinned(spec: Path, previous_http: Path, output: Path, cache: Path) -> Path:
    """The proposed regenerate flow: prepare_spec, pin names to the previous client, generate_verified."""
    from conductor_regen.compat.pinning import pin_operation_ids
    from conductor_regen.analysis.operations import read_client_operations
    from conductor_regen.generator.pipeline import generate_verified, prepare_spec
    from conductor_regen.progress import StepLog

    s = settings(cache)
    steps = StepLog()
    prepared = prepare_spec(str(spec), s, steps, env={})
    pinned, _ = pin_operation_ids(prepared.document, read_client_operations(previous_http))
    generated = generate_verified(dataclasses.replace(prepared, document=pinned), output, s, steps)
    return generated.tree.package_dir
