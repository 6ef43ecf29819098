"""The pydantic-ai exception → envelope table, built from the real exception objects."""

from typing import Any

import pytest
from pydantic_ai import exceptions as pai
from sqlalchemy.exc import OperationalError

from app.errors import NotFound
from app.runs.errors import error_from_envelope, map_exception

USAGE = {"requests": 1, "input_tokens": 10, "output_tokens": 2, "total_tokens": 12, "tool_calls": 0}
HTTP = pai.ModelHTTPError.for_category


def _row(exc: BaseException, status: int, error_type: str, retryable: bool, **extra: Any) -> Any:
    return pytest.param(exc, status, error_type, retryable, extra, id=f"{type(exc).__name__}-{error_type}")


CASES = [
    _row(
        HTTP(
            pai.ModelRateLimitError,
            status_code=429,
            model_name="gpt-test",
            body={"error": {"message": "sk-secret in body"}},
            headers={"Retry-After": "2"},
            provider_error_code="rate_limit_exceeded",
        ),
        502,
        "ModelHTTPError",
        True,
        retry_after=2.0,
        details={
            "model_name": "gpt-test",
            "provider_error_code": "rate_limit_exceeded",
            "status_code": 429,
            "reason": "rate_limited",
        },
    ),
    _row(
        HTTP(pai.ModelQuotaExceededError, status_code=429, model_name="m", provider_error_code="insufficient_quota"),
        502,
        "ModelHTTPError",
        False,
    ),
    _row(HTTP(pai.ModelServerError, status_code=500, model_name="m"), 502, "ModelHTTPError", True),
    _row(HTTP(pai.ModelOverloadedError, status_code=529, model_name="m"), 502, "ModelHTTPError", True),
    _row(HTTP(pai.ModelAuthenticationError, status_code=401, model_name="m"), 502, "ModelHTTPError", False),
    _row(HTTP(pai.ModelContextWindowExceededError, status_code=400, model_name="m"), 502, "ModelHTTPError", False),
    _row(HTTP(pai.ModelNotFoundError, status_code=404, model_name="m"), 502, "ModelHTTPError", False),
    _row(pai.ModelHTTPError(503, "m"), 502, "ModelHTTPError", True),
    _row(pai.ModelConnectionError("m", "connection refused"), 503, "ModelUnavailable", True),
    _row(pai.ModelTimeoutError("m", "read timed out"), 503, "ModelUnavailable", True),
    _row(pai.ModelRequestTimeout("m", 5.0), 503, "ModelUnavailable", True),
    _row(pai.ModelOverloadedError("m", "overloaded", retry_after=3.0), 503, "ModelUnavailable", True, retry_after=3.0),
    _row(pai.ModelRateLimitError("m", "slow down", retry_after=1.5), 502, "ModelHTTPError", True, retry_after=1.5),
    _row(pai.RunTimedOut("The agent run timed out."), 504, "DeadlineExceeded", True, details={"usage": USAGE}),
    _row(pai.RunCancelled("cancelled"), 409, "Cancelled", False, details={"usage": USAGE}),
    _row(
        pai.UsageLimitExceeded("The next request would exceed the request_limit of 1"),
        422,
        "UsageLimitExceeded",
        False,
        details={"usage": USAGE},
        message="The next request would exceed the request_limit of 1.",
    ),
    _row(pai.ConcurrencyLimitExceeded("queue full"), 503, "Overloaded", True),
    _row(pai.ContentFilterError("filtered", body="{}"), 422, "ContentFiltered", False),
    _row(pai.IncompleteToolCall("token limit"), 502, "UnexpectedModelBehavior", True),
    _row(pai.UnexpectedModelBehavior("Received empty model response"), 502, "UnexpectedModelBehavior", True),
    _row(
        pai.UnexpectedModelBehavior("Exceeded maximum output retries (2)"),
        502,
        "OutputValidationFailed",
        True,
        details={
            "errors": ["$.risk: 11 is greater than the maximum of 10"],
            "raw_output": {"risk": 11},
            "usage": USAGE,
        },
    ),
    _row(
        pai.UnexpectedModelBehavior("Tool 'block_card' exceeded max retries count of 2. Consider raising the retry"),
        502,
        "ToolError",
        False,
        details={"tool_name": "block_card", "usage": USAGE},
    ),
    _row(pai.UserError("Set the `OPENAI_API_KEY` environment variable"), 422, "InvalidAgentDefinition", False),
    _row(
        pai.FallbackExceptionGroup(
            "all failed", [HTTP(pai.ModelServerError, status_code=500, model_name="a"), pai.ModelTimeoutError("b", "t")]
        ),
        503,
        "ModelUnavailable",
        True,
    ),
    _row(NotFound("no such agent"), 404, "NotFound", False),
    _row(ZeroDivisionError("bug"), 500, "InternalError", True, message="Internal server error."),
]


@pytest.mark.parametrize(("exc", "status", "error_type", "retryable", "extra"), CASES)
def test_mapping(exc: BaseException, status: int, error_type: str, retryable: bool, extra: dict[str, Any]) -> None:
    last_output_error = {"errors": ["$.risk: 11 is greater than the maximum of 10"], "raw_output": {"risk": 11}}
    error = map_exception(exc, usage=USAGE, last_output_error=last_output_error)
    assert (error.status_code, error.error_type, error.retryable) == (status, error_type, retryable)
    if "retry_after" in extra:
        assert error.retry_after == extra["retry_after"]
    if "details" in extra:
        assert error.details == extra["details"]
    if "message" in extra:
        assert error.message == extra["message"]
    envelope = error.envelope().model_dump(mode="json")
    assert "sk-secret" not in str(envelope)
    assert "Traceback" not in str(envelope)


def test_stored_envelope_rebuilds_the_same_error() -> None:
    error = map_exception(HTTP(pai.ModelServerError, status_code=500, model_name="m", headers={"retry-after": "4"}))
    error.run_id = "run-1"
    envelope = error.envelope().model_dump(mode="json")
    again = error_from_envelope(envelope)
    assert (again.status_code, again.envelope().model_dump(mode="json")) == (502, envelope)


def test_a_run_that_loses_the_database_fails_database_unavailable() -> None:
    lost = OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "Connection refused"))
    error = map_exception(lost)
    assert (error.status_code, error.error_type, error.retryable, error.retry_after) == (
        503,
        "DatabaseUnavailable",
        True,
        1.0,
    )
