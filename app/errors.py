"""One error class tree, one envelope (API.md §4) for every non-2xx response."""

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypedDict, get_args

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.types import Scope

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
    "ModelNotConfigured",
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


class ModelNotConfigured(AppError):
    """This server cannot serve the model as configured: missing credentials, SDK or model endpoint.

    A ``422``, not a ``503``: the same request fails the same way until an operator configures the
    server or the agent names another model, so no retry can help (``retryable: false``). The
    definition itself was accepted, with a warning saying its runs will fail.
    """

    status_code = 422
    error_type = "ModelNotConfigured"


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


STATUS_TO_ERROR: dict[int, type[AppError]] = {
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


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries pointing at the envelope schema."""
    codes = sorted({422, 500, *statuses})
    return {code: {"model": ErrorEnvelope, "description": _describe(code)} for code in codes}


def _describe(code: int) -> str:
    kinds = [cls.error_type for cls in STATUS_TO_ERROR.values() if cls.status_code == code]
    return "Error envelope" + (f" ({', '.join(kinds)})" if kinds else "")
