"""Removed but still referenced: the previous generated code is kept (deprecated), dropped, or refused."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Tuple

import pytest
from support.staged_sdk import PACKAGE, copy_example, digest, package_dir, run_python, shadow_src, stage

from conductor_regen.compat.keep import keep_removed, spec_version
from conductor_regen.errors import ConfigError, VerificationError
from conductor_regen.analysis.references import check_references
from conductor_regen.generator.verify import import_all


Staged = Tuple[Path, Path, Path]  # (sdk root, package dir, staging)


@pytest.fixture
def staged(tmp_path: Path, v2_http: Path) -> Staged:
    root = copy_example(tmp_path)
    return root, package_dir(root), stage(root, v2_http, tmp_path / "staging")


def keep(staged: Staged, policy: str = "keep") -> Tuple[str, ...]:
    _root, pkg, staging = staged
    return keep_removed(pkg / "http", staging / "http", pkg, staging, policy=policy)


def method_body(path: Path, cls: str, method: str) -> str:
    tree = ast.parse(path.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    func = next(f for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name == method)
    return ast.unparse(func)


def without_warnings(code: str) -> str:
    func = ast.parse(code).body[0]
    assert isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
    func.body = [s for s in func.body if "warnings.warn" not in ast.unparse(s)]
    return ast.unparse(func)


def test_removed_api_model_and_method_are_kept_because_the_sdk_uses_them(staged: Staged) -> None:
    notes = keep(staged)
    _root, pkg, staging = staged
    http = staging / "http"
    joined = "\n".join(notes)
    assert "kept removed API module http/api/metrics_token_resource_api.py (MetricsTokenResourceApi)" in joined
    assert "kept removed model http/models/metrics_token.py (MetricsToken)" in joined
    assert "kept method SecretResourceApi.delete_secret in http/api/secret_resource_api.py" in joined
    assert "removed in spec v2" in joined
    # The operations the v2 server renamed are kept under their old names, and said to be renames.
    assert ("kept method WorkflowResourceApi.search in http/api/workflow_resource_api.py (with search_with_http_info, "
            "search_without_preload_content, _search_serialize): renamed to WorkflowResourceApi.search1 in spec v2"
            in joined)
    assert "kept method TaskResourceApi.search1" in joined and "renamed to TaskResourceApi.search2" in joined
    assert "kept method MetadataResourceApi.get " in joined and "renamed to MetadataResourceApi.get1" in joined

    old = pkg / "http"
    assert (http / "api/metrics_token_resource_api.py").is_file()
    assert (http / "models/metrics_token.py").is_file()
    assert ("from conductor.asyncio_client.http.api.metrics_token_resource_api import MetricsTokenResourceApi"
            in (http / "api/__init__.py").read_text())
    assert ("from conductor.asyncio_client.http.models.metrics_token import MetricsToken"
            in (http / "models/__init__.py").read_text())
    secret = http / "api/secret_resource_api.py"
    for name in ("delete_secret", "delete_secret_with_http_info", "delete_secret_without_preload_content"):
        body = method_body(secret, "SecretResourceApi", name)
        assert (f"warnings.warn(\"SecretResourceApi.{name} was removed from the server's API (spec v2) and is kept "
                "for backward compatibility\", DeprecationWarning, stacklevel=3)") in body
        # Apart from the warning, the old implementation is carried over as it was.
        assert without_warnings(body) == method_body(old / "api/secret_resource_api.py", "SecretResourceApi", name)
    assert method_body(secret, "SecretResourceApi", "_delete_secret_serialize") == method_body(
        old / "api/secret_resource_api.py", "SecretResourceApi", "_delete_secret_serialize")
    assert check_references(staging, pkg) == ()


def test_the_kept_tree_imports_and_warns_when_used(staged: Staged, tmp_path: Path) -> None:
    keep(staged)
    root, _pkg, staging = staged
    src = shadow_src(root, staging, tmp_path / "shadow")
    check = import_all([src], [PACKAGE])
    assert check.failures == ()
    done = run_python(src, """
