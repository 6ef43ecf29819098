"""Who sees a run (API.md §1): its owner; an admin sees every owner's; anyone else gets a 404."""

import httpx

from tests.runs.conftest import Define
from tests.runs.scripts import Call, script
from tests.runs.sse import read_sse

EXTERNAL = [{"type": "external", "name": "lookup", "parameters": {"type": "object", "properties": {}}}]


async def test_admins_read_replay_resume_and_cancel_every_owners_runs(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    other_headers: dict[str, str],
    admin_headers: dict[str, str],
    define: Define,
) -> None:
    await define("asker", script(Call("lookup", {}), Call("lookup", {}), "found it").model, tools=EXTERNAL)
    paused = (await client.post("/agents/asker/run", json={"input": "hi"}, headers=user_headers)).json()
    run_id = paused["run_id"]
    call_id = paused["deferred"]["calls"][0]["tool_call_id"]

    assert (await client.get(f"/runs/{run_id}", headers=other_headers)).json()["error_type"] == "NotFound"
    assert (await client.post(f"/runs/{run_id}/cancel", headers=other_headers)).status_code == 404
    as_admin = await client.get(f"/runs/{run_id}", headers=admin_headers)
    assert (as_admin.status_code, as_admin.json()) == (
        200,
        (await client.get(f"/runs/{run_id}", headers=user_headers)).json(),
    )
    async with client.stream("GET", f"/runs/{run_id}/events", headers=admin_headers) as response:
        assert [e.event for e in await read_sse(response)][-1] == "run.requires_action"
    assert (await client.get("/runs", headers=admin_headers)).json()["items"] == []  # lists: the caller's own

    resumed = await client.post(
        f"/runs/{run_id}/resume", json={"tool_results": {call_id: {"ok": True}}}, headers=admin_headers
    )
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "requires_action"
    continuation = resumed.json()["run_id"]
    owned = (await client.get(f"/runs/{continuation}", headers=user_headers)).json()
    assert owned["parent_run_id"] == run_id  # the continuation belongs to the paused run's owner

    cancelled = await client.post(f"/runs/{continuation}/cancel", headers=admin_headers)
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")


async def test_run_ids_are_opaque(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    for path in ("/runs/not-a-uuid", "/runs/00000000-0000-0000-0000-000000000000"):
        response = await client.get(path, headers=user_headers)
        assert (response.status_code, response.json()["error_type"]) == (404, "NotFound"), path
