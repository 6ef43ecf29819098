"""Compatibility with the original Axon payload: its aliases rewritten into the current definition.

``system_prompt`` → ``instructions``, ``result_type`` → ``output_schema`` (a ``{"field": "type"}``
shorthand becomes an object schema), ``result_retries`` → ``retries.output``, an integer
``retries`` → ``{"tools": n, "output": n}``.
"""

from typing import Any, cast

from app.agents.schema_checks import Problem, json_path

_SHORTHAND_TYPES = {"string", "integer", "number", "boolean", "object", "array", "null"}


def _is_json_schema(value: dict[str, Any]) -> bool:
    return any(key in value for key in ("type", "properties", "$ref", "anyOf", "oneOf", "allOf", "$defs", "enum"))


def _shorthand_to_schema(fields: dict[str, Any], base: str, problems: list[Problem]) -> dict[str, Any]:
    """``{"field": "string"}`` / ``{"field": {"type": "string"}}`` → an object schema requiring every field."""
    properties: dict[str, Any] = {}
    for name, spec in fields.items():
        if isinstance(spec, str) and spec in _SHORTHAND_TYPES:
            properties[name] = {"type": spec}
        elif isinstance(spec, dict):
            properties[name] = spec
        else:
            problems.append(
                {
                    "path": json_path(base, [name]),
                    "message": f"must be a JSON type name ({', '.join(sorted(_SHORTHAND_TYPES))}) or a schema",
                }
            )
    return {"type": "object", "properties": properties, "required": list(properties)}


def apply_compat(raw: dict[str, Any], problems: list[Problem]) -> dict[str, Any]:
    data = dict(raw)
    if "system_prompt" in data:
        system_prompt = data.pop("system_prompt")
        if "instructions" in data:
            problems.append(
                {"path": "$.system_prompt", "message": "give either system_prompt or instructions, not both"}
            )
        else:
            data["instructions"] = system_prompt
    if "result_type" in data:
        result_type = data.pop("result_type")
        if "output_schema" in data:
            problems.append({"path": "$.result_type", "message": "give either result_type or output_schema, not both"})
        elif isinstance(result_type, dict) and not _is_json_schema(cast(dict[str, Any], result_type)):
            data["output_schema"] = _shorthand_to_schema(cast(dict[str, Any], result_type), "$.result_type", problems)
        else:
            data["output_schema"] = result_type
    retries = data.get("retries")
    if isinstance(retries, int) and not isinstance(retries, bool):
        data["retries"] = {"tools": retries, "output": retries}
    if "result_retries" in data:
        result_retries = data.pop("result_retries")
        current = data.get("retries")
        if current is None:
            data["retries"] = {"output": result_retries}
        elif isinstance(current, dict):
            data["retries"] = {**cast(dict[str, Any], current), "output": result_retries}
    return data
