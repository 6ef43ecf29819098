"""The OpenAI error shape for every `/v1` route (API.md §6.1).

OpenAI's SDKs read ``{"error": {"message", "type", "param", "code"}}`` and pick their exception
class from the HTTP status; the §4 envelope's fields ride along inside ``error`` so a caller loses
nothing. `app.errors.render` uses `openai_error_body` for every error of a `/v1` request (registered
by path prefix in `app.main`), and the doors send the same object as a stream's error chunk.
"""

import re
from typing import Any, cast

from pydantic import BaseModel, Field

from app.errors import ErrorEnvelope, InvalidRequest

OPENAI_PREFIX = "/v1/"

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class UnsupportedParameter(InvalidRequest):
    """A request parameter Axon cannot honour and would otherwise silently change the answer: a 400 naming it."""

    status_code = 400

    def __init__(self, param: str, message: str) -> None:
        super().__init__(
            message, details={"param": param, "errors": [{"loc": ["body", *param.split(".")], "msg": message}]}
        )


class OpenAIError(BaseModel):
    message: str
    type: str = Field(description="OpenAI's error type (`invalid_request_error`, `not_found_error`, …).")
    param: str | None = Field(description="The request parameter at fault, when one is.")
    code: str | None = Field(description="`error_type` in snake case (`not_found`, `rate_limited`, …).")
    error_type: str
    details: dict[str, Any] | list[Any] | None = None
    retryable: bool
    retry_after: float | None = None
    run_id: str | None = None
    request_id: str | None = None


class OpenAIErrorBody(BaseModel):
    """The body of every non-2xx answer on `/v1` routes."""

    error: OpenAIError


def openai_error_body(envelope: ErrorEnvelope, status_code: int) -> dict[str, Any]:
    return {"error": openai_error(envelope, status_code)}


def openai_error(envelope: ErrorEnvelope | dict[str, Any], status_code: int | None = None) -> dict[str, Any]:
    """The ``error`` object for an envelope (an `ErrorEnvelope` or the stored/streamed JSON of one)."""
    env = envelope if isinstance(envelope, ErrorEnvelope) else ErrorEnvelope.model_validate(envelope)
    status = status_code or 500
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    if env.error_type == "QuotaExceeded":  # pyright: ignore[reportUnnecessaryComparison]
        kind = "insufficient_quota"
    error = OpenAIError(
        message=env.message,
        type=kind,
        param=_param(env.details),
        code=_snake(env.error_type),
        error_type=env.error_type,
        details=env.details,
        retryable=env.retryable,
        retry_after=env.retry_after,
        run_id=env.run_id,
        request_id=env.request_id,
    )
    return error.model_dump(mode="json")


def _param(details: dict[str, Any] | list[Any] | None) -> str | None:
    if not isinstance(details, dict):
        return None
    if isinstance(details.get("param"), str):
        return details["param"]
    errors: Any = details.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first: dict[str, Any] = cast(dict[str, Any], errors[0])
        loc: list[Any] = first.get("loc") or []
        return ".".join(str(part) for part in loc if part != "body") or None
    return None


def _snake(name: str) -> str:
    return re.sub(
        r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name
    ).lower()  # ModelHTTPError → model_http_error


def openai_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for `/v1` routes (the OpenAI error body)."""
    codes = sorted({422, 500, *statuses})
    return {code: {"model": OpenAIErrorBody, "description": "OpenAI-shaped error"} for code in codes}
