"""The one error envelope (API.md §4) for every status the foundation produces, and X-Request-ID."""

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from dirty_equals import IsStr
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.errors import ERROR_TYPES, Overloaded
from app.main import create_app

ENVELOPE = {
    "status": "error",
    "details": None,
    "retryable": False,
    "retry_after": None,
    "run_id": None,
    "request_id": IsStr(min_length=1),
}


async def test_unknown_route_is_404_envelope(client: httpx.AsyncClient):
    response = await client.get("/no/such/route", headers={"X-Request-ID": "trace-404"})

    assert response.status_code == 404
    assert response.headers["x-request-id"] == "trace-404"
    assert response.headers["x-should-retry"] == "false"
    assert response.json() == {
        **ENVELOPE,
        "error_type": "NotFound",
        "message": "No such route.",
        "request_id": "trace-404",
    }


async def test_wrong_method_is_405_envelope(client: httpx.AsyncClient):
    response = await client.delete("/users/me")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.headers["x-should-retry"] == "false"
    assert response.json() == {
        **ENVELOPE,
        "error_type": "MethodNotAllowed",
        "message": "Method not allowed on this route.",
    }


async def test_request_validation_is_422_with_field_details(client: httpx.AsyncClient, user_headers: dict[str, str]):
    response = await client.get("/api-keys", params={"limit": 0}, headers=user_headers)

    assert response.status_code == 422
    assert response.json() == {
        **ENVELOPE,
        "error_type": "ValidationError",
        "message": "Request is invalid.",
        "details": {"errors": [{"loc": ["query", "limit"], "msg": IsStr(), "type": "greater_than_equal"}]},
    }


async def test_malformed_json_is_422(client: httpx.AsyncClient, admin_headers: dict[str, str]):
    response = await client.post(
        "/users", content=b'{"username": ', headers={**admin_headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["error_type"] == "ValidationError"
    assert response.json()["details"]["errors"][0]["type"] == "json_invalid"


async def test_declared_oversized_body_is_refused_before_it_is_read(app: FastAPI, settings: Settings):
    """Driven at the ASGI level to prove the app never calls ``receive``."""
    reads: list[str] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        reads.append("read")
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/users",
        "raw_path": b"/users",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"axon.test"),
            (b"content-type", b"application/json"),
            (b"content-length", str(settings.max_body_bytes + 1).encode()),
            (b"x-request-id", b"trace-413"),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("axon.test", 80),
    }

    await app(scope, receive, send)

    assert reads == []
    start, body = sent
    assert start["status"] == 413
    assert (b"x-request-id", b"trace-413") in start["headers"]
    assert (b"x-should-retry", b"false") in start["headers"]
    assert json.loads(body["body"]) == {
        **ENVELOPE,
        "error_type": "PayloadTooLarge",
        "message": f"Request body is larger than the limit of {settings.max_body_bytes} bytes.",
        "request_id": "trace-413",
    }


