"""The first wall: names that could become code, references that leave the document, collisions, odd values.

Every case starts from the example v2 spec (which passes) and plants one hostile value; the error must
name that value's JSON pointer in one line. The real Orkes spec must pass untouched.
"""

from __future__ import annotations

import copy
import json
import os
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest
from support.local_server import serving
from support.paths import REAL_SPEC, SPEC_V2

from conductor_regen.config import FetchConfig
from conductor_regen.errors import RegenError, SpecFetchError, SpecParseError
from conductor_regen.spec.intake import load_spec
from conductor_regen.spec.safety import MAX_NAME, SpecSafetyError, check_spec_safety, mangled, pointer

BASE: Dict[str, Any] = json.loads(SPEC_V2.read_text())
BREAKOUT = 'p" if __import__("os").system("touch marker") else "'
Doc = Dict[str, Any]


def schemas(d: Doc) -> Doc:
    return d["components"]["schemas"]  # type: ignore[no-any-return]


def operation(d: Doc) -> Doc:
    return d["paths"]["/api/applications/{id}"]["get"]  # type: ignore[no-any-return]


def refused(mutate: Callable[[Doc], None]) -> str:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    with pytest.raises(SpecSafetyError) as caught:
        check_spec_safety(doc, "spec.json")
    line = caught.value.render()
    assert "\n" not in line and line.startswith("ERROR: spec.json: #/")
    return line


def passes(mutate: Callable[[Doc], None]) -> None:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    check_spec_safety(doc, "spec.json")


def test_the_example_specs_and_the_real_spec_pass() -> None:
    check_spec_safety(copy.deepcopy(BASE), "v2")
    if not REAL_SPEC.is_file():
        pytest.skip("../shared is absent")
    check_spec_safety(json.loads(REAL_SPEC.read_text()), "real")  # holds an enum value with an apostrophe


NAME_SITES: Dict[str, Callable[[Doc, str], None]] = {
    "schema": lambda d, n: schemas(d).__setitem__(n, {"type": "object"}),
    "property": lambda d, n: schemas(d)["Tag"]["properties"].__setitem__(n, {"type": "string"}),
    "parameter": lambda d, n: operation(d)["parameters"][0].__setitem__("name", n),
    "operationId": lambda d, n: operation(d).__setitem__("operationId", n),
    "tag": lambda d, n: operation(d).__setitem__("tags", [n]),
    "required": lambda d, n: schemas(d)["Tag"].__setitem__("required", [n]),
    "path": lambda d, n: d["paths"].__setitem__("/api/x" + n, d["paths"]["/api/applications"]),
    "media type": lambda d, n: operation(d)["responses"]["200"]["content"].__setitem__("application/" + n, {}),
    "discriminator": lambda d, n: schemas(d)["Tag"].__setitem__("discriminator", {"propertyName": n}),
    "discriminator target": lambda d, n: schemas(d)["Tag"].__setitem__(
        "discriminator", {"propertyName": "type", "mapping": {"a": n}}),
    "security scheme": lambda d, n: d["components"]["securitySchemes"].__setitem__(
        n, {"type": "apiKey", "in": "header", "name": "X"}),
    "security header": lambda d, n: d["components"]["securitySchemes"]["api_key"].__setitem__("name", n),
    "server": lambda d, n: d.__setitem__("servers", [{"url": "https://h/" + n}]),
    "format": lambda d, n: schemas(d)["Tag"]["properties"]["key"].__setitem__("format", n),
    "enum var name": lambda d, n: schemas(d)["Tag"]["properties"]["key"].__setitem__("x-enum-varnames", [n]),
}


@pytest.mark.parametrize("site", sorted(NAME_SITES))
@pytest.mark.parametrize("name", [BREAKOUT, "it's", "back\\slash", "new\nline", "bidi\u202eflip",
                                  "zero\u200bwidth", "A" * (MAX_NAME + 1)])
def test_a_name_that_could_break_out_is_refused_with_its_pointer(site: str, name: str) -> None:
    line = refused(lambda d: NAME_SITES[site](d, name))
    assert "a name" in line or "control character" in line
    assert "\n" not in line and "\u202e" not in line and "\u200b" not in line
    assert len(line) < 600  # a 200-character name is cut in the message


@pytest.mark.parametrize("site", sorted(NAME_SITES))
def test_plain_names_pass_at_every_site(site: str) -> None:
    passes(lambda d: NAME_SITES[site](d, "plainName_2"))


