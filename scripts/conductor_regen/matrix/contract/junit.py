"""The contract run as JUnit XML: one testcase per SDK method, with stable ids, so runs can be compared.

A testcase's classname is the client (`OrkesWorkflowClient`) and its name the method
(`jump_to_task`); setup problems use classname `setup`. Failures are `<failure type="KIND"
message="RULE: detail">` (pre-existing ones too; the session's exit status says whether any is
new), failures the SDK accepted and methods not exercised are `<skipped>`, calls to
removed-but-kept operations pass with a `<system-out>` note. New failures come first (what
`invoke test` and the gate name is the first failure), then the rest in id order. No timestamps or
durations: the same run writes the same bytes. Read back as a baseline, a failure is its id and its rule,
and a method that raised after its requests is remembered as one whose return was never seen.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import FrozenSet, Optional

from conductor_regen.atomic_io import atomic_write_bytes
from conductor_regen.errors import ConfigError
from conductor_regen.matrix.contract.classify import (AFTER_REQUESTS, NOT_EXERCISED, REMOVED, RETURN_UNSEEN,
                                                     ContractResult, Failure, Verdict)

SUITE = "contract"


def _case(parent: ET.Element, verdict: Verdict, accepted: Optional[str] = None) -> None:
    case = ET.SubElement(parent, "testcase", classname=verdict.client, name=verdict.method)
    text = "\n".join((*verdict.requests, *(f"note: {n}" for n in verdict.notes)))
    if accepted is not None:
        skipped = ET.SubElement(case, "skipped", type="accepted", message=f"accepted: {accepted}")
        skipped.text = f"{verdict.headline}: {verdict.detail}" if verdict.detail else verdict.headline
    elif verdict.failed:
        failure = ET.SubElement(case, "failure", type=verdict.kind,
                                message=f"{verdict.headline}: {verdict.detail}" if verdict.detail else verdict.headline)
        failure.text = "\n".join(x for x in (verdict.detail, f"sent by {verdict.api}" if verdict.api else "", text) if x)
    elif verdict.kind == NOT_EXERCISED:
        ET.SubElement(case, "skipped", message=f"not exercised: {verdict.detail}")
    elif verdict.kind == REMOVED or text:
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(x for x in (f"{verdict.headline}: {verdict.detail}" if verdict.kind == REMOVED else "",
                                         text) if x)


def to_xml(result: ContractResult) -> bytes:
    """The JUnit document for a run."""
    # New failures first (the gate's row and `invoke test` name the first failure), then the rest in order.
    everything = (*result.setup, *result.verdicts)
    cases = (*(v for v in everything if result.is_new(v)), *(v for v in everything if not result.is_new(v)))
    reasons = {v.id: reason for v, reason in result.accepted}
    suite = ET.Element("testsuite", name=SUITE, tests=str(len(cases)),
                       failures=str(sum(1 for v in cases if v.failed and v.id not in reasons)), errors="0",
                       skipped=str(sum(1 for v in cases if v.kind == NOT_EXERCISED or v.id in reasons)))
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="summary", value=result.junit_summary())
    for verdict in cases:
        _case(suite, verdict, reasons.get(verdict.id))
    ET.indent(suite)
    data: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def write_junit(result: ContractResult, path: Path) -> None:
    """Write the run's JUnit XML to `path` (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, to_xml(result))


def failed_rules(path: Path) -> FrozenSet[Failure]:
    """(`classname.name`, rule) of every failed (or errored) testcase of a JUnit file: a baseline's failures.

    The rule is the failure message's headline, the part before its first `: `
    (`request rejected (unknown path)`, `wrong return type`).
    """
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ConfigError(f"cannot read the baseline JUnit file {path}: {exc}",
                          "pass the JUnit XML of a contract run on the pristine tree") from exc
    found = set()
    for case in root.iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        classname, name = case.get("classname") or "", case.get("name") or ""
        case_id = f"{classname}.{name}" if classname else name
        if problem is not None:
            found.add((case_id, (problem.get("message") or "").split(": ", 1)[0]))
        elif any(line.startswith(f"note: {AFTER_REQUESTS}")
                 for line in (case.findtext("system-out") or "").splitlines()):
            found.add((case_id, RETURN_UNSEEN))  # it raised after its requests: its return was never seen
    return frozenset(found)
