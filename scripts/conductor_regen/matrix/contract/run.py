"""One contract run, around the driver: what the `contract` nox session calls before and after it.

    inputs = start(sdk, spec, ...)        # repaired spec + driver input, in a work folder
    <python -m in_sdk_venv --input inputs.input_file --output inputs.output_file, in the SDK's venv>
    result = finish(inputs, junit_path, baseline)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from conductor_regen.config import Settings, resolve_settings
from conductor_regen.errors import ConfigError, VerificationError
from conductor_regen.matrix.contract.classify import ContractResult, evaluate
from conductor_regen.matrix.contract.inputs import DEFAULT_TIMEOUT, ContractInputs, prepare, spec_source_for
from conductor_regen.matrix.contract.junit import failed_ids, write_junit


def session_settings(project: Path, env: Mapping[str, str]) -> Settings:
    """Settings as invoke resolves them (defaults < the project's invoke.yaml < environment)."""
    file_config: Dict[str, Any] = {}
    config_file = project / "invoke.yaml"
    if config_file.is_file():
        import yaml

        data = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        file_config = dict(data.get("regen") or {}) if isinstance(data, dict) else {}
    return resolve_settings(file_config, env)


def start(sdk_root: Path, spec: Optional[str], invoked_from: Path, work_dir: Path, settings: Settings,
          env: Optional[Mapping[str, str]] = None, timeout: float = DEFAULT_TIMEOUT) -> ContractInputs:
    """Resolve the spec (given, else the SDK's provenance), repair it and write the driver's input."""
    source = spec_source_for(sdk_root, settings.sdk.package_dir, spec, invoked_from)
    return prepare(sdk_root, source, work_dir, settings, env, timeout)


def finish(inputs: ContractInputs, junit_path: Path, baseline: Optional[Path] = None) -> ContractResult:
    """Read the driver's records, classify them, write JUnit; the result says what is new."""
    try:
        records = json.loads(inputs.output_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VerificationError(f"the contract driver left no readable records ({inputs.output_file}: {exc})",
                                "see the driver's output above") from exc
    if baseline is not None and not baseline.is_file():
        raise ConfigError(f"baseline JUnit file {baseline} does not exist",
                          "pass the JUnit XML of a contract run on the pristine tree, or drop --baseline")
    result = evaluate(records, inputs.operations, inputs.base_path,
                      failed_ids(baseline) if baseline is not None else None)
    write_junit(result, junit_path)
    return result
