"""ALTAR ADM ``FunctionDeclaration`` schemas <-> JSON Schema.

ADM schemas are OpenAPI-3.0-like: upper-case ``type`` (``OBJECT``, ``STRING``, ``INTEGER``,
``NUMBER``, ``BOOLEAN``, ``ARRAY``), ``properties``, ``required``, ``items``, ``enum``,
``description``, ``format``, ``pattern``, ``minimum``/``maximum``, ``min_length``/``max_length``,
``min_items``/``max_items`` and ``nullable``. The JSON Schema subset they map onto one-to-one:

| ADM | JSON Schema |
|---|---|
| ``"type": "STRING"`` | ``"type": "string"`` (and so on for each type) |
| ``"nullable": true`` | ``"type": [T, "null"]`` (``null`` added to an ``enum``) |
| ``min_length``/``max_length`` | ``minLength``/``maxLength`` |
| ``min_items``/``max_items`` | ``minItems``/``maxItems`` |
| the other keywords | the same names |

ADM input also accepts the camelCase spellings (``minLength``) used by Gemini's JSON form.
JSON Schema that ADM cannot express (``$ref``, ``oneOf``/``anyOf``/``allOf``/``not``, ``const``,
``additionalProperties`` other than ``true``, ``prefixItems``, ``exclusiveMinimum``, ``multipleOf``,
type arrays other than ``[T, "null"]``, ...) raises `UnsupportedSchema` listing every construct,
never silently dropped. ``$schema`` at the root is the only keyword ignored on export.
"""

from typing import Any, cast

_ADM_TYPES = {"OBJECT", "STRING", "INTEGER", "NUMBER", "BOOLEAN", "ARRAY"}
_RENAMED = {"min_length": "minLength", "max_length": "maxLength", "min_items": "minItems", "max_items": "maxItems"}
_CAMEL_TO_ADM = {camel: snake for snake, camel in _RENAMED.items()}
_SHARED = ("description", "enum", "format", "pattern", "minimum", "maximum")
_ADM_KEYS = {"type", "nullable", "properties", "required", "items", *_SHARED, *_RENAMED, *_CAMEL_TO_ADM}
_COMPOSITION = frozenset({"$ref", "anyOf", "oneOf", "allOf", "not"})
_JSON_KEYS = {"type", "properties", "required", "items", *_SHARED, *_RENAMED.values()}


class AdmConversionError(ValueError):
    """A schema could not be converted; ``problems`` lists ``path: reason`` for each construct."""

    def __init__(self, summary: str, problems: list[str]) -> None:
        super().__init__(f"{summary}: " + "; ".join(problems))
        self.problems = problems


class UnsupportedSchema(AdmConversionError):
    """JSON Schema uses constructs ADM cannot express."""


def is_adm_schema(schema: dict[str, Any]) -> bool:
    """ADM schemas spell their types in upper case."""
    return schema.get("type") in _ADM_TYPES


