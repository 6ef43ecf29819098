"""External tools and approvals: requires_action, then resume over HTTP."""

import httpx
from dirty_equals import IsStr
from pydantic_ai.messages import ModelRequest, ToolReturnPart

from tests.runs.conftest import Define
from tests.runs.scripts import Call, script
from tests.runs.sse import read_sse

BALANCE = {
    "type": "external",
    "name": "customer_balance",
    "description": "Returns the balance.",
    "parameters": {"type": "object", "properties": {"include_pending": {"type": "boolean"}}},
}
BLOCK = {
    "type": "builtin",
    "name": "calculator",
    "requires_approval": True,
}


def _tool_return(messages: list[object]) -> ToolReturnPart:
    request = messages[-1]
    assert isinstance(request, ModelRequest)
    part = request.parts[0]
    assert isinstance(part, ToolReturnPart)
    return part


async def test_external_tool_round_trip(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    model = script(
        Call("customer_balance", {"include_pending": True}, id="bal-1"),
        lambda messages, _info: f"Balance: {_tool_return(messages).content}",
    )
    await define("bank", model.model, tools=[BALANCE])
    first = await client.post("/agents/bank/run", json={"input": "balance?"}, headers=user_headers)
    assert first.status_code == 200, first.text
    paused = first.json()
    assert (paused["status"], paused["output"]) == ("requires_action", None)
    assert paused["deferred"] == {
        "calls": [{"tool_call_id": "bal-1", "tool_name": "customer_balance", "args": {"include_pending": True}}],
        "approvals": [],
    }
    run_id = paused["run_id"]
    resumed = await client.post(
        f"/runs/{run_id}/resume", json={"tool_results": {"bal-1": {"eur": 12}}}, headers=user_headers
    )
    assert resumed.status_code == 200, resumed.text
    done = resumed.json()
    assert (done["status"], done["output"]) == ("completed", "Balance: {'eur': 12}")
    child = (await client.get(f"/runs/{done['run_id']}", headers=user_headers)).json()
    parent = (await client.get(f"/runs/{run_id}", headers=user_headers)).json()
    assert (child["parent_run_id"], parent["resumed_by"]) == (run_id, done["run_id"])
    again = await client.post(f"/runs/{run_id}/resume", json={"tool_results": {"bal-1": 1}}, headers=user_headers)
    assert (again.status_code, again.json()["error_type"]) == (409, "Conflict")
    not_paused = await client.post(f"/runs/{done['run_id']}/resume", json={}, headers=user_headers)
    assert (not_paused.status_code, not_paused.json()["error_type"]) == (409, "Conflict")


async def test_tool_error_reaches_the_model_and_resume_streams(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    model = script(Call("customer_balance", {}, id="bal-1"), lambda messages, _info: "Sorry, no balance.")
    await define("bank", model.model, tools=[BALANCE])
    paused = (await client.post("/agents/bank/run", json={"input": "?"}, headers=user_headers)).json()
    async with client.stream(
        "POST",
        f"/runs/{paused['run_id']}/resume?stream=true",
        json={"tool_errors": {"bal-1": "Customer not found"}},
        headers=user_headers,
    ) as response:
        assert response.status_code == 200
        events = await read_sse(response)
    assert events[0].event == "run.started"
    assert events[-1].event == "run.completed"
    assert [e.id for e in events] == [str(i) for i in range(1, len(events) + 1)]
    assert "Customer not found" in str(model.requests[1][0][-1])


async def test_resume_validates_the_call_ids(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    await define("bank", script(Call("customer_balance", {}, id="bal-1"), "ok").model, tools=[BALANCE])
    paused = (await client.post("/agents/bank/run", json={"input": "?"}, headers=user_headers)).json()
    response = await client.post(
        f"/runs/{paused['run_id']}/resume", json={"tool_results": {"nope": 1}}, headers=user_headers
    )
    assert response.status_code == 422
    assert response.json()["details"]["errors"] == [
        {"loc": ["body", "tool_results", "nope"], "msg": "no pending external call has this id"},
        {"loc": ["body", "tool_results", "bal-1"], "msg": "pending call not answered"},
    ]


async def _approval_run(
    client: httpx.AsyncClient, headers: dict[str, str], define: Define, decision: object
) -> tuple[dict[str, object], list[object]]:
    model = script(
        Call("calculator", {"expression": "2+2"}, id="calc-1"),
        lambda messages, _info: f"Tool said: {_tool_return(messages).content}",
    )
    await define("approver", model.model, tools=[BLOCK])
    paused = (await client.post("/agents/approver/run", json={"input": "2+2"}, headers=headers)).json()
    assert paused["status"] == "requires_action"
    assert paused["deferred"] == {
        "calls": [],
        "approvals": [{"tool_call_id": "calc-1", "tool_name": "calculator", "args": {"expression": "2+2"}}],
    }
    response = await client.post(
        f"/runs/{paused['run_id']}/resume", json={"approvals": {"calc-1": decision}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json(), model.requests  # type: ignore[return-value]


async def test_approve(client: httpx.AsyncClient, user_headers: dict[str, str], define: Define) -> None:
    done, _ = await _approval_run(client, user_headers, define, True)
    assert done["output"] == "Tool said: 4"


async def test_deny_with_message(client: httpx.AsyncClient, user_headers: dict[str, str], define: Define) -> None:
    done, _ = await _approval_run(client, user_headers, define, {"message": "Manager said no"})
    assert done["output"] == "Tool said: Manager said no"


async def test_approve_with_override_args(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    done, _ = await _approval_run(client, user_headers, define, {"override_args": {"expression": "3*3"}})
    assert done["output"] == "Tool said: 9"


async def test_another_owner_cannot_see_or_resume(
    client: httpx.AsyncClient, user_headers: dict[str, str], other_headers: dict[str, str], define: Define
) -> None:
    await define("bank", script(Call("customer_balance", {}, id="bal-1"), "ok").model, tools=[BALANCE])
    paused = (await client.post("/agents/bank/run", json={"input": "?"}, headers=user_headers)).json()
    run_id = paused["run_id"]
    assert (await client.get(f"/runs/{run_id}", headers=other_headers)).json() == {
        "status": "error",
        "error_type": "NotFound",
        "message": IsStr(),
        "details": {"run_id": run_id},
        "retryable": False,
        "retry_after": None,
        "run_id": None,
        "request_id": IsStr(),
    }
    resume = await client.post(f"/runs/{run_id}/resume", json={"tool_results": {"bal-1": 1}}, headers=other_headers)
    assert resume.status_code == 404
    listed = (await client.get("/runs", headers=other_headers)).json()
    assert listed == {"items": [], "next_cursor": None}


async def test_agent_tool_runs_a_stored_child_run(
    client: httpx.AsyncClient, user_headers: dict[str, str], define: Define
) -> None:
    child = script("The fraud desk says: block it.")
    await define("fraud-desk", child.model)
    parent = script(
        Call("ask_fraud_desk", {"input": "Block card 42?"}, id="ask-1"),
        lambda messages, _info: f"Desk answered: {_tool_return(messages).content}",
    )
    tool = {"type": "agent", "name": "ask_fraud_desk", "agent": "fraud-desk", "description": "Ask the desk."}
    await define("support", parent.model, tools=[tool])
    response = await client.post("/agents/support/run", json={"input": "stolen card"}, headers=user_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["output"] == "Desk answered: The fraud desk says: block it."
    assert body["usage"]["requests"] == 3
    runs = (await client.get("/runs", params={"agent": "fraud-desk"}, headers=user_headers)).json()["items"]
    assert [(r["parent_run_id"], r["input"], r["output"]) for r in runs] == [
        (body["run_id"], "Block card 42?", "The fraud desk says: block it.")
    ]
