"""Lint and type-check findings, fingerprinted so a shifted line is not "new", judged against a baseline.

A finding's fingerprint is its file, rule, message (line numbers inside it masked) and enclosing
symbol (`OrkesWorkflowClient.jump_to_task`), never its line. Comparing two runs is a multiset
difference of fingerprints: `N new, M fixed, K pre-existing`. Findings inside the generated
`http/` are counted apart: a new one there fails only when it lies in code we put there (kept
code, marked "kept for backward compatibility", or a local edit's text), not in what the
generator wrote.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Callable, Dict, Hashable, Iterable, List, Optional, Sequence, Tuple, TypeVar

from conductor_regen.compat import DEPRECATION_MARK

Key = Tuple[str, str, str, str]
T = TypeVar("T")
U = TypeVar("U")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One linter or type-checker message, with the SDK-relative posix path of its file."""

    file: str
    line: int
    column: int
    rule: str
    message: str
    symbol: str = ""  # the innermost enclosing class or function ("" at module level)

    @property
    def key(self) -> Key:
        """The fingerprint: everything but the position."""
        return (self.file, self.rule, _LINE_REF.sub("line N", self.message), self.symbol)

    def render(self) -> str:
        """`file:line:col: RULE message (in Symbol)`."""
        where = f" (in {self.symbol})" if self.symbol else ""
        return f"{self.file}:{self.line}:{self.column}: {self.rule} {self.message}{where}"

    def to_json(self) -> Dict[str, Any]:
        """A plain dict (for the baseline cache)."""
        return dataclasses.asdict(self)


_LINE_REF = re.compile(r"\bline \d+")


def from_json(items: Iterable[Dict[str, Any]]) -> List[Finding]:
    """Findings from `Finding.to_json` dicts."""
    return [Finding(str(i["file"]), int(i["line"]), int(i["column"]), str(i["rule"]), str(i["message"]),
                    str(i.get("symbol", ""))) for i in items]


# --- parsing tool output -------------------------------------------------------------------------

def _relative(path: str, root: Path) -> str:
    p = Path(path)
    if p.is_absolute():
        try:
            return p.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return p.as_posix()
    return p.as_posix().removeprefix("./")


def parse_ruff(text: str, root: Path) -> List[Finding]:
    """`ruff check --output-format=json` output."""
    found: List[Finding] = []
    for item in json.loads(text or "[]"):
        location = item.get("location") or {}
        found.append(Finding(_relative(str(item.get("filename", "")), root), int(location.get("row") or 0),
                             int(location.get("column") or 0), str(item.get("code") or "syntax-error"),
                             str(item.get("message", ""))))
    return found


_FLAKE8 = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<code>[A-Z]+\d*) (?P<msg>.*)$")
_MYPY = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<sev>error|warning): (?P<msg>.*?)"
                   r"(?:  \[(?P<code>[a-z0-9-]+)\])?$")


def parse_flake8(text: str, root: Path) -> List[Finding]:
    """flake8's default format, `path:row:col: CODE text`."""
    found: List[Finding] = []
    for line in text.splitlines():
        m = _FLAKE8.match(line.strip())
        if m:
            found.append(Finding(_relative(m["file"], root), int(m["line"]), int(m["col"]), m["code"], m["msg"]))
    return found


def parse_mypy(text: str, root: Path) -> List[Finding]:
    """mypy's plain output (`--show-column-numbers --show-error-codes --no-pretty`); notes are dropped."""
    found: List[Finding] = []
    for line in text.splitlines():
        m = _MYPY.match(line.rstrip())
        if m:
            found.append(Finding(_relative(m["file"], root), int(m["line"]), int(m["col"] or 0),
                                 m["code"] or m["sev"], m["msg"]))
    return found


# --- enclosing symbols ---------------------------------------------------------------------------

Span = Tuple[int, int, str, str]  # first line, last line, qualified name, source


