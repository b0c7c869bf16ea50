"""Client-side checks of generated fields: read from annotations and validator methods, compared by looseness."""

from __future__ import annotations

import pytest

from conductor_regen.analysis.validations import compare, split, validator_checks


@pytest.mark.parametrize(("annotation", "plain", "checks"), [
    ("Annotated[int, Field(le=99, strict=True, ge=0)]", "StrictInt", (("ge", ("0",)), ("le", ("99",)))),
    ("Annotated[str, Field(strict=True)]", "StrictStr", ()),
    ("Optional[List[Annotated[str, Field(min_length=1)]]]", "Optional[List[str]]", (("min_length", ("1",)),)),
    ("Dict[str, Any]", "Dict[str, Any]", ()),
])
def test_split_separates_the_type_from_its_constraints(annotation: str, plain: str, checks: tuple) -> None:
    assert split(annotation) == (plain, checks)


def test_validator_methods_name_their_field_and_check() -> None:
    pattern = ('@field_validator(\'name\')\ndef name_validate_regular_expression(cls, value):\n'
               '    if not re.match(r"^\\w*$", value):\n        raise ValueError("x")\n    return value\n')
    assert validator_checks("name_validate_regular_expression", "field_validator('name')", pattern) == \
        ("name", ("pattern", ("^\\w*$",)))
    enum = ("    @field_validator('kind')\n    def kind_validate_enum(cls, value):\n"
            "        if value not in set(['B', 'A']):\n            raise ValueError('x')\n")
    assert validator_checks("kind_validate_enum", "field_validator('kind')", enum) == ("kind", ("enum", ("A", "B")))
    assert validator_checks("odd", "field_validator('x')", "def odd(cls, v):\n    return v\n") == \
        ("x", ("validator", ("odd",)))
    assert validator_checks("m", "classmethod", "") == ("", None)


def test_compare_tells_loosened_from_tightened() -> None:
    assert compare([("ge", ("0",)), ("le", ("99",))], []) == (["ge=0 dropped", "le=99 dropped"], [])
    assert compare([("ge", ("1",))], [("ge", ("0",))]) == (["ge=1 -> ge=0"], [])
    assert compare([("max_length", ("5",))], [("max_length", ("3",))]) == ([], ["max_length=5 -> max_length=3"])
    assert compare([("enum", ("A",))], [("enum", ("A", "B"))]) == (["enum also accepts B"], [])
    assert compare([("enum", ("A", "B"))], [("enum", ("A",))])[1] == ["enum {A, B} -> enum {A}"]
    assert compare([], [("pattern", ("^a$",))]) == ([], ["pattern /^a$/ added"])
    assert compare([("pattern", ("^a$",))], [("pattern", ("^b$",))])[1] == ["pattern /^a$/ -> pattern /^b$/"]
    assert compare([("ge", ("0",))], [("ge", ("0",))]) == ([], [])
