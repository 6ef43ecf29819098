"""Every way a run can fail, mapped onto one ``error_type`` of API.md §4.

The same `AppError` renders the HTTP response, the ``run.failed`` event and the stored
run's ``error``. Decisions worth knowing (also in the README):

- A provider HTTP error is ``ModelHTTPError`` (502) whatever its status; ``retryable`` is true
  for 408/409/425/429/5xx except an exhausted quota (waiting will not help); ``retry_after``
  is the provider's ``Retry-After``. The upstream body is never copied: only status, model
  name and the provider's error code/type.
- Connection failures, timeouts and "overloaded/unavailable" without an HTTP status are
  ``ModelUnavailable`` (503, retryable).
- A pydantic-ai ``UserError`` (a definition that cannot run on this server, e.g. a provider
  whose credentials are not configured) is ``InvalidAgentDefinition`` (422): fix the
  definition or the server, retrying will not help.
- Output retries exhausted is ``OutputValidationFailed`` with the schema errors and the last
  raw output; tool retries exhausted is ``ToolError`` naming the tool.
- ``FallbackExceptionGroup``: the last model's failure decides.
"""

import logging
import re
from typing import Any

from pydantic_ai import exceptions as pai

from app import errors
from app.db import is_database_outage
from app.errors import AppError, ErrorEnvelope

logger = logging.getLogger("axon.runs")

MAX_MESSAGE_CHARS = 500
_TOOL_RETRIES = re.compile(r"^Tool '([^']+)' exceeded max retries count of (\d+)")
_RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})


class RunNotFound(errors.NotFound):
    pass


class RunNotResumable(errors.Conflict):
    pass


class IdempotencyConflict(errors.Conflict):
    pass


class InvalidRunRequest(errors.InvalidRequest):
    pass


class ShuttingDown(errors.Overloaded):
    pass


class QueueFull(errors.Overloaded):
    """Too many background runs are waiting (``max_queued_runs``); ``retry_after`` from the backlog."""


class EventsPruned(errors.Conflict):
    """The events a replay asked for were deleted by retention."""


def _truncate(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _usage_details(usage: dict[str, Any] | None) -> dict[str, Any]:
    return {"usage": usage} if usage is not None else {}


def _model_api_error(exc: pai.ModelAPIError) -> AppError:
    details: dict[str, Any] = {"model_name": exc.model_name}
    if exc.provider_error_code:
        details["provider_error_code"] = exc.provider_error_code
    if exc.provider_error_type:
        details["provider_error_type"] = exc.provider_error_type
    if isinstance(exc, pai.ModelRequestTimeout):
        details["timeout_seconds"] = exc.timeout
        return errors.ModelUnavailable(f"Model request timed out after {exc.timeout:g} s.", details=details)
    if isinstance(exc, pai.ModelHTTPError):
        status = exc.status_code
        details["status_code"] = status
        quota = isinstance(exc, pai.ModelQuotaExceededError)
        retryable = not quota and (status in _RETRYABLE_STATUSES or status >= 500)
        if isinstance(exc, pai.ModelContextWindowExceededError):
            details["reason"] = "context_window_exceeded"
        elif isinstance(exc, pai.ModelAuthenticationError):
            details["reason"] = "authentication"
        elif quota:
            details["reason"] = "quota_exceeded"
        elif isinstance(exc, pai.ModelRateLimitError):
            details["reason"] = "rate_limited"
        return errors.ModelHTTPError(
            f"Upstream model returned {status}.", details=details, retryable=retryable, retry_after=exc.retry_after
        )
    if isinstance(exc, pai.ModelConnectionError | pai.ModelUnavailableError):
        return errors.ModelUnavailable("Upstream model is unreachable.", details=details, retry_after=exc.retry_after)
    if isinstance(exc, pai.ModelRateLimitError):
        return errors.ModelHTTPError(
            "Upstream model rate limit reached.", details=details, retryable=True, retry_after=exc.retry_after
        )
    return errors.ModelHTTPError(
        f"Upstream model request failed: {_truncate(exc.message)}", details=details, retryable=True
    )


def map_exception(
    exc: BaseException, *, usage: dict[str, Any] | None = None, last_output_error: dict[str, Any] | None = None
) -> AppError:
    """The `AppError` for anything a run raised. Unknown exceptions are logged and become ``InternalError``."""
    if isinstance(exc, pai.FallbackExceptionGroup) and exc.exceptions:
        return map_exception(exc.exceptions[-1], usage=usage, last_output_error=last_output_error)
    if isinstance(exc, AppError):
        return exc
    if is_database_outage(exc):  # a tool or the run's own bookkeeping lost the database mid-run
        return errors.DatabaseUnavailable()
    if isinstance(exc, pai.ModelAPIError):
        return _model_api_error(exc)
    if isinstance(exc, pai.RunTimedOut | TimeoutError):
        return errors.DeadlineExceeded("The run's deadline passed.", details=_usage_details(usage))
    if isinstance(exc, pai.RunCancelled):
        return errors.Cancelled("The run was cancelled.", details=_usage_details(usage))
    if isinstance(exc, pai.UsageLimitExceeded):
        message = exc.message.split(". Consider raising the limit")[0]
        return errors.UsageLimitExceeded(f"{message}.", details=_usage_details(usage))
    if isinstance(exc, pai.ConcurrencyLimitExceeded):
        return errors.Overloaded("Too many concurrent model requests.", retry_after=1.0)
    if isinstance(exc, pai.ContentFilterError):
        return errors.ContentFiltered("The provider's content filter stopped the response.")
    if isinstance(exc, pai.UnexpectedModelBehavior):
        if exc.message.startswith("Exceeded maximum output retries"):
            details: dict[str, Any] = (
                dict(last_output_error) if last_output_error else {"errors": [], "raw_output": None}
            )
            return errors.OutputValidationFailed(
                "The model's output never matched the output schema.", details={**details, **_usage_details(usage)}
            )
        if match := _TOOL_RETRIES.match(exc.message):
            return errors.ToolError(
                f"Tool {match[1]!r} failed after {match[2]} retries.",
                details={"tool_name": match[1], **_usage_details(usage)},
            )
        return errors.UnexpectedModelBehavior(_truncate(exc.message), details=_usage_details(usage) or None)
    if isinstance(exc, pai.UserError):
        return errors.InvalidAgentDefinition(f"The agent cannot run: {_truncate(exc.message)}")
    logger.error("run failed with an unexpected error", exc_info=exc)
    return errors.InternalError("Internal server error.")


_CLASSES: dict[str, type[AppError]] = {}


def _collect(cls: type[AppError]) -> None:
    for sub in cls.__subclasses__():
        if sub.__module__ == errors.__name__:
            _CLASSES.setdefault(sub.error_type, sub)
        _collect(sub)


_collect(AppError)


def error_from_envelope(envelope: dict[str, Any]) -> AppError:
    """Rebuild the `AppError` of a stored envelope (a finished run answered again)."""
    parsed = ErrorEnvelope.model_validate(envelope)
    cls = _CLASSES.get(parsed.error_type, errors.InternalError)
    error = AppError(
        parsed.message,
        details=parsed.details,
        retry_after=parsed.retry_after,
        retryable=parsed.retryable,
        status_code=cls.status_code,
        run_id=parsed.run_id,
    )
    error.error_type = parsed.error_type
    return error
