"""Model fields removed from the spec but still used by the SDK are declared on the adapter, deprecated."""

from __future__ import annotations

from pathlib import Path
from typing import Tuple

import pytest
from support.staged_sdk import (
    copy_example,
    digest,
    failed_tests,
    line_of,
    package_dir,
    run_python,
    run_sdk_tests,
    shadow_src,
    stage,
)

from conductor_regen.compat.fields import keep_removed_fields
from conductor_regen.compat.keep import keep_removed
from conductor_regen.errors import ConfigError, VerificationError
from conductor_regen.analysis.references import check_references
from conductor_regen.compat.scaffold.adapters import scaffold_adapters

ADAPTER = "adapters/models/workflow_def_adapter.py"
COMMENT = "    # kept for backward compatibility: removed from the server's API (spec v2); deprecated\n"
KEPT_NOTE = ("kept field WorkflowDef.restartable in adapters/models/workflow_def_adapter.py: removed from spec v2, "
             "still used by the SDK; deprecated")


Staged = Tuple[Path, Path, Path]  # (sdk root, package dir, staging)


@pytest.fixture
def sdk(tmp_path: Path) -> Tuple[Path, Path]:
    root = copy_example(tmp_path)
    return root, package_dir(root)


def staged_from(sdk: Tuple[Path, Path], v2_http: Path, tmp_path: Path) -> Staged:
    root, pkg = sdk
    return root, pkg, stage(root, v2_http, tmp_path / "staging")


@pytest.fixture
def staged(sdk: Tuple[Path, Path], v2_http: Path, tmp_path: Path) -> Staged:
    return staged_from(sdk, v2_http, tmp_path)


def keep(staged: Staged, policy: str = "keep") -> Tuple[str, ...]:
    _root, pkg, staging = staged
    return keep_removed_fields(pkg / "http", staging / "http", pkg, staging, policy=policy)


def keep_like_assemble(staged: Staged) -> Tuple[str, ...]:
    """compat_keep first, as regenerate.assemble() does: without it the staged adapters do not import."""
    _root, pkg, staging = staged
    keep_removed(pkg / "http", staging / "http", pkg, staging)
    return keep(staged)


def test_a_removed_field_the_sdk_uses_is_declared_on_the_adapter(staged: Staged) -> None:
    _root, pkg, staging = staged
    live = digest(pkg)
    assert keep(staged) == (KEPT_NOTE,)
    assert (staging / ADAPTER).read_text() == (
        "from typing import Optional\n"
        "\n"
        "from pydantic import StrictBool\n"
        "\n"
        "from conductor.asyncio_client.http.models import WorkflowDef\n"
        "\n"
        "\n"
        "class WorkflowDefAdapter(WorkflowDef):\n"
        f"{COMMENT}"
        "    restartable: Optional[StrictBool] = None\n")
    # Only the adapter changed, and only in staging.
    assert digest(pkg) == live
    # (The removed API items are compat_keep's part; the edited adapter itself resolves.)
    assert not [p for p in check_references(staging, pkg) if "workflow_def_adapter" in p]


def test_the_kept_field_works_in_a_fresh_interpreter(staged: Staged, tmp_path: Path) -> None:
    assert keep_like_assemble(staged) == (KEPT_NOTE,)
    root, _pkg, staging = staged
    src = shadow_src(root, staging, tmp_path / "shadow")
    done = run_python(src, """
from conductor.asyncio_client.adapters.models.workflow_def_adapter import WorkflowDefAdapter
from conductor.asyncio_client.workflow.conductor_workflow import AsyncConductorWorkflow
# timeoutSeconds is required by the WorkflowDef schema (v1 and v2 alike).
wf = WorkflowDefAdapter(name="x", tasks=[], timeout_seconds=60, restartable=True)
print(wf.restartable is True)
print(wf.to_dict().get("restartable"))
print(AsyncConductorWorkflow("y").restartable(False).to_workflow_def().restartable)
""")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True", "True", "False"]


