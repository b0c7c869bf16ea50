"""The contract run as JUnit XML: one testcase per SDK method, with stable ids, so runs can be compared.

A testcase's classname is the client (`OrkesWorkflowClient`) and its name the method
(`jump_to_task`); setup problems use classname `setup`. Failures are `<failure>`, methods not
exercised are `<skipped>`, calls to removed-but-kept operations pass with a `<system-out>` note.
No timestamps or durations: the same run writes the same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import FrozenSet

from conductor_regen.atomic_io import atomic_write_bytes
from conductor_regen.errors import ConfigError
from conductor_regen.matrix.contract.classify import NOT_EXERCISED, REMOVED, ContractResult, Verdict

SUITE = "contract"


def _case(parent: ET.Element, verdict: Verdict) -> None:
    case = ET.SubElement(parent, "testcase", classname=verdict.client, name=verdict.method)
    text = "\n".join((*verdict.requests, *(f"note: {n}" for n in verdict.notes)))
    if verdict.failed:
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
    cases = (*result.setup, *result.verdicts)
    suite = ET.Element("testsuite", name=SUITE, tests=str(len(cases)),
                       failures=str(sum(1 for v in cases if v.failed)), errors="0",
                       skipped=str(sum(1 for v in cases if v.kind == NOT_EXERCISED)))
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="summary", value=result.summary_line())
    for verdict in cases:
        _case(suite, verdict)
    ET.indent(suite)
    data: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def write_junit(result: ContractResult, path: Path) -> None:
    """Write the run's JUnit XML to `path` (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, to_xml(result))


def failed_ids(path: Path) -> FrozenSet[str]:
    """`classname.name` of every failed (or errored) testcase of a JUnit file: a baseline's failures."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ConfigError(f"cannot read the baseline JUnit file {path}: {exc}",
                          "pass the JUnit XML of a contract run on the pristine tree") from exc
    ids = set()
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            classname, name = case.get("classname") or "", case.get("name") or ""
            ids.add(f"{classname}.{name}" if classname else name)
    return frozenset(ids)
