"""One check of every request's text and numbers before a route touches the database.

Postgres stores no NUL character (U+0000) in ``text`` or ``jsonb``; neither backend stores a lone
UTF-16 surrogate (``"\\ud800"`` is valid JSON, but no UTF-8 encodes it); and ``NaN``, ``Infinity``
or ``1e999`` (which Python's JSON parser turns into non-finite floats) are not JSON and cannot go
into a JSON column. Rather than a validator on every field, :func:`check_inputs` runs first on
every route (an app-wide dependency) and walks what the request carries:

- path: a segment with such a character names nothing that can exist, so ``404 NotFound``;
- query parameters, headers, a JSON body (keys included, at any depth) and a form body:
  ``422 ValidationError`` whose ``details.errors[].loc`` names the field, as FastAPI's own
  validation errors do (``["body", "metadata", "key"]``, ``["query", "agent"]``).

Integers are bounded where they are declared (``Path(le=...)``, ``Field(le=...)``), so the
OpenAPI document states each range.
"""

import math
from collections.abc import Iterator
from typing import Any, cast

from fastapi import Request

from app.errors import InvalidRequest, NotFound

Loc = list[str | int]

_FORM = "application/x-www-form-urlencoded"


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain the NUL character (U+0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain a lone surrogate (not valid Unicode text)"
    return None


def json_problems(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    """Every string (keys included) and number in a parsed JSON value that no database can store."""
    if isinstance(value, str):
        if problem := _text_problem(value):
            yield loc, problem
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield loc, "must be a finite number (NaN and Infinity are not JSON)"
    elif isinstance(value, dict):
        for key, item in cast(dict[str, Any], value).items():
            if problem := _text_problem(key):
                yield [*loc, key], f"key {problem}"
            yield from json_problems(item, [*loc, key])
    elif isinstance(value, list):
        for index, item in enumerate(cast(list[Any], value)):
            yield from json_problems(item, [*loc, index])


async def _body_problems(request: Request) -> list[tuple[Loc, str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            body = await request.json()  # cached on the request: the route does not parse it again
        except ValueError:
            return []  # malformed JSON is the route's own 422
        return list(json_problems(body, ["body"]))
    if content_type == _FORM:
        form = await request.form()
        problems: list[tuple[Loc, str]] = []
        for key, value in form.multi_items():
            if isinstance(value, str):
                problems.extend(json_problems({key: value}, ["body"]))
        return problems
    return []


async def check_inputs(request: Request) -> None:
    """The app-wide dependency: refuse what the databases cannot store, naming where it is."""
    path: str = request.scope["path"]
    if _text_problem(path):
        raise NotFound("Nothing found at this path.")
    problems: list[tuple[Loc, str]] = []
    for key, value in request.query_params.multi_items():
        problems.extend(json_problems({key: value}, ["query"]))
    for key, value in request.headers.items():
        if problem := _text_problem(value):
            problems.append((["header", key], problem))
    problems.extend(await _body_problems(request))
    if problems:
        raise InvalidRequest(
            "Request has text or numbers the service cannot store.",
            errors=[{"loc": loc, "msg": msg} for loc, msg in problems],
        )