def test_with_the_other_keeps_the_example_sdk_tests_pass(staged: Staged, tmp_path: Path) -> None:
    root, _pkg, staging = staged
    keep_like_assemble(staged)
    scaffold_adapters(staging / "http", staging)
    shadow = tmp_path / "shadow"
    shadow_src(root, staging, shadow)
    done = run_sdk_tests(shadow, root)
    assert failed_tests(done.stdout) == [], done.stdout[-3000:]
    assert done.returncode == 0, done.stdout[-3000:]


def test_keeping_fields_is_idempotent(staged: Staged) -> None:
    _root, _pkg, staging = staged
    keep(staged)
    first = digest(staging)
    assert keep(staged) == ()
    assert digest(staging) == first


def test_policy_drop_changes_nothing(staged: Staged) -> None:
    _root, _pkg, staging = staged
    before = digest(staging)
    assert keep(staged, "drop") == ()
    assert digest(staging) == before


def test_policy_fail_names_the_field_and_where_it_is_used(staged: Staged) -> None:
    _root, pkg, staging = staged
    before = digest(staging)
    with pytest.raises(VerificationError) as caught:
        keep(staged, "fail")
    line = line_of(pkg / "workflow/conductor_workflow.py", "restartable=self._restartable")
    assert ("WorkflowDef.restartable (used at src/conductor/asyncio_client/workflow/conductor_workflow.py:"
            f"{line})") in caught.value.message
    assert "keep policy" in caught.value.hint
    assert digest(staging) == before


def test_unknown_policy_is_a_config_error(staged: Staged) -> None:
    with pytest.raises(ConfigError):
        keep(staged, "maybe")


def test_an_unreferenced_removed_field_is_not_kept(sdk: Tuple[Path, Path], v2_http: Path, tmp_path: Path) -> None:
    _root, pkg = sdk
    workflow = pkg / "workflow/conductor_workflow.py"
    # `self._restartable` and `def restartable(` stay: neither is the field's keyword or attribute.
    workflow.write_text(workflow.read_text().replace("            restartable=self._restartable,\n", ""))
    staged = staged_from(sdk, v2_http, tmp_path)
    before = digest(staged[2])
    assert keep(staged) == ()
    assert digest(staged[2]) == before
    # Nothing used, so nothing to refuse either.
    assert keep(staged, "fail") == ()


