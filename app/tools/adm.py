"""ALTAR ADM FunctionDeclaration schemas <-> JSON Schema (filled in by the tools work)."""

from typing import Any

_ADM_TYPES = {"OBJECT", "STRING", "INTEGER", "NUMBER", "BOOLEAN", "ARRAY"}


def is_adm_schema(schema: dict[str, Any]) -> bool:
    """ADM schemas spell their types in upper case."""
    return schema.get("type") in _ADM_TYPES


def adm_to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    raise NotImplementedError
