"""Write the settings reference in docs/configuration.md from the one settings table (conductor_regen.config).

    python scripts/settings_doc.py          # rewrite the generated part of docs/configuration.md
    python scripts/settings_doc.py --check  # exit 1 if it is out of date (a test runs this check)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, List, Optional, Tuple, get_args, get_origin

import yaml

from conductor_regen.config import SETTINGS, SettingInfo

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
START, END = "<!-- settings:start (python scripts/settings_doc.py writes this part) -->", "<!-- settings:end -->"
_BLOCK = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)


def _type(info: SettingInfo) -> str:
    if info.choices:
        return " \\| ".join(info.choices)
    hint = next((a for a in get_args(info.type) if a is not type(None)), info.type)  # Optional[X] -> X
    if get_origin(hint) in (tuple, Tuple):
        return "list"
    return "path" if hint is Path else str(getattr(hint, "__name__", hint))


def _value(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _row(info: SettingInfo) -> str:
    default = _value(info.default)
    cells = [_code(info.key), _type(info), _code(default) if len(default) < 40 else f"{len(info.default)} entries",
             _code(info.env), _code(info.flag), info.doc.replace("|", "\\|")]
    return "| " + " | ".join(cells) + " |"


def render() -> str:
    """The generated part of docs/configuration.md: every setting, with how to set it."""
    lines = [START, "",
             "| setting | type | default | environment | flag | what it does |",
             "|---|---|---|---|---|---|",
             *(_row(info) for info in SETTINGS), "",
             "Every setting can also be given as `INVOKE_REGEN_` and its name in capitals, dots as underscores",
             "(`INVOKE_REGEN_BACKUPS_KEEP=3`, `INVOKE_REGEN_GENERATOR_JAVA_HEAP=3g`), at the level of the tool's",
             "`invoke.yaml`; an `INVOKE_REGEN_` variable that names no setting is an error.", "",
             "In a file, a dotted name is a nested key; these are the defaults:", "", "```yaml", "# invoke.yaml",
             example().rstrip("\n"), "```", "", END]
    return "\n".join(lines)


def example() -> str:
    """The defaults as the `regen:` section of an invoke.yaml (a test reads it back into the same settings)."""
    table: dict[str, Any] = {}
    for info in SETTINGS:
        if info.default is None:
            continue
        *heads, name = info.key.split(".")
        node = table
        for head in heads:
            node = node.setdefault(head, {})
        value = info.default
        node[name] = list(value) if isinstance(value, tuple) else str(value) if isinstance(value, Path) else value
    return str(yaml.safe_dump({"regen": table}, sort_keys=False, default_flow_style=False, width=100))


def main(argv: Optional[List[str]] = None) -> int:
    """Rewrite (or, with --check, compare) the generated part of docs/configuration.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the docs are out of date")
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    if not _BLOCK.search(text):
        print(f"{DOC}: no {START} ... {END} block", file=sys.stderr)
        return 1
    updated = _BLOCK.sub(lambda _: render(), text)
    if args.check:
        if updated != text:
            print(f"{DOC} is out of date: run python scripts/settings_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
