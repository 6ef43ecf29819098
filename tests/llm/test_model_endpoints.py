"""Admin-managed OpenAI-compatible endpoints: admin only, key write-only and encrypted, cache invalidation."""

import logging

import httpx
import pytest
from dirty_equals import IsDatetime
from fastapi import FastAPI
from pydantic_ai.models.openai import OpenAIChatModel
from sqlalchemy import select

from app.agents.build import AgentFactory
from app.db import Database
from app.llm.models import ModelEndpoint
from app.llm.resolve import ModelNotConfigured
from tests.agents.helpers import current_version, run_deps
from tests.doubles.openai_upstream import Text, scripted_upstream

KEY = "sk-endpoint-secret-7f3a9c21e4"


async def _endpoint(client: httpx.AsyncClient, headers: dict[str, str], **body: str) -> httpx.Response:
    return await client.post(
        "/model-endpoints",
        json={"name": "local", "base_url": "http://127.0.0.1:9/v1", "api_key": KEY, **body},
        headers=headers,
    )


async def test_admin_only(
    client: httpx.AsyncClient, user_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    await _endpoint(client, admin_headers)

    attempts = [
        await _endpoint(client, user_headers, name="mine"),
        await client.get("/model-endpoints", headers=user_headers),
        await client.get("/model-endpoints/local", headers=user_headers),
        await client.put(
            "/model-endpoints/local", json={"name": "local", "base_url": "http://x/v1"}, headers=user_headers
        ),
        await client.delete("/model-endpoints/local", headers=user_headers),
    ]

    assert [(r.status_code, r.json()["error_type"]) for r in attempts] == [(403, "Forbidden")] * len(attempts)
    assert (await client.get("/model-endpoints")).status_code == 401


async def test_create_list_delete(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    created = await _endpoint(client, admin_headers)

    expected = {
        "name": "local",
        "base_url": "http://127.0.0.1:9/v1",
        "has_api_key": True,
        "prices": None,
        "created_at": IsDatetime(iso_string=True),
        "updated_at": IsDatetime(iso_string=True),
    }
    assert (created.status_code, created.json()) == (201, expected)
    assert (await client.get("/model-endpoints", headers=admin_headers)).json() == {
        "items": [expected],
        "next_cursor": None,
    }
    assert (await _endpoint(client, admin_headers)).json()["error_type"] == "Conflict"
    assert (await client.delete("/model-endpoints/local", headers=admin_headers)).status_code == 204
    assert (await client.get("/model-endpoints/local", headers=admin_headers)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "openai"}, "name"),
        ({"name": "test"}, "name"),
        ({"name": "mistral"}, "name"),
        ({"name": "Bad Name"}, "name"),
        ({"base_url": "ftp://127.0.0.1/v1"}, "base_url"),
        ({"base_url": "http://user:pw@127.0.0.1/v1"}, "base_url"),
    ],
)
async def test_invalid_endpoints(
    client: httpx.AsyncClient, admin_headers: dict[str, str], body: dict[str, str], field: str
) -> None:
    response = await _endpoint(client, admin_headers, **body)

    assert (response.status_code, response.json()["error_type"]) == (422, "ValidationError")
    assert [error["loc"][-1] for error in response.json()["details"]["errors"]] == [field]


async def test_key_never_leaves_the_server(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    user_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    async with scripted_upstream() as upstream:
        upstream.script(Text("hello from upstream"))
        for response in [
            await _endpoint(client, admin_headers, base_url=upstream.base_url),
            await client.get("/model-endpoints", headers=admin_headers),
            await client.get("/model-endpoints/local", headers=admin_headers),
            await client.post("/agents", json={"name": "via-local", "model": "local:llama3"}, headers=user_headers),
            await client.get("/agents/via-local", headers=user_headers),
            await _endpoint(client, admin_headers),  # 409 Conflict
            await _endpoint(client, admin_headers, base_url="nope"),  # 422
        ]:
            bodies.append(response.text)
        agent_id = (await client.get("/agents/via-local", headers=user_headers)).json()["id"]
        agent = await app.state.agent_factory.get(await current_version(app, agent_id))
        result = await agent.run("hi", deps=run_deps(app.state.settings, {}))

    assert result.output == "hello from upstream"
    assert [request.api_key for request in upstream.chat_requests] == [KEY]
    assert not [body for body in bodies if KEY in body]
    logged = [record.getMessage() for record in caplog.records] + [repr(record.__dict__) for record in caplog.records]
    assert not [line for line in logged if KEY in line]
    database: Database = app.state.database
    async with database.sessionmaker() as session:
        stored = await session.scalar(select(ModelEndpoint.api_key_encrypted))
    assert stored is not None
    assert KEY not in stored


async def test_changing_an_endpoint_rebuilds_its_agents(
    app: FastAPI, client: httpx.AsyncClient, admin_headers: dict[str, str], user_headers: dict[str, str]
) -> None:
    factory: AgentFactory = app.state.agent_factory
    await _endpoint(client, admin_headers)
    created = await client.post(
        "/agents",
        json={"name": "via-local", "model": "local:llama3", "fallback_models": ["test"]},
        headers=user_headers,
    )
    version = await current_version(app, created.json()["id"])
    before = await factory.get(version)
    assert await factory.get(version) is before

    moved = await client.put(
        "/model-endpoints/local", json={"name": "local", "base_url": "http://127.0.0.1:8/v2"}, headers=admin_headers
    )
    assert moved.json()["has_api_key"] is False
    after = await factory.get(version)

    assert after is not before
    primary = after.model.models[0]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    assert isinstance(primary, OpenAIChatModel)
    assert primary.base_url == "http://127.0.0.1:8/v2/"

    await client.delete("/model-endpoints/local", headers=admin_headers)
    with pytest.raises(ModelNotConfigured, match="Model endpoint 'local' does not exist"):
        await factory.get(version)
