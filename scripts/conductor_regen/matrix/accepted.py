"""Accepted lint, typecheck and contract findings: new ones a maintainer reviewed and chose to keep, with a reason.

The SDK keeps them in `.conductor-regen/accepted-findings.json` (committed, reviewed like code).
Each entry is one finding's fingerprint (tool, file, rule, message with `line N` masked, enclosing
symbol; never a line number) and the reason it was accepted. The contract's entries (tool
`contract`) name the client's module, the failure's rule, its detail and the method
(`matrix/contract/judge.py`); each tool reads only its own entries. The file holds nothing about who or
when, and is written sorted, so accepting the same findings twice gives the same bytes. An accepted
finding does not fail its session; it is still listed, as accepted, and an entry that matches no
new finding any more is reported as stale so it can be removed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple

from conductor_regen.atomic_io import atomic_write_json
from conductor_regen.checkout.backups import ACCEPTED_FINDINGS
from conductor_regen.errors import ConfigError
from conductor_regen.matrix.findings import Finding, Key, ToolVerdict, pair_off

ACCEPTED_FILE = Path(ACCEPTED_FINDINGS)  # where backups and restore know it too
_FIELDS = ("tool", "file", "rule", "message", "symbol", "reason")


@dataclasses.dataclass(frozen=True)
class Accepted:
    """One accepted finding: which tool reported it, its fingerprint, and why it is kept."""

    tool: str  # ruff | flake8 | mypy
    file: str
    rule: str
    message: str  # line references masked, as in Finding.key
    symbol: str
    reason: str

    @property
    def key(self) -> Tuple[str, Key]:
        """The tool and the finding's fingerprint."""
        return self.tool, (self.file, self.rule, self.message, self.symbol)

    def render(self) -> str:
        """`file: RULE message (in Symbol)`: what a stale entry names."""
        where = f" (in {self.symbol})" if self.symbol else ""
        return f"{self.file}: {self.rule} {self.message}{where}"

    def to_json(self) -> Dict[str, str]:
        """The entry as written to the file."""
        return {name: getattr(self, name) for name in _FIELDS}


def accepted_path(sdk_root: Path) -> Path:
    """Where an SDK keeps its accepted findings."""
    return sdk_root / ACCEPTED_FILE


def load_accepted(sdk_root: Path) -> Tuple[Accepted, ...]:
    """The SDK's accepted findings (none without the file); ConfigError for a file that is not a list of entries."""
    path = accepted_path(sdk_root)
    if not path.is_file():
        return ()
    hint = f"fix or delete {ACCEPTED_FILE} (written by `nox -s typecheck -- --sdk PATH --accept REASON`)"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint) from exc
    items = data.get("accepted") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{path} has no \"accepted\" list", hint)
    entries: List[Accepted] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not all(isinstance(item.get(f), str) for f in _FIELDS) \
                or not str(item["reason"]).strip():
            raise ConfigError(f"{path}: entry {index} needs the string fields {', '.join(_FIELDS)} "
                              "(a non-empty reason)", hint)
        entries.append(Accepted(*(str(item[f]) for f in _FIELDS)))
    return tuple(entries)


def entries_for(tool: str, findings: Iterable[Finding], reason: str) -> List[Accepted]:
    """Entries accepting `findings` of `tool` for `reason`."""
    return [Accepted(tool, *f.key, reason=reason) for f in findings]


def write_accepted(sdk_root: Path, entries: Sequence[Accepted]) -> Path:
    """Write the SDK's accepted findings, sorted (deterministic bytes); return the file."""
    if any(not e.reason.strip() for e in entries):
        raise ConfigError("an accepted finding needs a reason", "pass --accept \"why this finding is fine\"")
    path = accepted_path(sdk_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(entries, key=lambda e: (e.tool, e.file, e.symbol, e.rule, e.message, e.reason))
    payload: Dict[str, Any] = {
        "about": "lint/typecheck/contract findings reviewed and accepted; each matches one finding by tool, file, "
                 "rule, message and enclosing symbol (no line). Written by "
                 "`nox -s lint|typecheck|contract -- --accept REASON`.",
        "accepted": [e.to_json() for e in ordered],
    }
    atomic_write_json(path, payload)
    return path


def split_accepted(tool: str, new: Sequence[Finding], entries: Sequence[Accepted]
                   ) -> Tuple[Tuple[Finding, ...], Tuple[Finding, ...], Tuple[Accepted, ...]]:
    """(still new, accepted, stale entries): each entry accepts one finding with its fingerprint (a multiset)."""
    mine = [e for e in entries if e.tool == tool]
    still, taken, stale = pair_off(new, mine, lambda f: (tool, f.key), lambda e: e.key)
    return tuple(still), tuple(taken), tuple(stale)


def with_accepted(verdict: ToolVerdict, entries: Sequence[Accepted]) -> ToolVerdict:
    """The verdict with the SDK's accepted findings taken out of what fails (still listed), and stale entries named."""
    tool = verdict.tool.split(" (")[0]
    reasons: Dict[Tuple[str, Key], List[str]] = {}
    for e in entries:
        if e.tool == tool:
            reasons.setdefault(e.key, []).append(e.reason)
    _, taken, stale = split_accepted(tool, verdict.own.new + verdict.http_ours, entries)
    accepted = tuple((f, reasons[(tool, f.key)].pop(0)) for f in taken)
    return dataclasses.replace(verdict, accepted=accepted, stale=tuple(e.render() for e in stale))
