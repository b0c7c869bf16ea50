"""The getting-started walkthrough: its excerpts come from scripts/walkthrough.py and match its commands."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from support import warm_cli
from support.paths import REPO, SHARED

DOC = REPO / "docs" / "getting-started.md"
SCRIPT = REPO / "scripts" / "walkthrough.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("walkthrough", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["walkthrough"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


walkthrough = load_script()


def region(name: str) -> str:
    found = walkthrough.marker(name).findall(DOC.read_text())
    assert len(found) == 1, f"{name}: {len(found)} marked regions"
    return str(found[0])


@pytest.mark.parametrize("step", walkthrough.STEPS, ids=lambda s: s.name)
def test_each_excerpt_was_written_by_the_script(step: object) -> None:
    text = region(step.name)  # type: ignore[attr-defined]
    lines = text.splitlines()
    assert lines[1] in ("```console", "```markdown")
    assert lines[2] == f"$ {step.shown}"  # type: ignore[attr-defined]
    assert "(run python scripts/walkthrough.py)" not in text
    # Excerpts show the maintainer's paths, never this machine's.
    assert "/tmp/" not in text and str(REPO) not in text


def test_the_doc_has_no_stray_excerpt_markers() -> None:
    names = set(re.findall(r"<!-- walkthrough:([\w-]+) -->", DOC.read_text()))
    assert names == {s.name for s in walkthrough.STEPS}


def test_shown_commands_use_real_tasks_and_options() -> None:
    """Every `conductor-regen TASK --option` the walkthrough shows exists (help is the reference)."""
    for step in walkthrough.STEPS:
        words = step.shown.split("&&")[0].split()
        if words[0] != "conductor-regen" or words[1].startswith("-"):
            continue
        task = words[1]
        done = warm_cli.run([sys.executable, "-m", "conductor_regen", "--help", task], cwd=REPO)
        assert done.returncode == 0, done.stderr
        for option in (w for w in words[2:] if w.startswith("--")):
            assert re.search(rf"(^|\s){re.escape(option)}[=\s]", done.stdout, re.M), (task, option)


def test_mask_hides_only_what_changes_between_runs() -> None:
    text = ("backup 20261129T064831Z-v2 at 2026-11-29 06:48:31 UTC\n  ✓ generate (10.0s)\n"
            "| generate | ok | 10.0 | 35 API modules |\ndone in 115.8s: 68 added")
    masked = walkthrough.mask(text)
    assert "20261129" not in masked and "06:48" not in masked and "10.0" not in masked and "115.8" not in masked
    assert "35 API modules" in masked and "68 added" in masked and "-v2" in masked


def test_excerpt_pickers() -> None:
    output = "noise\n  ✓ compare APIs (1.0s)\nplan:\n  1. back up\nfiles: 2 added\n  + a\n  + b\n  + c\nx\ndone in 3.0s\n"
    pick = walkthrough.between(r"^plan:", r"^files: ", then=2, also=(r"✓ compare", r"^done in "))
    assert pick(output) == ["  ✓ compare APIs (1.0s)", "plan:", "  1. back up", "files: 2 added", "  + a", "  + b",
                            "  ...", "done in 3.0s"]
    assert walkthrough.matching(r"^done")(output) == ["done in 3.0s"]
    # A changed output format still gives an excerpt (the tail) rather than nothing.
    assert walkthrough.matching(r"^never")(output)[-1] == "done in 3.0s"


def test_replace_blocks_needs_the_markers() -> None:
    doc = "a\n<!-- walkthrough:x -->\nold\n<!-- /walkthrough:x -->\nb\n"
    assert walkthrough.replace_blocks(doc, {"x": "new"}) == "a\n<!-- walkthrough:x -->\nnew\n<!-- /walkthrough:x -->\nb\n"
    with pytest.raises(SystemExit):
        walkthrough.replace_blocks(doc, {"y": "new"})


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "sdk").is_dir(), reason="needs ../shared (real SDK and spec)")
def test_doc_excerpts_are_current_for_the_first_steps(generator_cache: Path) -> None:
    """Run the walkthrough's first steps on the real SDK; the doc must show what they print. In the session's
    cache (not this clone's .cache): the real SDK's tests may have generated the same tree already."""
    done = subprocess.run([sys.executable, str(SCRIPT), "--only", "version,dry-run", "--check", "--cache-dir",
                           str(generator_cache)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
