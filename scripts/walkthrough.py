"""Run the getting-started walkthrough on the real SDK and write its output excerpts into the docs.

    python scripts/walkthrough.py                      # run it, rewrite the excerpts in docs/getting-started.md
    python scripts/walkthrough.py --check              # run it, exit 1 if the doc's excerpts are out of date
    python scripts/walkthrough.py --only version,dry-run --check

It unpacks the SDK tarball into a temporary folder, commits it (a maintainer's clean checkout), and runs
each step there as a maintainer would: `conductor-regen` (this clone's code, `python -m conductor_regen`)
and `git`. Every excerpt sits in the doc between `<!-- walkthrough:NAME -->` and
`<!-- /walkthrough:NAME -->`. Paths are shown as `~/src/conductor-python` and `~/conductor-regen`;
`--check` also ignores times, backup ids and dates, which differ on every run. Backups the run makes
in this clone's store are removed afterwards (only those: the store is listed before and after).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "getting-started.md"
SHARED = REPO.parent / "shared"
SDK_TARBALL = SHARED / "sdk" / "conductor-python-225f598f.tar.gz"
SPEC = SHARED / "specs" / "orkes-conductor-api-v2.json"
SDK = "conductor-python"

Pick = Callable[[str], List[str]]


# --- excerpts ----------------------------------------------------------------------------------------

def everything(output: str) -> List[str]:
    """The whole output."""
    return output.rstrip("\n").splitlines()


def matching(*patterns: str, fallback_tail: int = 12) -> Pick:
    """Lines matching any pattern, in order; the last lines if none match (the output format changed)."""
    compiled = [re.compile(p) for p in patterns]

    def pick(output: str) -> List[str]:
        lines = output.rstrip("\n").splitlines()
        chosen = [line for line in lines if any(c.search(line) for c in compiled)]
        return chosen or lines[-fallback_tail:]

    return pick


def between(start: str, stop: str, then: int = 0, also: Sequence[str] = ()) -> Pick:
    """From the first line matching `start` through the first matching `stop` and `then` more lines,
    plus the lines matching `also` before and after that range."""
    def pick(output: str) -> List[str]:
        lines = output.rstrip("\n").splitlines()
        first = next((i for i, line in enumerate(lines) if re.search(start, line)), None)
        if first is None:
            return lines[-12:]
        last = next((i for i in range(first, len(lines)) if re.search(stop, lines[i])), first)
        end = min(last + 1 + then, len(lines))

        def extra(part: List[str]) -> List[str]:
            return [line for line in part if any(re.search(p, line) for p in also)]

        chosen = extra(lines[:first]) + lines[first:end]
        if then and end < len(lines):
            chosen.append("  ...")
        return chosen + extra(lines[end:])

    return pick


def report_excerpt(markdown: str) -> List[str]:
    """The report's head, its step table, file counts, first API changes, and the call-binding summary."""
    sections: Dict[str, List[str]] = {}
    current = ""
    for line in markdown.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
        sections.setdefault(current, []).append(line)
    out = [line for line in sections.get("", []) if line.strip()]
    for title, keep in (("Steps", 40), ("Files", 3), ("API changes", 12), ("Call binding", 3)):
        body = [line for line in sections.get(title, []) if line.strip()][:keep]
        if body:
            out += [""] + body
            if len([line for line in sections[title] if line.strip()]) > keep:
                out.append("...")
    return out


# --- the walkthrough ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One command of the walkthrough and how to excerpt what it prints."""

    name: str
    shown: str  # the command as the doc shows it
    argv: Tuple[str, ...]  # what runs; "conductor-regen" is this clone's `python -m conductor_regen`
    pick: Pick = everything
    ok_codes: Tuple[int, ...] = (0,)
    from_file: Optional[str] = None  # excerpt this file (relative to the work folder) instead of the output


