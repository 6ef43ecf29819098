"""One error class tree, one envelope (API.md §4) for every non-2xx response."""

import logging
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Literal, TypedDict, get_args

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from app.db import is_database_outage

logger = logging.getLogger("axon.errors")

ErrorType = Literal[
    "ValidationError",
    "InvalidAgentDefinition",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "Conflict",
    "SessionBusy",
    "PayloadTooLarge",
    "Overloaded",
    "DatabaseUnavailable",
    "RateLimited",
    "UsageLimitExceeded",
    "DeadlineExceeded",
    "OutputValidationFailed",
    "UnexpectedModelBehavior",
    "ContentFiltered",
    "ModelHTTPError",
    "ModelUnavailable",
    "ToolError",
    "Cancelled",
    "Interrupted",
    "InternalError",
]
ERROR_TYPES: tuple[str, ...] = get_args(ErrorType)


class ErrorEnvelope(BaseModel):
    """The body of every non-2xx response, every ``run.failed`` event and every failed run."""

    status: Literal["error"] = "error"
    error_type: ErrorType
    message: str
    details: dict[str, Any] | list[Any] | None = None
    retryable: bool = False
    retry_after: float | None = Field(default=None, description="Seconds; also sent as Retry-After.")
    run_id: str | None = None
    request_id: str | None = None


class AppError(Exception):
    """Base of every expected failure. Subclasses only set the class attributes."""

    status_code: int = 500
    error_type: ErrorType = "InternalError"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | list[Any] | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        status_code: int | None = None,
        run_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.retry_after = retry_after
        self.run_id = run_id
        self.headers = headers or {}
        if retryable is not None:
            self.retryable = retryable
        if status_code is not None:
            self.status_code = status_code

    def envelope(self, request_id: str | None = None) -> ErrorEnvelope:
        return ErrorEnvelope(
            error_type=self.error_type,
            message=self.message,
            details=self.details,
            retryable=self.retryable,
            retry_after=self.retry_after,
            run_id=self.run_id,
            request_id=request_id,
        )


class FieldError(TypedDict):
    """One wrong field of a request: where (``["body", "tools", 0]``, ``["query", "cursor"]``) and what."""

    loc: list[str | int]
    msg: str


class InvalidRequest(AppError):
    """422 ``ValidationError``; ``details.errors`` always lists the wrong fields as `FieldError`s.

    Raise it with ``errors=[{"loc": ["body", "session_id"], "msg": "..."}]``; other ``details``
    keys may sit beside ``errors``. Without ``errors`` the request as a whole is named
    (``"loc": []``), so a client can always read ``details.errors``.
    """

    status_code = 422
    error_type = "ValidationError"

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[FieldError] | None = None,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        status_code: int | None = None,
        run_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        given: list[Any] | None = (details or {}).get("errors")
        listed = list(errors) if errors is not None else given or [FieldError(loc=[], msg=message)]
        super().__init__(
            message,
            details={**(details or {}), "errors": listed},
            retry_after=retry_after,
            retryable=retryable,
            status_code=status_code,
            run_id=run_id,
            headers=headers,
        )


class InvalidAgentDefinition(AppError):
    status_code = 422
    error_type = "InvalidAgentDefinition"


class Unauthorized(AppError):
    status_code = 401
    error_type = "Unauthorized"

    def __init__(self, message: str = "Missing or invalid credentials.") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code = 403
    error_type = "Forbidden"


class NotFound(AppError):
    status_code = 404
    error_type = "NotFound"


class MethodNotAllowed(AppError):
    status_code = 405
    error_type = "MethodNotAllowed"


class Conflict(AppError):
    status_code = 409
    error_type = "Conflict"


class SessionBusy(AppError):
    status_code = 409
    error_type = "SessionBusy"
    retryable = True


class PayloadTooLarge(AppError):
    status_code = 413
    error_type = "PayloadTooLarge"


class DatabaseUnavailable(AppError):
    """The database cannot be reached right now (a restart, a failover); nothing was lost, retry shortly."""

    status_code = 503
    error_type = "DatabaseUnavailable"
    retryable = True

    def __init__(self, message: str = "The database cannot be reached right now; retry shortly.") -> None:
        super().__init__(message, retry_after=DATABASE_RETRY_AFTER_SECONDS)


DATABASE_RETRY_AFTER_SECONDS = 1.0


