"""The exception handlers: every failure a request can meet, answered with the one envelope (`app.errors.render`)."""

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.db import is_database_outage
from app.errors import (
    STATUS_TO_ERROR,
    AppError,
    DatabaseUnavailable,
    ErrorShape,
    InternalError,
    InvalidRequest,
    NotFound,
    Unauthorized,
    render,
    request_id_of,
    shape_for,
)

logger = logging.getLogger("axon.errors")

_HTTP_MESSAGES = {
    404: "No such route.",
    405: "Method not allowed on this route.",
    413: "Request body is larger than the configured limit.",
}


async def _app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return render(exc, request_id_of(request), shape_for(request.scope))


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    """A malformed request is a 422 listing its wrong fields, except a malformed path parameter.

    Ids are opaque (API.md §0): ``/sessions/not-a-uuid`` or ``/agents/a/versions/99999999999``
    names nothing that exists, so it is the same ``404 NotFound`` as an unknown well-formed id,
    whatever else the request got wrong.
    """
    assert isinstance(exc, RequestValidationError)
    raw: Sequence[Any] = exc.errors()
    if any(tuple(err.get("loc", ()))[:1] == ("path",) for err in raw):
        return render(
            NotFound(f"Nothing found at {request.url.path}."), request_id_of(request), shape_for(request.scope)
        )
    fields = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")} for err in raw]
    error = InvalidRequest("Request is invalid.", details={"errors": fields})
    return render(error, request_id_of(request), shape_for(request.scope))


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's and FastAPI's own HTTP errors (404/405 routing, 413, 400 body parsing) as the envelope.

    A status without its own error type keeps to the contract's table: another 4xx is a
    ``ValidationError`` (422), another 5xx an ``InternalError`` (500).
    """
    assert isinstance(exc, StarletteHTTPException)
    kind = STATUS_TO_ERROR.get(exc.status_code) or (InvalidRequest if exc.status_code < 500 else InternalError)
    # Starlette's default detail is the bare status phrase; ours says more. A specific detail wins.
    generic = exc.detail in {_phrase(exc.status_code), ""}
    message = _HTTP_MESSAGES.get(exc.status_code, str(exc.detail)) if generic else str(exc.detail)
    headers = {**kind("").headers, **(exc.headers or {})} if kind is Unauthorized else dict(exc.headers or {})
    error = AppError(message, status_code=kind.status_code, retryable=kind.retryable, headers=headers)
    if kind is InvalidRequest:
        error = InvalidRequest(message, status_code=kind.status_code, headers=headers)
    error.error_type = kind.error_type
    return render(error, request_id_of(request), shape_for(request.scope))


def _phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return ""


def unexpected_error_response(exc: Exception, request_id: str | None, shape: ErrorShape | None) -> JSONResponse:
    """Any other exception: `DatabaseUnavailable` (503) when the database is unreachable, else a logged 500."""
    if is_database_outage(exc):
        logger.warning("database unavailable (request_id=%s): %s: %.200s", request_id, type(exc).__name__, exc)
        return render(DatabaseUnavailable(), request_id, shape)
    logger.exception("unhandled error (request_id=%s)", request_id, exc_info=exc)
    return render(InternalError("Internal server error."), request_id, shape)


async def _unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    return unexpected_error_response(exc, request_id_of(request), shape_for(request.scope))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    # Only for exceptions raised by our own middleware: `app.middleware.UnexpectedErrorMiddleware`
    # answers those of the routes without letting them reach the server.
    app.add_exception_handler(Exception, _unexpected_handler)
