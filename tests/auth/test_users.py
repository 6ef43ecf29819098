"""GET /users/me and POST /users (admin only)."""

import httpx
from dirty_equals import IsDatetime, IsStr, IsUUID

ENVELOPE = {
    "status": "error",
    "details": None,
    "retryable": False,
    "retry_after": None,
    "run_id": None,
    "request_id": IsStr(),
}


async def test_me(client: httpx.AsyncClient, user_headers: dict[str, str]):
    response = await client.get("/users/me", headers=user_headers)

    assert response.status_code == 200
    assert response.json() == {
        "id": IsUUID(),
        "username": "alice",
        "role": "user",
        "created_at": IsDatetime(iso_string=True),
    }


async def test_admin_creates_a_user_who_can_log_in(client: httpx.AsyncClient, admin_headers: dict[str, str]):
    created = await client.post(
        "/users", json={"username": "bob", "password": "hunter2hunter2", "role": "admin"}, headers=admin_headers
    )

    assert created.status_code == 201, created.text
    assert created.json() == {
        "id": IsUUID(),
        "username": "bob",
        "role": "admin",
        "created_at": IsDatetime(iso_string=True),
    }
    assert "password" not in created.text
    token = await client.post("/auth/token", data={"username": "bob", "password": "hunter2hunter2"})
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.json() == created.json()


async def test_duplicate_username_is_a_conflict(client: httpx.AsyncClient, admin_headers: dict[str, str]):
    body = {"username": "bob", "password": "hunter2hunter2"}
    assert (await client.post("/users", json=body, headers=admin_headers)).status_code == 201

    response = await client.post("/users", json=body, headers=admin_headers)

    assert response.status_code == 409
    assert response.json() == {**ENVELOPE, "error_type": "Conflict", "message": "Username 'bob' is taken."}


async def test_non_admin_cannot_create_users(client: httpx.AsyncClient, user_headers: dict[str, str]):
    response = await client.post(
        "/users", json={"username": "eve", "password": "hunter2hunter2", "role": "admin"}, headers=user_headers
    )

    assert response.status_code == 403
    assert response.json() == {**ENVELOPE, "error_type": "Forbidden", "message": "This route is for admins."}


async def test_invalid_user_body_names_the_fields(client: httpx.AsyncClient, admin_headers: dict[str, str]):
    response = await client.post(
        "/users", json={"username": "no spaces", "password": "short", "role": "root"}, headers=admin_headers
    )

    assert response.status_code == 422
    assert response.json() == {
        **ENVELOPE,
        "error_type": "ValidationError",
        "message": "Request is invalid.",
        "details": {
            "errors": [
                {"loc": ["body", "username"], "msg": IsStr(), "type": "string_pattern_mismatch"},
                {"loc": ["body", "password"], "msg": IsStr(), "type": "string_too_short"},
                {"loc": ["body", "role"], "msg": IsStr(), "type": "literal_error"},
            ]
        },
    }
