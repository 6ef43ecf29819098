"""POST /auth/token and JWT bearer authentication (API.md §1)."""

import base64
import json
import time
import warnings
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from dirty_equals import IsPartialDict, IsPositiveInt, IsStr
from fastapi import FastAPI
from jwt.warnings import InsecureKeyLengthWarning

from app.auth import security
from app.config import Settings
from app.main import create_app
from tests.factories import DEFAULT_PASSWORD, FAST_HASHING, create_user

UNAUTHORIZED_TOKEN = {
    "status": "error",
    "error_type": "Unauthorized",
    "message": "Invalid or expired token.",
    "details": None,
    "retryable": False,
    "retry_after": None,
    "run_id": None,
    "request_id": IsStr(min_length=1),
}


async def _login(client: httpx.AsyncClient, username: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return await client.post("/auth/token", data={"username": username, "password": password})


async def test_form_login_issues_a_working_hs256_jwt(client: httpx.AsyncClient, app: FastAPI, settings: Settings):
    user = await create_user(app, "bob")

    response = await client.post(
        "/auth/token", data={"grant_type": "password", "username": "bob", "password": DEFAULT_PASSWORD, "scope": ""}
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"access_token": IsStr(), "token_type": "bearer", "expires_in": 3600}
    token = response.json()["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, settings.resolved_secret_key(), algorithms=["HS256"], audience="axon-api")
    assert claims == {
        "sub": str(user.id),
        "iss": "axon",
        "aud": "axon-api",
        "iat": IsPositiveInt(),
        "nbf": IsPositiveInt(),
        "exp": claims["iat"] + 3600,
    }
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["username"] == "bob"


async def test_json_login_works_too(client: httpx.AsyncClient, app: FastAPI):
    await create_user(app, "bob")

    response = await client.post("/auth/token", json={"username": "bob", "password": DEFAULT_PASSWORD})

    assert response.status_code == 200, response.text
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert me.json()["username"] == "bob"


@pytest.fixture
async def production_cost_app(app: FastAPI, settings: Settings) -> AsyncIterator[FastAPI]:
    """An app of its own (on the shared app's database) hashing passwords at the production cost."""
    production = {name: Settings.model_fields[name].default for name in FAST_HASHING}
    application = create_app(settings.model_copy(update=production))
    async with application.router.lifespan_context(application):
        yield application


async def test_hashing_cost_is_a_setting_whose_default_is_argon2_cffi_profile(
    production_cost_app: FastAPI, app: FastAPI, client: httpx.AsyncClient
):
    carol = await create_user(production_cost_app, "carol")
    dave = await create_user(app, "dave")

    assert carol.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert dave.password_hash.startswith("$argon2id$v=19$m=64,t=1,p=4$")
    # A hash keeps the cost it was made with: carol still logs in where new hashes are cheaper.
    assert (await _login(client, "carol")).status_code == 200


async def test_wrong_username_and_wrong_password_are_indistinguishable(production_cost_app: FastAPI):
    await create_user(production_cost_app, "bob")
    settings: Settings = production_cost_app.state.settings
    # The floor is half of what one argon2 verification at the production cost takes on this
    # machine (the fastest of several, before and after): a login that skipped the verification
    # (the tell-tale of a username oracle) answers far below it. Load only makes logins slower.
    costs: list[float] = []

    async def measure_verifications() -> None:
        for _ in range(3):
            started = time.perf_counter()
            await security.verify_password(settings, "guess", None)
            costs.append(time.perf_counter() - started)

    await measure_verifications()
    answers: list[httpx.Response] = []
    durations: list[float] = []
    transport = httpx.ASGITransport(app=production_cost_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://axon.test") as client:
        for username, password in [("nobody", DEFAULT_PASSWORD), ("bob", "wrong password")]:
            started = time.perf_counter()
            answers.append(await _login(client, username, password))
            durations.append(time.perf_counter() - started)
    await measure_verifications()
    floor = min(costs) / 2

    unknown_user, wrong_password = answers
    assert unknown_user.status_code == wrong_password.status_code == 401
    assert unknown_user.headers["www-authenticate"] == wrong_password.headers["www-authenticate"] == "Bearer"
    expected = {**UNAUTHORIZED_TOKEN, "message": "Incorrect username or password."}
    assert unknown_user.json() == expected
    assert wrong_password.json() == expected
    assert min(durations) > floor, (durations, floor)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"username": "bob"}', "application/json"),
        (b"{not json", "application/json"),
        (b"username=bob", "application/x-www-form-urlencoded"),
        (b'{"username": "bob", "password": "x", "admin": true}', "application/json"),
    ],
    ids=["missing-password", "bad-json", "form-missing-password", "unknown-field"],
)
async def test_malformed_login_body_is_a_validation_error(client: httpx.AsyncClient, body: bytes, content_type: str):
    response = await client.post("/auth/token", content=body, headers={"Content-Type": content_type})

    assert response.status_code == 422
    assert response.json() == {
        **UNAUTHORIZED_TOKEN,
        "error_type": "ValidationError",
        "message": IsStr(regex="Login body is .*"),
        "details": {"errors": [IsPartialDict(loc=[IsStr()], msg=IsStr())]},
    }


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(settings: Settings, subject: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _bad_token(kind: str, settings: Settings, subject: str) -> str:
    secret = settings.resolved_secret_key()
    now = int(time.time())
    match kind:
        case "alg-none":
            return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(_claims(settings, subject))}."
        case "hs512":
            with warnings.catch_warnings():  # the attacker does not care that the key is short for HS512
                warnings.simplefilter("ignore", InsecureKeyLengthWarning)
                return jwt.encode(_claims(settings, subject), secret, algorithm="HS512")
        case "tampered":
            header, _, signature = jwt.encode(_claims(settings, subject), secret, algorithm="HS256").split(".")
            return f"{header}.{_segment(_claims(settings, subject, exp=now + 99_999))}.{signature}"
        case "other-secret":
            return jwt.encode(_claims(settings, subject), "another-secret-that-is-also-32-bytes!!", algorithm="HS256")
        case "expired":
            return jwt.encode(_claims(settings, subject, iat=now - 700, exp=now - 100), secret, algorithm="HS256")
        case "not-yet-valid":
            return jwt.encode(_claims(settings, subject, nbf=now + 600), secret, algorithm="HS256")
        case "wrong-aud":
            return jwt.encode(_claims(settings, subject, aud="someone-else"), secret, algorithm="HS256")
        case "wrong-iss":
            return jwt.encode(_claims(settings, subject, iss="evil"), secret, algorithm="HS256")
        case "no-exp":
            return jwt.encode(_claims(settings, subject, exp=None), secret, algorithm="HS256")
        case "sub-not-a-uuid":
            return jwt.encode(_claims(settings, "bob"), secret, algorithm="HS256")
        case "unknown-sub":
            return jwt.encode(_claims(settings, "00000000-0000-4000-8000-000000000000"), secret, algorithm="HS256")
        case _:
            return "not-a-jwt"


