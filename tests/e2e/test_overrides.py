"""Adapter overrides whose copied annotations drifted from the regenerated base are realigned (real generator, mypy).

The fixture spec v1 with two changes the real spec made to the SDK: a response that becomes the
named `Response` schema (`object` -> `Dict[str, object]`, as DELETE /users/{id} did) and a body
whose type changes. An override that copied the old base's annotations and forwards to super() is
realigned; a deliberate annotation, or an override that does not forward, is left alone.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from support.generated_trees import invoke_generate
from support.paths import SPEC_V1
from support.staged_sdk import PristineHttp, copy_example, shadow_src, stage

from conductor_regen.compat.overrides import realign_overrides

ADAPTER = "adapters/api/secret_resource_api.py"
METHODS = ("delete_secret", "put_secret", "get_secret")


def _changed_spec(tmp_path: Path) -> Path:
    spec = json.loads(SPEC_V1.read_text())
    ops = spec["paths"]["/api/secrets/{key}"]
    ops["delete"]["responses"]["200"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/Response"}
    ops["put"]["requestBody"]["content"]["application/json"]["schema"] = {"type": "object"}
    path = tmp_path / "spec-changed.json"
    path.write_text(json.dumps(spec))
    return path


def _signatures(http: Path) -> Dict[str, ast.AsyncFunctionDef]:
    tree = ast.parse((http / "api" / "secret_resource_api.py").read_text())
    return {f.name: f for f in ast.walk(tree) if isinstance(f, ast.AsyncFunctionDef) and f.name in METHODS}


def _adapter(old: Dict[str, ast.AsyncFunctionDef]) -> str:
    """Overrides that copy the old base's annotations (as a maintainer writes them), in the SDK's style."""
    def ann(name: str, param: str) -> str:
        return next(ast.unparse(a.annotation) for a in old[name].args.args if a.arg == param and a.annotation)

    returns = {name: ast.unparse(f.returns) for name, f in old.items() if f.returns is not None}
    return f'''from typing import Annotated

from pydantic import Field, StrictStr

from conductor.asyncio_client.http.api import SecretResourceApi


class SecretResourceApiAdapter(SecretResourceApi):
    async def delete_secret(self, key: {ann("delete_secret", "key")}, *args, **kwargs) -> {returns["delete_secret"]}:
        # Convert an empty key to None
        if not key:
            key = None
        return await super().delete_secret(key=key, *args, **kwargs)

    async def put_secret(self, key: StrictStr, body: {ann("put_secret", "body")}, *args, **kwargs) -> {returns["put_secret"]}:
        if not body:
            return {{}}
        return await super().put_secret(key=key, body=body, *args, **kwargs)

    async def get_secret(self, key: StrictStr, *args, **kwargs) -> str:
        return await super().get_secret(key=key, *args, **kwargs)
'''


@pytest.fixture(scope="module")
def trees(pristine_http: PristineHttp, tmp_path_factory: pytest.TempPathFactory,
          generator_cache: Path) -> Tuple[Path, Path]:
    base = tmp_path_factory.mktemp("overrides")
    return pristine_http("v1"), invoke_generate(_changed_spec(base), base / "out", generator_cache)


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for the module's checks: mypy goes by content hashes, so the generated modules every shadow
    tree shares are analysed once, and the adapter, which differs, is checked again each time."""
    return tmp_path_factory.mktemp("mypy-cache")


def _overrides(src: Path, method: str, cache: Path) -> List[str]:
    """mypy's `[override]` errors about `method` in the adapter (the SDK style's other errors are not ours)."""
    return [line for line in _mypy(src, cache).splitlines() if "[override]" in line and f'"{method}"' in line]


def _mypy(src: Path, cache: Path) -> str:
    env = {**os.environ, "MYPYPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-error-summary",
                           "--cache-dir", str(cache), "--show-error-codes",
                           str(src / "conductor/asyncio_client" / ADAPTER)],
                          capture_output=True, text=True, env=env, cwd=src, check=False)
    return proc.stdout + proc.stderr