def test_the_pointer_names_the_offending_value() -> None:
    line = refused(lambda d: schemas(d)["Tag"]["properties"].__setitem__('a"b', {"type": "string"}))
    assert "#/components/schemas/Tag/properties/a\"b:" in line
    line = refused(lambda d: operation(d).__setitem__("operationId", 'x"y'))
    assert "#/paths/~1api~1applications~1{id}/get/operationId" in line


@pytest.mark.parametrize("ref", ["file:///etc/passwd", "http://127.0.0.1:9/evil.json#/Evil", "other.json#/X",
                                 "//host/x.json", "./x.yaml", "https://example.com/s.json"])
def test_a_reference_outside_the_document_is_refused(ref: str) -> None:
    line = refused(lambda d: schemas(d)["Tag"]["properties"].__setitem__("x", {"$ref": ref}))
    assert "#/components/schemas/Tag/properties/x/$ref" in line and "outside the spec" in line


@pytest.mark.parametrize("keyword,value", [("$id", "http://evil/"), ("$schema", "http://evil/s.json"),
                                           ("$dynamicRef", "http://evil/#x")])
def test_base_uris_and_other_remote_keywords_are_refused(keyword: str, value: str) -> None:
    line = refused(lambda d: schemas(d)["Tag"].__setitem__(keyword, value))
    assert f"#/components/schemas/Tag/{keyword}" in line


def test_local_references_and_known_dialects_pass() -> None:
    passes(lambda d: schemas(d)["Tag"]["properties"].__setitem__("t", {"$ref": "#/components/schemas/Task"}))
    passes(lambda d: schemas(d)["Tag"].__setitem__("$schema", "https://json-schema.org/draft/2020-12/schema"))


class _Counting(BaseHTTPRequestHandler):
    hits: List[str] = []

    def do_GET(self) -> None:  # noqa: N802
        _Counting.hits.append(self.path)
        body = b'{"type": "object", "properties": {"stolen": {"type": "string"}}}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ref_server() -> Iterator[str]:
    _Counting.hits = []
    with serving(_Counting) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"


def test_a_remote_reference_is_never_requested_and_a_file_never_read(tmp_path: Path, ref_server: str) -> None:
    secret = tmp_path / "credentials"
    secret.write_text("token=SECRET-CONTENT\n")
    for ref in (f"{ref_server}/evil.json#/Evil", secret.as_uri()):
        doc = copy.deepcopy(BASE)
        schemas(doc)["Tag"]["properties"]["x"] = {"$ref": ref}
        spec = tmp_path / "spec.json"
        spec.write_text(json.dumps(doc))
        with pytest.raises(SpecSafetyError) as caught:
            load_spec(str(spec), FetchConfig())
        assert "SECRET-CONTENT" not in caught.value.render()
    assert _Counting.hits == []


def test_names_that_would_become_one_name_are_refused_with_both() -> None:
    line = refused(lambda d: schemas(d).__setitem__("tag", {"type": "object"}))
    assert "'Tag'" in line and "'tag'" in line and "#/components/schemas:" in line
    line = refused(lambda d: schemas(d)["Tag"]["properties"].__setitem__("KEY", {"type": "string"}))
    assert "'key'" in line and "'KEY'" in line
    line = refused(lambda d: schemas(d)["Tag"]["properties"].__setitem__("ke_y", {"type": "string"}))
    assert "'ke_y'" in line
    line = refused(lambda d: operation(d).__setitem__("tags", ["TAG"]) or
                   d["paths"]["/api/applications"]["get"].__setitem__("tags", ["Tag"]))
    assert "'TAG'" in line and "'Tag'" in line
    line = refused(lambda d: operation(d)["parameters"].append({"name": "ID", "in": "query",
                                                                  "schema": {"type": "string"}}))
    assert "'id'" in line and "'ID'" in line
    assert mangled("Foo_Bar") == mangled("fooBar") != mangled("fooBaz")


@pytest.mark.parametrize("pattern", ['\\" + x + \\"', "a\nb", "a\\", "x\u2028y", "a\\\\\\'"])
def test_a_pattern_that_would_end_its_raw_string_is_refused(pattern: str) -> None:
    line = refused(lambda d: schemas(d)["Tag"]["properties"]["key"].__setitem__("pattern", pattern))
    assert "/properties/key/pattern" in line


@pytest.mark.parametrize("pattern", ['^[\\d"]+$', "^a\\\\$", "it's", "^\\w+\\.\\d{2}$"])
def test_ordinary_patterns_pass(pattern: str) -> None:
    passes(lambda d: schemas(d)["Tag"]["properties"]["key"].__setitem__("pattern", pattern))


