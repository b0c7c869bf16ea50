"""Which contract failures are new: against the pristine tree (or a JUnit file), minus the SDK's accepted ones.

A failure is pre-existing only when the baseline failed the same method **by the same rule**
(`wrong return type` is new on a method that only `drops response data` on the pristine tree).

- The automatic baseline is the pristine tree (`pristine.find_pristine`: the newest backup, else
  git HEAD), checked by the same driver against the **same** spec as the tree being judged, in
  the same virtualenv with the copy's `src/` first on the path. Its failures are cached under
  `<cache>/baselines/` by the tree's content fingerprint, the spec's content and this package's
  code, so a second run costs nothing.
- `--baseline FILE` reads them from a JUnit file of an earlier run instead (`junit.failed_rules`).
- Accepted findings (`accepted.py`, tool `contract`) are new failures a maintainer reviewed: each
  matches by its client module, rule, detail and method id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

from conductor_regen.errors import VerificationError
from conductor_regen.matrix.accepted import Accepted, entries_for, split_accepted, write_accepted
from conductor_regen.matrix.contract.classify import RETURN_UNSEEN, ContractResult, Failure, Verdict, evaluate
from conductor_regen.matrix.contract.inputs import ContractInputs, client_operations
from conductor_regen.matrix.contract.junit import failed_rules
from conductor_regen.matrix.findings import Finding
from conductor_regen.matrix.pristine import Pristine
from conductor_regen.verdict_cache import cached, store

TOOL = "contract"  # the tool name of contract entries in the accepted findings
KIND = "contract-v2"  # the baseline cache's entries: [[id, rule], ...]
_CODE = Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class Baseline:
    """What failed before: where that comes from, and each failure's id and rule."""

    source: str  # "backup <id>", "git HEAD <sha>", or the JUnit file
    failures: FrozenSet[Failure]


def from_junit(path: Path) -> Baseline:
    """The failures of an earlier run's JUnit file (`--baseline`)."""
    return Baseline(str(path), failed_rules(path))


def read_records(inputs: ContractInputs) -> Dict[str, Any]:
    """The driver's records of a run; VerificationError when it left none."""
    try:
        data = json.loads(inputs.output_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VerificationError(f"the contract driver left no readable records ({inputs.output_file}: {exc})",
                                "see the driver's output above") from exc
    if not isinstance(data, dict):
        raise VerificationError(f"the contract driver's records are not an object ({inputs.output_file})",
                                "see the driver's output above")
    return data


def code_digest() -> str:
    """A hash of this package's code (the driver included): a changed contract never reuses old verdicts."""
    digest = hashlib.sha256()
    for path in sorted(_CODE.rglob("*.py")):
        digest.update(path.relative_to(_CODE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_key(inputs: ContractInputs) -> str:
    """What a baseline's failures depend on besides the tree: the spec's content, the driver's input, the code."""
    config = json.loads(inputs.input_file.read_text(encoding="utf-8"))
    config.pop("spec", None)  # a path in this run's work folder; its content is hashed instead
    spec = hashlib.sha256(inputs.spec_file.read_bytes()).hexdigest()
    return "\0".join((spec, json.dumps(config, sort_keys=True), code_digest()))


def for_tree(inputs: ContractInputs, root: Path, package_dir: str, work_dir: Path) -> ContractInputs:
    """The same run (the same spec and driver input) on another copy of the SDK, `root`."""
    work_dir.mkdir(parents=True, exist_ok=True)
    parts = Path(package_dir).parts
    import_root = root / parts[0] if parts and parts[0] == "src" else root
    return dataclasses.replace(inputs, output_file=work_dir / "contract-records.json", import_root=import_root,
                               operations=client_operations(root / package_dir / "http"))


DriverRun = Callable[[ContractInputs], bool]  # run the driver on these inputs (in the SDK's venv); did it finish?


def from_pristine(pristine: Pristine, inputs: ContractInputs, package_dir: str, run: DriverRun, *,
                  cache_dir: Path) -> Optional[Baseline]:
    """The pristine tree's failures against this run's spec: cached, else the driver on a copy of it.

    None when the driver did not finish on the copy (the caller judges absolutely, and says so).
    """
    key = cache_key(inputs)
    hit = cached(cache_dir, KIND, pristine.fingerprint, key)
    if isinstance(hit, list):
        return Baseline(pristine.source, frozenset((str(i[0]), str(i[1])) for i in hit
                                                   if isinstance(i, list) and len(i) == 2))
    with tempfile.TemporaryDirectory(prefix="regen-pristine-") as tmp:
        copy = pristine.materialize(Path(tmp) / "sdk")
        twin = for_tree(inputs, copy, package_dir, Path(tmp) / "work")
        if not run(twin):
            return None
        result = evaluate(read_records(twin), twin.operations, twin.base_path)
    failures = sorted({(v.id, v.headline) for v in result.failures}
                      | {(v.id, RETURN_UNSEEN) for v in result.methods if v.return_unseen})
    store(cache_dir, KIND, pristine.fingerprint, key, [list(f) for f in failures])
    return Baseline(pristine.source, frozenset(failures))


# --- accepted findings ---------------------------------------------------------------------------

_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+\b")


def module_file(module: str, package: str, package_dir: str) -> str:
    """`conductor.asyncio_client.orkes.x` -> `src/conductor/asyncio_client/orkes/x.py` (the SDK-relative file)."""
    if module and (module == package or module.startswith(package + ".")):
        rest = module[len(package):].lstrip(".")
        return f"{package_dir}/{rest.replace('.', '/')}.py" if rest else f"{package_dir}/__init__.py"
    return f"{package_dir}/orkes"


def finding(verdict: Verdict, package: str, package_dir: str) -> Finding:
    """A contract failure as an accepted-findings fingerprint: file, rule, detail (addresses masked), method id."""
    return Finding(module_file(verdict.module, package, package_dir), 0, 0, verdict.headline,
                   _ADDRESS.sub("0x...", verdict.detail), verdict.id)


def with_accepted(result: ContractResult, entries: Sequence[Accepted], package: str,
                  package_dir: str) -> ContractResult:
    """The result with the SDK's accepted contract findings taken out of what fails (still listed), stale ones named."""
    candidates = result.unexcused
    findings = [finding(v, package, package_dir) for v in candidates]
    _, taken, stale = split_accepted(TOOL, findings, entries)
    reasons: Dict[Tuple[str, Any], List[str]] = {}
    for e in entries:
        if e.tool == TOOL:
            reasons.setdefault(e.key, []).append(e.reason)
    by_finding = {id(f): v for f, v in zip(findings, candidates)}
    accepted = tuple((by_finding[id(f)], reasons[(TOOL, f.key)].pop(0)) for f in taken)
    return dataclasses.replace(result, accepted=accepted, stale=tuple(e.render() for e in stale))


def accept(result: ContractResult, entries: Sequence[Accepted], reason: str, sdk_root: Path, package: str,
           package_dir: str) -> Tuple[ContractResult, int, Optional[Path]]:
    """Accept every failure that would fail the run, for `reason`: (the result, how many, the file written)."""
    if not result.new_failures:
        return result, 0, None
    added = entries_for(TOOL, [finding(v, package, package_dir) for v in result.new_failures], reason)
    kept = [*entries, *added]
    path = write_accepted(sdk_root, kept)
    return with_accepted(result, kept, package, package_dir), len(added), path
