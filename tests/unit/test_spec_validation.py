"""Tests for spec validation: one per rule on small in-test specs, plus the real Orkes spec (slow).

The validator runs here in this process (the same `_run_validator` the child runs): these tests are about what
its findings mean. The child itself (its time limit, its crash handling, the same findings as in process) is
tested in test_child_processes.py and test_hardening.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from support.paths import REAL_SPEC

from conductor_regen.config import FixupConfig, ValidationConfig
from conductor_regen.errors import ConfigError, SpecValidationError
from conductor_regen.spec import validation
from conductor_regen.spec.fixups import apply_fixups
from conductor_regen.spec.validation import Problem, ValidationReport, format_report, require_usable, validate_spec


@pytest.fixture(autouse=True)
def _validator_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the child does, without its interpreter start (about 0.7 s a validation)."""
    def in_process(request: bytes, timeout: float) -> Any:
        asked = json.loads(request)
        before = validation._run_validator(asked["document"], asked["family"])
        fixed = asked["fixed"]
        after = validation._run_validator(fixed, asked["family"]) if before and fixed is not None else before
        return before, after, True

    monkeypatch.setattr(validation, "_run_child", in_process)


# Small required/marker sets keep the in-test specs short.
CONFIG = ValidationConfig(
    required_endpoints=("POST /api/workflow", "GET /api/workflow/{workflowId}"),
    orkes_markers=("POST /api/token", "GET /api/secrets"),
)

OK = {"200": {"description": "OK"}}


def _op(*params: Dict[str, Any]) -> Dict[str, Any]:
    operation: Dict[str, Any] = {"responses": copy.deepcopy(OK)}
    if params:
        operation["parameters"] = list(params)
    return operation


def _path_param(name: str) -> Dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _orkes_spec() -> Dict[str, Any]:
    """A minimal valid Orkes-like spec: no problems at all once paths are /api-free."""
    return {
        "openapi": "3.0.1",
        "info": {"title": "Orkes Conductor API Server", "version": "v2"},
        "paths": {
            "/workflow": {"post": _op()},
            "/workflow/{workflowId}": {"get": _op(_path_param("workflowId"))},
            "/token": {"post": _op()},
            "/secrets": {"get": _op()},
        },
        "components": {"schemas": {"Workflow": {"type": "object", "properties": {"name": {"type": "string"}}}}},
    }


def _prefixed(spec: Dict[str, Any]) -> Dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec["paths"] = {f"/api{p}": item for p, item in spec["paths"].items()}
    return spec


def _codes(report: ValidationReport, severity: str) -> List[str]:
    return [p.code for p in report.problems if p.severity == severity]


def test_clean_spec_has_no_problems() -> None:
    report = validate_spec(_orkes_spec(), CONFIG, FixupConfig())
    assert report.problems == ()
    assert report.ok
    assert (report.openapi_version, report.title, report.info_version) == ("3.0.1", "Orkes Conductor API Server", "v2")
    assert (report.path_count, report.operation_count, report.schema_count) == (4, 4, 1)