STEPS: Tuple[Step, ...] = (
    Step("version", "conductor-regen --version", ("conductor-regen", "--version")),
    Step("dry-run", "conductor-regen regenerate --spec ../swagger.json --dry-run",
         ("conductor-regen", "regenerate", "--spec", "../swagger.json", "--dry-run"),
         between(r"^plan:", r"^files: ", then=4, also=(r"^\s*✓ compare APIs", r"^done in "))),
    Step("regenerate", "conductor-regen regenerate --spec ../swagger.json --yes --report ../report.json",
         ("conductor-regen", "regenerate", "--spec", "../swagger.json", "--yes", "--report", "../report.json"),
         matching(r"^\s+[✓✗] ", r"^backed up ", r"^report: ", r"^done in ")),
    Step("report", "less ../report.md", (), report_excerpt, from_file="report.md"),
    Step("matrix", "conductor-regen test", ("conductor-regen", "test"),
         between(r"^session\s+python\s", r"session\(s\): ", also=(r"^ERROR:",)), ok_codes=(0, 1)),
    Step("changes", "git status --short | cut -c1-2 | sort | uniq -c",
         ("sh", "-c", "git status --short | cut -c1-2 | sort | uniq -c")),
    Step("backups", "conductor-regen backups", ("conductor-regen", "backups")),
    Step("restore", "conductor-regen restore --yes && git status --short",
         ("sh", "-c", f"{sys.executable} -m conductor_regen restore --yes && git status --short"),
         matching(r"^restored backup ", r"^saved the current tree ", r"^removed \d+ file\(s\) the run")),
)


# --cache-dir: the runs' cache (REGEN_CACHE_DIR), for a test run that has one to share; else the tool's default.
CACHE_DIR: Optional[Path] = None


def _env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not (k.startswith("REGEN_") or k.startswith("CONDUCTOR_"))}
    if CACHE_DIR is not None:
        env["REGEN_CACHE_DIR"] = str(CACHE_DIR)
    env["PYTHONPATH"] = str(REPO / "scripts") + os.pathsep + env.get("PYTHONPATH", "")
    env["COLUMNS"] = "100"
    return env


def run_step(step: Step, work: Path) -> str:
    """Run one step in the checkout; return its output (stdout, then stderr)."""
    if step.from_file is not None:
        return (work / step.from_file).read_text(encoding="utf-8")
    argv = list(step.argv)
    if argv[0] == "conductor-regen":
        argv = [sys.executable, "-m", "conductor_regen", *argv[1:]]
    done = subprocess.run(argv, cwd=work / SDK, env=_env(), capture_output=True, text=True, stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    if done.returncode not in step.ok_codes:
        raise SystemExit(f"walkthrough step {step.name!r} exited with {done.returncode}:\n{output[-3000:]}")
    return output


def normalize(text: str, work: Path) -> str:
    """Show machine-specific paths as a maintainer's: ~/src for the work folder, ~/conductor-regen for this clone."""
    for real, shown in ((work / SDK, f"~/src/{SDK}"), (work, "~/src"), (REPO, "~/conductor-regen"), (Path.home(), "~")):
        text = text.replace(str(real), shown)
    return text


def block(step: Step, lines: List[str]) -> str:
    """The fenced excerpt as it appears in the doc."""
    fence = "markdown" if step.from_file else "console"
    body = "\n".join(line.rstrip() for line in lines)
    return f"```{fence}\n$ {step.shown}\n{body}\n```" if body else f"```{fence}\n$ {step.shown}\n```"


_VOLATILE = (
    (re.compile(r"\b\d{8}T\d{6}Z(?:-\d+)?"), "<stamp>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}( UTC)?"), "<date>"),
    (re.compile(r"\b\d+(?:\.\d+)?s\b"), "<secs>"),
    (re.compile(r"\| \d+\.\d+ \|"), "| <secs> |"),
    (re.compile(r"passed in [\d.]+s|in \d+\.\d+s"), "<secs>"),
)


def mask(text: str) -> str:
    """Hide what differs on every run (times, backup ids, dates) for --check."""
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text


def marker(name: str) -> "re.Pattern[str]":
    """The doc region of one excerpt, markers included."""
    return re.compile(rf"<!-- walkthrough:{re.escape(name)} -->\n.*?<!-- /walkthrough:{re.escape(name)} -->", re.S)