# Lines as the parser counts them (\r\n, \r or \n ends one), their ends kept: ast's own split.
_PARSER_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _segment(lines: Sequence[str], node: ast.stmt) -> str:
    """`ast.get_source_segment(source, node)` from the source split once: that function splits the whole source
    again for every node, which made the lint session's symbol lookup quadratic (6.3 of 9.5 CPU-s on the
    example SDK's generated package)."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    start, end = node.col_offset, node.end_col_offset
    if end is None or last >= len(lines):
        return ""
    if first == last:  # the offsets count UTF-8 bytes
        return lines[first].encode()[start:end].decode()
    return "".join([lines[first].encode()[start:].decode(), *lines[first + 1:last],
                    lines[last].encode()[:end].decode()])


def _spans(source: str) -> List[Span]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    spans: List[Span] = []
    lines = _PARSER_LINE.findall(source)

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                spans.append((first, child.end_lineno or child.lineno, name,
                              _segment(lines, child)))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def _innermost(spans: Sequence[Span], line: int) -> Optional[Span]:
    best: Optional[Span] = None
    for span in spans:
        if span[0] <= line <= span[1] and (best is None or span[0] >= best[0]):
            best = span
    return best


class SourceIndex:
    """Each file's symbols, parsed once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: Dict[str, Tuple[List[str], List[Span]]] = {}

    def _load(self, rel: str) -> Tuple[List[str], List[Span]]:
        if rel not in self._files:
            try:
                text = (self.root / rel).read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            self._files[rel] = (text.splitlines(), _spans(text))
        return self._files[rel]

    def symbol(self, rel: str, line: int) -> str:
        """The innermost class or function around `line` ("" at module level)."""
        span = _innermost(self._load(rel)[1], line)
        return span[2] if span else ""

    def kept(self, rel: str, line: int) -> bool:
        """Whether `line` is in code the regeneration carried over (marked "kept for backward compatibility")."""
        lines, spans = self._load(rel)
        span = _innermost(spans, line)
        if span is not None and DEPRECATION_MARK in span[3]:
            return True
        near = lines[max(line - 2, 0):line]  # the line itself, or the marker comment just above it
        return any(DEPRECATION_MARK in text for text in near)

    def text(self, rel: str) -> str:
        """The file's text."""
        return "\n".join(self._load(rel)[0])


def with_symbols(findings: Iterable[Finding], root: Path) -> List[Finding]:
    """The findings with their enclosing symbols filled in from the sources under `root`."""
    index = SourceIndex(root)
    return [dataclasses.replace(f, symbol=index.symbol(f.file, f.line)) for f in findings]


# --- verdicts ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Comparison:
    """One group of findings compared with the baseline's."""

    new: Tuple[Finding, ...] = ()
    fixed: Tuple[Finding, ...] = ()
    preexisting: Tuple[Finding, ...] = ()

    def counts(self) -> str:
        """`N new, M fixed, K pre-existing`."""
        return f"{len(self.new)} new, {len(self.fixed)} fixed, {len(self.preexisting)} pre-existing"


def pair_off(items: Sequence[T], others: Sequence[U], key: Callable[[T], Hashable],
             other_key: Callable[[U], Hashable]) -> Tuple[List[T], List[T], List[U]]:
    """Match items with others of the same key, each other used once (a multiset difference).

    Returns (items without a partner, items with one, others left over), each in its input order.
    """
    remaining = collections.Counter(other_key(o) for o in others)
    unpaired: List[T] = []
    paired: List[T] = []
    for item in items:
        k = key(item)
        if remaining[k] > 0:
            remaining[k] -= 1
            paired.append(item)
        else:
            unpaired.append(item)
    left: List[U] = []
    for other in others:
        k = other_key(other)
        if remaining[k] > 0:
            remaining[k] -= 1
            left.append(other)
    return unpaired, paired, left


def _key(finding: Finding) -> Key:
    return finding.key


def compare(current: Sequence[Finding], before: Optional[Sequence[Finding]]) -> Comparison:
    """Match findings by fingerprint (as a multiset); without a baseline every finding is new."""
    if before is None:
        return Comparison(new=tuple(current))
    new, pre, fixed = pair_off(current, before, _key, _key)
    return Comparison(tuple(new), tuple(fixed), tuple(pre))


