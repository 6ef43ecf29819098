"""The original Axon payload is normalised; pydantic-ai `AgentSpec` files load unchanged."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic_ai import AgentSpec


@pytest.mark.parametrize(
    "result_type",
    [
        {"answer": "string", "confidence": "number"},
        {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        {
            "type": "object",
            "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
            "required": ["answer", "confidence"],
        },
    ],
    ids=["shorthand", "field-schemas", "json-schema"],
)
async def test_seed_payload_is_normalised(
    client: httpx.AsyncClient, user_headers: dict[str, str], result_type: dict[str, Any]
) -> None:
    seed = {
        "name": "seed-agent",
        "model": "test",
        "system_prompt": "You are a helpful assistant.",
        "result_type": result_type,
        "result_retries": 4,
        "retries": 2,
    }

    response = await client.post("/agents", json=seed, headers=user_headers)

    assert response.status_code == 201, response.text
    assert response.json()["definition"] == {
        "name": "seed-agent",
        "model": "test",
        "instructions": "You are a helpful assistant.",
        "output_schema": {
            "type": "object",
            "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
            "required": ["answer", "confidence"],
        },
        "retries": {"tools": 2, "output": 4},
    }


SPEC = AgentSpec(
    name="support-bot",
    model="test",
    description="Helps customers",
    instructions=["You help {{user_name}}.", "Be brief."],
    deps_schema={"type": "object", "properties": {"user_name": {"type": "string"}}, "required": ["user_name"]},
    output_schema={"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
    model_settings={"temperature": 0.1, "max_tokens": 500},
    retries={"tools": 2, "output": 3},
    end_strategy="exhaustive",
    tool_timeout=30,
    metadata={"tenant": "acme"},
    capabilities=[{"Thinking": {"effort": "low"}}, "ReinjectSystemPrompt", {"Caching": {}}],  # type: ignore[list-item]
)

NORMALISED = {
    "name": "support-bot",
    "model": "test",
    "description": "Helps customers",
    "instructions": ["You help {{user_name}}.", "Be brief."],
    "deps_schema": {"type": "object", "properties": {"user_name": {"type": "string"}}, "required": ["user_name"]},
    "output_schema": {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
    "model_settings": {"temperature": 0.1, "max_tokens": 500},
    "retries": {"tools": 2, "output": 3},
    "end_strategy": "exhaustive",
    "tool_timeout": 30.0,
    "metadata": {"tenant": "acme"},
    "capabilities": [{"Thinking": {"effort": "low"}}, "ReinjectSystemPrompt", "Caching"],
}


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
async def test_agent_spec_file_round_trip(
    client: httpx.AsyncClient, user_headers: dict[str, str], tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"support{suffix}"
    SPEC.to_file(path)
    text = path.read_text()
    loaded = json.loads(text) if suffix == ".json" else yaml.safe_load(text)

    response = await client.post("/agents", json=loaded, headers=user_headers)

    assert response.status_code == 201, response.text
    assert response.json()["definition"] == NORMALISED
    # What we store is itself a valid AgentSpec.
    assert AgentSpec.from_dict(response.json()["definition"]).name == "support-bot"
