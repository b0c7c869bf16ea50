"""Later keep-removed rounds re-check only what the kept items can change, and still find what they uncover."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict

from conductor_regen.analysis.references import check_references
from conductor_regen.compat.keep import keep_removed

PKG = "conductor.asyncio_client"

THING_OLD = '''class ThingApi:
    async def get(self) -> int:
        return 1

    async def gone(self) -> int:
        return 2

    async def gone2(self) -> int:
        return 3
'''

# A facade delegating to the generated API through __getattr__: the reference check resolves calls on it
# through its `self.<x> = SomeClass()` attributes, which it works out once per class and caches.
FACADE = '''from conductor.asyncio_client.http.api import ThingApi


class Facade:
    def __init__(self) -> None:
        self.things = ThingApi()

    def __getattr__(self, name: str) -> object:
        return getattr(self.things, name)
'''


def user(method: str) -> str:
    return ('from conductor.asyncio_client.adapters.facade import Facade\n\n\n'
            'class User:\n    def __init__(self) -> None:\n        self.facade = Facade()\n\n'
            f'    async def go(self) -> int:\n        return await self.facade.{method}()\n')


def write_all(top: Path, files: Dict[str, str]) -> None:
    for rel, text in files.items():
        path = top / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_kept_export_uncovers_methods_called_from_files_that_had_no_problem(tmp_path: Path) -> None:
    # Round 1 sees only the facade's import of ThingApi (gone from http/api/__init__): the calls in
    # orkes/ go through an attribute that does not resolve yet, so those files report nothing. Once the
    # export is kept, the attribute resolves, and both files turn out to call methods v2 removed. The
    # second user reaches the facade's attributes through the cache the first one filled.
    pkg = tmp_path / "src" / "conductor" / "asyncio_client"
    write_all(pkg, {
        "../__init__.py": "", "__init__.py": "", "http/__init__.py": "", "http/configuration.py": "",
        "http/api/__init__.py": "from conductor.asyncio_client.http.api.thing_api import ThingApi\n",
        "http/api/thing_api.py": THING_OLD,
        "adapters/__init__.py": "", "adapters/facade.py": FACADE,
        "orkes/__init__.py": "", "orkes/a.py": user("gone"), "orkes/b.py": user("gone2"),
    })
    staging = tmp_path / "staging"
    for name in ("http", "adapters", "orkes"):
        shutil.copytree(pkg / name, staging / name)
    (staging / "http/api/__init__.py").write_text("")
    (staging / "http/api/thing_api.py").write_text(THING_OLD.split("\n    async def gone(")[0] + "\n")
    assert len(check_references(staging, pkg)) == 1

    notes = keep_removed(pkg / "http", staging / "http", pkg, staging, version="v2")

    assert notes[0] == "kept export ThingApi in http/api/__init__.py"
    assert sorted(n.split(" in ")[0] for n in notes[1:]) == ["kept method ThingApi.gone", "kept method ThingApi.gone2"]
    assert check_references(staging, pkg) == ()
    kept = (staging / "http/api/thing_api.py").read_text()
    assert "async def gone(self)" in kept and "async def gone2(self)" in kept
