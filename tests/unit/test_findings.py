"""Findings: parsing real tool output, fingerprints that survive moved lines, verdicts, http/ apart, tool choice."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from conductor_regen.matrix.findings import (_spans, Finding, compare, judge, parse_flake8, parse_mypy, parse_ruff,
                                           with_symbols)
from conductor_regen.checkout.target import SdkTarget
from conductor_regen.matrix.lint import lint_tool, typecheck_tool

PKG = "src/conductor/asyncio_client"

CLIENT = '''from __future__ import annotations


class OrkesWorkflowClient:
    async def jump_to_task(self, workflow_id: str) -> None:
        return undefined_name(workflow_id)

    def other(self) -> int:
        return 1
'''


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_parsers_read_each_tools_real_format(tmp_path: Path) -> None:
    write(tmp_path, f"{PKG}/orkes/client.py", CLIENT)
    ruff = json.dumps([{"code": "F821", "filename": str(tmp_path / PKG / "orkes/client.py"), "message":
                        "Undefined name `undefined_name`", "location": {"row": 6, "column": 16},
                        "end_location": {"row": 6, "column": 30}, "fix": None, "noqa_row": 6, "url": "x"}])
    flake8 = f"./{PKG}/orkes/client.py:6:16: F821 undefined name 'undefined_name'\n"
    mypy = (f'{PKG}/orkes/client.py:6:16: error: Name "undefined_name" is not defined  [name-defined]\n'
            f"{PKG}/orkes/client.py:6:16: note: See https://mypy.rtfd.io\n")
    for parser, text, rule in ((parse_ruff, ruff, "F821"), (parse_flake8, flake8, "F821"),
                               (parse_mypy, mypy, "name-defined")):
        (found,) = with_symbols(parser(text, tmp_path), tmp_path)
        assert (found.file, found.line, found.column, found.rule) == (f"{PKG}/orkes/client.py", 6, 16, rule)
        assert found.symbol == "OrkesWorkflowClient.jump_to_task"
        assert "undefined_name" in found.message


def _mypy_finding(root: Path) -> Finding:
    out = f'{PKG}/orkes/client.py:{_line_of(root)}:16: error: Name "undefined_name" is not defined  [name-defined]'
    (found,) = with_symbols(parse_mypy(out, root), root)
    return found


def _line_of(root: Path) -> int:
    return (root / PKG / "orkes/client.py").read_text().splitlines().index(
        "        return undefined_name(workflow_id)") + 1


def test_a_pre_existing_finding_is_excused_a_new_one_fails_and_a_moved_line_is_not_new(tmp_path: Path) -> None:
    write(tmp_path, f"{PKG}/orkes/client.py", CLIENT)
    before = [_mypy_finding(tmp_path)]
    # Ten lines inserted above it: the same finding on another line.
    write(tmp_path, f"{PKG}/orkes/client.py", CLIENT.replace("class Orkes", "\n" * 10 + "class Orkes"))
    moved = _mypy_finding(tmp_path)
    assert moved.line == before[0].line + 10
    assert compare([moved], before).counts() == "0 new, 0 fixed, 1 pre-existing"
    # A second use in another method is new; a finding that went away is fixed.
    extra = Finding(f"{PKG}/orkes/client.py", 20, 16, "name-defined", 'Name "other_name" is not defined', "X.other")
    gone = Finding(f"{PKG}/orkes/x.py", 3, 1, "F401", "unused import", "")
    result = compare([moved, extra], [*before, gone])
    assert result.counts() == "1 new, 1 fixed, 1 pre-existing"
    assert result.new == (extra,) and result.fixed == (gone,)
    # The same message twice where the baseline had it once: one of them is new.
    assert compare([moved, moved], before).counts() == "1 new, 0 fixed, 1 pre-existing"
    # Without a baseline, every finding is new (the absolute verdict).
    assert compare([moved], None).counts() == "1 new, 0 fixed, 0 pre-existing"


def test_line_numbers_inside_messages_do_not_make_a_finding_new() -> None:
    a = Finding("f.py", 30, 1, "F811", "Redefinition of unused `x` from line 12", "C")
    b = Finding("f.py", 31, 1, "F811", "Redefinition of unused `x` from line 13", "C")
    assert a.key == b.key


def test_http_findings_fail_only_in_kept_code_or_local_edits(tmp_path: Path) -> None:
    generated = "class WorkflowResourceApi:\n    def start(self):\n        return 1 + ''\n"
    kept = ("class SecretResourceApi:\n    def delete_secret(self):\n"
            "        warnings.warn('SecretResourceApi.delete_secret was removed from the server API (v2) and is "
            "kept for backward compatibility')\n        return gone_helper()\n")
    write(tmp_path, f"{PKG}/http/api/workflow_resource_api.py", generated)
    write(tmp_path, f"{PKG}/http/api/secret_resource_api.py", kept)
    write(tmp_path, f"{PKG}/orkes/client.py", CLIENT)
    found = with_symbols([
        Finding(f"{PKG}/http/api/workflow_resource_api.py", 3, 16, "operator", "Unsupported operand types"),
        Finding(f"{PKG}/http/api/secret_resource_api.py", 4, 16, "name-defined", 'Name "gone_helper" is not defined'),
        Finding(f"{PKG}/orkes/client.py", 6, 16, "name-defined", 'Name "undefined_name" is not defined'),
    ], tmp_path)
    verdict = judge(found, [], root=tmp_path, tool="mypy (x)", baseline="backup b", http_rel=f"{PKG}/http")
    assert verdict.own.counts() == "1 new, 0 fixed, 0 pre-existing"
    assert verdict.http.counts() == "2 new, 0 fixed, 0 pre-existing"
    assert [f.symbol for f in verdict.http_ours] == ["SecretResourceApi.delete_secret"]
    assert [f.file.rsplit("/", 1)[-1] for f in verdict.failing] == ["client.py", "secret_resource_api.py"]
    lines = verdict.lines("typecheck")
    assert lines[0] == "typecheck: mypy (x): 1 new, 0 fixed, 0 pre-existing (vs backup b)"
    assert lines[1].startswith("typecheck: generated http/: 2 new, 0 fixed, 0 pre-existing; 1 of the new ones")
    assert any("undefined_name" in line for line in lines[2:])


@pytest.mark.parametrize("files, expected", [
    ({"pyproject.toml": "[tool.ruff]\nline-length = 100\n"}, "ruff (pyproject.toml [tool.ruff])"),
    ({"ruff.toml": "line-length = 100\n"}, "ruff (ruff.toml)"),
    ({".flake8": "[flake8]\nmax-line-length = 120\n"}, "flake8 (.flake8)"),
    ({"setup.cfg": "[metadata]\nname = x\n[flake8]\nmax-line-length = 120\n"}, "flake8 (setup.cfg [flake8])"),
    ({"tox.ini": "[flake8]\nexclude = build\n"}, "flake8 (tox.ini [flake8])"),
    ({"setup.cfg": "[metadata]\nname = x\n"},
     "flake8 (nothing configured: the guide's flake8 src/conductor/asyncio_client/)"),
])
def test_lint_follows_the_sdks_own_configuration(tmp_path: Path, files: dict, expected: str) -> None:
    from conductor_regen.matrix.requirements import load_pyproject

    for name, text in files.items():
        write(tmp_path, name, text)
    pyproject = load_pyproject(tmp_path)
    assert lint_tool(tmp_path, pyproject).label == expected


def test_typecheck_says_where_mypy_is_configured(tmp_path: Path) -> None:
    assert typecheck_tool(tmp_path, {}).source == "mypy's defaults: the SDK configures none"
    assert typecheck_tool(tmp_path, {"tool": {"mypy": {"strict": True}}}).source == "pyproject.toml [tool.mypy]"
    write(tmp_path, "setup.cfg", "[mypy]\nstrict = True\n")
    assert typecheck_tool(tmp_path, {}).source == "setup.cfg [mypy]"


def test_the_pristine_tree_is_checked_before_the_sdk_and_a_rerun_checks_only_the_sdk(tmp_path: Path) -> None:
    """mypy keeps one cache for both trees and the tree checked last is the one a rerun finds warm."""
    from conductor_regen.matrix.lint import judged_run
    from conductor_regen.matrix.pristine import Pristine, content_fingerprint

    sdk = tmp_path / "sdk"
    pristine_client = tmp_path / "old" / "client.py"
    write(pristine_client.parent, "client.py", CLIENT)
    write(sdk, f"{PKG}/orkes/client.py", CLIENT + "\nundefined_too()\n")
    files = {f"{PKG}/orkes/client.py": pristine_client}
    pristine = Pristine("backup b1", content_fingerprint(files), files=tuple(files.items()))
    tool = typecheck_tool(sdk, {})
    seen = []

    def run(root: Path) -> str:
        seen.append("sdk" if root == sdk else "pristine")
        text = (root / PKG / "orkes" / "client.py").read_text()
        out = f'{PKG}/orkes/client.py:6:16: error: Name "undefined_name" is not defined  [name-defined]\n'
        if "undefined_too" in text:
            out += f'{PKG}/orkes/client.py:12:1: error: Name "undefined_too" is not defined  [name-defined]\n'
        return out

    for _ in range(2):
        verdict = judged_run(sdk, tool, run, pristine, cache_dir=tmp_path / "baselines", key="k", http_rel=f"{PKG}/http")
        assert [f.message for f in verdict.failing] == ['Name "undefined_too" is not defined'], verdict
    assert seen == ["pristine", "sdk", "sdk"]  # the second run takes the baseline from the cache


def test_accepting_a_finding_leaves_the_pristine_tree_and_its_cached_baseline_as_they_were(target: SdkTarget,
                                                                                            tmp_path: Path) -> None:
    """The record of accepted findings is the tool's, read only for the live verdict: writing it must not make
    the next run check the pristine tree again (the SDK's own files outside the managed folders still count)."""
    from conductor_regen.checkout.backups import create_backup
    from conductor_regen.matrix.accepted import ACCEPTED_FILE
    from conductor_regen.matrix.pristine import from_backup

    backup = create_backup(tmp_path / "store", target, "v1")
    before = from_backup(target, backup)
    write(target.root, ACCEPTED_FILE.as_posix(), '{"accepted": []}\n')
    assert from_backup(target, backup).fingerprint == before.fingerprint
    write(target.root, "tests/test_mine.py", "def test_mine():\n    pass\n")
    assert from_backup(target, backup).fingerprint != before.fingerprint


AWKWARD = ("class A:\r\n    def f(self):  # é\r\n        return 'ü'\r\n\r\n    async def g(self): return 1\r\n",
           "def f():\r    x = 1\r    return x\rclass B: pass",
           "def f():\n    y = '\x0c'\n\x0c\n    return 'ß€'  # trailing\n@dec\nclass C:\n    def h(self): ...",
           "class D:\n    def f(self):\n        def inner(): return '日本'\n        return inner")
MODULES = [(p.name, p.read_text(encoding="utf-8"))
           for p in sorted((Path(__file__).parents[2] / "scripts" / "conductor_regen" / "matrix").glob("*.py"))]
# Named, not shown whole in the test ids: the awkward sources and six of the package's modules with functions.
SOURCES = {**{f"awkward-{i}": s for i, s in enumerate(AWKWARD)}, **dict([m for m in MODULES if "\ndef " in m[1]][:6])}


@pytest.mark.parametrize("source", list(SOURCES.values()), ids=list(SOURCES))
def test_symbol_sources_are_the_parsers_segments(source: str) -> None:
    """The symbols' sources, split once per file, are what ast.get_source_segment gives: \r and \r\n line
    ends, form feeds, multi-byte characters, one-line definitions, nesting."""
    expected = [ast.get_source_segment(source, n) for n in ast.walk(ast.parse(source))
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    spans = _spans(source)
    assert len(spans) == len(expected) > 0
    assert sorted(s[3] for s in spans) == sorted(e or "" for e in expected)
