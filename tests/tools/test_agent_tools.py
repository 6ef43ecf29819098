from typing import Any

import httpx
from fastapi import FastAPI

from app.agents import service as agents_service
from app.auth import service as auth_service
from app.auth.service import Principal
from app.db import Database
from tests.factories import create_user

DEFINITION: dict[str, Any] = {
    "name": "bank-support",
    "model": "test",
    "instructions": "Help.",
    "tools": [
        {"type": "builtin", "name": "current_time"},
        {
            "type": "external",
            "name": "customer_balance",
            "description": "Returns the customer's balance.",
            "parameters": {"type": "OBJECT", "properties": {"include_pending": {"type": "BOOLEAN"}}},
        },
        {
            "type": "webhook",
            "name": "block_card",
            "url": "https://orchestrator.internal/tools/block_card",
            "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]},
            "requires_approval": True,
        },
        {"type": "agent", "name": "ask_fraud_desk", "agent": "fraud-desk", "description": "Ask the fraud desk."},
    ],
}


async def create_agent(app: FastAPI, username: str, definition: dict[str, Any]) -> dict[str, str]:
    """A user owning an agent with ``definition`` (through the agents service); their request headers."""
    user = await create_user(app, username)
    database: Database = app.state.database
    async with database.sessionmaker() as session, session.begin():
        principal = Principal(user_id=user.id, username=user.username, role="user")
        await agents_service.create_agent(session, app.state.settings, app.state.tool_registry, principal, definition)
        _, key = await auth_service.create_api_key(session, user.id, "test")
    return {"Authorization": f"Bearer {key}"}


async def test_agent_tools_in_both_formats(
    app: FastAPI, client: httpx.AsyncClient, other_headers: dict[str, str]
) -> None:
    headers = await create_agent(app, "carol", DEFINITION)
    response = await client.get("/agents/bank-support/tools", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "format": "jsonschema",
        "tools": [
            {
                "name": "current_time",
                "type": "builtin",
                "description": "Return the current date and time as an ISO 8601 string.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "timezone": {
                            "type": "string",
                            "description": "An IANA time zone name such as `Europe/Berlin` or `America/New_York`.",
                        }
                    },
                },
                "requires_approval": False,
            },
            {
                "name": "customer_balance",
                "type": "external",
                "description": "Returns the customer's balance.",
                "parameters": {"type": "object", "properties": {"include_pending": {"type": "boolean"}}},
                "requires_approval": False,
            },
            {
                "name": "block_card",
                "type": "webhook",
                "description": None,
                "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]},
                "requires_approval": True,
            },
            {
                "name": "ask_fraud_desk",
                "type": "agent",
                "description": "Ask the fraud desk.",
                "parameters": {
                    "type": "object",
                    "properties": {"input": {"type": "string", "description": "The message for the delegated agent."}},
                    "required": ["input"],
                },
                "requires_approval": False,
            },
        ],
    }
    adm = await client.get("/agents/bank-support/tools", params={"format": "adm"}, headers=headers)
    assert adm.status_code == 200, adm.text
    assert [tool["parameters"] for tool in adm.json()["tools"]][1:3] == [
        {"type": "OBJECT", "properties": {"include_pending": {"type": "BOOLEAN"}}},
        {"type": "OBJECT", "properties": {"reason": {"type": "STRING"}}, "required": ["reason"]},
    ]
    hidden = await client.get("/agents/bank-support/tools", headers=other_headers)
    assert (hidden.status_code, hidden.json()["error_type"]) == (404, "NotFound")


async def test_adm_export_of_inexpressible_schemas_is_a_422(app: FastAPI, client: httpx.AsyncClient) -> None:
    strict = {
        "type": "external",
        "name": "lookup",
        "parameters": {
            "type": "object",
            "properties": {"id": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "additionalProperties": False,
        },
    }
    headers = await create_agent(app, "dave", {"name": "strict", "model": "test", "tools": [strict]})
    response = await client.get("/agents/strict/tools", params={"format": "adm"}, headers=headers)
    assert response.status_code == 422
    body = response.json()
    assert (body["error_type"], body["details"]) == (
        "ValidationError",
        {
            "unsupported": {
                "lookup": [
                    "#: 'additionalProperties' is not supported by ADM",
                    "#/properties/id: 'anyOf' is not supported by ADM",
                ]
            },
            "errors": [
                {
                    "loc": ["query", "format"],
                    "msg": "tool 'lookup': #: 'additionalProperties' is not supported by ADM; "
                    "#/properties/id: 'anyOf' is not supported by ADM",
                }
            ],
        },
    )
    assert (await client.get("/agents/strict/tools", headers=headers)).status_code == 200
