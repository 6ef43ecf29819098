from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from app.tools.adm import (
    AdmConversionError,
    UnsupportedSchema,
    adm_to_json_schema,
    declaration_from_adm,
    declaration_to_adm,
    is_adm_schema,
    json_schema_to_adm,
)

WEATHER_ADM = {
    "type": "OBJECT",
    "properties": {
        "location": {"type": "STRING", "description": "City name", "min_length": 1, "max_length": 80},
        "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"], "nullable": True},
        "days": {"type": "INTEGER", "minimum": 1, "maximum": 14},
        "tags": {"type": "ARRAY", "items": {"type": "STRING", "pattern": "^[a-z]+$"}, "min_items": 1, "max_items": 5},
        "when": {"type": "STRING", "format": "date-time"},
        "precise": {"type": "BOOLEAN"},
        "ratio": {"type": "NUMBER", "nullable": True},
        "origin": {"type": "OBJECT", "properties": {"lat": {"type": "NUMBER"}}, "required": ["lat"]},
    },
    "required": ["location"],
}
WEATHER_JSON = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City name", "minLength": 1, "maxLength": 80},
        "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", None]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}, "minItems": 1, "maxItems": 5},
        "when": {"type": "string", "format": "date-time"},
        "precise": {"type": "boolean"},
        "ratio": {"type": ["number", "null"]},
        "origin": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
    },
    "required": ["location"],
}


def test_adm_to_json_schema_covers_every_keyword() -> None:
    assert is_adm_schema(WEATHER_ADM)
    assert not is_adm_schema(WEATHER_JSON)
    assert adm_to_json_schema(WEATHER_ADM) == WEATHER_JSON
    assert json_schema_to_adm(WEATHER_JSON) == WEATHER_ADM
    Draft202012Validator.check_schema(WEATHER_JSON)


def test_camel_case_adm_spellings_are_accepted() -> None:
    assert adm_to_json_schema({"type": "STRING", "minLength": 2, "maxItems": 3}) == {
        "type": "string",
        "minLength": 2,
        "maxItems": 3,
    }


def test_nullable_enum_validates_null_in_json_schema() -> None:
    schema = adm_to_json_schema({"type": "STRING", "enum": ["a"], "nullable": True})
    assert Draft202012Validator(schema).is_valid(None)
    assert not Draft202012Validator(schema).is_valid("b")


@pytest.mark.parametrize(
    ("adm", "problems"),
    [
        ({"type": "OBJECT", "properties": {"x": {"type": "string"}}}, ["#/properties/x: type must be one of"]),
        (
            {"type": "OBJECT", "properties": {"x": {"type": "STRING", "oneOf": []}}},
            ["#/properties/x: unknown ADM keyword 'oneOf'"],
        ),
        ({"type": "ARRAY", "items": "STRING"}, ["#/items: must be an ADM schema object"]),
        ({"type": "OBJECT", "properties": []}, ["#/properties: must be an object"]),
        ({"type": "STRING", "nullable": "yes"}, ["#: nullable must be a boolean"]),
    ],
)
def test_malformed_adm_is_refused_with_paths(adm: dict[str, Any], problems: list[str]) -> None:
    with pytest.raises(AdmConversionError) as raised:
        adm_to_json_schema(adm)
    assert len(raised.value.problems) == len(problems)
    for found, expected in zip(raised.value.problems, problems, strict=True):
        assert found.startswith(expected)


@pytest.mark.parametrize(
    ("schema", "problems"),
    [
        (
            {"$ref": "#/$defs/x", "$defs": {}},
            [
                "#: '$ref' is not supported by ADM",
                "#: '$defs' is not supported by ADM",
            ],
        ),
        (
            {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}},
            ["#/properties/a: 'anyOf'"],
        ),
        ({"type": "object", "additionalProperties": {"type": "string"}}, ["#: 'additionalProperties'"]),
        ({"type": "object", "additionalProperties": False}, ["#: 'additionalProperties'"]),
        ({"type": "string", "const": "x"}, ["#: 'const'"]),
        ({"type": "array", "prefixItems": [{"type": "string"}]}, ["#: 'prefixItems'"]),
        ({"type": ["string", "integer"]}, ["#: type list ['string', 'integer']"]),
        (
            {"type": "null"},
            ["#: type must be one of ['array', 'boolean', 'integer', 'number', 'object', 'string'], got 'null'"],
        ),
        ({"description": "anything"}, ["#: type must be one of"]),
        ({"type": "integer", "exclusiveMinimum": 0, "multipleOf": 2}, ["#: 'exclusiveMinimum'", "#: 'multipleOf'"]),
        ({"type": "array", "items": True}, ["#/items: boolean schemas are not supported by ADM"]),
    ],
)
def test_unsupported_json_schema_lists_every_construct(schema: dict[str, Any], problems: list[str]) -> None:
    with pytest.raises(UnsupportedSchema) as raised:
        json_schema_to_adm(schema)
    assert len(raised.value.problems) == len(problems), raised.value.problems
    for found, expected in zip(raised.value.problems, problems, strict=True):
        assert found.startswith(expected)


