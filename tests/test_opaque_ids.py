"""Ids are opaque (API.md): an id of any shape that names nothing is a 404 ``NotFound``, never a 422 or a 500."""

import uuid

import httpx

UNKNOWN = str(uuid.UUID(int=7))


async def test_malformed_and_out_of_range_ids_are_404(client: httpx.AsyncClient, user_headers: dict[str, str]):
    created = await client.post("/agents", json={"name": "a1", "model": "test"}, headers=user_headers)
    assert created.status_code == 201
    requests = [
        ("GET", "/agents/a1/versions/not-a-number", None),
        ("GET", "/agents/a1/versions/9999999999999999", None),
        ("GET", "/agents/a1/versions/0", None),
        ("POST", "/agents/a1/versions/12684683634060/activate", None),
        ("GET", "/agents/a1/versions/2", None),
        ("DELETE", "/api-keys/not-a-uuid", None),
        ("DELETE", f"/api-keys/{UNKNOWN}", None),
        ("GET", "/sessions/not-a-uuid", None),
        ("DELETE", "/sessions/not-a-uuid", None),
        ("GET", "/sessions/not-a-uuid/messages", None),
        ("POST", "/sessions/not-a-uuid/fork", {"at": "not a number"}),  # the path wins over the body
        ("GET", f"/sessions/{UNKNOWN}", None),
        ("GET", "/runs/not-a-uuid", None),
        ("GET", "/runs/not-a-uuid/events", None),
        ("POST", "/runs/not-a-uuid/cancel", None),
        ("POST", "/runs/not-a-uuid/resume", {"tool_results": {}}),
        ("GET", f"/runs/{UNKNOWN}", None),
    ]

    answers = {
        (method, path): await client.request(method, path, json=body, headers=user_headers)
        for method, path, body in requests
    }

    assert {key: (r.status_code, r.json()["error_type"]) for key, r in answers.items()} == dict.fromkeys(
        answers, (404, "NotFound")
    )


async def test_query_parameters_are_still_validated(client: httpx.AsyncClient, user_headers: dict[str, str]):
    """Only the path names a resource; a malformed query is the caller's mistake, a 422 naming the field."""
    response = await client.get("/runs", params={"session_id": "not-a-uuid"}, headers=user_headers)

    assert response.status_code == 422
    assert response.json()["details"]["errors"][0]["loc"] == ["query", "session_id"]
