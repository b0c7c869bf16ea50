"""The `lint` and `typecheck` sessions' core: which tool the SDK configures, and a run judged against a baseline.

`lint` follows the SDK's own configuration: ruff when it has `[tool.ruff]` (or a ruff.toml),
else flake8 when setup.cfg, tox.ini or .flake8 configures it, else the guide's literal
`flake8 src/conductor/asyncio_client/`. `typecheck` runs mypy (reading the SDK's own mypy
settings, if any). Both are judged against the pristine tree (`pristine`): the newest backup,
else git HEAD, else absolutely; the baseline's findings are cached by its content fingerprint.
New findings the SDK accepted (`accepted`) are listed but do not fail.
"""

from __future__ import annotations

import configparser
import dataclasses
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

from conductor_regen.errors import ConfigError
from conductor_regen.matrix.accepted import ACCEPTED_FILE, entries_for, load_accepted, with_accepted, write_accepted
from conductor_regen.matrix.findings import Finding, ToolVerdict, from_json, judge, parse_flake8, parse_mypy, parse_ruff, with_symbols
from conductor_regen.matrix.pristine import Pristine
from conductor_regen.verdict_cache import cached, store

GUIDE_TARGET = "src/conductor/asyncio_client/"


@dataclasses.dataclass(frozen=True)
class Tool:
    """A checker as the SDK configures it: what to install, how to call it, how to read it."""

    name: str  # ruff | flake8 | mypy
    source: str  # where its configuration comes from, for the log and the verdict line

    @property
    def label(self) -> str:
        """`ruff (pyproject.toml [tool.ruff])`."""
        return f"{self.name} ({self.source})"

    def argv(self, target: str, cache_dir: Path, output: Path, extra: Sequence[str] = ()) -> List[str]:
        """The command, run from the SDK root; it never writes into the tree and exits 0 on findings.

        ruff and flake8 write their findings to `output` (their stderr may carry warnings);
        mypy's findings are read from its stdout.
        """
        if self.name == "ruff":
            # --force-exclude: the SDK's excludes apply to the path given too; no .ruff_cache in the tree.
            return ["python", "-m", "ruff", "check", "--output-format=json", f"--output-file={output}",
                    "--force-exclude", "--no-fix", "--no-cache", "--exit-zero", target, *extra]
        if self.name == "flake8":
            return ["python", "-m", "flake8", "--format=default", f"--output-file={output}", "--exit-zero",
                    target, *extra]
        return ["python", "-m", "mypy", f"--cache-dir={cache_dir}", "--show-column-numbers", "--show-error-codes",
                "--no-error-summary", "--no-pretty", "--no-color-output", target, *extra]

    @property
    def success_codes(self) -> Tuple[int, ...]:
        """Exit codes that mean "ran" (mypy exits 1 when it finds errors; 2 is a crash)."""
        return (0, 1) if self.name == "mypy" else (0,)

    def parse(self, output: str, root: Path) -> List[Finding]:
        """The findings in the tool's output, with their enclosing symbols."""
        parser = {"ruff": parse_ruff, "flake8": parse_flake8}.get(self.name, parse_mypy)
        return with_symbols(parser(output, root), root)


def _ini_section(path: Path, section: str) -> bool:
    if not path.is_file():
        return False
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return False
    return parser.has_section(section)


def lint_tool(sdk: Path, pyproject: Mapping[str, Any]) -> Tool:
    """The linter the SDK configures (ruff, then flake8), else the guide's plain flake8."""
    if "ruff" in (pyproject.get("tool") or {}):
        return Tool("ruff", "pyproject.toml [tool.ruff]")
    for name in ("ruff.toml", ".ruff.toml"):
        if (sdk / name).is_file():
            return Tool("ruff", name)
    if (sdk / ".flake8").is_file():
        return Tool("flake8", ".flake8")
    for name in ("setup.cfg", "tox.ini"):
        if _ini_section(sdk / name, "flake8"):
            return Tool("flake8", f"{name} [flake8]")
    return Tool("flake8", f"nothing configured: the guide's flake8 {GUIDE_TARGET}")


def typecheck_tool(sdk: Path, pyproject: Mapping[str, Any]) -> Tool:
    """mypy, saying where the SDK configures it (mypy finds the same file itself)."""
    if "mypy" in (pyproject.get("tool") or {}):
        return Tool("mypy", "pyproject.toml [tool.mypy]")
    for name in ("mypy.ini", ".mypy.ini"):
        if (sdk / name).is_file():
            return Tool("mypy", name)
    for name in ("setup.cfg",):
        if _ini_section(sdk / name, "mypy"):
            return Tool("mypy", f"{name} [mypy]")
    return Tool("mypy", "mypy's defaults: the SDK configures none")


Runner = Callable[[Path], str]  # run the tool from this tree's root, return its output


