"""Failed logins are limited per username and per client address (429 RateLimited + Retry-After)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from dirty_equals import IsFloat, IsStr
from fastapi import FastAPI

from app.config import Settings
from tests.factories import DEFAULT_PASSWORD, create_user


@asynccontextmanager
async def _client_from(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://axon.test") as client:
        yield client


async def _login(client: httpx.AsyncClient, username: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return await client.post("/auth/token", data={"username": username, "password": password})


def _assert_rate_limited(response: httpx.Response, settings: Settings) -> None:
    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= settings.login_failure_window_seconds
    assert response.json() == {
        "status": "error",
        "error_type": "RateLimited",
        "message": "Too many failed logins; try again later.",
        "details": None,
        "retryable": True,
        "retry_after": IsFloat(ge=1, le=settings.login_failure_window_seconds),
        "run_id": None,
        "request_id": IsStr(),
    }


async def test_failed_logins_lock_the_username_from_every_address(app: FastAPI, settings: Settings):
    await create_user(app, "bob")
    await create_user(app, "carol")
    async with _client_from(app, "10.0.0.1") as attacker, _client_from(app, "10.0.0.2") as owner:
        for _ in range(settings.login_max_failures):
            assert (await _login(attacker, "bob", "guess")).status_code == 401

        _assert_rate_limited(await _login(owner, "bob"), settings)  # even the right password, from elsewhere
        assert (await _login(owner, "carol")).status_code == 200  # other users are unaffected


async def test_failed_logins_lock_the_client_address_for_every_username(app: FastAPI, settings: Settings):
    await create_user(app, "bob")
    async with _client_from(app, "10.0.0.3") as sprayer, _client_from(app, "10.0.0.4") as owner:
        for index in range(settings.login_max_failures):
            assert (await _login(sprayer, f"user{index}", "guess")).status_code == 401

        _assert_rate_limited(await _login(sprayer, "bob"), settings)
        assert (await _login(owner, "bob")).status_code == 200


async def test_a_successful_login_clears_the_username_count(app: FastAPI, settings: Settings):
    await create_user(app, "bob")
    async with _client_from(app, "10.0.0.5") as client:
        for _ in range(settings.login_max_failures - 1):
            assert (await _login(client, "bob", "typo")).status_code == 401
        assert (await _login(client, "bob")).status_code == 200

    async with _client_from(app, "10.0.0.6") as client:
        for _ in range(settings.login_max_failures - 1):
            assert (await _login(client, "bob", "typo")).status_code == 401
        assert (await _login(client, "bob")).status_code == 200
