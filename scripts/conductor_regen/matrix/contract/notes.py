"""What a maintainer reads after the gate: each new contract failure as an action note, each accepted one apart.

The gate's contract row carries only its counts and the first failure. From the session's JUnit file
(new failures first, accepted ones skipped with their reason) each new failure becomes one `review:`
note naming the method with its file:line, what the method did wrong, what in the spec changed (from
the run's compare-APIs changes, whose `methods` name the public methods a change reaches), and the two
ways on: change the method, or accept the finding with a reason.
"""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple

_NEW = re.compile(r"(\d+) new failures")
# A gate finding the SDK accepted with a reason: the report lists these apart (commands/report.py).
ACCEPTED_BREAK = "accepted break: "

Failed = Tuple[str, str, str]  # (client, method, "rule: detail")


def read_junit(path: Path) -> Tuple[List[Failed], List[Tuple[Failed, str]]]:
    """(new failures, accepted failures with their reason) of a contract JUnit file; nothing if unreadable."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return [], []
    summary = next((p.get("value", "") for p in root.iter("property") if p.get("name") == "summary"), "")
    match = _NEW.search(summary)
    count = int(match.group(1)) if match else 0
    new: List[Failed] = []
    accepted: List[Tuple[Failed, str]] = []
    for case in root.iter("testcase"):
        client, method = case.get("classname") or "", case.get("name") or ""
        failure, skipped = case.find("failure"), case.find("skipped")
        if failure is not None and len(new) < count:
            new.append((client, method, failure.get("message") or ""))
        elif skipped is not None and skipped.get("type") == "accepted":
            reason = (skipped.get("message") or "").removeprefix("accepted: ")
            accepted.append(((client, method, skipped.text or ""), reason))
    return new, accepted


def method_line(sdk_root: Path, package_dir: Path, client: str, method: str) -> Optional[str]:
    """`src/.../orkes/orkes_workflow_client.py:63` for `client.method`, searched in the SDK's orkes package."""
    for path in sorted((package_dir / "orkes").glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if f"class {client}" not in text:
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.name == client:
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == method:
                        return f"{path.relative_to(sdk_root).as_posix()}:{item.lineno}"
    return None


def _changed(changes: Iterable[Mapping[str, Any]], method_id: str) -> str:
    for change in changes:
        if method_id in (change.get("methods") or ()):
            detail = f" ({change['detail']})" if change.get("detail") else ""
            return f"the spec changed {change.get('operation', '?')}{detail}"
    return ""


def review_notes(junit: Path, sdk_root: Path, package_dir: Path, changes: Sequence[Mapping[str, Any]],
                 accept_command: str) -> List[str]:
    """`review:` notes for the new contract failures, and `accepted break:` notes for the accepted ones."""
    new, accepted = read_junit(junit)
    notes: List[str] = []
    for client, method, message in new:
        where = method_line(sdk_root, package_dir, client, method)
        what = _changed(changes, f"{client}.{method}")
        notes.append(f"review: {client}.{method}" + (f" ({where})" if where else "") + f": {message}"
                     + (f"; {what}" if what else "") + "; choices: change the method (its return annotation, or "
                     f"map the new response to what it promises), or go ahead deliberately: {accept_command}")
    for (client, method, message), reason in accepted:
        where = method_line(sdk_root, package_dir, client, method)
        notes.append(f"{ACCEPTED_BREAK}{client}.{method}" + (f" ({where})" if where else "")
                     + f": {message}; reason: {reason}")
    return notes
