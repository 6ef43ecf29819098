"""Errors on `/v1`: OpenAI's shape with the envelope inside, typed SDK exceptions, `x-should-retry`."""

import uuid
from typing import Any

import httpx
import httpx2
import openai
import pytest
from pydantic_ai.exceptions import ModelHTTPError

from app.config import Settings
from app.doors.openai_errors import openai_error_body
from app.errors import Forbidden, Overloaded, RateLimited
from tests.runs.conftest import Define
from tests.runs.scripts import script


def _upstream_400(_messages: Any, _info: Any) -> str:
    raise ModelHTTPError(status_code=400, model_name="scripted", body={"error": "bad"})


def _counting_sdk(live_url: str, headers: dict[str, str], sent: list[str], **options: Any) -> openai.AsyncOpenAI:
    async def count(request: httpx2.Request) -> None:
        sent.append(f"{request.method} {request.url.path}")

    key = headers["Authorization"].removeprefix("Bearer ")
    http = httpx2.AsyncClient(event_hooks={"request": [count]})
    return openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=key, http_client=http, **options)


async def test_unauthorized_and_not_found(sdk: openai.AsyncOpenAI, live_url: str) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.chat.completions.create(model="nobody", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.code == "not_found"
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(str(uuid.uuid4()))
    with pytest.raises(openai.NotFoundError):
        await sdk.models.retrieve("nobody")
    with pytest.raises(openai.NotFoundError):  # an unknown /v1 route is OpenAI-shaped too
        await sdk.get("/nothing-here", cast_to=object)
    async with openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key="axk_wrong") as stranger:
        with pytest.raises(openai.AuthenticationError) as refused:
            await stranger.models.list()
    error = refused.value
    assert error.status_code == 401
    assert error.response.headers["x-should-retry"] == "false"
    body: Any = error.body
    assert isinstance(body.pop("message"), str)
    assert body == {
        "type": "authentication_error",
        "param": None,
        "code": "unauthorized",
        "error_type": "Unauthorized",
        "details": None,
        "retryable": False,
        "retry_after": None,
        "run_id": None,
        "request_id": error.response.headers["x-request-id"],
    }


async def test_unsupported_and_invalid_parameters(sdk: openai.AsyncOpenAI, define: Define) -> None:
    await define("greeter", script("Hi").model)
    hi = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="greeter", messages=hi, n=2)  # pyright: ignore[reportArgumentType]
    assert (caught.value.param, caught.value.code) == ("n", "validation_error")
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="greeter", messages=hi, extra_body={"frobnicate": 1})  # pyright: ignore[reportArgumentType]
    assert caught.value.param == "frobnicate"
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="greeter", messages=hi, response_format={"type": "json_object"})  # pyright: ignore[reportArgumentType]
    assert caught.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.responses.create(model="greeter", input="Hi", tools=[{"type": "web_search"}])
    assert caught.value.param == "tools.0.type"
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.responses.create(model="greeter", input=[{"role": "assistant", "content": "I talk last?"}])
    assert caught.value.param == "input"
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        await sdk.chat.completions.create(model="greeter", messages=[])
    assert caught.value.param == "messages"


async def test_non_retryable_errors_are_sent_once(
    define: Define, live_url: str, user_headers: dict[str, str], client: httpx.AsyncClient
) -> None:
    """The SDK retries 409s by default; `x-should-retry: false` stops it: exactly one request."""
    await define("greeter", script("Hi").model)
    sent: list[str] = []
    async with _counting_sdk(live_url, user_headers, sent) as sdk:
        done = await sdk.responses.create(model="greeter", input="Hi")
        sent.clear()
        with pytest.raises(openai.ConflictError) as caught:
            await sdk.responses.cancel(done.id)
    assert sent == [f"POST /v1/responses/{done.id}/cancel"]
    assert caught.value.response.headers["x-should-retry"] == "false"
    # A 502 the SDK would retry on its own, but the upstream said 400: one request, one run.
    await define("broken", script(_upstream_400).model)
    sent: list[str] = []
    async with _counting_sdk(live_url, user_headers, sent) as sdk:
        with pytest.raises(openai.InternalServerError) as caught:
            await sdk.chat.completions.create(model="broken", messages=[{"role": "user", "content": "Hi"}])
    assert sent == ["POST /v1/chat/completions"]
    body: Any = caught.value.body
    assert (caught.value.status_code, body["error_type"], body["retryable"]) == (502, "ModelHTTPError", False)
    runs = (await client.get("/runs", headers=user_headers)).json()["items"]
    assert [(run["run_id"], run["status"]) for run in runs if run["agent"]["name"] == "broken"] == [
        (body["run_id"], "failed")
    ]
    async with _counting_sdk(live_url, user_headers, sent) as sdk:
        failed = await sdk.responses.retrieve(body["run_id"])  # any run reads as a response
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "model_http_error"  # pyright: ignore[reportUnnecessaryComparison]


async def test_overloaded_is_retried(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, define: Define, live_url: str, user_headers: dict[str, str]
) -> None:
    await define("greeter", script("Hi").model)
    monkeypatch.setattr(settings, "max_queued_runs", 0)  # every background run is refused: 503 Overloaded
    sent: list[str] = []
    async with _counting_sdk(live_url, user_headers, sent, max_retries=1) as sdk:
        with pytest.raises(openai.InternalServerError) as caught:
            await sdk.responses.create(model="greeter", input="Hi", background=True)
    assert sent == ["POST /v1/responses", "POST /v1/responses"]
    assert caught.value.status_code == 503
    assert caught.value.response.headers["x-should-retry"] == "true"
    assert caught.value.response.headers["retry-after"] == "1"


async def test_failure_mid_stream_is_an_error_chunk(sdk: openai.AsyncOpenAI, define: Define) -> None:
    await define("broken", script(_upstream_400).model)
    stream = await sdk.chat.completions.create(
        model="broken", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    with pytest.raises(openai.APIError) as caught:
        async for _chunk in stream:
            pass
    body: Any = caught.value.body
    assert body["error_type"] == "ModelHTTPError"


def test_every_status_has_openai_type() -> None:
    """The shape of statuses the tests cannot provoke through a live run (429 comes from the rate limiters)."""
    limited = RateLimited("Slow down.", retry_after=3.0).envelope("req-1")
    assert openai_error_body(limited, 429) == {
        "error": {
            "message": "Slow down.",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limited",
            "error_type": "RateLimited",
            "details": None,
            "retryable": True,
            "retry_after": 3.0,
            "run_id": None,
            "request_id": "req-1",
        }
    }
    assert openai_error_body(Overloaded("Busy.").envelope(), 503)["error"]["type"] == "server_error"
    assert openai_error_body(Forbidden("No.").envelope(), 403)["error"]["type"] == "permission_error"