def test_free_text_passes_but_control_characters_and_huge_strings_do_not() -> None:
    text = '"""\nimport os\n""" \\ it\'s \t done'
    passes(lambda d: schemas(d)["Tag"].__setitem__("description", text))
    passes(lambda d: schemas(d)["Tag"]["properties"]["key"].__setitem__("enum", ["it's", 'a"b', "c\\d"]))
    passes(lambda d: schemas(d)["Tag"]["properties"]["key"].__setitem__("default", "plain text, (with) $signs"))
    assert "U+0000" in refused(lambda d: schemas(d)["Tag"].__setitem__("description", "a\x00b"))
    assert "U+D800" in refused(lambda d: schemas(d)["Tag"]["properties"]["key"].__setitem__("enum", ["\ud800"]))
    assert "characters (at most" in refused(lambda d: schemas(d)["Tag"].__setitem__("description", "x" * 1_000_001))


@pytest.mark.parametrize("default", ["x' + str(1) + '", 'a"b', "back\\slash", "two\nlines"])
def test_a_default_the_generator_could_write_unescaped_is_refused(default: str) -> None:
    # With an enum, 7.14.0 writes `m: Optional[StrictStr] = 'x' + str(1) + ''`: code at class level.
    def plant(d: Doc) -> None:
        d["components"]["schemas"]["Tag"]["properties"]["m"] = {"type": "string", "enum": [default, "ok"],
                                                                "default": default}
    line = refused(plant)
    assert "#/components/schemas/Tag/properties/m/default" in line


def test_numbers_must_be_finite() -> None:
    line = refused(lambda d: schemas(d)["Tag"]["properties"]["key"].__setitem__("maxLength", float("inf")))
    assert "/properties/key/maxLength" in line and "not finite" in line


def test_pointer_escapes_slashes_tildes_and_invisible_characters() -> None:
    assert pointer(("paths", "/a~b", "get")) == "#/paths/~1a~0b/get"
    assert pointer(("x\u202e",)) == "#/x\\u202e"
    assert pointer(()) == "#"


# --- intake: what is read at all ------------------------------------------------------------------

@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo"])
def test_special_files_are_refused_at_once(tmp_path: Path, special: str) -> None:
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "spec.fifo"
        os.mkfifo(path)
    with pytest.raises(SpecFetchError) as caught:  # before any read: /dev/zero and a fifo never end
        load_spec(str(path), FetchConfig())
    assert "not a regular file" in caught.value.render()


@pytest.mark.parametrize("text,expect", [
    ('{"openapi": "3.0.1", "x": ' + "9" * 5000 + "}", "4300 digits"),
    ('{"openapi": "3.0.1", "x": NaN}', "NaN is not a JSON number"),
    ('{"openapi": "3.0.1", "x": -Infinity}', "-Infinity is not a JSON number"),
    ("openapi: 3.0.1\nx: " + "9" * 5000 + "\n", "4300 digits"),
    ("openapi: 3.0.1\nx: .nan\n", "not finite"),
])
def test_numbers_no_json_can_hold_are_one_line(tmp_path: Path, text: str, expect: str) -> None:
    spec = tmp_path / "spec.txt"
    spec.write_text(text)
    with pytest.raises((SpecParseError, SpecSafetyError)) as caught:
        load_spec(str(spec), FetchConfig())
    line = caught.value.render()
    assert expect in line and "\n" not in line and len(line) < 400


def test_a_spec_refused_by_the_wall_is_refused_by_every_loader(tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    schemas(doc)["Tag"]["properties"][BREAKOUT] = {"type": "string"}
    spec = tmp_path / "evil.yaml"
    import yaml

    spec.write_text(yaml.safe_dump(doc))
    with pytest.raises(RegenError) as caught:
        load_spec(str(spec), FetchConfig())
    assert "#/components/schemas/Tag/properties/" in caught.value.render()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-32"])
def test_a_spec_in_any_unicode_encoding_with_a_bom_loads_the_same(tmp_path: Path, encoding: str) -> None:
    spec = tmp_path / "spec.json"
    spec.write_bytes(SPEC_V2.read_text().encode(encoding))
    assert load_spec(str(spec), FetchConfig()).document == BASE


@pytest.mark.parametrize("data,expect", [(b"\x00" * 64, "control characters"), (b"\x1f\x8b\x08\x00\xff", "not UTF-8"),
                                         ("{\"t\": \"\u00d6\"}".encode("latin-1"), "not UTF-8")])
def test_bytes_that_are_no_text_are_one_line(tmp_path: Path, data: bytes, expect: str) -> None:
    spec = tmp_path / "spec.json"
    spec.write_bytes(data)
    with pytest.raises(SpecParseError) as caught:
        load_spec(str(spec), FetchConfig())
    assert expect in caught.value.render() and "\n" not in caught.value.render()
