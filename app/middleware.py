"""Pure ASGI middleware that every request passes: request ids, the body size limit, unexpected errors,
`Allow` on a 405."""

import re
import uuid
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.error_handlers import unexpected_error_response
from app.errors import PayloadTooLarge, render, shape_for
from app.observability import logging as logs

MAX_REQUEST_ID_LENGTH = 128


class RequestIdMiddleware:
    """Echo ``X-Request-ID`` (or make one) on every response, and expose it as ``request.state.request_id``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        valid = 0 < len(incoming) <= MAX_REQUEST_ID_LENGTH and incoming.isascii() and incoming.isprintable()
        request_id = incoming if valid else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        logs.bind(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("ascii")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_body_bytes`` with the 413 envelope.

    A declared ``Content-Length`` over the limit is answered before the app runs, so the
    body is never read. A chunked body is counted as it streams in; the chunk that crosses
    the limit raises Starlette's 413, which the error handlers render as the envelope.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            request_id: str | None = scope.get("state", {}).get("request_id")
            response = render(PayloadTooLarge(self._message()), request_id, shape_for(scope))
            await response(scope, receive, send)
            return

        received = 0

        async def receive_with_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise StarletteHTTPException(status_code=413, detail=self._message())
            return message

        await self.app(scope, receive_with_limit, send)

    def _message(self) -> str:
        return f"Request body is larger than the limit of {self.max_body_bytes} bytes."


class UnexpectedErrorMiddleware:
    """Answer an exception no handler took (a bug, a database outage) with the envelope, and end it there.

    Starlette's own catch-all answers with a 500 and then re-raises; uvicorn closes the connection of
    a request whose app raised, so a keep-alive client's next request on it got no answer at all
    (seen as dropped connections while the database restarted). An exception after the response
    started cannot be answered any more and still propagates.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            request_id: str | None = scope.get("state", {}).get("request_id")
            await unexpected_error_response(exc, request_id, shape_for(scope))(scope, receive, send)


class AllowHeaderMiddleware:
    """Make every ``405`` list, in ``Allow``, every method the path supports.

    Each method of a path is its own route, and the router's 405 names only the methods of the
    first route whose path matched. The methods of a path are those the OpenAPI document lists for
    it (what a client reads); a path it does not document keeps the router's header.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = documented_methods(scope["app"].openapi(), scope["path"])
                if methods:
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                    message["headers"] = [*headers, (b"allow", ", ".join(sorted(methods)).encode("ascii"))]
            await send(message)

        await self.app(scope, receive, send_with_allow)


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def documented_methods(openapi: dict[str, Any], path: str) -> set[str]:
    """The methods the OpenAPI document lists for ``path``: its own if it is a concrete path of the document
    (concrete paths win over templated ones, as in OpenAPI), else those of every template that matches it."""
    paths: dict[str, dict[str, Any]] = openapi.get("paths", {})
    if path in paths:
        return {method.upper() for method in paths[path] if method in _HTTP_METHODS}
    methods: set[str] = set()
    for template, item in paths.items():
        pattern = "".join(
            "[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]+\})", template)
        )
        if re.fullmatch(pattern, path):
            methods |= {method.upper() for method in item if method in _HTTP_METHODS}
    return methods