def test_swagger_2_is_rejected_with_conversion_hint() -> None:
    spec = {"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {}, "definitions": {"A": {}}}
    report = validate_spec(spec, CONFIG, FixupConfig())
    swagger = [p for p in report.errors if p.code == "swagger-2"]
    assert len(swagger) == 1
    assert "OpenAPI 3" in swagger[0].message
    assert "/v3/api-docs" in swagger[0].message and "swagger2openapi" in swagger[0].message
    assert report.schema_count == 1 and "no-models" not in _codes(report, "error")
    assert not report.ok


@pytest.mark.parametrize("field", [{}, {"openapi": "2.5.0"}, {"openapi": "4.0.0"}])
def test_missing_or_unknown_openapi_version_is_an_error(field: Dict[str, Any]) -> None:
    spec = _orkes_spec()
    del spec["openapi"]
    spec.update(field)
    report = validate_spec(spec, CONFIG, FixupConfig())
    assert "unsupported-format" in _codes(report, "error")


def test_openapi_31_is_validated_and_warned_about() -> None:
    spec = _orkes_spec()
    spec["openapi"] = "3.1.0"
    report = validate_spec(spec, CONFIG, FixupConfig())
    assert report.ok
    assert _codes(report, "warning") == ["openapi-3.1"]


def test_non_mapping_document_is_reported_not_raised() -> None:
    report = validate_spec([], CONFIG, FixupConfig())  # type: ignore[arg-type]
    assert _codes(report, "error") == ["unsupported-format"]


def test_validator_errors_that_no_fixup_repairs_are_errors() -> None:
    spec = _orkes_spec()
    spec["paths"]["/token"]["post"]["responses"] = "not a mapping"
    report = validate_spec(spec, CONFIG, FixupConfig())
    assert report.errors and all(p.code == "invalid-openapi" for p in report.errors)
    assert any("paths" in p.message for p in report.errors)


def test_persisting_validator_error_under_stripped_prefix_stays_one_error() -> None:
    # The error names /api/... before the strip and /... after it: it is the same error, not a fixed one.
    spec = _prefixed(_orkes_spec())
    spec["paths"]["/api/token"]["post"]["parameters"] = [{"name": "q", "in": "query", "schema": {"type": "nope"}}]
    report = validate_spec(spec, CONFIG, FixupConfig())
    invalid = [p for p in report.problems if p.code == "invalid-openapi"]
    assert invalid and all(p.severity == "error" for p in invalid)
    assert not any(p.message.startswith("after fixups") for p in report.problems)
    assert [p.code for p in report.fixable] == ["path-prefix"]


def test_persisting_duplicate_operation_id_under_stripped_prefix_stays_one_error() -> None:
    # This validator message quotes the path, which the strip rewrites.
    spec = _prefixed(_orkes_spec())
    spec["paths"]["/api/token"]["post"]["operationId"] = "same"
    spec["paths"]["/api/secrets"]["get"]["operationId"] = "same"
    report = validate_spec(spec, CONFIG, FixupConfig())
    assert _codes(report, "error") == ["duplicate-operation-id"]
    assert "'/api/secrets'" in report.errors[0].message
    assert [p.code for p in report.fixable] == ["path-prefix"]


def test_validator_problems_are_capped() -> None:
    spec = _orkes_spec()
    for i in range(30):
        spec["paths"][f"/x{i}/{{id}}"] = {"get": _op()}
    report = validate_spec(spec, CONFIG, FixupConfig(enabled=False))
    unresolved = [p for p in report.problems if p.code == "unresolved-path-parameter"]
    more = [p for p in report.problems if p.code == "more-problems"]
    assert len(unresolved) == 20
    assert len(more) == 1 and "10 more" in more[0].message and more[0].severity == "error"


def test_unresolved_path_parameter_is_fixable_when_fixup_enabled() -> None:
    spec = _orkes_spec()
    spec["paths"]["/events/{type}"] = {"post": _op({"name": "type", "in": "query", "schema": {"type": "string"}})}
    report = validate_spec(spec, CONFIG, FixupConfig())
    assert report.ok
    fixable = [p for p in report.fixable if p.code == "unresolved-path-parameter"]
    assert len(fixable) == 1
    assert fixable[0].fixup == "define-path-parameters"
    assert "'type'" in fixable[0].message


def test_unresolved_path_parameter_is_fixable_through_the_prefix_strip() -> None:
    # The fixed document's paths lose /api; the same validator error must still be recognised as gone.
    spec = _prefixed(_orkes_spec())
    spec["paths"]["/api/hooks/{id}/tags"] = {"delete": _op()}
    report = validate_spec(spec, CONFIG, FixupConfig())
    assert report.ok
    unresolved = [p for p in report.fixable if p.code == "unresolved-path-parameter"]
    assert [p.fixup for p in unresolved] == ["define-path-parameters"]


@pytest.mark.parametrize(
    "fixups",
    [FixupConfig(enabled=False), FixupConfig(skip=("define-path-parameters",))],
    ids=["disabled", "skipped"],
)
def test_unresolved_path_parameter_is_an_error_without_its_fixup(fixups: FixupConfig) -> None:
    spec = _orkes_spec()
    spec["paths"]["/hooks/{id}/tags"] = {"delete": _op()}
    report = validate_spec(spec, CONFIG, fixups)
    assert _codes(report, "error") == ["unresolved-path-parameter"]
    assert report.errors[0].fixup is None
    assert not report.ok


def test_optional_path_parameter_is_fixable() -> None:
    spec = _orkes_spec()
    spec["paths"]["/workflow/{workflowId}"]["get"]["parameters"][0]["required"] = False
    report = validate_spec(spec, CONFIG, FixupConfig())
    assert report.ok
    assert report.fixable and all(p.fixup == "define-path-parameters" for p in report.fixable)
    off = validate_spec(spec, CONFIG, FixupConfig(enabled=False))
    assert not off.ok


def test_array_schema_with_properties_is_fixable_or_error() -> None:
    spec = _orkes_spec()
    spec["components"]["schemas"]["Proto"] = {
        "type": "object",
        "properties": {"names": {"type": "array", "items": {"type": "string"}, "properties": {"empty": {}}}},
    }
    report = validate_spec(spec, CONFIG, FixupConfig())
    arrays = [p for p in report.problems if p.code == "array-with-properties"]
    assert len(arrays) == 1
    assert arrays[0].severity == "fixable" and arrays[0].fixup == "drop-array-properties"
    assert "Proto.names" in arrays[0].message
    assert report.ok

    off = validate_spec(spec, CONFIG, FixupConfig(skip=("drop-array-properties",)))
    assert _codes(off, "error") == ["array-with-properties"]


def test_path_prefix_is_one_fixable_problem_with_a_count() -> None:
    report = validate_spec(_prefixed(_orkes_spec()), CONFIG, FixupConfig())
    prefix = [p for p in report.problems if p.code == "path-prefix"]
    assert len(prefix) == 1
    assert prefix[0].severity == "fixable" and prefix[0].fixup == "strip-path-prefix"
    assert "4 of 4 paths" in prefix[0].message and "/api/api/" in prefix[0].message
    assert report.ok


def test_path_prefix_is_an_error_when_its_fixup_is_off_and_absent_when_not_configured() -> None:
    spec = _prefixed(_orkes_spec())
    off = validate_spec(spec, CONFIG, FixupConfig(enabled=False))
    assert _codes(off, "error") == ["path-prefix"]
    unconfigured = validate_spec(spec, CONFIG, FixupConfig(strip_path_prefix=""))
    assert unconfigured.problems == ()


def test_prefix_collision_is_reported_not_raised() -> None:
    spec = _prefixed(_orkes_spec())
    spec["paths"]["/token"] = {"get": _op()}
    report = validate_spec(spec, CONFIG, FixupConfig())
    collision = [p for p in report.errors if p.code == "path-collision"]
    assert len(collision) == 1 and "/api/token" in collision[0].message


def test_missing_info_version_is_an_error() -> None:
    spec = _orkes_spec()
    del spec["info"]["version"]
    report = validate_spec(spec, CONFIG, FixupConfig())
    assert "missing-info-version" in _codes(report, "error")


def test_no_paths_is_an_error() -> None:
    spec = _orkes_spec()
    spec["paths"] = {}
    report = validate_spec(spec, CONFIG, FixupConfig())
    assert "no-paths" in _codes(report, "error")


@pytest.mark.parametrize("components", [{}, {"schemas": {}}, None])
def test_no_model_definitions_is_an_error(components: Any) -> None:
    spec = _orkes_spec()
    if components is None:
        del spec["components"]
    else:
        spec["components"] = components
    report = validate_spec(spec, CONFIG, FixupConfig())
    no_models = [p for p in report.errors if p.code == "no-models"]
    assert len(no_models) == 1 and "no model definitions" in no_models[0].message


def test_missing_required_endpoint_is_listed() -> None:
    spec = _orkes_spec()
    del spec["paths"]["/workflow/{workflowId}"]
    config = ValidationConfig(
        required_endpoints=("POST /api/workflow", "GET /api/workflow/{workflowId}", "PUT /workflow"),
        orkes_markers=CONFIG.orkes_markers,
    )
    report = validate_spec(spec, config, FixupConfig())
    missing = [p for p in report.errors if p.code == "missing-endpoints"]
    assert len(missing) == 1
    assert "GET /api/workflow/{workflowId}" in missing[0].message and "PUT /workflow" in missing[0].message
    assert "POST /api/workflow," not in missing[0].message


def test_required_endpoints_match_either_prefix_form() -> None:
    config = ValidationConfig(
        required_endpoints=("POST /workflow", "GET /api/workflow/{workflowId}"),
        orkes_markers=("POST /token",),
    )
    for spec in (_orkes_spec(), _prefixed(_orkes_spec())):
        report = validate_spec(spec, config, FixupConfig())
        assert "missing-endpoints" not in _codes(report, "error")
        assert "wrong-server" not in _codes(report, "error")


def test_method_must_match_for_required_endpoint() -> None:
    config = ValidationConfig(required_endpoints=("DELETE /api/workflow",), orkes_markers=CONFIG.orkes_markers)
    report = validate_spec(_orkes_spec(), config, FixupConfig())
    assert "missing-endpoints" in _codes(report, "error")


def test_conductor_oss_spec_is_the_wrong_server() -> None:
    spec = _prefixed(_orkes_spec())
    del spec["paths"]["/api/token"], spec["paths"]["/api/secrets"]
    spec["info"]["title"] = "Conductor API"
    report = validate_spec(spec, CONFIG, FixupConfig())
    wrong = [p for p in report.errors if p.code == "wrong-server"]
    assert len(wrong) == 1
    assert "Conductor OSS" in wrong[0].message and "POST /api/token" in wrong[0].message
    assert "Orkes" in wrong[0].message


def test_petstore_is_not_a_conductor_spec() -> None:
    spec = {
        "openapi": "3.0.0",
        "info": {"title": "Swagger Petstore", "version": "1.0.0"},
        "paths": {"/pets": {"get": _op()}, "/pets/{petId}": {"get": _op(_path_param("petId"))}},
        "components": {"schemas": {"Pet": {"type": "object"}}},
    }
    report = validate_spec(spec, CONFIG, FixupConfig())
    assert _codes(report, "error") == ["wrong-server"]
    assert "not a Conductor server spec (title 'Swagger Petstore')" in report.errors[0].message


def test_unknown_skip_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        validate_spec(_orkes_spec(), CONFIG, FixupConfig(skip=("nope",)))


def test_validate_spec_does_not_mutate_its_input() -> None:
    spec = _prefixed(_orkes_spec())
    spec["paths"]["/api/hooks/{id}/tags"] = {"delete": _op()}
    snapshot = copy.deepcopy(spec)
    validate_spec(spec, CONFIG, FixupConfig())
    assert spec == snapshot


def test_format_report_lines() -> None:
    report = ValidationReport(
        openapi_version="3.0.1",
        title="T",
        info_version="v2",
        path_count=3,
        operation_count=5,
        schema_count=7,
        problems=(
            Problem("error", "no-models", "no model definitions", None),
            Problem("fixable", "path-prefix", "3 of 3 paths start with '/api'", "strip-path-prefix"),
        ),
    )
    lines = format_report(report)
    assert any("3 paths" in line and "5 operations" in line and "7 schemas" in line for line in lines)
    assert any("1 error" in line and "1 fixable" in line for line in lines)
    assert "error [no-models] no model definitions" in lines
    assert "fixable [path-prefix] 3 of 3 paths start with '/api' (fixup: strip-path-prefix)" in lines
    assert report.errors == (report.problems[0],) and report.fixable == (report.problems[1],)
    assert not report.ok


@pytest.mark.slow
def test_real_orkes_spec_is_fully_repaired_by_fixups() -> None:
    if not REAL_SPEC.is_file():
        pytest.skip(f"real spec not found at {REAL_SPEC}")
    from openapi_spec_validator import OpenAPIV30SpecValidator

    spec = json.loads(REAL_SPEC.read_text(encoding="utf-8"))
    report = validate_spec(spec, ValidationConfig(), FixupConfig())

    assert report.errors == (), format_report(report)
    assert report.ok
    unresolved = [p for p in report.fixable if p.code == "unresolved-path-parameter"]
    assert len(unresolved) == 3
    assert {p.fixup for p in unresolved} == {"define-path-parameters"}
    for name in ("'type'", "'id'", "'taskReferenceName'"):
        assert any(name in p.message for p in unresolved)
    arrays = [p for p in report.fixable if p.code == "array-with-properties"]
    assert len(arrays) == 4 and {p.fixup for p in arrays} == {"drop-array-properties"}
    assert [p.fixup for p in report.fixable if p.code == "path-prefix"] == ["strip-path-prefix"]
    assert (report.path_count, report.schema_count) == (192, 196)

    fixed, applied = apply_fixups(spec, FixupConfig())
    assert [a.name for a in applied] == ["define-path-parameters", "drop-array-properties", "strip-path-prefix"]
    # Checked apart from validate_spec's own run on the repaired document: a report that skipped that run would
    # read the same.
    assert list(OpenAPIV30SpecValidator(fixed).iter_errors()) == []
    assert not [p for p in fixed["paths"] if p.startswith("/api")]
    assert len(fixed["paths"]) == 192


def test_require_usable_counts_errors_not_the_defects_fixups_repair() -> None:
    # /api on every path: a defect the path-prefix fixup repairs, an error when fixups are off.
    spec = _prefixed(_orkes_spec())
    repaired = validate_spec(spec, CONFIG, FixupConfig())
    require_usable(repaired, "spec.json")
    assert repaired.fixable
    unrepaired = validate_spec(spec, CONFIG, FixupConfig(enabled=False))
    with pytest.raises(SpecValidationError) as caught:
        require_usable(unrepaired, "spec.json", "conductor-regen generate")
    assert caught.value.message == f"{len(unrepaired.errors)} error(s) in spec.json"
    assert "`conductor-regen generate`" in caught.value.render()


def test_the_validators_findings_are_kept_in_the_cache_and_reused(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    asked: List[bytes] = []
    child = validation._run_child

    def counted(request: bytes, timeout: float) -> Any:
        asked.append(request)
        return child(request, timeout)

    monkeypatch.setattr(validation, "_run_child", counted)
    spec = _orkes_spec()
    spec["paths"]["/workflow"]["post"]["responses"] = {"200": {}}  # no description: a finding to keep
    first = validate_spec(spec, CONFIG, FixupConfig(), tmp_path)
    assert [p.code for p in first.errors] == ["invalid-openapi"], first.problems
    assert validate_spec(spec, CONFIG, FixupConfig(), tmp_path) == first and len(asked) == 1
    assert len(list((tmp_path / "validation").glob("*.json"))) == 1
    # Another document, another validator version, or no cache: validated again.
    other = copy.deepcopy(spec)
    other["info"]["version"] = "2"
    validate_spec(other, CONFIG, FixupConfig(), tmp_path)
    monkeypatch.setattr(validation, "_validator_version", lambda: "openapi-spec-validator 99")
    assert validate_spec(spec, CONFIG, FixupConfig(), tmp_path) == first
    assert validate_spec(spec, CONFIG, FixupConfig()) == first and len(asked) == 4
    # A cache entry that cannot be read is validated again (and written anew).
    for entry in (tmp_path / "validation").glob("*.json"):
        entry.write_text("{")
    assert validate_spec(spec, CONFIG, FixupConfig(), tmp_path) == first and len(asked) == 5


def test_a_validator_that_crashed_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crash = [validation._Finding("ValidatorCrash", "openapi-spec-validator could not finish: killed", ())]
    monkeypatch.setattr(validation, "_run_child", lambda request, timeout: (crash, crash, False))
    validate_spec(_orkes_spec(), CONFIG, FixupConfig(), tmp_path)
    assert not (tmp_path / "validation").exists()
