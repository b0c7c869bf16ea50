"""parse_spec, dump_spec, load_spec and write_spec."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict

import pytest
from conftest import SpecReply, SpecServer

from conductor_regen.config import FetchConfig
from conductor_regen.errors import RegenError, SpecFetchError, SpecParseError
from conductor_regen.spec.intake import LoadedSpec, dump_spec, load_spec, parse_spec, sha256_hex, write_spec

DOC: Dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "Orkes Conductor API – é", "version": "v2.1"},
    "paths": {
        "/api/workflow": {"post": {"responses": {"200": {"description": "OK"}}}},
        "/api/admin": {"get": {"responses": {"200": {"description": "OK"}}}},
    },
}
YAML_DOC = """\
openapi: 3.0.1
info:
  title: Orkes Conductor API – é
  version: v2.1
paths:
  /api/workflow:
    post:
      responses:
        200:
          description: OK
  /api/admin:
    get:
      responses:
        '200':
          description: OK
"""
FETCH = FetchConfig(timeout=5.0, retries=0, backoff=0.001)


# --- parse_spec ---


def test_parses_json_keeping_key_order() -> None:
    parsed = parse_spec(json.dumps(DOC).encode(), "spec.json")
    assert parsed == DOC
    assert list(parsed["paths"]) == ["/api/workflow", "/api/admin"]


def test_parses_yaml_into_the_same_document_as_json() -> None:
    parsed = parse_spec(YAML_DOC.encode(), "spec.yaml")
    assert parsed == DOC  # unquoted 200 became the JSON key "200"
    assert list(parsed["paths"]) == ["/api/workflow", "/api/admin"]


def test_yaml_dates_stay_strings() -> None:
    parsed = parse_spec("openapi: 3.0.1\ninfo:\n  version: 2024-05-01\n", "spec.yaml")
    assert parsed["info"]["version"] == "2024-05-01"
    dump_spec(parsed)  # would raise on a datetime.date


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + json.dumps(DOC).encode(),
        "\ufeff" + json.dumps(DOC),
        json.dumps(DOC).encode("utf-16"),
        "\n\n  " + json.dumps(DOC),
    ],
    ids=["utf8-bom-bytes", "bom-str", "utf16", "leading-whitespace"],
)
def test_accepts_boms_encodings_and_whitespace(data: Any) -> None:
    assert parse_spec(data, "spec.json") == DOC


def test_truncated_json_names_line_and_column() -> None:
    text = json.dumps(DOC, indent=2)
    cut = text[: text.index('"/api/admin"') + 5]
    with pytest.raises(SpecParseError) as info:
        parse_spec(cut, "cut.json")
    line = cut.count("\n") + 1
    message = info.value.message
    assert message.startswith(f"cut.json:{line}:")
    assert "truncated JSON" in message
    assert f"line {line} column" in message
    assert "download the spec again" in info.value.hint


def test_json_cut_after_a_comma_is_truncated() -> None:
    text = json.dumps(DOC, indent=2)
    cut = text[: text.index('"/api/admin"')]  # ends in ",\n    "
    with pytest.raises(SpecParseError, match="truncated JSON"):
        parse_spec(cut, "cut.json")


def test_malformed_json_in_the_middle_is_not_called_truncated() -> None:
    with pytest.raises(SpecParseError) as info:
        parse_spec('{\n  "a": 1,,\n  "b": 2\n}\n', "bad.json")
    assert info.value.message.startswith("bad.json:2:10: malformed JSON at line 2 column 10")
    assert "truncated" not in info.value.message


def test_invalid_yaml_names_line_and_column() -> None:
    text = "openapi: 3.0.1\npaths:\n  /a: [unclosed\n  /b: {}\n"
    with pytest.raises(SpecParseError) as info:
        parse_spec(text, "bad.yaml")
    assert info.value.message.startswith("bad.yaml:4:")
    assert "invalid YAML" in info.value.message
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    ("text", "kind"),
    [("[1, 2]", "a list"), ("just words", "a string"), ("42", "a number")],
)
def test_non_mapping_top_level_is_refused(text: str, kind: str) -> None:
    with pytest.raises(SpecParseError, match=f"top level is {kind}, not a mapping"):
        parse_spec(text, "odd.yaml")


@pytest.mark.parametrize("data", [b"", b"  \n\t\n", "# only a comment\n", b"\xef\xbb\xbf"])
def test_empty_input_is_refused(data: Any) -> None:
    with pytest.raises(SpecParseError, match="empty"):
        parse_spec(data, "empty.json")


def test_html_is_refused_as_html() -> None:
    with pytest.raises(SpecParseError, match="HTML page"):
        parse_spec(b"<!DOCTYPE html><html>login</html>", "page.html")


def test_undecodable_bytes_are_refused() -> None:
    with pytest.raises(SpecParseError) as info:
        parse_spec(b'{"a": "\xff\xfe\xfd"}', "latin.json")
    assert "not UTF-8" in info.value.message
    assert "offset 7" in info.value.message


def test_yaml_values_json_cannot_hold_are_refused() -> None:
    with pytest.raises(SpecParseError, match="JSON cannot represent"):
        parse_spec("openapi: 3.0.1\nblob: !!binary aGVsbG8=\n", "bin.yaml")


# --- dump_spec / sha256_hex ---


def test_dump_spec_is_pretty_unsorted_utf8_with_newline() -> None:
    data = dump_spec({"b": 1, "a": "é"})
    assert data == '{\n  "b": 1,\n  "a": "é"\n}\n'.encode()


def test_dump_then_parse_round_trips() -> None:
    assert parse_spec(dump_spec(DOC), "x") == DOC


def test_dump_spec_refuses_non_json_values() -> None:
    with pytest.raises(SpecParseError, match="cannot be written as JSON"):
        dump_spec({"a": {1, 2}})


def test_sha256_hex_known_value() -> None:
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# --- LoadedSpec ---


def test_loaded_spec_hashes_the_dumped_form_and_reads_the_version() -> None:
    spec = LoadedSpec.from_document(DOC, "here")
    assert spec.sha256 == sha256_hex(dump_spec(DOC))
    assert spec.version == "v2.1"
    assert "paths" not in repr(spec)  # the document is too big for reprs and logs


@pytest.mark.parametrize(("info", "version"), [({"version": 1.0}, "1.0"), ({}, ""), ("junk", "")])
def test_loaded_spec_version_fallbacks(info: Any, version: str) -> None:
    assert LoadedSpec.from_document({"info": info}, "x").version == version


# --- load_spec ---


def test_load_spec_from_json_and_yaml_files_agree(tmp_path: Path) -> None:
    json_file = tmp_path / "spec.json"
    yaml_file = tmp_path / "spec.yaml"
    json_file.write_text(json.dumps(DOC), encoding="utf-8")
    yaml_file.write_text(YAML_DOC, encoding="utf-8")
    from_json = load_spec(str(json_file), FETCH)
    from_yaml = load_spec(str(yaml_file), FETCH)
    assert from_json.source == str(json_file)
    assert from_json.document == from_yaml.document == DOC
    assert from_json.sha256 == from_yaml.sha256
    assert from_json.version == "v2.1"


def test_load_spec_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "spec.json"
    with pytest.raises(SpecFetchError) as info:
        load_spec(str(missing), FETCH)
    assert str(missing) in info.value.message
    assert "not found" in info.value.message


def test_load_spec_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(SpecFetchError, match="is a directory"):
        load_spec(str(tmp_path), FETCH)


def test_load_spec_refuses_an_oversized_file(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(dump_spec(DOC))
    with pytest.raises(SpecFetchError, match="over the 100-byte limit"):
        load_spec(str(big), FetchConfig(max_bytes=100))


def test_load_spec_reports_parse_errors_with_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"openapi": "3.0.1",', encoding="utf-8")
    with pytest.raises(SpecParseError) as info:
        load_spec(str(bad), FETCH)
    assert info.value.message.startswith(f"{bad}:1:")


def test_load_spec_from_a_server(spec_server: SpecServer) -> None:
    spec_server.serve("/api-docs", SpecReply(body=json.dumps(DOC).encode()))
    spec = load_spec(spec_server.url(), FETCH, env={})
    assert spec.source == spec_server.url("/api-docs")
    assert spec.document == DOC
    assert spec.sha256 == sha256_hex(dump_spec(DOC))


def test_load_spec_refuses_other_url_schemes() -> None:
    with pytest.raises(SpecFetchError, match="scheme 'ftp'"):
        load_spec("ftp://example.com/spec.json", FETCH)


# --- write_spec ---


def test_write_spec_writes_dump_and_returns_its_hash(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "deeper" / "spec.json"
    digest = write_spec(DOC, target)
    assert target.read_bytes() == dump_spec(DOC)
    assert digest == sha256_hex(target.read_bytes()) == LoadedSpec.from_document(DOC, "x").sha256
    assert os.listdir(target.parent) == ["spec.json"]  # no temp file left behind


def test_write_spec_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "spec.json"
    target.write_text("old", encoding="utf-8")
    assert write_spec(DOC, target) == sha256_hex(target.read_bytes())
    assert target.read_bytes() == dump_spec(DOC)


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "spec.json"
    target.write_text("old", encoding="utf-8")

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(RegenError) as info:
        write_spec(DOC, target)
    assert "No space left on device" in info.value.message
    assert str(target) in info.value.message
    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["spec.json"]