async def test_chunked_oversized_body_is_refused_while_streaming(
    client: httpx.AsyncClient, settings: Settings, admin_headers: dict[str, str]
):
    chunk = b" " * 65_536
    chunks_sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        for _ in range(settings.max_body_bytes // len(chunk) * 4):
            chunks_sent += 1
            yield chunk

    response = await client.post(
        "/users", content=body(), headers={**admin_headers, "Content-Type": "application/json"}
    )

    assert "content-length" not in response.request.headers
    assert chunks_sent <= settings.max_body_bytes // len(chunk) + 2  # stopped reading at the limit
    assert response.status_code == 413
    assert response.headers["x-request-id"]
    assert response.headers["x-should-retry"] == "false"
    assert response.json() == {
        **ENVELOPE,
        "error_type": "PayloadTooLarge",
        "message": f"Request body is larger than the limit of {settings.max_body_bytes} bytes.",
    }


async def test_body_at_the_limit_is_accepted(
    client: httpx.AsyncClient, settings: Settings, admin_headers: dict[str, str]
):
    payload = json.dumps({"username": "bob", "password": "hunter2hunter2"}).encode()
    padded = payload + b" " * (settings.max_body_bytes - len(payload))

    response = await client.post(
        "/users", content=padded, headers={**admin_headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 201, response.text


UNREACHABLE_POSTGRES = "postgresql+asyncpg://axon@127.0.0.1:1/axon"
"""Nothing listens on port 1: connecting fails inside the driver, as during a database outage."""


@pytest.fixture
async def faulty_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The real app plus test-only routes that fail the ways production code might."""
    app = create_app(settings)

    @app.get("/test/crash")
    async def crash() -> None:  # pyright: ignore[reportUnusedFunction]
        raise RuntimeError("password=hunter2 in a stack frame")

    @app.get("/test/overloaded")
    async def overloaded() -> None:  # pyright: ignore[reportUnusedFunction]
        raise Overloaded("Too many active runs.", retry_after=2.4)

    @app.get("/test/database-down")
    async def database_down() -> None:  # pyright: ignore[reportUnusedFunction]
        engine = create_async_engine(UNREACHABLE_POSTGRES, connect_args={"timeout": 2})
        try:
            async with engine.connect():
                pass
        finally:
            await engine.dispose()

    @app.get("/test/connection-lost")
    async def connection_lost() -> None:  # pyright: ignore[reportUnusedFunction]
        raise DBAPIError("SELECT 1", None, ConnectionResetError("reset by peer"), connection_invalidated=True)

    @app.get("/test/unrelated-oserror")
    async def unrelated_oserror() -> None:  # pyright: ignore[reportUnusedFunction]
        raise ConnectionRefusedError("not the database")

    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def faulty_client(faulty_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=faulty_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://axon.test") as client:
        yield client


async def test_unexpected_exception_is_500_without_internals(
    faulty_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.ERROR, logger="axon.errors"):
        response = await faulty_client.get("/test/crash", headers={"X-Request-ID": "trace-500"})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "trace-500"
    assert response.headers["x-should-retry"] == "true"
    assert response.json() == {
        **ENVELOPE,
        "error_type": "InternalError",
        "message": "Internal server error.",
        "retryable": True,
        "request_id": "trace-500",
    }
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    [record] = [r for r in caplog.records if r.name == "axon.errors"]
    assert "trace-500" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError


async def test_retry_after_is_a_header_too(faulty_client: httpx.AsyncClient):
    response = await faulty_client.get("/test/overloaded")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.headers["x-should-retry"] == "true"
    assert response.json() == {
        **ENVELOPE,
        "error_type": "Overloaded",
        "message": "Too many active runs.",
        "retryable": True,
        "retry_after": 2.4,
    }


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("abc-123", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("bad\tid", False),
        ("", False),
    ],
    ids=["plain", "longest", "too-long", "control-char", "empty"],
)
async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient, sent: str, echoed: bool):
    response = await client.get("/health/live", headers={"X-Request-ID": sent})

    assert response.status_code == 200
    if echoed:
        assert response.headers["x-request-id"] == sent
    else:
        assert response.headers["x-request-id"] == IsStr(regex=r"[0-9a-f]{32}")


async def test_request_id_is_generated_per_request(client: httpx.AsyncClient):
    first = await client.get("/health/live")
    second = await client.get("/nope")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert second.json()["request_id"] == second.headers["x-request-id"]


async def test_every_error_response_in_openapi_is_the_envelope(client: httpx.AsyncClient):
    schema = (await client.get("/openapi.json")).json()

    envelope = schema["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["properties"]["error_type"]["enum"] == list(ERROR_TYPES)
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    operations = [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert ("post", "/auth/token") in [(m, p) for m, p, _ in operations]
    for method, path, operation in operations:
        errors = {code: response for code, response in operation["responses"].items() if code[0] in "45"}
        assert "500" in errors, (method, path)
        shape = "OpenAIErrorBody" if path.startswith("/v1/") else "ErrorEnvelope"  # the OpenAI doors' shape
        expected = {"application/json": {"schema": {"$ref": f"#/components/schemas/{shape}"}}}
        for code, response in errors.items():
            assert response["content"] == expected, (method, path, code)


async def test_database_outage_is_503_database_unavailable(faulty_app: FastAPI):
    """A refused connection (raised inside the driver) and an invalidated one are both typed and retryable;
    nothing escapes the app (the transport raises what does)."""
    transport = httpx.ASGITransport(app=faulty_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://axon.test") as client:
        refused = await client.get("/test/database-down")
        lost = await client.get("/test/connection-lost")

    for response in (refused, lost):
        assert response.status_code == 503
        assert (response.headers["retry-after"], response.headers["x-should-retry"]) == ("1", "true")
        assert response.json() == {
            **ENVELOPE,
            "error_type": "DatabaseUnavailable",
            "message": "The database cannot be reached right now; retry shortly.",
            "retryable": True,
            "retry_after": 1.0,
        }


async def test_unexpected_errors_are_answered_without_escaping_the_app(faulty_app: FastAPI):
    """Nothing propagates to the server after the 500: uvicorn closes the connection of an app that raised,
    and a keep-alive client's next request on it would get no answer at all."""
    transport = httpx.ASGITransport(app=faulty_app)  # raises whatever escapes the app
    async with httpx.AsyncClient(transport=transport, base_url="http://axon.test") as client:
        crash = await client.get("/test/crash")
        socket_error = await client.get("/test/unrelated-oserror")  # not from the database driver

    for response in (crash, socket_error):
        assert (response.status_code, response.json()["error_type"]) == (500, "InternalError")


async def test_x_should_retry_equals_retryable_on_every_error(client: httpx.AsyncClient, user_headers: dict[str, str]):
    responses = [
        await client.get("/agents"),  # 401
        await client.get("/agents/nope", headers=user_headers),  # 404 AppError
        await client.get("/agents", params={"limit": 0}, headers=user_headers),  # 422 request validation
        await client.post("/agents", json={"name": "x"}, headers=user_headers),  # 422 InvalidAgentDefinition
        await client.put("/health/live"),  # 405
    ]

    for response in responses:
        assert response.status_code >= 400
        assert response.headers["x-should-retry"] == str(response.json()["retryable"]).lower()