import asyncio, warnings
from conductor.asyncio_client.adapters.models import MetricsToken
from conductor.asyncio_client.http.api import SecretResourceApi
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    MetricsToken.from_dict({"token": "t"})
    print(MetricsToken(token="x").token)
print(sorted({str(w.message) for w in seen}))
print(sorted({w.category.__name__ for w in seen}))
import inspect
print(list(inspect.signature(SecretResourceApi.delete_secret).parameters)[:2])
""")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "x"
    assert lines[1] == str(["MetricsToken was removed from the server's API (spec v2) and is kept for backward "
                            "compatibility"])
    assert lines[2] == "['DeprecationWarning']"
    assert lines[3] == "['self', 'key']"


def test_keeping_is_idempotent(staged: Staged) -> None:
    _root, _pkg, staging = staged
    keep(staged)
    first = digest(staging)
    assert keep(staged) == ()
    assert digest(staging) == first


def test_a_second_regeneration_keeps_from_the_kept_tree_without_stacking_warnings(
        tmp_path: Path, v2_http: Path) -> None:
    root = copy_example(tmp_path)
    pkg = package_dir(root)
    first = stage(root, v2_http, tmp_path / "first")
    keep_removed(pkg / "http", first / "http", pkg, first)
    # The kept tree went live; the server's spec is unchanged, so the same items are kept again.
    shutil.rmtree(pkg / "http")
    shutil.copytree(first / "http", pkg / "http")
    second = stage(root, v2_http, tmp_path / "second")
    notes = keep_removed(pkg / "http", second / "http", pkg, second)
    assert any("SecretResourceApi.delete_secret" in n for n in notes)
    assert digest(second / "http") == digest(first / "http")
    body = method_body(second / "http/api/secret_resource_api.py", "SecretResourceApi", "delete_secret")
    assert body.count("warnings.warn(") == 1


def test_policy_drop_changes_nothing(staged: Staged) -> None:
    _root, _pkg, staging = staged
    before = digest(staging)
    assert keep(staged, "drop") == ()
    assert digest(staging) == before


def test_policy_fail_names_what_is_removed_and_where_it_is_used(staged: Staged) -> None:
    _root, _pkg, staging = staged
    before = digest(staging)
    with pytest.raises(VerificationError) as caught:
        keep(staged, "fail")
    message = caught.value.message
    assert "removed from the server's API are still used by the SDK" in message
    for item in ("MetricsTokenResourceApi", "MetricsToken (http/models/metrics_token.py)",
                 "SecretResourceApi.delete_secret (used at src/conductor/asyncio_client/orkes/orkes_secret_client.py:"):
        assert item in message
    assert "keep policy" in caught.value.hint
    assert digest(staging) == before


def test_unknown_policy_is_a_config_error(staged: Staged) -> None:
    with pytest.raises(ConfigError):
        keep(staged, "maybe")


def test_kept_models_bring_the_removed_models_they_import(tmp_path: Path, v2_http: Path) -> None:
    root = copy_example(tmp_path)
    pkg = package_dir(root)
    # The previous client had MetricsToken refer to another model that v2 also lacks.
    old_models = pkg / "http" / "models"
    (old_models / "token_owner.py").write_text(
        "from pydantic import BaseModel\n\n\nclass TokenOwner(BaseModel):\n    name: str = ''\n")
    token = old_models / "metrics_token.py"
    token.write_text(token.read_text().replace(
        "from typing_extensions import Self",
        "from typing_extensions import Self\nfrom conductor.asyncio_client.http.models.token_owner import TokenOwner"))
    staging = stage(root, v2_http, tmp_path / "staging")
    notes = keep_removed(pkg / "http", staging / "http", pkg, staging)
    assert any("http/models/token_owner.py (TokenOwner)" in n for n in notes)
    assert (staging / "http/models/token_owner.py").is_file()
    assert check_references(staging, pkg) == ()
    src = shadow_src(root, staging, tmp_path / "shadow")
    assert import_all([src], [PACKAGE]).failures == ()


def test_nothing_is_kept_when_nothing_removed_is_referenced(tmp_path: Path, v2_http: Path) -> None:
    root = copy_example(tmp_path)
    pkg = package_dir(root)
    for rel in ("adapters/api/metrics_token_resource_api.py", "adapters/models/metrics_token_adapter.py",
                "orkes/orkes_metrics_client.py"):
        (pkg / rel).unlink()
    init = pkg / "adapters/models/__init__.py"
    init.write_text(init.read_text().replace(
        "from conductor.asyncio_client.adapters.models.metrics_token_adapter import (\n"
        "    MetricsTokenAdapter as MetricsToken,\n)\n", "").replace('    "MetricsToken",\n', ""))
    base = pkg / "orkes/orkes_base_client.py"
    base.write_text(base.read_text().replace(
        "from conductor.asyncio_client.adapters.api.metrics_token_resource_api import \\\n"
        "    MetricsTokenResourceApiAdapter\n", "").replace(
        "        self.metrics_token_api = MetricsTokenResourceApiAdapter(self.api_client)", ""))
    clients = pkg / "orkes/orkes_clients.py"
    clients.write_text(clients.read_text().replace(
        "from conductor.asyncio_client.orkes.orkes_metrics_client import \\\n    OrkesMetricsClient\n", "").replace(
        "\n    def get_metrics_client(self) -> OrkesMetricsClient:\n"
        "        return OrkesMetricsClient(self.configuration, self.api_client)\n", "\n"))
    staging = stage(root, v2_http, tmp_path / "staging")
    notes = keep_removed(pkg / "http", staging / "http", pkg, staging)
    assert not any("MetricsToken" in n for n in notes)
    assert not (staging / "http/models/metrics_token.py").exists()
    assert any("delete_secret" in n for n in notes)


def test_spec_version_is_read_from_the_generated_header(v2_http: Path, tmp_path: Path) -> None:
    assert spec_version(v2_http) == "v2"
    odd = tmp_path / "http"
    odd.mkdir()
    # The version lands in generated code, so anything but a plain token is stripped.
    (odd / "configuration.py").write_text('# The version of the OpenAPI document: v3");os.system("x\n')
    assert spec_version(odd) == "v3os.systemx"
    assert spec_version(tmp_path / "missing") == ""


def test_a_package_level_export_is_kept_with_its_all_entry(tmp_path: Path) -> None:
    pkg = tmp_path / "src" / "conductor" / "asyncio_client"

    def write(rel: str, text: str) -> None:
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    old_init = ('__all__ = [\n    "Gone",\n    "Thing",\n]\n\n'
                "from conductor.asyncio_client.http.models.gone import Gone as Gone\n"
                "from conductor.asyncio_client.http.models.thing import Thing as Thing\n")
    for rel, text in {"../__init__.py": "", "__init__.py": "", "http/__init__.py": old_init,
                      "http/models/__init__.py": "", "http/configuration.py": "",
                      "http/models/gone.py": "from pydantic import BaseModel\n\n\nclass Gone(BaseModel):\n    x: int = 0\n",
                      "http/models/thing.py": "class Thing:\n    pass\n",
                      "orkes/__init__.py": "",
                      "orkes/client.py": "from conductor.asyncio_client.http import Gone, Thing\n"}.items():
        write(rel, text)
    staging = tmp_path / "staging"
    shutil.copytree(pkg / "orkes", staging / "orkes")
    shutil.copytree(pkg / "http", staging / "http")
    (staging / "http/models/gone.py").unlink()
    (staging / "http/__init__.py").write_text(
        '__all__ = [\n    "Thing",\n]\n\nfrom conductor.asyncio_client.http.models.thing import Thing as Thing\n')
    notes = keep_removed(pkg / "http", staging / "http", pkg, staging, version="v9")
    assert len(notes) == 2
    assert (staging / "http/__init__.py").read_text() == (
        '__all__ = [\n    "Gone",\n    "Thing",\n]\n\n'
        "# kept for backward compatibility: removed from the server's API (spec v9)\n"
        "from conductor.asyncio_client.http.models.gone import Gone as Gone\n"
        "from conductor.asyncio_client.http.models.thing import Thing as Thing\n")
    assert "spec v9" in (staging / "http/models/gone.py").read_text()
    assert check_references(staging, pkg) == ()
