"""Every ``ValidationError`` (422) lists the wrong fields in ``details.errors`` as ``{"loc", "msg"}``."""

import httpx
from dirty_equals import IsStr


async def test_every_validation_error_names_its_fields(
    client: httpx.AsyncClient, user_headers: dict[str, str], admin_headers: dict[str, str]
):
    await client.post("/agents", json={"name": "a1", "model": "test", "tools": []}, headers=user_headers)
    session = await client.post("/sessions", json={"agent": "a1"}, headers=user_headers)
    endpoint = {"name": "local", "base_url": "http://127.0.0.1:9/v1"}
    await client.post("/model-endpoints", json=endpoint, headers=admin_headers)

    answers = {
        "cursor": await client.get("/agents", params={"cursor": "garbage"}, headers=user_headers),
        "login": await client.post("/auth/token", content=b"{not json", headers={"Content-Type": "application/json"}),
        "endpoint name": await client.put(
            "/model-endpoints/local", json={**endpoint, "name": "other"}, headers=admin_headers
        ),
        "session tools": await client.post("/sessions", json={"agent": "a1", "tools": ["nope"]}, headers=user_headers),
        "fork": await client.post(f"/sessions/{session.json()['id']}/fork", json={"at": 5}, headers=user_headers),
    }

    assert {name: (r.status_code, r.json()["error_type"], r.json()["details"]) for name, r in answers.items()} == {
        "cursor": (
            422,
            "ValidationError",
            {"errors": [{"loc": ["query", "cursor"], "msg": IsStr(), "type": "string_pattern_mismatch"}]},
        ),
        "login": (422, "ValidationError", {"errors": [{"loc": ["body"], "msg": IsStr()}]}),
        "endpoint name": (
            422,
            "ValidationError",
            {"errors": [{"loc": ["body", "name"], "msg": "must match the path"}]},
        ),
        "session tools": (
            422,
            "ValidationError",
            {"errors": [{"loc": ["body", "tools"], "msg": "unknown tool 'nope'"}]},
        ),
        "fork": (422, "ValidationError", {"errors": [{"loc": ["body", "at"], "msg": "at most 0"}]}),
    }