def replace_blocks(doc: str, blocks: Dict[str, str]) -> str:
    """Put each block between its markers; a missing marker is an error (the doc and script disagree)."""
    for name, text in blocks.items():
        pattern = marker(name)
        if not pattern.search(doc):
            raise SystemExit(f"{DOC} has no <!-- walkthrough:{name} --> marker")
        replacement = f"<!-- walkthrough:{name} -->\n{text}\n<!-- /walkthrough:{name} -->"
        doc = pattern.sub(lambda _m: replacement, doc)  # a function: the text may hold backslashes
    return doc


def _store_entries(store: Path) -> Set[Path]:
    return {p for p in (store / SDK).iterdir()} if (store / SDK).is_dir() else set()


def _backups_store(work: Path) -> Path:
    sys.path.insert(0, str(REPO / "scripts"))
    from conductor_regen.config_sources import resolve_run_settings, tool_repository

    return resolve_run_settings({}, _env(), {}, work / SDK, tool_repository()).settings.backups_dir


def prepare(work: Path, tarball: Path, spec: Path) -> None:
    """Unpack the SDK, commit it as a clean checkout, and put the spec beside it as swagger.json."""
    with tarfile.open(tarball) as tar:
        if sys.version_info >= (3, 12):
            tar.extractall(work, filter="data")
        else:
            tar.extractall(work)  # our own tarball from ../shared
    shutil.copyfile(spec, work / "swagger.json")
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-qm", "conductor-python as released")):
        subprocess.run(["git", "-c", "user.email=walkthrough@example.com", "-c", "user.name=walkthrough", *args],
                       cwd=work / SDK, check=True, capture_output=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the walkthrough; rewrite (or --check) the doc's excerpts."""
    parser = argparse.ArgumentParser(prog="python scripts/walkthrough.py", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the doc instead of rewriting it")
    parser.add_argument("--only", default="", help="comma-separated step names (default: all)")
    parser.add_argument("--sdk-tarball", type=Path, default=SDK_TARBALL)
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--keep", action="store_true", help="keep the work folder and print its path")
    parser.add_argument("--cache-dir", type=Path, help="the runs' cache folder (default: the tool's own)")
    args = parser.parse_args(argv)
    global CACHE_DIR
    CACHE_DIR = args.cache_dir
    wanted = [s for s in args.only.split(",") if s] or [s.name for s in STEPS]
    unknown = set(wanted) - {s.name for s in STEPS}
    if unknown:
        parser.error(f"unknown step(s): {', '.join(sorted(unknown))}; steps: {', '.join(s.name for s in STEPS)}")
    for path in (args.sdk_tarball, args.spec):
        if not path.is_file():
            parser.error(f"{path} is missing (the real SDK tarball and spec live in ../shared)")

    work = Path(tempfile.mkdtemp(prefix="walkthrough-"))
    store = _backups_store(work)
    before = _store_entries(store)
    blocks: Dict[str, str] = {}
    try:
        prepare(work, args.sdk_tarball, args.spec)
        # Steps run in order up to the last one wanted: each depends on the ones before it.
        last = max(i for i, s in enumerate(STEPS) if s.name in wanted)
        for step in STEPS[:last + 1]:
            print(f"walkthrough: {step.name} ...", file=sys.stderr, flush=True)
            output = normalize(run_step(step, work), work)
            if step.name in wanted:
                blocks[step.name] = block(step, step.pick(output))
    finally:
        for entry in _store_entries(store) - before:
            shutil.rmtree(entry, ignore_errors=True)
        if not before and (store / SDK).is_dir() and not any((store / SDK).iterdir()):
            (store / SDK).rmdir()  # the run made the SDK's folder in the store; leave none behind
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    doc = DOC.read_text(encoding="utf-8")
    updated = replace_blocks(doc, blocks)
    if args.check:
        stale = [n for n in blocks if mask(marker(n).search(doc).group(0)) != mask(marker(n).search(updated).group(0))]  # type: ignore[union-attr]
        for name in stale:
            print(f"{DOC.name}: the {name!r} excerpt is out of date; run python scripts/walkthrough.py", file=sys.stderr)
        return 1 if stale else 0
    if updated != doc:
        DOC.write_text(updated, encoding="utf-8")
        print(f"updated {len(blocks)} excerpt(s) in {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