def adm_to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Normalise an ADM schema to JSON Schema; `AdmConversionError` for anything malformed."""
    problems: list[str] = []
    converted = _from_adm(schema, "#", problems)
    if problems:
        raise AdmConversionError("Invalid ADM schema", problems)
    return converted


def json_schema_to_adm(schema: dict[str, Any]) -> dict[str, Any]:
    """Express JSON Schema in ADM; `UnsupportedSchema` naming every construct ADM lacks."""
    problems: list[str] = []
    body = {k: v for k, v in schema.items() if k != "$schema"}
    converted = _to_adm(body, "#", problems)
    if problems:
        raise UnsupportedSchema("JSON Schema constructs ALTAR ADM cannot express", problems)
    return converted


def declaration_to_adm(name: str, description: str | None, parameters: dict[str, Any]) -> dict[str, Any]:
    """An ADM ``FunctionDeclaration``: ``{"name", "description", "parameters"}``."""
    declaration: dict[str, Any] = {"name": name, "parameters": json_schema_to_adm(parameters)}
    if description:
        declaration["description"] = description
    return declaration


def declaration_from_adm(declaration: dict[str, Any]) -> dict[str, Any]:
    """An ADM ``FunctionDeclaration`` with its ``parameters`` normalised to JSON Schema."""
    parameters = declaration.get("parameters", {"type": "OBJECT", "properties": {}})
    if not isinstance(parameters, dict):
        raise AdmConversionError("Invalid ADM declaration", ["parameters: must be an object"])
    return {**declaration, "parameters": adm_to_json_schema(cast(dict[str, Any], parameters))}


def _from_adm(node: dict[str, Any], path: str, problems: list[str]) -> dict[str, Any]:
    for key in node:
        if key not in _ADM_KEYS:
            problems.append(f"{path}: unknown ADM keyword {key!r}")
    adm_type = node.get("type")
    if adm_type not in _ADM_TYPES:
        problems.append(f"{path}: type must be one of {sorted(_ADM_TYPES)}, got {adm_type!r}")
        return {}
    out: dict[str, Any] = {}
    nullable = node.get("nullable", False)
    if not isinstance(nullable, bool):
        problems.append(f"{path}: nullable must be a boolean")
    json_type = str(adm_type).lower()
    out["type"] = [json_type, "null"] if nullable is True else json_type
    for key, value in node.items():
        if key in _SHARED:
            out[key] = value
        elif key in _RENAMED:
            out[_RENAMED[key]] = value
        elif key in _CAMEL_TO_ADM:
            out[key] = value
    if nullable is True and isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    properties = node.get("properties")
    if properties is not None:
        if isinstance(properties, dict):
            props = cast(dict[str, Any], properties)
            out["properties"] = {
                name: _child(sub, f"{path}/properties/{name}", problems) for name, sub in props.items()
            }
        else:
            problems.append(f"{path}/properties: must be an object")
    if "required" in node:
        out["required"] = node["required"]
    if "items" in node:
        out["items"] = _child(node["items"], f"{path}/items", problems)
    return out


def _child(value: Any, path: str, problems: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        problems.append(f"{path}: must be an ADM schema object")
        return {}
    return _from_adm(cast(dict[str, Any], value), path, problems)


def _to_adm(node: dict[str, Any], path: str, problems: list[str]) -> dict[str, Any]:
    for key, value in node.items():
        if key not in _JSON_KEYS and not (key == "additionalProperties" and value is True):
            problems.append(f"{path}: {key!r} is not supported by ADM")
    out: dict[str, Any] = {}
    json_type = node.get("type")
    nullable = False
    if isinstance(json_type, list):
        types = cast(list[Any], json_type)
        others = [t for t in types if t != "null"]
        if len(types) == 2 and len(others) == 1:
            json_type, nullable = others[0], True
        else:
            problems.append(f"{path}: type list {types!r} (only [T, 'null'] is supported)")
            return out
    if json_type is None and _COMPOSITION.intersection(node):
        return out  # already reported; a missing type would only repeat it
    if not isinstance(json_type, str) or json_type.upper() not in _ADM_TYPES:
        problems.append(f"{path}: type must be one of {sorted(t.lower() for t in _ADM_TYPES)}, got {json_type!r}")
        return out
    out["type"] = json_type.upper()
    if nullable:
        out["nullable"] = True
    for key, value in node.items():
        if key in _SHARED:
            out[key] = value
        elif key in _CAMEL_TO_ADM:
            out[_CAMEL_TO_ADM[key]] = value
    if nullable and isinstance(out.get("enum"), list):
        out["enum"] = [v for v in cast(list[Any], out["enum"]) if v is not None]
    properties = node.get("properties")
    if isinstance(properties, dict):
        props = cast(dict[str, Any], properties)
        out["properties"] = {
            name: _json_child(sub, f"{path}/properties/{name}", problems) for name, sub in props.items()
        }
    if "required" in node:
        out["required"] = node["required"]
    if "items" in node:
        out["items"] = _json_child(node["items"], f"{path}/items", problems)
    return out


def _json_child(value: Any, path: str, problems: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        problems.append(f"{path}: boolean schemas are not supported by ADM")
        return {}
    return _to_adm(cast(dict[str, Any], value), path, problems)
