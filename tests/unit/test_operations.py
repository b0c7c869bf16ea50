"""Operation identity: reading generated API modules and spec documents by METHOD + path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conductor_regen.errors import VerificationError
from conductor_regen.analysis.operations import (ClientOperation, label, operation_key, read_api_classes,
                                                 read_client_operations, spec_operations)
from support.generated_trees import OLD_HTTP, repaired
from support.paths import SPEC_V1, SPEC_V2

# The v1 table of tests/fixtures/README.md, prefix stripped.
V1_NAMES = {
    ("POST", "/workflow"): ("WorkflowResourceApi", "start_workflow"),
    ("POST", "/workflow/{name}"): ("WorkflowResourceApi", "start_workflow1"),
    ("GET", "/workflow/{workflowId}"): ("WorkflowResourceApi", "get_execution_status"),
    ("DELETE", "/workflow/{workflowId}"): ("WorkflowResourceApi", "terminate"),
    ("PUT", "/workflow/{workflowId}/pause"): ("WorkflowResourceApi", "pause_workflow"),
    ("GET", "/workflow/search"): ("WorkflowResourceApi", "search"),
    ("GET", "/tasks/poll/{tasktype}"): ("TaskResourceApi", "poll"),
    ("POST", "/tasks"): ("TaskResourceApi", "update_task"),
    ("GET", "/tasks/{taskId}"): ("TaskResourceApi", "get_task"),
    ("GET", "/tasks/search"): ("TaskResourceApi", "search1"),
    ("GET", "/metadata/workflow/{name}"): ("MetadataResourceApi", "get"),
    ("POST", "/metadata/workflow"): ("MetadataResourceApi", "create"),
    ("GET", "/metadata/taskdefs"): ("MetadataResourceApi", "get_task_defs"),
    ("POST", "/metadata/taskdefs"): ("MetadataResourceApi", "register_task_def"),
    ("GET", "/metadata/taskdefs/{tasktype}"): ("MetadataResourceApi", "get_task_def"),
    ("GET", "/secrets"): ("SecretResourceApi", "list_secrets_that_user_can_grant_access_to"),
    ("GET", "/secrets-v2"): ("SecretResourceApi", "list_secrets_with_tags_that_user_can_grant_access_to"),
    ("GET", "/secrets/{key}"): ("SecretResourceApi", "get_secret"),
    ("PUT", "/secrets/{key}"): ("SecretResourceApi", "put_secret"),
    ("DELETE", "/secrets/{key}"): ("SecretResourceApi", "delete_secret"),
    ("GET", "/applications"): ("ApplicationResourceApi", "list_applications"),
    ("GET", "/applications/{id}"): ("ApplicationResourceApi", "get_application"),
    ("POST", "/token"): ("TokenResourceApi", "generate_token"),
    ("GET", "/token/userInfo"): ("TokenResourceApi", "get_user_info"),
    ("GET", "/metrics/token"): ("MetricsTokenResourceApi", "token"),
}


def test_reads_every_operation_of_the_example_sdk() -> None:
    ops = read_client_operations(OLD_HTTP)
    assert {k: (op.class_name, op.name) for k, op in ops.items()} == V1_NAMES
    search = ops[("GET", "/workflow/search")]
    assert search == ClientOperation("GET", "/workflow/search", "workflow_resource_api", "WorkflowResourceApi",
                                     "search")
    assert (search.key, search.label, search.qualified_name) == (
        ("GET", "/workflow/search"), "GET /workflow/search", "WorkflowResourceApi.search")
    assert list(ops) == sorted(ops)



def test_read_api_classes() -> None:
    assert read_api_classes(OLD_HTTP) == {
        "ApplicationResourceApi": "application_resource_api",
        "MetadataResourceApi": "metadata_resource_api",
        "MetricsTokenResourceApi": "metrics_token_resource_api",
        "SecretResourceApi": "secret_resource_api",
        "TaskResourceApi": "task_resource_api",
        "TokenResourceApi": "token_resource_api",
        "WorkflowResourceApi": "workflow_resource_api",
    }


def _module(tmp_path: Path, name: str, text: str) -> Path:
    api = tmp_path / "http" / "api"
    api.mkdir(parents=True, exist_ok=True)
    (api / "__init__.py").write_text("from x import Y\n")
    (api / f"{name}.py").write_text(text)
    return tmp_path / "http"


_FAKE = '''
class FakeApi:
    def __init__(self, api_client=None) -> None:
        pass

    @validate_call
    async def list_things(
        self,
    ) -> None:
        """docs mention method='DELETE' only in the public method"""
        _param = self._list_things_serialize()

    async def list_things_with_http_info(self) -> None: ...

    async def list_things_without_preload_content(self) -> None: ...

    def _list_things_serialize(
        self,
    ) -> RequestSerialized:
        return self.api_client.param_serialize(
            method="GET",
            resource_path="/things/{id}",
        )

    def _helper_serialize(self) -> None:
        return self.api_client.param_serialize(method='GET', resource_path='/not/an/operation')
'''


def test_regex_reading_is_robust_to_quotes_and_non_operation_helpers(tmp_path: Path) -> None:
    http = _module(tmp_path, "fake_api", _FAKE)
    assert read_client_operations(http) == {
        ("GET", "/things/{id}"): ClientOperation("GET", "/things/{id}", "fake_api", "FakeApi", "list_things"),
    }


def test_an_operation_in_two_classes_is_listed_once_with_the_other_class(tmp_path: Path) -> None:
    http = _module(tmp_path, "b_api", _FAKE.replace("FakeApi", "BApi"))
    _module(tmp_path, "a_api", _FAKE.replace("FakeApi", "AApi"))
    op = read_client_operations(http)[("GET", "/things/{id}")]
    assert (op.module, op.class_name, op.also_in, op.classes) == ("a_api", "AApi", ("BApi",), ("AApi", "BApi"))


def test_a_folder_without_api_is_a_verification_error(tmp_path: Path) -> None:
    with pytest.raises(VerificationError) as info:
        read_client_operations(tmp_path)
    assert info.value.hint


def test_spec_operations_of_v1() -> None:
    ops = spec_operations(repaired(SPEC_V1))
    assert set(ops) == set(V1_NAMES)
    search = ops[("GET", "/workflow/search")]
    assert (search.operation_id, search.tag, search.tags, search.class_names, search.label) == (
        "search", "workflow-resource", ("workflow-resource",), ("WorkflowResourceApi",), "GET /workflow/search")
    assert ops[("GET", "/tasks/search")].operation_id == "search_1"


def test_spec_operations_of_raw_v2_keep_the_prefix() -> None:
    ops = spec_operations(json.loads(SPEC_V2.read_text()))
    assert ("POST", "/api/human/tasks/search") in ops
    assert ops[("POST", "/api/human/tasks/search")].class_names == ("HumanTaskApi",)


def test_spec_operations_follow_the_generators_method_order() -> None:
    doc = {"paths": {
        "/b": {"post": {"operationId": "b2"}, "parameters": [], "get": {"operationId": "b1"}},
        "/a": {"delete": {"operationId": "a2", "tags": ["x", "x", 3]}, "put": {"operationId": "a1"}},
        "/c": "not an item",
    }}
    ops = spec_operations(doc)
    assert list(ops) == [("GET", "/b"), ("POST", "/b"), ("PUT", "/a"), ("DELETE", "/a")]
    assert ops[("DELETE", "/a")].tags == ("x",)
    assert ops[("PUT", "/a")].class_names == ("DefaultApi",) and ops[("PUT", "/a")].tag == "default"


def test_keys_and_labels() -> None:
    assert operation_key("get", "/x") == ("GET", "/x")
    assert label(("GET", "/x")) == "GET /x"
