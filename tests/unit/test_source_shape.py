"""The second wall: a generated module must hold only what the generator's templates write where import runs code.

Real generated trees pass (the example SDK's client, the real SDK's when ../shared is there); each
payload a broken escape could plant is refused, with nothing imported.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from support.paths import EXAMPLE_SDK, REAL_SDK
from support.sdk_copies import extract

from conductor_regen.errors import VerificationError
from conductor_regen.generator.source_shape import ShapeError, check_generated_shape, module_problem

EXAMPLE_HTTP = EXAMPLE_SDK / "src" / "conductor" / "asyncio_client" / "http"

GOOD = '''
"""Docstring."""
from __future__ import annotations
import json
from typing import ClassVar, Dict, List, Optional, TYPE_CHECKING
from pydantic import BaseModel, ConfigDict, Field, field_validator
if TYPE_CHECKING:
    from x import Y
try:
    from typing import Self
except ImportError:
    from typing_extensions import Self
T = TypeVar("T")
RETRY = frozenset(["GET", "PUT"])
Alias = Dict[str, Optional[int]] | None

class Tag(BaseModel):
    """Tag."""
    key: Optional[str] = Field(default='a"b', alias="key", ge=-1)
    __properties: ClassVar[List[str]] = ["key"]
    model_config = ConfigDict(populate_by_name=True, protected_namespaces=())

    @field_validator("key")
    def key_validate(cls, value):
        if value not in set(["a"]):
            raise ValueError("bad")
        return getattr(value, "x", None).__class__

    @classmethod
    def from_dict(cls, obj: Optional[Dict[str, Any]] = None) -> Optional[Self]:
        return cls.model_validate({"key": obj.get("key")})

Tag.model_rebuild(raise_errors=False)
'''


def test_real_generated_trees_pass() -> None:
    assert check_generated_shape(EXAMPLE_HTTP) > 20
    assert module_problem(ast.parse(GOOD), GOOD) is None


def test_the_real_sdks_client_passes(tmp_path: Path) -> None:
    if not REAL_SDK.is_file():
        pytest.skip("../shared is absent")
    extract(REAL_SDK, tmp_path, members=lambda m: "/src/conductor/asyncio_client/http/" in m.name)
    http = next(tmp_path.rglob("asyncio_client/http"))
    assert check_generated_shape(http) > 150


PAYLOADS = {
    "alias breakout": 'class A:\n    x: int = Field(alias="p" if __import__("os").system("id") else "")\n',
    "call at class level": 'class A:\n    print("hi")\n',
    "call at module level": 'import os\nos.system("id")\n',
    "unknown call in a value": 'X = open("/etc/passwd").read()\n',
    "walrus in a default": 'def f(a=(b := 1)):\n    pass\n',
    "decorator call": 'class A:\n    @run(1)\n    def f(self): pass\n',
    "default argument call": 'def f(a=system("id")):\n    pass\n',
    "annotation call": 'def f(a: system("id")):\n    pass\n',
    "base class call": 'class A(make()):\n    pass\n',
    "loop at module level": 'for i in range(3):\n    pass\n',
    "import inside a class": 'class A:\n    import os\n',
    "__import__ in a body": 'def f():\n    return __import__("os")\n',
    "eval in a body": 'def f(x):\n    return eval(x)\n',
    "dunder escape in a body": 'def f():\n    return ().__class__.__base__.__subclasses__()\n',
    "Field with a call inside": 'class A:\n    x: int = Field(default=exec("1"))\n',
    "model_rebuild with an argument": 'A.model_rebuild(exec)\n',
    "attribute target": 'import os\nos.environ = {}\n',
    "lambda value": 'X = lambda: 1\n',
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_each_payload_is_refused_naming_file_and_line(tmp_path: Path, name: str) -> None:
    pkg = tmp_path / "http"  # a good module beside the planted one (the whole example tree: the test below)
    (pkg / "models").mkdir(parents=True)
    (pkg / "models" / "tag.py").write_text(GOOD)
    (pkg / "models" / "zz_planted.py").write_text(PAYLOADS[name])
    with pytest.raises(ShapeError) as caught:
        check_generated_shape(pkg)
    line = caught.value.render()
    assert "models/zz_planted.py:" in line and "refused before anything imports it" in line
    assert "\n" not in line


def test_a_payload_among_the_example_clients_modules_is_refused(tmp_path: Path) -> None:
    pkg = tmp_path / "http"
    shutil.copytree(EXAMPLE_HTTP, pkg)
    (pkg / "api" / "zz_planted.py").write_text(PAYLOADS["call at module level"])
    with pytest.raises(ShapeError) as caught:
        check_generated_shape(pkg)
    assert "api/zz_planted.py:2:" in caught.value.render()


def test_a_module_that_does_not_compile_is_one_line(tmp_path: Path) -> None:
    pkg = tmp_path / "http"
    pkg.mkdir()
    (pkg / "broken.py").write_text('x = r"\\"\n')
    with pytest.raises(VerificationError) as caught:
        check_generated_shape(pkg, shown_as=Path("live/http"))
    assert "live/http/broken.py:1: generated code does not compile" in caught.value.render()
