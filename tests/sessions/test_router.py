"""Sessions over HTTP: create, read, list, fork, delete, owner isolation."""

from typing import Any

import httpx
from dirty_equals import IsDatetime, IsStr

TOOLS = [
    {"type": "external", "name": "lookup", "parameters": {"type": "object", "properties": {}}},
    {"type": "external", "name": "refund", "parameters": {"type": "object", "properties": {}}},
]


async def _agent(client: httpx.AsyncClient, headers: dict[str, str], name: str = "helper") -> dict[str, Any]:
    body = {"name": name, "model": "test", "instructions": "Be brief.", "tools": TOOLS}
    response = await client.post("/agents", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_get_list_and_messages(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    agent = await _agent(client, user_headers)
    created = await client.post(
        "/sessions", json={"agent": "helper", "tools": ["lookup"], "metadata": {"k": 1}}, headers=user_headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body == {
        "id": IsStr(),
        "agent": {"id": agent["id"], "name": "helper"},
        "tools": ["lookup"],
        "metadata": {"k": 1},
        "created_at": IsDatetime(iso_string=True),
        "updated_at": IsDatetime(iso_string=True),
        "message_count": 0,
        "active_run_id": None,
    }
    assert (await client.get(f"/sessions/{body['id']}", headers=user_headers)).json() == body
    listed = (await client.get("/sessions", headers=user_headers)).json()
    assert listed == {"items": [body], "next_cursor": None}
    messages = (await client.get(f"/sessions/{body['id']}/messages", headers=user_headers)).json()
    assert messages == {"session_id": body["id"], "message_count": 0, "messages": []}


async def test_unknown_tool_and_unknown_agent(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    await _agent(client, user_headers)
    bad_tool = await client.post("/sessions", json={"agent": "helper", "tools": ["nope"]}, headers=user_headers)
    assert bad_tool.status_code == 422
    assert bad_tool.json()["error_type"] == "ValidationError"
    assert bad_tool.json()["details"] == {"errors": [{"loc": ["body", "tools"], "msg": "unknown tool 'nope'"}]}
    missing = await client.post("/sessions", json={"agent": "ghost"}, headers=user_headers)
    assert missing.status_code == 404
    assert missing.json()["error_type"] == "NotFound"


async def test_another_owner_sees_404(
    client: httpx.AsyncClient, user_headers: dict[str, str], other_headers: dict[str, str]
) -> None:
    await _agent(client, user_headers)
    session_id = (await client.post("/sessions", json={"agent": "helper"}, headers=user_headers)).json()["id"]
    for method, path in [
        ("GET", f"/sessions/{session_id}"),
        ("GET", f"/sessions/{session_id}/messages"),
        ("DELETE", f"/sessions/{session_id}"),
        ("POST", f"/sessions/{session_id}/fork"),
    ]:
        response = await client.request(method, path, headers=other_headers, json={} if method == "POST" else None)
        assert response.status_code == 404, (method, path)
        assert response.json()["error_type"] == "NotFound"
    assert (await client.get("/sessions", headers=other_headers)).json() == {"items": [], "next_cursor": None}
    assert (await client.get(f"/sessions/{session_id}")).status_code == 401


async def test_fork_bounds_and_delete(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    await _agent(client, user_headers)
    session_id = (await client.post("/sessions", json={"agent": "helper"}, headers=user_headers)).json()["id"]
    too_far = await client.post(f"/sessions/{session_id}/fork", json={"at": 3}, headers=user_headers)
    assert too_far.status_code == 422
    fork = await client.post(f"/sessions/{session_id}/fork", json={"at": 0, "metadata": {"f": 1}}, headers=user_headers)
    assert fork.status_code == 201
    assert fork.json()["metadata"] == {"f": 1}
    assert fork.json()["id"] != session_id
    deleted = await client.delete(f"/sessions/{session_id}", headers=user_headers)
    assert deleted.status_code == 204
    assert (await client.get(f"/sessions/{session_id}", headers=user_headers)).status_code == 404
    assert (await client.get(f"/sessions/{fork.json()['id']}", headers=user_headers)).status_code == 200


async def test_admins_see_every_owners_sessions(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    other_headers: dict[str, str],
    admin_headers: dict[str, str],
) -> None:
    """API.md §1: admins see all. A non-admin still gets 404 for another owner's session."""
    await _agent(client, user_headers)
    created = (await client.post("/sessions", json={"agent": "helper"}, headers=user_headers)).json()
    url = f"/sessions/{created['id']}"

    read = await client.get(url, headers=admin_headers)
    messages = await client.get(f"{url}/messages", headers=admin_headers)
    listed = await client.get("/sessions", headers=admin_headers)
    fork = await client.post(f"{url}/fork", json={}, headers=admin_headers)
    users_list = await client.get("/sessions", headers=user_headers)
    by_other = await client.get(url, headers=other_headers)
    deleted = await client.delete(url, headers=admin_headers)

    assert (read.status_code, read.json()) == (200, created)
    assert messages.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [created["id"]]
    assert fork.status_code == 201
    assert [item["id"] for item in users_list.json()["items"]] == [created["id"]]  # the fork is the admin's own
    assert by_other.status_code == 404
    assert deleted.status_code == 204
    assert (await client.get(url, headers=user_headers)).status_code == 404
