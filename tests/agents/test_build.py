"""Stored versions become pydantic-ai agents: instructions, output validation, the per-version LRU."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic_ai import UnexpectedModelBehavior
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel

from app.agents.build import AgentFactory
from app.config import Settings
from app.errors import InvalidRequest
from app.llm.resolve import create_http_client
from tests.agents.helpers import current_version, run_deps

SCHEMA = {
    "type": "object",
    "properties": {"risk": {"type": "integer", "minimum": 0, "maximum": 10}, "advice": {"type": "string"}},
    "required": ["risk", "advice"],
    "additionalProperties": False,
}


async def _agent(client: httpx.AsyncClient, headers: dict[str, str], **definition: Any) -> str:
    response = await client.post("/agents", json={"name": "probe", "model": "test", **definition}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_instructions_render_in_order(
    app: FastAPI, client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    agent_id = await _agent(
        client,
        user_headers,
        instructions=["Customer: {{customer.name}}.", "Static rule.", "Tier {{ tier }}, notes: {{notes}}."],
        deps_schema={
            "type": "object",
            "properties": {
                "customer": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
                "tier": {"type": "integer"},
                "notes": {"type": "string"},
            },
            "required": ["customer"],
        },
    )
    agent = await app.state.agent_factory.get(await current_version(app, agent_id))
    seen: list[str | None] = []

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        request = messages[-1]
        assert isinstance(request, ModelRequest)
        seen.append(request.instructions)
        return ModelResponse(parts=[TextPart("ok")])

    settings: Settings = app.state.settings
    result = await agent.run(
        "hi", deps=run_deps(settings, {"customer": {"name": "Ada"}, "tier": 2}), model=FunctionModel(reply)
    )

    assert result.output == "ok"
    assert seen == ["Customer: Ada.\n\nStatic rule.\n\nTier 2, notes: ."]
    with pytest.raises(InvalidRequest, match=r"missing the required variable 'customer\.name'"):
        await agent.run("hi", deps=run_deps(settings, {"tier": 2}), model=FunctionModel(reply))


@pytest.mark.parametrize("mode", ["tool", "native", "prompted"])
async def test_structured_output_is_validated_and_retried(
    app: FastAPI, client: httpx.AsyncClient, user_headers: dict[str, str], mode: str
) -> None:
    agent_id = await _agent(client, user_headers, output_schema=SCHEMA, output_mode=mode, retries={"output": 1})
    agent = await app.state.agent_factory.get(await current_version(app, agent_id))
    answers = iter([{"risk": 11, "advice": "panic", "extra": 1}, {"risk": 3, "advice": "call us"}])

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        answer = next(answers)
        if info.output_tools:
            return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, answer)])
        import json

        return ModelResponse(parts=[TextPart(json.dumps(answer))])

    deps = run_deps(app.state.settings, {})
    result = await agent.run("judge", deps=deps, model=FunctionModel(reply))

    assert result.output == {"risk": 3, "advice": "call us"}
    assert deps.last_output_error is None


async def test_output_errors_are_recorded_when_retries_run_out(
    app: FastAPI, client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    agent_id = await _agent(client, user_headers, output_schema=SCHEMA, retries={"output": 1})
    agent = await app.state.agent_factory.get(await current_version(app, agent_id))
    retry_prompts: list[str] = []

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        retry_prompts.extend(
            str(part.content)
            for m in messages
            if isinstance(m, ModelRequest)
            for part in m.parts
            if "output schema" in str(getattr(part, "content", ""))
        )
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, {"risk": "high"})])

    deps = run_deps(app.state.settings, {})
    with pytest.raises(UnexpectedModelBehavior):
        await agent.run("judge", deps=deps, model=FunctionModel(reply))

    assert deps.last_output_error == {
        "errors": [
            {"path": "$", "message": "'advice' is a required property"},
            {"path": "$.risk", "message": "'high' is not of type 'integer'"},
        ],
        "raw_output": {"risk": "high"},
    }
    assert retry_prompts
    assert "$.risk: 'high' is not of type 'integer'" in retry_prompts[0]


async def test_test_model_runs_structured_and_text(
    app: FastAPI, client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    agent_id = await _agent(client, user_headers, output_schema=SCHEMA, capabilities=["ReinjectSystemPrompt"])
    agent = await app.state.agent_factory.get(await current_version(app, agent_id))

    result = await agent.run("go", deps=run_deps(app.state.settings, {}))

    assert result.output == {"risk": 0, "advice": "a"}
    assert isinstance(agent.model, TestModel)


async def test_cache_follows_versions(app: FastAPI, client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    factory: AgentFactory = app.state.agent_factory
    agent_id = await _agent(client, user_headers, instructions="v1")
    first = await factory.get(await current_version(app, agent_id))
    assert await factory.get(await current_version(app, agent_id)) is first

    put = await client.put(
        f"/agents/{agent_id}", json={"name": "probe", "model": "test", "instructions": "v2"}, headers=user_headers
    )
    assert put.json()["version"] == 2
    second = await factory.get(await current_version(app, agent_id))
    assert second is not first

    await client.post(f"/agents/{agent_id}/versions/1/activate", headers=user_headers)
    assert await factory.get(await current_version(app, agent_id)) is first

    same = await client.put(
        f"/agents/{agent_id}", json={"name": "probe", "model": "test", "instructions": "v3"}, headers=user_headers
    )
    assert same.json()["version"] == 3
    assert await factory.get(await current_version(app, agent_id)) not in (first, second)


async def test_cache_is_bounded(app: FastAPI, client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    settings = app.state.settings.model_copy(update={"agent_cache_size": 2})
    http_client = create_http_client(settings)
    factory = AgentFactory(settings, app.state.database, http_client)
    versions = [await current_version(app, await _agent(client, user_headers, name=f"a{i}")) for i in range(3)]
    try:
        built = [await factory.get(version) for version in versions]
        assert len(factory) == 2
        assert await factory.get(versions[2]) is built[2]
        assert await factory.get(versions[0]) is not built[0]  # evicted, rebuilt
    finally:
        await http_client.aclose()
