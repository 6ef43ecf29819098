"""The OpenAPI document, made to say exactly what the server accepts.

FastAPI generates the document from the routes' types; a few things it cannot know, and this
states them on the generated document (and only there, never in a hand-copied schema):

- A parameter (path, query, header, form field) is never ``null`` on the wire: an optional one is
  left out. FastAPI writes ``T | None`` as ``anyOf: [T, null]``, which invites ``?x=null`` and
  ``Last-Event-ID: null``; the ``null`` branch is dropped.
- No text may hold a NUL character (`app.inputs` refuses it): every free string gets the pattern
  ``NO_NUL``, every object's keys too, and a free-form JSON value (``dict[str, Any]``, ``Any``)
  is the recursive ``JsonValue`` schema, which says the same at every depth.
"""

from typing import Any, cast

NO_NUL = "^[^\\u0000]*$"
JSON_VALUE_REF = "#/components/schemas/JsonValue"

JSON_VALUE: dict[str, Any] = {
    "title": "JsonValue",
    "description": "Any JSON value; no string or key in it holds a NUL character, no number is NaN or infinite.",
    "anyOf": [
        {"type": "string", "pattern": NO_NUL},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": {"$ref": JSON_VALUE_REF}},
        {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": {"$ref": JSON_VALUE_REF}},
    ],
}

_PARAMETER_PLACES = {"path", "query", "header", "cookie"}
_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Formats whose values cannot hold a NUL anyway (the server parses them).
_STRICT_FORMATS = {"uuid", "date-time", "date", "time", "duration", "email", "uri", "ipv4", "ipv6", "hostname"}
# Keys that describe a schema without constraining it: a schema of only these accepts anything.
_ANNOTATIONS = {"title", "description", "default", "examples", "example", "deprecated", "readOnly", "writeOnly"}


def exact_inputs(document: dict[str, Any]) -> dict[str, Any]:
    """Apply the rules above to a generated document, in place; returns it."""
    components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    operations = [
        operation
        for path_item in document.get("paths", {}).values()
        for method, operation in path_item.items()
        if method in _HTTP_METHODS
    ]
    # Components a request may carry; the error envelope, which echoes what it refused, is not one.
    for name in _referenced([[op.get("parameters"), op.get("requestBody")] for op in operations], components):
        _walk(components[name])
    for operation in operations:
        _exact_operation(operation)
    components["JsonValue"] = JSON_VALUE
    return document


def _referenced(roots: Any, components: dict[str, Any]) -> set[str]:
    """The names of the components ``roots`` refer to, directly or through other components."""
    found: set[str] = set()
    pending = [roots]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = cast(dict[str, Any], node).get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in found and name in components:
                    found.add(name)
                    pending.append(components[name])
            pending.extend(cast(dict[str, Any], node).values())
        elif isinstance(node, list):
            pending.extend(cast(list[Any], node))
    return found


def _exact_operation(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") in _PARAMETER_PLACES and "schema" in parameter:
            parameter["schema"] = _without_null(parameter["schema"])
            _walk(parameter["schema"])
    for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
        schema = content.get("schema")
        if schema is None:
            continue
        if media_type == "application/x-www-form-urlencoded" and "properties" in schema:
            schema["properties"] = {name: _without_null(field) for name, field in schema["properties"].items()}
        _walk(schema)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = schema.get("anyOf")
    if not isinstance(branches, list):
        return schema
    kept = [branch for branch in cast(list[dict[str, Any]], branches) if branch != {"type": "null"}]
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    if len(kept) == 1:
        return {**kept[0], **rest}
    return {**rest, "anyOf": kept}


def _walk(schema: Any) -> None:
    """Add the NUL rules to one schema and everything inside it."""
    if not isinstance(schema, dict):
        return
    node = cast(dict[str, Any], schema)
    if set(node) <= _ANNOTATIONS:  # `Any`: any JSON value
        node["$ref"] = JSON_VALUE_REF
        return
    types = node.get("type")
    kinds = set(cast(list[str], types)) if isinstance(types, list) else {types}
    if "string" in kinds and not {"pattern", "enum", "const"} & set(node) and node.get("format") not in _STRICT_FORMATS:
        node["pattern"] = NO_NUL
    if "object" in kinds and node.get("additionalProperties") is not False:
        node.setdefault("propertyNames", {"pattern": NO_NUL})
        extra = node.get("additionalProperties", True)
        if extra is True or extra == {}:
            node["additionalProperties"] = {"$ref": JSON_VALUE_REF}
    for key in ("items", "additionalProperties", "not", "contains"):
        _walk(node.get(key))
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for branch in node.get(key, []):
            _walk(branch)
    for key in ("properties", "$defs", "patternProperties"):
        for sub in node.get(key, {}).values():
            _walk(sub)
