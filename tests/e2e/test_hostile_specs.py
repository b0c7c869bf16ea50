"""A spec is data, never code: hostile specs through `diff`, `generate`, `regenerate --dry-run` and `regenerate`.

Each payload, if it ever ran, would create a marker file. The first wall (spec/safety.py) refuses names
and references before validation or generation; the second (generator/source_shape.py) refuses a
generated module that holds more than generated code holds, here planted in the generator's cache (one
of the test's own), so that it is tested apart from the first. Free text (descriptions, defaults, enum
values, patterns) that the generator escapes is generated, and reaches the model as the same string.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest
from support.paths import SPEC_V2
from support.sdk_copies import backup_dirs, cli_env, new_sdk, run_cli, sdk_digest

pytestmark = pytest.mark.e2e

BASE: Dict[str, Any] = json.loads(SPEC_V2.read_text())


def payload(marker: Path) -> str:
    return f'p" if __import__("os").system("touch {marker}") else "'


def hostile_spec(tmp_path: Path, kind: str, marker: Path) -> Path:
    doc = copy.deepcopy(BASE)
    code = payload(marker)
    tag = doc["components"]["schemas"]["Tag"]
    op = doc["paths"]["/api/applications/{id}"]["get"]
    if kind == "property":
        tag["properties"][code] = {"type": "string"}
    elif kind == "schema":
        doc["components"]["schemas"][code] = {"type": "object"}
    elif kind == "parameter":
        op["parameters"][0]["name"] = code
    elif kind == "operationId":
        op["operationId"] = code
    elif kind == "tag":
        op["tags"] = [code]
    elif kind == "pattern":
        tag["properties"]["key"]["pattern"] = f'\\" + __import__("os").system("touch {marker}") + \\"'
    elif kind == "enum default":
        tag["properties"]["m"] = {"type": "string", "enum": ["ok", f"x' + __import__('os').system('touch {marker}') + '"],
                                  "default": f"x' + __import__('os').system('touch {marker}') + '"}
    elif kind == "remote $ref":
        tag["properties"]["x"] = {"$ref": "http://127.0.0.1:9/evil.json#/Evil"}
    spec = tmp_path / f"hostile-{kind.replace(' ', '-')}.json"
    spec.write_text(json.dumps(doc))
    return spec


COMMANDS = {
    "generate": lambda spec, sdk, out: ["generate", "--spec", str(spec), "--output", str(out)],
    "diff": lambda spec, sdk, out: ["diff", "--spec", str(spec), "--sdk", str(sdk)],
    "dry run": lambda spec, sdk, out: ["regenerate", "--spec", str(spec), "--sdk", str(sdk), "--dry-run"],
    "regenerate": lambda spec, sdk, out: ["regenerate", "--spec", str(spec), "--sdk", str(sdk), "--yes"],
}


KINDS = ["property", "schema", "parameter", "operationId", "tag", "pattern", "enum default", "remote $ref"]


# Every kind through `regenerate`, and each other command with every third kind (the first wall is in the
# loading every command shares; each command still meets names, free text and a remote $ref).
@pytest.mark.parametrize(("kind", "command"), [
    (kind, command) for i, kind in enumerate(KINDS) for command in sorted(COMMANDS)
    if command == "regenerate" or sorted(set(COMMANDS) - {"regenerate"}).index(command) == i % 3])
def test_a_hostile_spec_is_refused_before_anything_runs(tmp_path: Path, command: str, kind: str) -> None:
    marker = tmp_path / "MARKER"
    spec = hostile_spec(tmp_path, kind, marker)
    sdk = new_sdk(tmp_path)
    before = sdk_digest(sdk)
    env = cli_env(tmp_path / "backups", tmp_path / "cache")
    task, *args = COMMANDS[command](spec, sdk, tmp_path / "out")

    done = run_cli(task, *args, env=env)

    assert done.code == 1, done
    errors = [line for line in done.output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and "#/" in errors[0], done.output
    assert not marker.exists()
    assert sdk_digest(sdk) == before
    assert backup_dirs(tmp_path / "backups") == []
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "cache" / "staging").exists() or not any((tmp_path / "cache" / "staging").iterdir())


def planting_cache(cache: Path, shared: Path) -> Path:
    """A cache of the test's own, to plant code in its generated trees (`staging/`), that shares with the session's
    cache only what the planted code never reaches: the SDK's environments and the validator's findings."""
    cache.mkdir()
    for name in ("sdk-envs", "validation"):
        (shared / name).mkdir(parents=True, exist_ok=True)
        (cache / name).symlink_to(shared / name, target_is_directory=True)
    return cache


def test_the_second_wall_refuses_planted_code_apart_from_the_first(tmp_path: Path, generator_cache: Path) -> None:
    """Code planted in a cached generated tree (as a broken escape would write it) is refused, never imported."""
    marker = tmp_path / "MARKER"
    cache = planting_cache(tmp_path / "cache", generator_cache)
    env = cli_env(tmp_path / "backups", cache)
    sdk = new_sdk(tmp_path)
    # Fill the cache as each command would (regenerate and diff pin the SDK's method names: another input).
    for warm in (["generate", "--spec", str(SPEC_V2), "--output", str(tmp_path / "out1")],
                 ["regenerate", "--spec", str(SPEC_V2), "--sdk", str(sdk), "--dry-run"]):
        assert run_cli(*warm, env=env).code == 0
    models = sorted((cache / "staging").glob("*/conductor/asyncio_client/http/models/tag.py"))
    assert len(models) == 2, models
    models.append(tmp_path / "out1" / "conductor" / "asyncio_client" / "http" / "models" / "tag.py")
    for model in models:
        text = model.read_text()
        planted = text.replace("    key: Optional[StrictStr] = None",
                               f'    key: Optional[StrictStr] = Field(default=None, alias="key" if '
                               f'__import__("os").system("touch {marker}") else "")', 1)
        assert planted != text
        model.write_text(planted)
    before = sdk_digest(sdk)

    for args in (["generate", "--spec", str(SPEC_V2), "--output", str(tmp_path / "out2")],
                 ["diff", "--spec", str(SPEC_V2), "--sdk", str(sdk)],
                 ["regenerate", "--spec", str(SPEC_V2), "--sdk", str(sdk), "--dry-run"],
                 ["regenerate", "--spec", str(SPEC_V2), "--sdk", str(sdk), "--yes"],
                 ["replace", "--from", str(tmp_path / "out1"), "--sdk", str(sdk), "--yes"]):
        done = run_cli(*args, env=env)
        assert done.code == 1, (args, done)
        assert "models/tag.py:" in done.output and "refused before anything imports it" in done.output, done
        assert not marker.exists(), args
        assert sdk_digest(sdk) == before, args


FREE_TEXT = [
    '"""\nimport os; os.system("touch MARKER")\n"""',
    "'''\nimport os; os.system('touch MARKER')\n'''",
    'x\\" + __import__("os").system("touch MARKER") + \\"',
    "\\' + __import__('os').system('touch MARKER') + '",
    "it's a \\ back\\slash",
]


def test_free_text_is_generated_as_data(tmp_path: Path, generator_cache: Path) -> None:
    """Descriptions, defaults, enum values and patterns full of quotes stay strings in the generated client."""
    doc = copy.deepcopy(BASE)
    tag = doc["components"]["schemas"]["Tag"]
    tag["description"] = FREE_TEXT[0]
    for i, text in enumerate(FREE_TEXT):
        tag["properties"][f"f{i}"] = {"type": "string", "description": text, "default": "ok",
                                      "enum": ["a" + text, "ok"]}
    tag["properties"]["p0"] = {"type": "string", "pattern": '^a["\']?.*$'}
    for item in doc["paths"].values():
        for op in item.values():
            op["summary"], op["description"] = FREE_TEXT[0], FREE_TEXT[3]
    spec = tmp_path / "free-text.json"
    spec.write_text(json.dumps(doc))
    env = cli_env(tmp_path / "backups", generator_cache)
    out = tmp_path / "out"

    done = run_cli("generate", "--spec", str(spec), "--output", str(out), env=env, cwd=tmp_path)
    assert done.code == 0, done
    # Enum values without a line break (the generator turns one into a space) are accepted exactly.
    exact = [i for i, text in enumerate(FREE_TEXT) if "\n" not in text]
    probe = ("import json, sys; from conductor.asyncio_client.http.models.tag import Tag; "
             "texts = json.loads(sys.argv[1]); "
             "print(json.dumps([getattr(Tag(**{k: v}), k) for k, v in texts.items()]))")
    texts = {f"f{i}": "a" + FREE_TEXT[i] for i in exact}
    shown = subprocess.run([sys.executable, "-c", probe, json.dumps(texts)], cwd=tmp_path, capture_output=True,
                           text=True, env={**env, "PYTHONPATH": str(out)}, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == list(texts.values()) and len(texts) == 3
    # The same spec through the commands that import the generated client in the run itself.
    sdk = new_sdk(tmp_path)
    before = sdk_digest(sdk)
    for args in (["diff", "--spec", str(spec), "--sdk", str(sdk)],
                 ["regenerate", "--spec", str(spec), "--sdk", str(sdk), "--dry-run"]):
        done = run_cli(*args, env=env, cwd=tmp_path)
        assert done.code == 0, (args, done)
    assert sdk_digest(sdk) == before
    assert not (tmp_path / "MARKER").exists()
