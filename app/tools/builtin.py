"""Tools shipped with the service: ``current_time``, ``calculator``, ``http_get``.

A tool reports a problem the model can fix by raising `ModelRetry` with a message for it.
"""

import ast
import datetime as dt
import math
import operator
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic_ai import ModelRetry

from app.config import Settings
from app.tools.functions import ToolFunction, introspect
from app.tools.outbound import OutboundRefused, Resolver, pin, system_resolver

MAX_EXPRESSION_CHARS = 256
MAX_POWER_BITS = 4096
"""A power whose result would need more bits than this is refused before it is computed."""
HTTP_GET_MAX_BYTES = 1_048_576
HTTP_GET_MAX_TEXT_CHARS = 100_000
HTTP_GET_TIMEOUT_SECONDS = 10.0
HTTP_GET_MAX_REDIRECTS = 3


async def current_time(timezone: str = "UTC") -> str:
    """Return the current date and time as an ISO 8601 string.

    Args:
        timezone: An IANA time zone name such as `Europe/Berlin` or `America/New_York`.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ModelRetry(f"Unknown time zone {timezone!r}; use an IANA name such as 'Europe/Berlin'.") from exc
    return dt.datetime.now(zone).isoformat(timespec="seconds")


Number = int | float


def _div(a: Number, b: Number) -> Number:
    return a / b


def _floordiv(a: Number, b: Number) -> Number:
    return a // b


def _pow(a: Number, b: Number) -> Number:
    result: Number = a**b
    return result


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: _div,
    ast.FloorDiv: _floordiv,
    ast.Mod: operator.mod,
    ast.Pow: _pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


async def calculator(expression: str) -> int | float:
    """Evaluate an arithmetic expression.

    Supports numbers, `+ - * / // % **`, unary signs and parentheses; nothing else.

    Args:
        expression: The expression, for example `(2 + 3) * 4 ** 2`.
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ModelRetry(f"Expression is longer than {MAX_EXPRESSION_CHARS} characters.")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ModelRetry(f"Not an arithmetic expression: {exc.msg}.") from exc
    try:
        result = _evaluate(tree.body)
    except ZeroDivisionError as exc:
        raise ModelRetry("Division by zero.") from exc
    except OverflowError as exc:
        raise ModelRetry("The result is too large.") from exc
    if isinstance(result, float) and not math.isfinite(result):
        raise ModelRetry("The result is too large.")
    return result


def _evaluate(node: ast.expr) -> int | float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _BINARY[type(node.op)](left, right)
    raise ModelRetry(f"Unsupported syntax in expression: {type(node).__name__}. Only arithmetic is allowed.")


def _check_power(base: int | float, exponent: int | float) -> None:
    if isinstance(base, complex) or isinstance(exponent, complex):
        raise ModelRetry("Complex results are not supported.")
    magnitude = abs(base)
    if magnitude > 1 and abs(exponent) * math.log2(magnitude) > MAX_POWER_BITS:
        raise ModelRetry("The result of that power is too large.")
    if base < 0 and not float(exponent).is_integer():
        raise ModelRetry("A negative number to a fractional power is not a real number.")


def make_http_get(settings: Settings, resolver: Resolver = system_resolver) -> Callable[[str], Any]:
    allowlist = list(settings.http_get_allowlist)

    async def http_get(url: str) -> dict[str, Any]:
        """Fetch a URL with GET and return its status and text (truncated).

        Only hosts on the service's HTTP allowlist are reachable.

        Args:
            url: An absolute http or https URL.
        """
        async with httpx.AsyncClient(
            timeout=HTTP_GET_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
        ) as client:
            current = url
            for _ in range(HTTP_GET_MAX_REDIRECTS + 1):
                try:
                    target = await pin(current, allowlist, resolver)
                except OutboundRefused as exc:
                    raise ModelRetry(f"http_get refused {current!r}: {exc}") from exc
                try:
                    result = await _fetch(client, current, target.url, target.headers, target.extensions)
                except httpx.HTTPError as exc:
                    raise ModelRetry(f"http_get failed for {current!r}: {type(exc).__name__}.") from exc
                if isinstance(result, str):
                    current = result
                    continue
                return result
        raise ModelRetry(f"http_get gave up after {HTTP_GET_MAX_REDIRECTS} redirects.")

    return http_get


async def _fetch(
    client: httpx.AsyncClient, url: str, pinned_url: str, headers: dict[str, str], extensions: dict[str, Any]
) -> dict[str, Any] | str:
    """The response as a tool result, or the absolute URL a redirect points to."""
    request = client.build_request("GET", pinned_url, headers=headers, extensions=extensions)
    response = await client.send(request, stream=True)
    try:
        if response.is_redirect and "location" in response.headers:
            return str(httpx.URL(url).join(response.headers["location"]))
        body = bytearray()
        truncated = False
        async for chunk in response.aiter_bytes():
            body.extend(chunk)
            if len(body) > HTTP_GET_MAX_BYTES:
                truncated = True
                break
        text = bytes(body[:HTTP_GET_MAX_BYTES]).decode(response.encoding or "utf-8", errors="replace")
        if len(text) > HTTP_GET_MAX_TEXT_CHARS:
            text, truncated = text[:HTTP_GET_MAX_TEXT_CHARS], True
        return {
            "url": url,
            "status": response.status_code,
            "content_type": response.headers.get("content-type"),
            "text": text,
            "truncated": truncated,
        }
    finally:
        await response.aclose()


def builtin_tools(settings: Settings, resolver: Resolver = system_resolver) -> list[ToolFunction]:
    return [
        introspect(current_time),
        introspect(calculator),
        introspect(make_http_get(settings, resolver), name="http_get"),
    ]
