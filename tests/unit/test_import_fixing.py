from __future__ import annotations

from pathlib import Path

from conductor_regen.config import GeneratorConfig
from conductor_regen.compat.imports import default_names, fix_imports, fix_source

NEW = "conductor.asyncio_client.http"
OLD = ("openapi_client", "conductor_python_async_sdk")


def test_default_names_include_generator_default_and_project_name() -> None:
    assert default_names(GeneratorConfig()) == OLD


def test_rewrites_every_import_form() -> None:
    src = (
        "import openapi_client\n"
        "import openapi_client.models as m\n"
        "from openapi_client.models.workflow import Workflow\n"
        "from openapi_client import ApiClient\n"
        "from conductor_python_async_sdk.api import X\n"
        "klass = getattr(openapi_client.models, name)\n"
    )
    code, count = fix_source(src, OLD, NEW)
    assert "openapi_client" not in code and "conductor_python_async_sdk" not in code
    assert "from conductor.asyncio_client.http.models.workflow import Workflow" in code
    assert "getattr(conductor.asyncio_client.http.models, name)" in code
    assert count == 6


def test_leaves_lookalikes_alone() -> None:
    src = "openapi_client_x = 1\ny = self.openapi_client.z\nlogging.getLogger('openapi_client')\n"
    assert fix_source(src, OLD, NEW) == (src, 0)


def test_fix_imports_is_idempotent(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from openapi_client.api import WorkflowResourceApi\n")
    (tmp_path / "b.py").write_text("import json\n")
    first = fix_imports([tmp_path], GeneratorConfig())
    assert [f.path.name for f in first] == ["a.py"]
    assert (tmp_path / "a.py").read_text() == f"from {NEW}.api import WorkflowResourceApi\n"
    assert fix_imports([tmp_path], GeneratorConfig()) == []