@dataclasses.dataclass(frozen=True)
class ToolVerdict:
    """A lint or typecheck run judged against the pristine tree: the SDK's own code, and http/ apart."""

    tool: str  # "ruff (pyproject.toml [tool.ruff])", ...
    baseline: str  # "backup <id>", "git HEAD <sha>", or "" (absolute)
    own: Comparison
    http: Comparison
    http_ours: Tuple[Finding, ...] = ()  # new findings in http/ that our kept code or local edits introduced
    # New findings the SDK accepted (`accepted.py`), each with its reason; they do not fail.
    accepted: Tuple[Tuple[Finding, str], ...] = ()
    stale: Tuple[str, ...] = ()  # accepted entries that match no new finding any more

    @property
    def failing(self) -> Tuple[Finding, ...]:
        """What fails the session: new findings in the SDK's own code, and in http/ only ours; never accepted ones."""
        skip = collections.Counter(f for f, _ in self.accepted)
        out: List[Finding] = []
        for f in self.own.new + self.http_ours:
            if skip[f] > 0:
                skip[f] -= 1
            else:
                out.append(f)
        return tuple(out)

    @property
    def against(self) -> str:
        """`vs backup <id>`, or that the verdict is absolute."""
        return f"vs {self.baseline}" if self.baseline else "absolute: no baseline"

    def _own_accepted(self) -> int:
        """How many of the own code's new findings are accepted."""
        left = collections.Counter(f for f, _ in self.accepted)
        count = 0
        for f in self.own.new:
            if left[f] > 0:
                left[f] -= 1
                count += 1
        return count

    def counts(self) -> str:
        """`N new, M fixed, K pre-existing` for the SDK's own code (`N new, A accepted, ...` once some are accepted)."""
        accepted = self._own_accepted()
        middle = f"{accepted} accepted, " if self.accepted else ""
        return (f"{len(self.own.new) - accepted} new, {middle}{len(self.own.fixed)} fixed, "
                f"{len(self.own.preexisting)} pre-existing")

    def summary_line(self, name: str) -> str:
        """One line for `invoke test` and the report: the verdict, then http/ apart."""
        return (f"{name}: {self.tool.split(' (')[0]}: {self.counts()} ({self.against}); http/: {len(self.http.new)} new "
                f"({len(self.http_ours)} in kept or edited code), {len(self.http.fixed)} fixed, "
                f"{len(self.http.preexisting)} pre-existing")

    def lines(self, name: str, limit: int = 20) -> List[str]:
        """The report: the verdict line, the http/ line, the findings that fail, then the accepted and stale ones."""
        out = [f"{name}: {self.tool}: {self.counts()} ({self.against})"]
        out.append(f"{name}: generated http/: {self.http.counts()}; {len(self.http_ours)} of the new ones in code "
                   "this tool kept or edited (they fail), the rest from the generator (reported only)")
        for f in self.failing[:limit]:
            out.append(f"  new: {f.render()}")
        if len(self.failing) > limit:
            out.append(f"  ... and {len(self.failing) - limit} more")
        out += [f"  accepted: {f.render()} -- {reason}" for f, reason in self.accepted]
        out += [f"  stale: accepted {entry}, no longer found: remove it from the accepted findings"
                for entry in self.stale]
        return out

    def summary(self) -> Dict[str, Any]:
        """Counts for `invoke test` and the regenerate report."""
        return {"tool": self.tool, "baseline": self.baseline, "new": len(self.own.new) - self._own_accepted(), "fixed": len(self.own.fixed),
                "preexisting": len(self.own.preexisting), "http_new": len(self.http.new),
                "http_fixed": len(self.http.fixed), "http_preexisting": len(self.http.preexisting),
                "http_ours": len(self.http_ours), "failing": [f.render() for f in self.failing],
                "accepted": [f"{f.render()} -- {reason}" for f, reason in self.accepted], "stale": list(self.stale)}


def _edit_regions(root: Path, http_rel: str, index: SourceIndex) -> Dict[str, List[Tuple[int, int]]]:
    """Line ranges of the SDK's local edits in the generated files (whole files for `content` edits)."""
    from conductor_regen.compat.local_edits import edits_for

    regions: Dict[str, List[Tuple[int, int]]] = {}
    for edit in edits_for(root):
        rel = f"{http_rel}/{edit.file}"
        text = index.text(rel)
        if edit.content is not None:
            regions.setdefault(rel, []).append((1, max(text.count("\n") + 1, 1)))
        elif edit.replace and "\\" not in edit.replace and edit.replace in text:
            start = text[:text.index(edit.replace)].count("\n") + 1
            regions.setdefault(rel, []).append((start, start + edit.replace.count("\n")))
    return regions


def judge(current: Sequence[Finding], before: Optional[Sequence[Finding]], *, root: Path, tool: str,
          baseline: str, http_rel: str) -> ToolVerdict:
    """Split findings into the SDK's own code and `http_rel` (SDK-relative), compare each with `before`."""
    inside = f"{http_rel.rstrip('/')}/"
    own_now = [f for f in current if not f.file.startswith(inside)]
    http_now = [f for f in current if f.file.startswith(inside)]
    own_before = None if before is None else [f for f in before if not f.file.startswith(inside)]
    http_before = None if before is None else [f for f in before if f.file.startswith(inside)]
    http = compare(http_now, http_before)
    index = SourceIndex(root)
    regions = _edit_regions(root, http_rel.rstrip("/"), index)
    ours = tuple(f for f in http.new if index.kept(f.file, f.line)
                 or any(a <= f.line <= b for a, b in regions.get(f.file, ())))
    return ToolVerdict(tool, baseline, compare(own_now, own_before), http, ours)


def to_junit(verdict: ToolVerdict, name: str) -> bytes:
    """JUnit XML: a failed case per failing finding (a passing one when none), a skipped case per accepted one."""
    import xml.etree.ElementTree as ET

    suite = ET.Element("testsuite", name=name, tests=str(max(len(verdict.failing), 1) + len(verdict.accepted)),
                       failures=str(len(verdict.failing)), errors="0", skipped=str(len(verdict.accepted)))
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="summary", value=verdict.summary_line(name))
    for f in verdict.failing:
        case = ET.SubElement(suite, "testcase", classname=f.file, name=f"{f.rule} {f.symbol or '<module>'}")
        failure = ET.SubElement(case, "failure", type=f.rule, message=f"new: {f.render()}")
        failure.text = f.render()
    for f, reason in verdict.accepted:
        case = ET.SubElement(suite, "testcase", classname=f.file, name=f"{f.rule} {f.symbol or '<module>'}")
        ET.SubElement(case, "skipped", type="accepted", message=f"accepted: {reason}").text = f.render()
    if not verdict.failing:
        ET.SubElement(suite, "testcase", classname=name, name="no new findings")
    ET.indent(suite)
    data: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return data + b"\n"
