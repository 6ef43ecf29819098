"""CRUD, versions, rollback, scope and isolation, pagination and search over the real app."""

import hashlib
import json
from typing import Any

import httpx
import pytest
from dirty_equals import IsDatetime, IsStr, IsUUID

DEFINITION: dict[str, Any] = {
    "name": "bank-support",
    "description": "Answers card questions",
    "model": "test",
    "instructions": "You help {{customer_name}}.",
    "output_schema": {"type": "object", "properties": {"advice": {"type": "string"}}, "required": ["advice"]},
    "retries": {"tools": 2, "output": 3},
}


def _hash(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _create(client: httpx.AsyncClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = await client.post("/agents", json={**DEFINITION, **changes}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_then_read_by_id_and_name(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    created = await _create(client, user_headers)

    assert created == {
        "id": IsUUID(4),
        "name": "bank-support",
        "scope": "private",
        "owner_id": IsUUID(4),
        "version": 1,
        "spec_hash": _hash(DEFINITION),
        "definition": DEFINITION,
        "created_at": IsDatetime(iso_string=True),
        "updated_at": IsDatetime(iso_string=True),
        "warnings": [],
    }
    by_id = await client.get(f"/agents/{created['id']}", headers=user_headers)
    by_name = await client.get("/agents/bank-support", headers=user_headers)
    expected = {key: value for key, value in created.items() if key != "warnings"}
    assert by_id.json() == expected
    assert by_name.json() == expected


async def test_name_taken_is_a_conflict(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    await _create(client, user_headers)

    again = await client.post("/agents", json=DEFINITION, headers=user_headers)

    assert again.status_code == 409
    assert again.json()["error_type"] == "Conflict"


async def test_equivalent_definitions_hash_alike(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    spelled_out = {
        "retries": {"output": 3, "tools": 2},
        "end_strategy": "graceful",
        "output_mode": "tool",
        "tools": [],
        "capabilities": [],
        "$schema": "./bank_schema.json",
        **{key: value for key, value in reversed(DEFINITION.items()) if key != "retries"},
    }
    compact = await client.post("/agents/validate", json=DEFINITION, headers=user_headers)
    verbose = await client.post("/agents/validate", json=spelled_out, headers=user_headers)

    assert compact.json() == {"valid": True, "definition": DEFINITION, "spec_hash": _hash(DEFINITION), "warnings": []}
    assert verbose.json() == compact.json()


async def test_versions_hash_and_rollback(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    created = await _create(client, user_headers)
    url = f"/agents/{created['id']}"

    same = await client.put(url, json=DEFINITION, headers=user_headers)
    assert same.status_code == 200
    assert same.headers["x-axon-version-created"] == "false"
    assert same.json()["version"] == 1

    changed = {**DEFINITION, "instructions": "Be terse with {{customer_name}}."}
    second = await client.put(url, json=changed, headers=user_headers)
    assert second.headers["x-axon-version-created"] == "true"
    assert (second.json()["version"], second.json()["spec_hash"]) == (2, _hash(changed))

    versions = await client.get(f"{url}/versions", headers=user_headers)
    assert versions.json() == {
        "items": [
            {
                "version": 2,
                "spec_hash": _hash(changed),
                "definition": changed,
                "created_by": created["owner_id"],
                "created_at": IsDatetime(iso_string=True),
                "current": True,
            },
            {
                "version": 1,
                "spec_hash": _hash(DEFINITION),
                "definition": DEFINITION,
                "created_by": created["owner_id"],
                "created_at": IsDatetime(iso_string=True),
                "current": False,
            },
        ],
        "next_cursor": None,
    }

    rolled_back = await client.post(f"{url}/versions/1/activate", headers=user_headers)
    assert rolled_back.status_code == 200
    assert (rolled_back.json()["version"], rolled_back.json()["definition"]) == (1, DEFINITION)
    current = await client.get(url, headers=user_headers)
    assert current.json()["version"] == 1
    flags = await client.get(f"{url}/versions", headers=user_headers)
    assert [(v["version"], v["current"]) for v in flags.json()["items"]] == [(2, False), (1, True)]
    one = await client.get(f"{url}/versions/2", headers=user_headers)
    assert (one.json()["definition"], one.json()["current"]) == (changed, False)

    # A PUT after a rollback continues the numbering; equal to an old version still makes a new one.
    third = await client.put(url, json=changed, headers=user_headers)
    assert third.json()["version"] == 3

    for missing in (f"{url}/versions/9", f"{url}/versions/9/activate"):
        method = client.post if missing.endswith("activate") else client.get
        response = await method(missing, headers=user_headers)
        assert (response.status_code, response.json()["error_type"]) == (404, "NotFound")


async def test_put_changes_scope_without_a_version(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    created = await _create(client, user_headers)

    shared = await client.put(f"/agents/{created['id']}", json={**DEFINITION, "scope": "shared"}, headers=user_headers)

    assert (shared.json()["scope"], shared.json()["version"], shared.headers["x-axon-version-created"]) == (
        "shared",
        1,
        "false",
    )


async def test_delete(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    created = await _create(client, user_headers)

    deleted = await client.delete(f"/agents/{created['id']}", headers=user_headers)

    assert deleted.status_code == 204
    gone = await client.get(f"/agents/{created['id']}", headers=user_headers)
    assert gone.status_code == 404
    recreated = await _create(client, user_headers)
    assert recreated["version"] == 1


async def test_private_agents_are_invisible_to_others(
    client: httpx.AsyncClient, user_headers: dict[str, str], other_headers: dict[str, str]
) -> None:
    created = await _create(client, user_headers)
    url = f"/agents/{created['id']}"

    attempts = [
        await client.get(url, headers=other_headers),
        await client.get("/agents/bank-support", headers=other_headers),
        await client.put(url, json=DEFINITION, headers=other_headers),
        await client.delete(url, headers=other_headers),
        await client.get(f"{url}/versions", headers=other_headers),
        await client.get(f"{url}/versions/1", headers=other_headers),
        await client.post(f"{url}/versions/1/activate", headers=other_headers),
    ]

    assert [(r.status_code, r.json()["error_type"]) for r in attempts] == [(404, "NotFound")] * len(attempts)
    listed = await client.get("/agents", headers=other_headers)
    assert listed.json() == {"items": [], "next_cursor": None}
    # The other user may use the same name for an agent of its own.
    mine = await _create(client, other_headers)
    assert (await client.get("/agents/bank-support", headers=other_headers)).json()["id"] == mine["id"]


async def test_shared_agents_are_readable_not_editable(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    other_headers: dict[str, str],
    admin_headers: dict[str, str],
) -> None:
    created = await _create(client, user_headers, scope="shared")
    url = f"/agents/{created['id']}"

    read = await client.get("/agents/bank-support", headers=other_headers)
    assert read.json() == {key: value for key, value in created.items() if key != "warnings"}
    assert [a["id"] for a in (await client.get("/agents", headers=other_headers)).json()["items"]] == [created["id"]]
    assert (await client.get(f"{url}/versions/1", headers=other_headers)).status_code == 200

    refused = [
        await client.put(url, json={**DEFINITION, "description": "mine now"}, headers=other_headers),
        await client.delete(url, headers=other_headers),
        await client.post(f"{url}/versions/1/activate", headers=other_headers),
    ]
    assert [(r.status_code, r.json()["error_type"]) for r in refused] == [(403, "Forbidden")] * 3

    by_admin = await client.put(url, json={**DEFINITION, "description": "edited by admin"}, headers=admin_headers)
    assert by_admin.json()["version"] == 2
    assert (await client.delete(url, headers=admin_headers)).status_code == 204


async def test_admins_see_private_agents(
    client: httpx.AsyncClient, user_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    created = await _create(client, user_headers)

    read = await client.get(f"/agents/{created['id']}", headers=admin_headers)

    assert read.status_code == 200
    assert [a["id"] for a in (await client.get("/agents", headers=admin_headers)).json()["items"]] == [created["id"]]


async def test_admin_name_lookup_prefers_own_then_shared_then_any_owners(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    other_headers: dict[str, str],
    admin_headers: dict[str, str],
) -> None:
    private = await _create(client, user_headers, name="dup")
    shared = (
        await client.post("/agents", json={**DEFINITION, "name": "dup", "scope": "shared"}, headers=other_headers)
    ).json()
    only_private = await _create(client, user_headers, name="hidden")

    first = await client.get("/agents/dup", headers=admin_headers)
    by_name = await client.get("/agents/hidden", headers=admin_headers)
    versions = await client.get(f"/agents/{private['id']}/versions", headers=admin_headers)
    own = await _create(client, admin_headers, name="dup")
    second = await client.get("/agents/dup", headers=admin_headers)
    as_user = await client.get("/agents/dup", headers=other_headers)

    assert first.json()["id"] == shared["id"]  # older than the shared one, but private to another owner
    assert by_name.json()["id"] == only_private["id"]
    assert versions.status_code == 200
    assert second.json()["id"] == own["id"]
    assert as_user.json()["id"] == shared["id"]


async def test_pagination_is_stable_while_agents_are_created(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    before = [(await _create(client, user_headers, name=f"agent-{i}"))["id"] for i in range(7)]

    seen: list[str] = []
    cursor: str | None = None
    extra = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/agents", params=params, headers=user_headers)).json()
        seen.extend(item["id"] for item in page["items"])
        await _create(client, user_headers, name=f"late-{extra}")
        extra += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(before))
    everything = (await client.get("/agents", params={"limit": "100"}, headers=user_headers)).json()["items"]
    assert len(everything) == len(before) + extra


async def test_search(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    await _create(client, user_headers, name="card-desk", description="Handles STOLEN cards")
    await _create(client, user_headers, name="loan-desk", description="Mortgages")
    await _create(client, user_headers, name="fraud_100pct", description=None)

    async def names(q: str) -> list[str]:
        page = (await client.get("/agents", params={"q": q}, headers=user_headers)).json()
        return [item["name"] for item in page["items"]]

    assert await names("desk") == ["loan-desk", "card-desk"]
    assert await names("stolen") == ["card-desk"]
    assert await names("_1") == ["fraud_100pct"]
    assert await names("%") == []


@pytest.mark.parametrize(("key", "warnings"), [(None, 1), ("sk-test", 0)])
async def test_missing_provider_credentials_are_a_warning(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    key: str | None,
    warnings: int,
) -> None:
    if key is None:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    else:
        monkeypatch.setenv("OPENAI_API_KEY", key)

    created = await _create(client, user_headers, model="openai-chat:gpt-4o-mini")

    expected = [{"path": "$.model", "message": IsStr(regex="OPENAI_API_KEY is not set on the server.*")}]
    assert created["warnings"] == expected[:warnings]
    assert created["definition"]["model"] == "openai-chat:gpt-4o-mini"


async def test_unauthenticated(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/agents"), await client.post("/agents/validate", json=DEFINITION)):
        assert (response.status_code, response.json()["error_type"]) == (401, "Unauthorized")