def test_root_dollar_schema_and_default_additional_properties_are_dropped() -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": True}
    assert json_schema_to_adm(schema) == {"type": "OBJECT"}


def test_whole_declarations() -> None:
    declaration = declaration_to_adm("get_weather", "Gets the weather.", WEATHER_JSON)
    assert declaration == {"name": "get_weather", "description": "Gets the weather.", "parameters": WEATHER_ADM}
    assert declaration_from_adm(declaration) == {**declaration, "parameters": WEATHER_JSON}
    assert declaration_to_adm("noop", None, {"type": "object"}) == {"name": "noop", "parameters": {"type": "OBJECT"}}


# --- JSON Schema -> ADM -> JSON Schema is the identity on the supported subset ---

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
DESCRIPTIONS = st.text(max_size=20)
BOUNDS = st.integers(min_value=0, max_value=1000)


@st.composite
def scalar_schemas(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["string", "integer", "number", "boolean"]))
    schema: dict[str, Any] = {}
    if kind == "string":
        values = st.text(max_size=5)
        if draw(st.booleans()):
            schema["minLength"] = draw(BOUNDS)
        if draw(st.booleans()):
            schema["maxLength"] = draw(BOUNDS)
        if draw(st.booleans()):
            schema["pattern"] = draw(st.sampled_from(["^[a-z]+$", "\\d{3}", "."]))
        if draw(st.booleans()):
            schema["format"] = draw(st.sampled_from(["date-time", "email", "uuid"]))
    elif kind in ("integer", "number"):
        values = st.integers(-5, 5)
        if draw(st.booleans()):
            schema["minimum"] = draw(st.integers(-100, 0) if kind == "integer" else st.floats(-100, 0))
        if draw(st.booleans()):
            schema["maximum"] = draw(st.integers(0, 100))
    else:
        values = st.booleans()
    nullable = draw(st.booleans())
    schema["type"] = [kind, "null"] if nullable else kind
    if draw(st.booleans()):
        enum: list[Any] = draw(st.lists(values, min_size=1, max_size=3, unique=True))
        schema["enum"] = [*enum, None] if nullable else enum
    return schema


def with_description(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(inner, st.none() | DESCRIPTIONS).map(
        lambda pair: pair[0] if pair[1] is None else {**pair[0], "description": pair[1]}
    )


def compound(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        if draw(st.booleans()):
            schema: dict[str, Any] = {"type": "array", "items": draw(children)}
            if draw(st.booleans()):
                schema["minItems"] = draw(BOUNDS)
            if draw(st.booleans()):
                schema["maxItems"] = draw(BOUNDS)
        else:
            properties = draw(st.dictionaries(NAMES, children, max_size=4))
            schema = {"type": "object", "properties": properties}
            if properties and draw(st.booleans()):
                schema["required"] = draw(st.lists(st.sampled_from(sorted(properties)), unique=True, min_size=1))
        if draw(st.booleans()):
            schema["type"] = [schema["type"], "null"]
        return schema

    return build()


SCHEMAS = st.recursive(
    with_description(scalar_schemas()), lambda children: with_description(compound(children)), max_leaves=12
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(NAMES, SCHEMAS, max_size=5), DESCRIPTIONS)
def test_json_schema_adm_round_trip(properties: dict[str, Any], description: str) -> None:
    schema = {"type": "object", "properties": properties, "description": description}
    Draft202012Validator.check_schema(schema)
    adm = json_schema_to_adm(schema)
    assert is_adm_schema(adm)
    assert adm_to_json_schema(adm) == schema