class RateLimited(AppError):
    status_code = 429
    error_type = "RateLimited"
    retryable = True


class Overloaded(AppError):
    status_code = 503
    error_type = "Overloaded"
    retryable = True


class UsageLimitExceeded(AppError):
    status_code = 422
    error_type = "UsageLimitExceeded"


class DeadlineExceeded(AppError):
    status_code = 504
    error_type = "DeadlineExceeded"
    retryable = True


class OutputValidationFailed(AppError):
    status_code = 502
    error_type = "OutputValidationFailed"
    retryable = True


class UnexpectedModelBehavior(AppError):
    status_code = 502
    error_type = "UnexpectedModelBehavior"
    retryable = True


class ContentFiltered(AppError):
    status_code = 422
    error_type = "ContentFiltered"


class ModelHTTPError(AppError):
    """Upstream model API answered an error; ``retryable`` follows its status (429/5xx)."""

    status_code = 502
    error_type = "ModelHTTPError"


class ModelUnavailable(AppError):
    status_code = 503
    error_type = "ModelUnavailable"
    retryable = True


class ToolError(AppError):
    """A webhook or agent tool failed beyond its retries."""

    status_code = 502
    error_type = "ToolError"


class Cancelled(AppError):
    status_code = 409
    error_type = "Cancelled"


class Interrupted(AppError):
    status_code = 503
    error_type = "Interrupted"
    retryable = True


class InternalError(AppError):
    status_code = 500
    error_type = "InternalError"
    retryable = True


_STATUS_TO_ERROR: dict[int, type[AppError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidRequest,
    429: RateLimited,
    503: Overloaded,
}

_HTTP_MESSAGES = {
    404: "No such route.",
    405: "Method not allowed on this route.",
    413: "Request body is larger than the configured limit.",
}


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


ErrorShape = Callable[[ErrorEnvelope, int], dict[str, Any]]
"""Another wire shape of the envelope for a family of routes (the OpenAI doors' ``{"error": {…}}``)."""


def install_error_shapes(app: FastAPI, shapes: Mapping[str, ErrorShape]) -> None:
    """Render errors of requests whose path starts with a prefix in ``shapes`` with that shape."""
    app.state.error_shapes = dict(shapes)


def shape_for(scope: Scope) -> ErrorShape | None:
    """The error shape registered for this request's path, if any."""
    state = getattr(scope.get("app"), "state", None)
    shapes: dict[str, ErrorShape] = getattr(state, "error_shapes", None) or {}
    path: str = scope.get("path", "")
    return next((shape for prefix, shape in shapes.items() if path.startswith(prefix)), None)


def render(error: AppError, request_id: str | None, shape: ErrorShape | None = None) -> JSONResponse:
    """The one place an error becomes a response: the envelope (or a door's shape of it), ``Retry-After``,
    ``x-should-retry``, the request id."""
    envelope = error.envelope(request_id)
    headers = dict(error.headers)
    headers["x-should-retry"] = "true" if error.retryable else "false"
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    if request_id:
        headers["X-Request-ID"] = request_id
    body = shape(envelope, error.status_code) if shape else envelope.model_dump(mode="json")
    return JSONResponse(body, status_code=error.status_code, headers=headers)


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
        return render(NotFound(f"Nothing found at {request.url.path}."), request_id_of(request), shape_for(request.scope))
    fields = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")} for err in raw]
    error = InvalidRequest("Request is invalid.", details={"errors": fields})
    return render(error, request_id_of(request), shape_for(request.scope))


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's and FastAPI's own HTTP errors (404/405 routing, 413, 400 body parsing) as the envelope.

    A status without its own error type keeps to the contract's table: another 4xx is a
    ``ValidationError`` (422), another 5xx an ``InternalError`` (500).
    """
    assert isinstance(exc, StarletteHTTPException)
    kind = _STATUS_TO_ERROR.get(exc.status_code) or (InvalidRequest if exc.status_code < 500 else InternalError)
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


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries pointing at the envelope schema."""
    codes = sorted({422, 500, *statuses})
    return {code: {"model": ErrorEnvelope, "description": _describe(code)} for code in codes}


def _describe(code: int) -> str:
    kinds = [cls.error_type for cls in _STATUS_TO_ERROR.values() if cls.status_code == code]
    return "Error envelope" + (f" ({', '.join(kinds)})" if kinds else "")
