"""One contract run, around the driver: what the `contract` nox session calls before and after it.

    inputs = start(sdk, spec, ...)        # repaired spec + driver input, in a work folder
    <python -m in_sdk_venv --input inputs.input_file --output inputs.output_file, in the SDK's venv>
    baseline = judge.from_junit(file)     # --baseline FILE; else the pristine tree's run (`pristine_baseline`),
                                          # unless --absolute
    done = finish(inputs, junit_path, baseline, sdk_root=sdk, accept=reason)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional, Tuple

from conductor_regen.config import Settings
from conductor_regen.errors import ConfigError
from conductor_regen.matrix.accepted import Accepted, load_accepted
from conductor_regen.matrix.contract.classify import ContractResult, evaluate
from conductor_regen.matrix.contract.inputs import (DEFAULT_TIMEOUT, ContractInputs, package_name, prepare,
                                                    spec_source_for)
from conductor_regen.matrix.contract.judge import (Baseline, DriverRun, accept as accept_now, from_junit,
                                                   from_pristine, read_records, with_accepted)
from conductor_regen.matrix.contract.junit import write_junit

if TYPE_CHECKING:
    from conductor_regen.checkout.target import SdkTarget


def start(sdk_root: Path, spec: Optional[str], invoked_from: Path, work_dir: Path, settings: Settings,
          env: Optional[Mapping[str, str]] = None, timeout: float = DEFAULT_TIMEOUT) -> ContractInputs:
    """Resolve the spec (given, else the SDK's provenance), repair it and write the driver's input."""
    source = spec_source_for(sdk_root, settings.sdk.package_dir, spec, invoked_from)
    return prepare(sdk_root, source, work_dir, settings, env, timeout)


def baseline_file(path: Path) -> Baseline:
    """`--baseline FILE`: the failures of an earlier run's JUnit file."""
    if not path.is_file():
        raise ConfigError(f"baseline JUnit file {path} does not exist",
                          "pass the JUnit XML of a contract run on the pristine tree, or drop --baseline")
    return from_junit(path)


@dataclasses.dataclass(frozen=True)
class Judging:
    """Where the SDK keeps what the automatic baseline and the accepted findings need."""

    target: "SdkTarget"
    package_dir: str  # `src/conductor/asyncio_client`
    backups_dir: Path
    cache_dir: Path
    accepted: Tuple[Accepted, ...]  # the SDK's accepted findings (read first: a broken file stops the run early)


def judging(sdk: Path, env: Mapping[str, str], cwd: Path) -> Judging:
    """Settings as `invoke` resolves them for `sdk` (the backups and cache it uses), and its accepted findings."""
    from conductor_regen.config_sources import resolve_session_settings
    from conductor_regen.checkout.target import resolve_sdk

    settings = resolve_session_settings(sdk, env, cwd)
    target = resolve_sdk(settings.sdk)
    return Judging(target, target.package_dir.relative_to(target.root).as_posix(), settings.backups_dir,
                   settings.cache_dir, load_accepted(target.root))


def pristine_baseline(judge: Judging, inputs: ContractInputs, run: DriverRun) -> Tuple[Optional[Baseline], str]:
    """The automatic baseline: the pristine tree's run against this run's spec. (baseline, a line for the log)."""
    from conductor_regen.matrix.pristine import find_pristine

    pristine = find_pristine(judge.target, judge.backups_dir)
    if pristine is None:
        return None, "no pristine tree (no backup, not a git checkout with a commit): every failure is new"
    found = from_pristine(pristine, inputs, judge.package_dir, run, cache_dir=judge.cache_dir / "baselines")
    if found is None:
        return None, f"the driver did not finish on the pristine tree ({pristine.source}): every failure is new"
    return found, f"baseline: {pristine.source}, checked against the same spec"


@dataclasses.dataclass(frozen=True)
class Finished:
    """A judged run, and what `--accept` wrote."""

    result: ContractResult
    accepted_now: int = 0
    accepted_file: Optional[Path] = None


def finish(inputs: ContractInputs, junit_path: Path, baseline: Optional[Baseline] = None,
           judge: Optional[Judging] = None, accept: str = "") -> Finished:
    """Read the driver's records, classify them, judge them (baseline, accepted findings), write JUnit."""
    if accept and not accept.strip():
        raise ConfigError("--accept needs a reason", "pass --accept \"why these failures are fine\"")
    result = evaluate(read_records(inputs), inputs.operations, inputs.base_path,
                      baseline.failures if baseline is not None else None, baseline.source if baseline else "")
    done = Finished(result)
    if judge is not None:
        package = package_name(judge.package_dir)
        result = with_accepted(result, judge.accepted, package, judge.package_dir)
        done = Finished(result)
        if accept.strip():
            done = Finished(*accept_now(result, judge.accepted, accept.strip(), judge.target.root, package,
                                        judge.package_dir))
    write_junit(done.result, junit_path)
    return done
