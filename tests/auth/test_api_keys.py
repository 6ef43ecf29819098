"""API keys: shown once, stored hashed, listed by prefix, revocable, owner-isolated (API.md §1)."""

import hashlib

import httpx
from dirty_equals import IsDatetime, IsStr, IsUUID
from fastapi import FastAPI
from sqlalchemy import select

from app.auth.models import ApiKey
from app.db import Database

KEY = IsStr(regex=r"axk_[A-Za-z0-9_-]{43,}")


async def _stored_keys(app: FastAPI) -> list[ApiKey]:
    database: Database = app.state.database
    async with database.sessionmaker() as session:
        return list((await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all())


async def test_a_new_key_is_shown_once_and_stored_only_as_a_hash(
    client: httpx.AsyncClient, app: FastAPI, user_headers: dict[str, str]
):
    created = await client.post("/api-keys", json={"name": "ci"}, headers=user_headers)

    assert created.status_code == 201, created.text
    body = created.json()
    assert body == {
        "id": IsUUID(),
        "name": "ci",
        "prefix": body["key"][:12],
        "key": KEY,
        "created_at": IsDatetime(iso_string=True),
        "last_used_at": None,
        "revoked_at": None,
    }
    listed = await client.get("/api-keys", headers=user_headers)
    assert listed.status_code == 200
    assert listed.json() == {
        "items": [
            {key: value for key, value in body.items() if key != "key"},
            {
                "id": IsUUID(),
                "name": "test",
                "prefix": IsStr(regex=r"axk_.{8}"),
                "created_at": IsDatetime(iso_string=True),
                "last_used_at": IsDatetime(iso_string=True),
                "revoked_at": None,
            },
        ],
        "next_cursor": None,
    }
    assert body["key"] not in listed.text
    stored = {key.name: key for key in await _stored_keys(app)}
    assert stored["ci"].key_hash == hashlib.sha256(body["key"].encode()).hexdigest()


async def test_a_key_authenticates_and_records_last_use(client: httpx.AsyncClient, user_headers: dict[str, str]):
    key = (await client.post("/api-keys", json={}, headers=user_headers)).json()

    me = await client.get("/users/me", headers={"Authorization": f"Bearer {key['key']}"})

    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    [listed] = [
        item
        for item in (await client.get("/api-keys", headers=user_headers)).json()["items"]
        if item["id"] == key["id"]
    ]
    assert listed["name"] == "default"
    assert listed["last_used_at"] == IsDatetime(iso_string=True)


async def test_a_revoked_key_stops_working(client: httpx.AsyncClient, user_headers: dict[str, str]):
    key = (await client.post("/api-keys", json={"name": "short-lived"}, headers=user_headers)).json()
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert (await client.get("/users/me", headers=headers)).status_code == 200

    revoked = await client.delete(f"/api-keys/{key['id']}", headers=user_headers)
    again = await client.delete(f"/api-keys/{key['id']}", headers=user_headers)

    assert (revoked.status_code, revoked.content) == (204, b"")
    assert again.status_code == 204
    refused = await client.get("/users/me", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json() == {
        "status": "error",
        "error_type": "Unauthorized",
        "message": "Invalid or revoked API key.",
        "details": None,
        "retryable": False,
        "retry_after": None,
        "run_id": None,
        "request_id": IsStr(),
    }
    items = (await client.get("/api-keys", headers=user_headers)).json()["items"]
    assert [item["revoked_at"] for item in items if item["id"] == key["id"]] == [IsDatetime(iso_string=True)]


async def test_an_unknown_key_is_401(client: httpx.AsyncClient):
    response = await client.get("/users/me", headers={"Authorization": "Bearer axk_" + "x" * 43})

    assert response.status_code == 401
    assert response.json()["message"] == "Invalid or revoked API key."


async def test_another_users_key_is_not_found(
    client: httpx.AsyncClient, user_headers: dict[str, str], other_headers: dict[str, str]
):
    key = (await client.post("/api-keys", json={"name": "mine"}, headers=user_headers)).json()

    stolen = await client.delete(f"/api-keys/{key['id']}", headers=other_headers)
    missing = await client.delete("/api-keys/00000000-0000-4000-8000-000000000000", headers=user_headers)

    for response in (stolen, missing):
        assert response.status_code == 404
        assert response.json() == {
            "status": "error",
            "error_type": "NotFound",
            "message": "No such API key.",
            "details": None,
            "retryable": False,
            "retry_after": None,
            "run_id": None,
            "request_id": IsStr(),
        }
    assert (await client.get("/users/me", headers={"Authorization": f"Bearer {key['key']}"})).status_code == 200
    others = (await client.get("/api-keys", headers=other_headers)).json()["items"]
    assert key["id"] not in [item["id"] for item in others]


async def test_key_listing_is_cursor_paginated(client: httpx.AsyncClient, user_headers: dict[str, str]):
    created = [
        (await client.post("/api-keys", json={"name": f"k{i}"}, headers=user_headers)).json()["id"] for i in range(4)
    ]

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api-keys", params=params, headers=user_headers)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen[:4] == list(reversed(created))
    assert len(seen) == len(set(seen)) == 5  # the four plus the fixture's key