@pytest.mark.parametrize(
    "kind",
    [
        "alg-none",
        "hs512",
        "tampered",
        "other-secret",
        "expired",
        "not-yet-valid",
        "wrong-aud",
        "wrong-iss",
        "no-exp",
        "sub-not-a-uuid",
        "unknown-sub",
        "garbage",
    ],
)
async def test_invalid_jwts_are_rejected(client: httpx.AsyncClient, app: FastAPI, settings: Settings, kind: str):
    user = await create_user(app, "bob")
    good = jwt.encode(_claims(settings, str(user.id)), settings.resolved_secret_key(), algorithm="HS256")
    assert (await client.get("/users/me", headers={"Authorization": f"Bearer {good}"})).status_code == 200

    response = await client.get(
        "/users/me", headers={"Authorization": f"Bearer {_bad_token(kind, settings, str(user.id))}"}
    )

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == UNAUTHORIZED_TOKEN


@pytest.mark.parametrize(
    "authorization", [None, "Basic Ym9iOnB3", "Bearer", "bearer "], ids=["missing", "basic", "empty", "blank"]
)
async def test_missing_credentials_are_401(client: httpx.AsyncClient, authorization: str | None):
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = await client.get("/users/me", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {**UNAUTHORIZED_TOKEN, "message": "Missing bearer credentials."}