def baseline_findings(tool: Tool, pristine: Pristine, run: Runner, *, cache_dir: Path,
                      key: str) -> List[Finding]:
    """The tool's findings on the pristine tree: cached by its fingerprint, else run on a copy of it."""
    hit = cached(cache_dir, tool.name, pristine.fingerprint, key)
    if isinstance(hit, list):
        return from_json(hit)
    with tempfile.TemporaryDirectory(prefix="regen-pristine-") as tmp:
        copy = pristine.materialize(Path(tmp) / "sdk")
        found = tool.parse(run(copy), copy)
    store(cache_dir, tool.name, pristine.fingerprint, key, [f.to_json() for f in found])
    return found


def judged_run(sdk: Path, tool: Tool, run: Runner, pristine: Optional[Pristine], *, cache_dir: Path,
               key: str, http_rel: str) -> ToolVerdict:
    """Run the tool on the SDK and judge its findings against the pristine tree (absolutely without one).

    The pristine tree goes first: mypy keeps one cache for both trees, and the tree it checks last is the one a
    rerun finds warm (the baseline's findings are cached by fingerprint, so a rerun checks only the SDK). Real
    SDK: a rerun took 10.7 s when the pristine copy had been checked last, 2.6 s when the SDK had."""
    before = None if pristine is None else baseline_findings(tool, pristine, run, cache_dir=cache_dir, key=key)
    current = tool.parse(run(sdk), sdk)
    return judge(current, before, root=sdk, tool=tool.label, baseline=pristine.source if pristine else "",
                 http_rel=http_rel)


# --- one judged session, as the noxfile runs it --------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SessionVerdict:
    """A judged session: the verdict (accepted findings applied) and what `--accept` wrote, if anything."""

    verdict: ToolVerdict
    accepted_now: int = 0  # findings this run accepted
    accepted_file: Optional[Path] = None  # where they were written


def judged_session(sdk: Path, tool: Tool, run: Runner, *, env: Mapping[str, str], cwd: Path, key: str,
                   absolute: bool = False, accept: str = "") -> SessionVerdict:
    """What the `lint`/`typecheck` session does: find the pristine tree, run, judge (see `judged_run`), then
    take out the SDK's accepted findings; with `accept` (a reason), first accept every finding that would fail."""
    from conductor_regen.matrix.pristine import find_pristine
    from conductor_regen.checkout.target import resolve_sdk

    if accept and not accept.strip():
        raise ConfigError("--accept needs a reason", "pass --accept \"why these findings are fine\"")
    from conductor_regen.config_sources import resolve_session_settings

    settings = resolve_session_settings(sdk, env, cwd)
    target = resolve_sdk(settings.sdk)
    entries = load_accepted(target.root)  # a broken file stops here, before the tools run
    pristine = None if absolute else find_pristine(target, settings.backups_dir)
    http_rel = target.http_dir.relative_to(target.root).as_posix()
    verdict = with_accepted(judged_run(target.root, tool, run, pristine, cache_dir=settings.cache_dir / "baselines",
                                       key=key, http_rel=http_rel), entries)
    if not accept or not verdict.failing:
        return SessionVerdict(verdict)
    added = entries_for(tool.name, verdict.failing, accept.strip())
    path = write_accepted(target.root, [*entries, *added])
    return SessionVerdict(with_accepted(verdict, load_accepted(target.root)), len(added), path)


# --- what the regenerate report tells the maintainer ---------------------------------------------

_TOOL_SESSIONS = ("lint", "typecheck")
_COUNTS = re.compile(r"(?P<new>\d+) new, (?:(?P<accepted>\d+) accepted, )?\d+ fixed, \d+ pre-existing")


def review_notes(rows: Sequence[Mapping[str, str]], sdk_root: Path) -> List[str]:
    """`review:` notes (action notes) for the gate's lint/typecheck rows: their new findings, or accepted ones."""
    notes: List[str] = []
    for row in (r for r in rows if r.get("session") in _TOOL_SESSIONS):
        name, detail = str(row.get("session")), str(row.get("detail", ""))
        m = _COUNTS.search(detail)
        if m is None:
            continue
        if row.get("result") == "failed" and int(m["new"]):
            first = detail.split("FAILED ", 1)[1] if "FAILED " in detail else "see the report"
            notes.append(f"review: {name}: {m['new']} new finding(s), first {first}; fix the SDK code, or rerun with "
                         f"--keep-failed and accept them: nox -s {name} -- --sdk {sdk_root} --accept REASON")
        elif m["accepted"] and int(m["accepted"]):
            notes.append(f"review: {name}: {m['accepted']} new finding(s) accepted in {ACCEPTED_FILE} (listed by "
                         f"nox -s {name} -- --sdk {sdk_root}); remove an entry once its finding is fixed")
    return notes
