"""The staging-tree checks fail on each kind of broken tree."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
from support.paths import EXAMPLE_SDK

from conductor_regen.config import Settings, resolve_settings
from conductor_regen.errors import VerificationError
from conductor_regen.generator.provenance import Provenance, write_provenance
from conductor_regen.generator.run import GeneratedTree, known_imports, record_imports
from conductor_regen.generator.verify import (MODULES_PER_WORKER, import_all, import_split, interpreter_fingerprint,
                                              verify_package)

EXAMPLE_SRC = EXAMPLE_SDK / "src"
PKG = "conductor.asyncio_client.http"


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """A generated package alone under an import root, as a staging tree has it."""
    dest = tmp_path / "conductor" / "asyncio_client" / "http"
    shutil.copytree(EXAMPLE_SRC / "conductor" / "asyncio_client" / "http", dest,
                    ignore=shutil.ignore_patterns("__pycache__"))
    for init in (tmp_path / "conductor", tmp_path / "conductor" / "asyncio_client"):
        (init / "__init__.py").write_text("")
    # The committed client deserializes into adapters, absent here; the check only imports.
    return tmp_path


def test_good_tree_passes(tree: Path) -> None:
    check = verify_package(tree, PKG)
    assert check.api_modules == 7 and check.model_modules == 16
    assert check.imported_modules >= 7 + 16


def test_missing_models_folder(tree: Path) -> None:
    shutil.rmtree(tree / "conductor/asyncio_client/http/models")
    with pytest.raises(VerificationError, match="missing models/"):
        verify_package(tree, PKG)


def test_api_without_async(tree: Path) -> None:
    api = tree / "conductor/asyncio_client/http/api/secret_resource_api.py"
    api.write_text(api.read_text().replace("async def ", "def "))
    with pytest.raises(VerificationError, match="secret_resource_api.py"):
        verify_package(tree, PKG)


def test_model_without_pydantic(tree: Path) -> None:
    (tree / "conductor/asyncio_client/http/models/plain.py").write_text("class Plain:\n    pass\n")
    with pytest.raises(VerificationError, match="plain.py"):
        verify_package(tree, PKG)


def test_module_that_fails_to_import(tree: Path) -> None:
    model = tree / "conductor/asyncio_client/http/models/task.py"
    model.write_text(model.read_text() + "\nraise RuntimeError('broken on purpose')\n")
    with pytest.raises(VerificationError, match="broken on purpose"):
        verify_package(tree, PKG)


def test_syntax_error_is_located(tree: Path) -> None:
    model = tree / "conductor/asyncio_client/http/models/task.py"
    model.write_text(model.read_text() + "\ndef broken(:\n")
    with pytest.raises(VerificationError, match=r"task\.py:\d+: generated code does not compile"):
        verify_package(tree, PKG)


def test_export_of_missing_name(tree: Path) -> None:
    init = tree / "conductor/asyncio_client/http/api/__init__.py"
    init.write_text(init.read_text() + "from conductor.asyncio_client.http.api.tags_api import TagsApi\n")
    with pytest.raises(VerificationError, match="tags_api"):
        verify_package(tree, PKG)


def test_import_all_reports_every_failure(tmp_path: Path) -> None:
    pkg = tmp_path / "demo_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "good.py").write_text("X = 1\n")
    (pkg / "bad1.py").write_text("import not_a_module_anywhere\n")
    (pkg / "bad2.py").write_text("raise ValueError('nope')\n")
    check = import_all([tmp_path], ["demo_pkg"])
    assert sorted(m for m, _ in check.failures) == ["demo_pkg.bad1", "demo_pkg.bad2"]
    assert check.modules == 2  # the package and good


@pytest.mark.parametrize("count, interpreters", [(MODULES_PER_WORKER + 5, 1), (2 * MODULES_PER_WORKER + 5, 2)])
def test_a_big_package_is_imported_by_two_interpreters_a_small_one_by_one(tmp_path: Path, count: int,
                                                                          interpreters: int) -> None:
    pids = tmp_path / "pids"
    package = tmp_path / "pkgx"
    for sub in ("", "api", "models"):
        (package / sub).mkdir(exist_ok=True)
        (package / sub / "__init__.py").write_text("")
    for i in range(count):
        (package / "models" / f"m{i:03}.py").write_text(
            f"import os\nwith open({str(pids)!r}, 'a') as f:\n    f.write(str(os.getpid()) + '\\n')\n")
    for broken in ("m000", f"m{count - 1:03}"):  # one in each half of the round-robin
        (package / "models" / f"{broken}.py").write_text("raise ImportError('planted')\n")

    check = import_split(tmp_path, "pkgx", timeout=120)

    assert check.modules == count  # every module tried, the failed ones too
    assert sorted(m for m, _ in check.failures) == ["pkgx.models.m000", f"pkgx.models.m{count - 1:03}"]
    assert len(set(pids.read_text().split())) == min(interpreters, os.cpu_count() or 1)


# --- import verdicts of cached trees ---

def _cached_tree(tmp_path: Path) -> "tuple[GeneratedTree, Settings]":
    settings = resolve_settings({}, {"REGEN_CACHE_DIR": str(tmp_path / "cache")}, {})
    prov = Provenance("spec.json", "a" * 64, "v1", "b" * 64, "jar", "7.14.0", (), ())
    entry = tmp_path / "cache" / "staging" / f"{prov.cache_key()}-jar"
    (entry / ".regen").mkdir(parents=True)
    write_provenance(prov, entry / ".regen" / "provenance.json")
    return GeneratedTree(tmp_path / "out", tmp_path / "out" / "pkg", prov, True, 0.0, "(cached)"), settings


def test_an_import_verdict_is_known_only_for_its_interpreter_and_a_cached_tree(tmp_path: Path) -> None:
    tree, settings = _cached_tree(tmp_path)
    assert known_imports(tree, settings, "fp1") is None
    record_imports(tree, settings, "fp1", 42)
    assert known_imports(tree, settings, "fp1") == 42
    assert known_imports(tree, settings, "fp2") is None
    # A freshly generated tree is always imported: its bytes were never checked.
    assert known_imports(dataclasses.replace(tree, cached=False), settings, "fp1") is None


@pytest.mark.parametrize("content", ["{not json", '["fp1"]', '{"fp1": true}', '{"fp1": 0}', '{"fp1": "42"}'])
def test_a_damaged_verdict_file_means_not_known(tmp_path: Path, content: str) -> None:
    tree, settings = _cached_tree(tmp_path)
    record_imports(tree, settings, "fp1", 42)
    [verdicts] = (tmp_path / "cache" / "staging").glob("imports-*.json")
    verdicts.write_text(content)
    assert known_imports(tree, settings, "fp1") is None
    record_imports(tree, settings, "fp1", 7)  # and recording starts over
    assert known_imports(tree, settings, "fp1") == 7


def test_no_verdict_is_recorded_without_a_cache_entry(tmp_path: Path) -> None:
    tree, settings = _cached_tree(tmp_path)
    shutil.rmtree(tmp_path / "cache" / "staging")
    record_imports(tree, settings, "fp1", 42)
    assert not (tmp_path / "cache" / "staging").exists()


def test_the_fingerprint_follows_the_distributions_the_check_sees(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    before = interpreter_fingerprint()
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # this process's own first entry: not the check's
    assert interpreter_fingerprint() == before
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(site))  # the check inherits it
    empty = interpreter_fingerprint()
    assert empty != before
    (site / "pydantic-99.0.dist-info").mkdir()
    assert interpreter_fingerprint() not in (before, empty)
