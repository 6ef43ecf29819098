"""One exception class per envelope ``error_type`` (API.md §4), all under `AxonError`."""

from __future__ import annotations

import json
from typing import Any

import httpx


class AxonError(Exception):
    """A failure the service reported with its error envelope (or a connection failure)."""

    error_type: str = "AxonError"
    """The envelope's ``error_type`` (the class name for every known type)."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str | None = None,
        status_code: int | None = None,
        details: dict[str, Any] | list[Any] | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        run_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if error_type is not None:
            self.error_type = error_type
        self.status_code = status_code
        self.details = details
        self.retryable = retryable
        self.retry_after = retry_after
        self.run_id = run_id
        self.request_id = request_id

    def __str__(self) -> str:
        where = f" (run {self.run_id})" if self.run_id else ""
        return f"{self.error_type}: {self.message}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status_code={self.status_code}, run_id={self.run_id!r})"


class APIConnectionError(AxonError):
    """The service could not be reached, or the connection broke before an answer came (retryable)."""

    error_type = "APIConnectionError"


class ValidationError(AxonError):
    """422: the request body is invalid; ``details`` lists the field errors."""


class InvalidAgentDefinition(AxonError):
    """422: the agent definition is invalid; ``details`` names the path."""


class Unauthorized(AxonError):
    """401: missing, invalid or expired credentials."""


class Forbidden(AxonError):
    """403: authenticated but not allowed."""


class NotFound(AxonError):
    """404: unknown (or not yours) agent, run, session, version or route."""


class MethodNotAllowed(AxonError):
    """405: known route, wrong method."""


class Conflict(AxonError):
    """409: name taken, idempotency key reused with another body, run not resumable or not cancellable."""


class SessionBusy(Conflict):
    """409 (retryable): the session already has an active run."""


class PayloadTooLarge(AxonError):
    """413: the body is over the configured limit."""


class Overloaded(AxonError):
    """503 (retryable): too many active or queued runs; ``retry_after`` is set."""


class RateLimited(AxonError):
    """429 (retryable): the caller is over its rate limit; ``retry_after`` is set."""


class QuotaExceeded(AxonError):
    """429 (retryable): the owner's token or cost quota is spent; ``retry_after`` is when it resets."""


class UsageLimitExceeded(AxonError):
    """422: a usage limit was hit; ``details["usage"]`` is what was spent."""


class DeadlineExceeded(AxonError):
    """504 (retryable): ``deadline_ms`` passed; ``details["usage"]`` is what was spent."""


class OutputValidationFailed(AxonError):
    """502 (retryable): the output never matched ``output_schema``."""


class UnexpectedModelBehavior(AxonError):
    """502 (retryable): the model misbehaved in another way."""


class ContentFiltered(AxonError):
    """422: the provider's content filter stopped the run."""


class ModelHTTPError(AxonError):
    """502: the upstream model API answered an error; ``details["status_code"]`` is its status."""


class ModelUnavailable(AxonError):
    """503 (retryable): the upstream model is unreachable or timed out."""


class ModelNotConfigured(AxonError):
    """422: the server cannot serve the agent's model (no credentials, SDK or endpoint); an operator must
    configure it, or the agent name another model. Not retryable."""


class ToolError(AxonError):
    """502: a webhook, agent or MCP tool failed beyond its retries; ``details`` names the tool."""


class Cancelled(AxonError):
    """409: the run was cancelled."""


class Interrupted(AxonError):
    """503 (retryable): the process running the run died."""


class DatabaseUnavailable(AxonError):
    """503 (retryable): the service's database cannot be reached right now; retry shortly."""


class InternalError(AxonError):
    """500: a bug in the service."""


ERROR_CLASSES: dict[str, type[AxonError]] = {
    cls.__name__: cls
    for cls in (
        ValidationError,
        InvalidAgentDefinition,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        SessionBusy,
        PayloadTooLarge,
        Overloaded,
        RateLimited,
        QuotaExceeded,
        UsageLimitExceeded,
        DeadlineExceeded,
        OutputValidationFailed,
        UnexpectedModelBehavior,
        ContentFiltered,
        ModelHTTPError,
        ModelUnavailable,
        ModelNotConfigured,
        ToolError,
        Cancelled,
        Interrupted,
        DatabaseUnavailable,
        InternalError,
    )
}
"""``error_type`` → exception class; an unknown type becomes a plain `AxonError`."""

for _name, _cls in ERROR_CLASSES.items():
    _cls.error_type = _name


def from_envelope(envelope: dict[str, Any], *, status_code: int | None = None) -> AxonError:
    """The typed exception for one error envelope (a response body, a ``run.failed`` event, a run's ``error``)."""
    error_type = str(envelope.get("error_type") or "InternalError")
    cls = ERROR_CLASSES.get(error_type, AxonError)
    retry_after = envelope.get("retry_after")
    return cls(
        str(envelope.get("message") or error_type),
        error_type=error_type,
        status_code=status_code,
        details=envelope.get("details"),
        retryable=bool(envelope.get("retryable", False)),
        retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
        run_id=envelope.get("run_id"),
        request_id=envelope.get("request_id"),
    )


def from_response(response: httpx.Response, body: bytes | None = None) -> AxonError:
    """The typed exception for a non-2xx answer; a body without an envelope still gives a typed error."""
    raw = body if body is not None else response.content
    try:
        envelope: Any = json.loads(raw) if raw else None
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict) or "error_type" not in envelope:
        should_retry = response.headers.get("x-should-retry")
        envelope = {
            "error_type": _FALLBACK_TYPES.get(response.status_code, "InternalError"),
            "message": f"HTTP {response.status_code}: {raw[:200].decode(errors='replace') if raw else ''}".strip(),
            "retryable": should_retry == "true" if should_retry else response.status_code in (429, 502, 503, 504),
            "request_id": response.headers.get("x-request-id"),
        }
    error = from_envelope(envelope, status_code=response.status_code)  # pyright: ignore[reportUnknownArgumentType]
    if error.retry_after is None:
        error.retry_after = _retry_after_header(response.headers.get("retry-after"))
    return error


_FALLBACK_TYPES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    422: "ValidationError",
    429: "RateLimited",
    503: "Overloaded",
}


def _retry_after_header(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