def test_a_forwarding_override_is_realigned_with_its_regenerated_base(trees: Tuple[Path, Path], tmp_path: Path,
                                                                       mypy_cache: Path) -> None:
    old_http, new_http = trees
    old, new = _signatures(old_http), _signatures(new_http)
    # The spec change is real: the generator gives delete_secret a new return type and put_secret a new body type.
    assert ast.unparse(old["delete_secret"].returns) != ast.unparse(new["delete_secret"].returns)  # type: ignore[arg-type]
    root = copy_example(tmp_path)
    staging = stage(root, new_http, tmp_path / "staging")
    (staging / ADAPTER).write_text(_adapter(old))
    assert _overrides(shadow_src(root, staging, tmp_path / "before"), "delete_secret", mypy_cache)

    notes = realign_overrides(old_http, new_http, staging)

    assert [n.split(": ")[1] for n in notes] == ["adapters/api/secret_resource_api.py:9"]
    assert notes[0].startswith("local edit: ") and "SecretResourceApiAdapter.delete_secret" in notes[0]
    text = (staging / ADAPTER).read_text()
    tree = ast.parse(text)
    got = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.AsyncFunctionDef)}
    assert ast.unparse(got["delete_secret"].returns) == ast.unparse(new["delete_secret"].returns)  # type: ignore[arg-type]
    # put_secret does not only forward (it returns {} itself): left alone, although its copy drifted too.
    assert ast.unparse(got["put_secret"].args.args[2].annotation) == ast.unparse(  # type: ignore[arg-type]
        old["put_secret"].args.args[2].annotation)  # type: ignore[arg-type]
    assert ast.unparse(got["get_secret"].returns) == "str"  # type: ignore[arg-type]
    assert "from typing import Dict" in text.splitlines()[:3]
    assert "# Convert an empty key to None" in text  # comments and layout kept
    assert _overrides(shadow_src(root, staging, tmp_path / "after"), "delete_secret", mypy_cache) == []
    # Running again changes nothing.
    assert realign_overrides(old_http, new_http, staging) == ()
    assert (staging / ADAPTER).read_text() == text


def test_a_copied_parameter_type_is_realigned_and_a_deliberate_one_is_not(trees: Tuple[Path, Path], tmp_path: Path,
                                                                          mypy_cache: Path) -> None:
    old_http, new_http = trees
    old, new = _signatures(old_http), _signatures(new_http)
    root = copy_example(tmp_path)
    staging = stage(root, new_http, tmp_path / "staging")
    adapter = _adapter(old).replace("        if not body:\n            return {}\n", "")
    # A deliberate annotation (not the old base's) stays as the maintainer wrote it.
    adapter = adapter.replace("from typing import Annotated", "from typing import Annotated, Any")
    adapter = adapter.replace(f"-> {ast.unparse(old['delete_secret'].returns)}:", "-> Any:")  # type: ignore[arg-type]
    (staging / ADAPTER).write_text(adapter)
    assert _overrides(shadow_src(root, staging, tmp_path / "before"), "put_secret", mypy_cache)
    notes = realign_overrides(old_http, new_http, staging)
    (put,) = notes
    assert "SecretResourceApiAdapter.put_secret realigned" in put and "parameter body" in put
    got = {f.name: f for f in ast.walk(ast.parse((staging / ADAPTER).read_text())) if isinstance(f, ast.AsyncFunctionDef)}
    body = next(a for a in got["put_secret"].args.args if a.arg == "body")
    new_body = next(a for a in new["put_secret"].args.args if a.arg == "body")
    assert ast.unparse(body.annotation) == ast.unparse(new_body.annotation)  # type: ignore[arg-type]
    assert ast.unparse(got["delete_secret"].returns) == "Any"  # type: ignore[arg-type]
    assert _overrides(shadow_src(root, staging, tmp_path / "after"), "put_secret", mypy_cache) == []
