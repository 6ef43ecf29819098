"""Write-time checks of the JSON Schemas inside a definition (``output_schema``, ``deps_schema``,
tool ``parameters``): draft 2020-12 validity, size and depth limits, local non-recursive ``$ref`` only.
"""

import json
from typing import Any, cast
from urllib.parse import unquote

from jsonschema import Draft202012Validator, ValidationError

from app.config import Settings

Problem = dict[str, str]
"""``{"path": "$.output_schema.properties.age", "message": "..."}``"""

_META_VALIDATOR = Draft202012Validator(Draft202012Validator.META_SCHEMA)
_MAX_META_ERRORS = 5


def json_path(base: str, parts: "list[str | int] | tuple[str | int, ...]") -> str:
    path = base
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.isidentifier():
            path += f".{part}"
        else:
            path += f"[{json.dumps(part)}]"
    return path


def _depth(document: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in cast(dict[str, Any], node).values())
        elif isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in cast(list[Any], node))
    return deepest


def _refs(document: Any) -> list[tuple[list[str | int], Any]]:
    """Every ``$ref`` value with the location of the object holding it."""
    found: list[tuple[list[str | int], Any]] = []
    stack: list[tuple[Any, list[str | int]]] = [(document, [])]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            mapping = cast(dict[str, Any], node)
            if "$ref" in mapping:
                found.append((where, mapping["$ref"]))
            stack.extend((child, [*where, key]) for key, child in mapping.items())
        elif isinstance(node, list):
            stack.extend((child, [*where, index]) for index, child in enumerate(cast(list[Any], node)))
    return found


def _pointer(ref: str) -> tuple[str, ...] | None:
    """The JSON pointer of a local reference as path segments; None for a non-local one."""
    if not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment == "":
        return ()
    if not fragment.startswith("/"):
        return None
    return tuple(segment.replace("~1", "/").replace("~0", "~") for segment in fragment[1:].split("/"))


def _resolve(document: Any, pointer: tuple[str, ...]) -> bool:
    node = document
    for segment in pointer:
        if isinstance(node, dict) and segment in node:
            node = cast(dict[str, Any], node)[segment]
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(cast(list[Any], node)):
            node = cast(list[Any], node)[int(segment)]
        else:
            return False
    return True


def _ref_problems(schema: dict[str, Any], base: str) -> list[Problem]:
    problems: list[Problem] = []
    targets: list[tuple[tuple[str | int, ...], tuple[str, ...]]] = []
    for where, ref in _refs(schema):
        at = json_path(base, [*where, "$ref"])
        if not isinstance(ref, str):
            problems.append({"path": at, "message": "$ref must be a string"})
            continue
        pointer = _pointer(ref)
        if pointer is None:
            problems.append({"path": at, "message": f"only local references ('#/...') are supported, got {ref!r}"})
        elif not _resolve(schema, pointer):
            problems.append({"path": at, "message": f"$ref {ref!r} points at nothing in this schema"})
        else:
            targets.append((tuple(where), pointer))
    if problems:
        return problems
    # A reference is recursive when the subtree it points at (directly or through further
    # references) contains a reference back into that same subtree.
    edges: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for where, pointer in targets:
        location = tuple(str(part) for part in where)
        for target in {p for _, p in targets}:
            if location[: len(target)] == target:
                edges.setdefault(target, set()).add(pointer)
    for start in edges:
        seen: set[tuple[str, ...]] = set()
        stack = list(edges[start])
        while stack:
            node = stack.pop()
            if node == start:
                ref = "#" + "".join(f"/{segment}" for segment in start)
                return [{"path": base, "message": f"recursive $ref {ref!r} is not supported"}]
            if node not in seen:
                seen.add(node)
                stack.extend(edges.get(node, ()))
    return []


def check_schema(schema: Any, base: str, settings: Settings, *, require_object: bool = True) -> list[Problem]:
    """Problems with one JSON Schema found at JSON path ``base`` (empty when it is acceptable)."""
    if not isinstance(schema, dict):
        return [{"path": base, "message": "must be a JSON Schema object"}]
    document = cast(dict[str, Any], schema)
    size = len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())
    if size > settings.max_schema_bytes:
        return [{"path": base, "message": f"schema is {size} bytes; the limit is {settings.max_schema_bytes}"}]
    depth = _depth(document)
    if depth > settings.max_schema_depth:
        return [
            {"path": base, "message": f"schema nests {depth} levels deep; the limit is {settings.max_schema_depth}"}
        ]
    problems: list[Problem] = []
    errors: list[ValidationError] = list(_META_VALIDATOR.iter_errors(document))  # pyright: ignore[reportUnknownMemberType]
    for error in sorted(errors, key=lambda e: [str(part) for part in e.absolute_path]):
        problems.append(
            {"path": json_path(base, list(error.absolute_path)), "message": f"invalid JSON Schema: {error.message}"}
        )
        if len(problems) >= _MAX_META_ERRORS:
            break
    if problems:
        return problems
    problems.extend(_ref_problems(document, base))
    if require_object and document.get("type") != "object":
        problems.append({"path": f"{base}.type", "message": 'must describe an object: set "type": "object"'})
    return problems
