"""Generation with the real OpenAPI Generator on the fixture specs (and the real spec when present)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import pytest
from support.paths import REAL_SPEC, SPEC_V1, SPEC_V2

from conductor_regen.config import GeneratorConfig, Settings, resolve_settings
from conductor_regen.errors import GeneratorError, SpecValidationError
from conductor_regen.generator.run import check_output_dir
from conductor_regen.generator.pipeline import generate
from conductor_regen.progress import StepLog

pytestmark = pytest.mark.e2e  # runs the real generator (with caches of its own)


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(resolve_settings(), cache_dir=tmp_path / "cache")


@pytest.fixture(scope="module")
def v2_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("v2")
    s = dataclasses.replace(resolve_settings(), cache_dir=base / "cache")
    generate(str(SPEC_V2), base / "out", s, StepLog(), env={}, use_cache=False)
    return base / "out"


def test_generates_a_verified_tree_with_provenance(v2_tree: Path) -> None:
    pkg = v2_tree / "conductor" / "asyncio_client" / "http"
    assert (pkg / "api" / "human_task_api.py").is_file()
    assert not (pkg / "api" / "metrics_token_resource_api.py").exists()
    prov = json.loads((v2_tree / ".regen" / "provenance.json").read_text())
    assert prov["spec_version"] == "v2"
    assert prov["generator_version"] == "7.14.0" and prov["generator_backend"] == "jar"
    assert prov["fixups"] == ["define-path-parameters", "drop-array-properties", "strip-path-prefix"]
    assert "--skip-operation-example" in prov["generator_options"]
    fed = json.loads((v2_tree / ".regen" / "spec.json").read_text())
    assert hashlib.sha256((v2_tree / ".regen" / "spec.json").read_bytes()).hexdigest() == prov["input_sha256"]
    assert not any(p.startswith("/api") for p in fed["paths"])
    # The SDK convention: no generated resource path carries /api.
    paths = re.findall(r"resource_path='([^']+)'", "".join(p.read_text() for p in (pkg / "api").glob("*.py")))
    assert paths and not [p for p in paths if p.startswith("/api")]
    # The generator's log has timestamps: it stays in the cache, so trees are byte-identical.
    assert {p.name for p in (v2_tree / ".regen").iterdir()} == {"provenance.json", "spec.json"}


def test_same_inputs_give_byte_identical_trees(v2_tree: Path, tmp_path: Path, settings: Settings) -> None:
    generate(str(SPEC_V2), tmp_path / "again", settings, StepLog(), env={}, use_cache=False)
    assert tree_digest(tmp_path / "again") == tree_digest(v2_tree)


def test_rerun_reuses_the_cache_and_replaces_old_output(tmp_path: Path, settings: Settings) -> None:
    spec = str(SPEC_V1)
    first = generate(spec, tmp_path / "out", settings, StepLog(), env={})
    (tmp_path / "out" / "stale.txt").write_text("left from an earlier run")
    steps = StepLog()
    second = generate(spec, tmp_path / "out", settings, steps, env={})
    assert not first.tree.cached and second.tree.cached
    assert not (tmp_path / "out" / "stale.txt").exists()  # replaced whole, never merged
    assert [s.detail for s in steps.steps if s.name == "generate"] == ["reused cached output"]


def test_refuses_a_foreign_output_folder(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    with pytest.raises(GeneratorError, match="not made by this tool"):
        check_output_dir(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "precious"


def test_validation_failure_stops_the_early_generator(tmp_path: Path, settings: Settings) -> None:
    no_fix = dataclasses.replace(settings, fixups=dataclasses.replace(settings.fixups, enabled=False))
    with pytest.raises(SpecValidationError, match="not usable"):
        generate(str(SPEC_V2), tmp_path / "out", no_fix, StepLog(), env={})
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")]


def test_generator_failure_names_its_log(tmp_path: Path, settings: Settings) -> None:
    # There is no Docker engine here: the docker client fails, which exercises the failure path for real.
    docker = dataclasses.replace(settings, generator=GeneratorConfig(backend="docker"))
    with pytest.raises(GeneratorError) as err:
        generate(str(SPEC_V1), tmp_path / "out", docker, StepLog(), env={})
    assert "log" in err.value.hint
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.skipif(not REAL_SPEC.is_file(), reason="../shared/specs is not present")
def test_real_orkes_spec_generates_and_imports(tmp_path: Path, settings: Settings) -> None:
    result = generate(str(REAL_SPEC), tmp_path / "out", settings, StepLog(), env={}, use_cache=False)
    assert result.check.api_modules >= 30 and result.check.model_modules >= 150
    pkg = result.tree.package_dir
    search = (pkg / "api" / "workflow_resource_api.py").read_text()
    assert "resource_path='/workflow/search'" in search
    assert {f.name for f in result.spec.fixups} == {"define-path-parameters", "drop-array-properties",
                                                    "strip-path-prefix"}


def test_a_template_name_declared_as_query_generates_one_path_parameter(v2_tree: Path) -> None:
    """v2 declares {taskReferenceName} only as an optional query parameter: the repaired spec gives one
    required path parameter, never a second `task_reference_name2` (the committed SDK's signature)."""
    import ast

    source = (v2_tree / "conductor" / "asyncio_client" / "http" / "api" / "workflow_resource_api.py").read_text()
    jump = next(n for n in ast.walk(ast.parse(source))
                if isinstance(n, ast.AsyncFunctionDef) and n.name == "jump_to_task")
    names = [a.arg for a in jump.args.args if not a.arg.startswith("_")]
    assert names == ["self", "workflow_id", "task_reference_name", "request_body"]
    assert len(jump.args.defaults) == 5, "only the _request_* keywords have defaults"
    assert "'taskReferenceName'" in source and "_query_params.append(('taskReferenceName'" not in source


def test_a_warm_cache_from_another_backend_is_not_reused_and_provenance_names_the_real_one(
        tmp_path: Path, settings: Settings) -> None:
    spec = str(SPEC_V1)
    jar = generate(spec, tmp_path / "jar", settings, StepLog(), env={})
    npm_settings = dataclasses.replace(settings, generator=dataclasses.replace(settings.generator, backend="npm"))
    npm = generate(spec, tmp_path / "npm", npm_settings, StepLog(), env={})
    again = generate(spec, tmp_path / "npm2", npm_settings, StepLog(), env={})

    assert not jar.tree.cached and not npm.tree.cached and again.tree.cached
    for out, backend in (("jar", "jar"), ("npm", "npm"), ("npm2", "npm")):
        prov = json.loads((tmp_path / out / ".regen" / "provenance.json").read_text())
        assert prov["generator_backend"] == backend, out
    assert tree_digest(tmp_path / "jar" / "conductor") == tree_digest(tmp_path / "npm" / "conductor")
