"""``{{variable}}`` placeholders in instructions: parsing (write time) and rendering (run time).

The grammar is deliberately small: ``{{name}}`` or ``{{a.b.c}}`` (dotted paths into nested
objects), whitespace inside the braces allowed. Handlebars blocks and helpers (``{{#if}}``,
``{{> partial}}``) are refused at write time rather than rendered wrongly.

Rendering rule: a value that is a string is inserted as is, ``null`` as an empty string,
anything else as compact JSON. A placeholder whose value is missing from the run's ``deps``
renders as an empty string, unless ``deps_schema`` declares it required (every segment of
its path listed in ``required`` along the way); then the run is refused with a 422.
"""

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any, cast

from app.errors import InvalidRequest

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_MISSING = object()


class TemplateSyntaxError(ValueError):
    """A placeholder outside the supported grammar."""


def placeholders(text: str) -> Iterator[str]:
    """The variable paths used in ``text``, in order; raises on an unsupported placeholder."""
    for match in _PLACEHOLDER.finditer(text):
        inner = match.group(1).strip()
        if not _VARIABLE.match(inner):
            raise TemplateSyntaxError(
                f"unsupported placeholder {match.group(0)!r}: only {{{{variable}}}} and {{{{a.b}}}} are supported"
            )
        yield inner


def _as_dict(value: Any) -> dict[str, Any] | None:
    return cast(dict[str, Any], value) if isinstance(value, dict) else None


def undeclared(path: str, deps_schema: dict[str, Any]) -> str | None:
    """The first segment of ``path`` that ``deps_schema`` does not declare, or None if declared.

    A segment is checked only while the schema at that level lists ``properties``; an object
    without ``properties`` (free-form) accepts any key below it.
    """
    node: dict[str, Any] | None = deps_schema
    walked: list[str] = []
    for segment in path.split("."):
        walked.append(segment)
        properties = _as_dict(node.get("properties")) if node is not None else None
        if properties is None:
            return None
        if segment not in properties:
            return ".".join(walked)
        node = _as_dict(properties[segment])
    return None


def is_required(path: str, deps_schema: dict[str, Any] | None) -> bool:
    node: dict[str, Any] | None = deps_schema
    for segment in path.split("."):
        if node is None:
            return False
        required: Any = node.get("required")
        properties = _as_dict(node.get("properties"))
        if not isinstance(required, list) or segment not in required or properties is None:
            return False
        node = _as_dict(properties.get(segment))
    return True


def _lookup(values: dict[str, Any], path: str) -> Any:
    current: Any = values
    for segment in path.split("."):
        container = _as_dict(current)
        if container is None or segment not in container:
            return _MISSING
        current = container[segment]
    return current


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def render(text: str, values: dict[str, Any], deps_schema: dict[str, Any] | None) -> str:
    def substitute(match: re.Match[str]) -> str:
        path = match.group(1).strip()
        value = _lookup(values, path)
        if value is _MISSING:
            if is_required(path, deps_schema):
                raise InvalidRequest(
                    f"deps is missing the required variable {path!r}.",
                    errors=[{"loc": ["body", "deps", *path.split(".")], "msg": "is required by the instructions"}],
                )
            return ""
        return _format(value)

    return _PLACEHOLDER.sub(substitute, text)


def render_all(parts: Sequence[str], values: dict[str, Any], deps_schema: dict[str, Any] | None) -> str:
    """Every instruction in order, separated by a blank line."""
    return "\n\n".join(render(part, values, deps_schema) for part in parts)