def test_alias_use_validator_and_existing_imports(sdk: Tuple[Path, Path], v2_http: Path, tmp_path: Path) -> None:
    root, pkg = sdk
    # The previous client had an aliased enum field (with its validator) that v2 dropped.
    old_model = pkg / "http/models/workflow_def.py"
    old_model.write_text(old_model.read_text().replace(
        "    restartable: Optional[StrictBool] = None\n",
        "    restartable: Optional[StrictBool] = None\n"
        '    legacy_mode: Optional[StrictStr] = Field(default=None, alias="legacyMode")\n').replace(
        "    model_config = ConfigDict(",
        "    @field_validator('legacy_mode')\n"
        "    def legacy_mode_validate_enum(cls, value):\n"
        '        """Validates the enum"""\n'
        "        if value is not None and value not in set(['A', 'B']):\n"
        "            raise ValueError(\"must be one of enum values ('A', 'B')\")\n"
        "        return value\n\n"
        "    model_config = ConfigDict("))
    # The SDK only ever passes it by its wire name.
    (pkg / "workflow/legacy.py").write_text(
        "from conductor.asyncio_client.adapters.models.workflow_def_adapter import WorkflowDefAdapter\n\n\n"
        "def legacy(name: str) -> WorkflowDefAdapter:\n"
        "    return WorkflowDefAdapter(name=name, tasks=[], timeoutSeconds=1, legacyMode=\"A\")\n")
    _root, _pkg, staging = staged = staged_from(sdk, v2_http, tmp_path)
    (staging / ADAPTER).write_text(
        "from __future__ import annotations\n\n"
        "from typing import Any, Dict\n\n"
        "from conductor.asyncio_client.http.models import WorkflowDef\n\n\n"
        "class WorkflowDefAdapter(WorkflowDef):\n"
        "    def describe(self) -> Dict[str, Any]:\n"
        '        return {"name": self.name}\n')
    notes = keep_like_assemble(staged)
    assert notes == (
        "kept field WorkflowDef.restartable in adapters/models/workflow_def_adapter.py "
        "(with legacy_mode_validate_enum): removed from spec v2, still used by the SDK; deprecated",
        "kept field WorkflowDef.legacy_mode in adapters/models/workflow_def_adapter.py "
        "(with legacy_mode_validate_enum): removed from spec v2, still used by the SDK; deprecated")
    code = (staging / ADAPTER).read_text()
    assert code.startswith(
        "from __future__ import annotations\n\n"
        "from typing import Any, Dict, Optional\n\n"
        "from pydantic import Field, StrictBool, StrictStr, field_validator\n\n"
        "from conductor.asyncio_client.http.models import WorkflowDef\n\n\n"
        "class WorkflowDefAdapter(WorkflowDef):\n"
        "    def describe(self) -> Dict[str, Any]:\n"
        '        return {"name": self.name}\n'
        f"{COMMENT}"
        "    restartable: Optional[StrictBool] = None\n"
        f"{COMMENT}"
        '    legacy_mode: Optional[StrictStr] = Field(default=None, alias="legacyMode")\n\n'
        "    @field_validator('legacy_mode')\n")
    assert keep(staged) == ()
    src = shadow_src(root, staging, tmp_path / "shadow")
    done = run_python(src, """
from conductor.asyncio_client.workflow.legacy import legacy
from conductor.asyncio_client.adapters.models.workflow_def_adapter import WorkflowDefAdapter
print(legacy("x").legacy_mode, legacy("x").describe())
try:
    WorkflowDefAdapter(name="x", tasks=[], timeoutSeconds=1, legacyMode="C")
except ValueError as exc:
    print("rejected" if "must be one of enum values" in str(exc) else exc)
""")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["A {'name': 'x'}", "rejected"]


def test_a_field_typed_with_a_removed_model_is_not_kept(sdk: Tuple[Path, Path], v2_http: Path,
                                                         tmp_path: Path) -> None:
    _root, pkg = sdk
    old_model = pkg / "http/models/workflow_def.py"
    old_model.write_text(old_model.read_text().replace(
        "from typing_extensions import Self\n",
        "from typing_extensions import Self\n"
        "from conductor.asyncio_client.http.models.metrics_token import MetricsToken\n").replace(
        "    restartable: Optional[StrictBool] = None\n",
        "    restartable: Optional[StrictBool] = None\n    token: Optional[MetricsToken] = None\n"))
    staged = staged_from(sdk, v2_http, tmp_path)
    notes = keep(staged)
    # `.token` is used by the metrics client (`metrics_token_api.token(`): loose on purpose, and still not kept.
    assert KEPT_NOTE in notes
    assert any(n.startswith("cannot keep field WorkflowDef.token (used at src/conductor/asyncio_client/")
               and n.endswith("its type needs MetricsToken, which spec v2 removed") for n in notes)
    assert "token:" not in (staged[2] / ADAPTER).read_text()


def test_without_an_adapter_the_field_cannot_be_kept(staged: Staged) -> None:
    _root, pkg, staging = staged
    (staging / ADAPTER).write_text("class Unrelated:\n    pass\n")
    notes = keep(staged)
    line = line_of(pkg / "workflow/conductor_workflow.py", "restartable=self._restartable")
    assert notes == (
        "cannot keep field WorkflowDef.restartable: removed from spec v2, still used by the SDK (at "
        f"src/conductor/asyncio_client/workflow/conductor_workflow.py:{line}), but no adapter in adapters/models "
        "subclasses WorkflowDef",)
    assert (staging / ADAPTER).read_text() == "class Unrelated:\n    pass\n"
