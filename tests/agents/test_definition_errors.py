"""Every invalid definition is a 422 `InvalidAgentDefinition` naming the right JSON path, and nothing is stored."""

from typing import Any

import httpx
import pytest
from dirty_equals import IsStr

BASE: dict[str, Any] = {"name": "probe", "model": "test"}
OBJECT = {"type": "object", "properties": {"x": {"type": "string"}}}


def _nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


RECURSIVE = {
    "type": "object",
    "$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}},
    "properties": {"root": {"$ref": "#/$defs/node"}},
}

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown top-level key", {"colour": "blue"}, "$.colour", "unknown key 'colour'"),
    (
        "unknown key in a tool",
        {"tools": [{"type": "external", "name": "t", "colour": 1}]},
        "$.tools[0].colour",
        "unknown key 'colour'",
    ),
    ("unknown key in retries", {"retries": {"tool": 2}}, "$.retries.tool", "unknown key 'tool'"),
    (
        "invalid output_schema",
        {"output_schema": {"type": "object", "properties": {"a": {"type": "strang"}}}},
        "$.output_schema.properties.a.type",
        "invalid JSON Schema: 'strang' is not valid",
    ),
    (
        "recursive $ref",
        {"output_schema": RECURSIVE},
        "$.output_schema",
        "recursive $ref '#/$defs/node' is not supported",
    ),
    (
        "remote $ref",
        {"output_schema": {"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}},
        '$.output_schema.properties.a["$ref"]',
        "only local references",
    ),
    (
        "schema over the size limit",
        {"output_schema": {"type": "object", "description": "x" * 70_000}},
        "$.output_schema",
        "bytes; the limit is 65536",
    ),
    ("schema over the depth limit", {"output_schema": _nested(20)}, "$.output_schema", "levels deep; the limit is 32"),
    (
        "output_schema not an object",
        {"output_schema": {"type": "string"}},
        "$.output_schema.type",
        "must describe an object",
    ),
    (
        "template variable not in deps_schema",
        {
            "instructions": "Hello {{customer}}",
            "deps_schema": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
        "$.instructions",
        "template variable 'customer' is not declared in deps_schema",
    ),
    (
        "unsupported template",
        {"instructions": ["Fine.", "{{#if vip}}VIP{{/if}}"]},
        "$.instructions[1]",
        "unsupported placeholder '{{#if vip}}'",
    ),
    (
        "forbidden capability",
        {"capabilities": ["WebFetch"]},
        "$.capabilities[0]",
        "capability 'WebFetch' is not allowed",
    ),
    (
        "bad capability argument",
        {"capabilities": [{"Thinking": {"effort": "extreme"}}]},
        "$.capabilities[0].Thinking.effort",
        "Input should be",
    ),
    ("unknown provider", {"model": "acme:gpt-9"}, "$.model", "unknown provider or model endpoint 'acme'"),
    ("model without a name", {"model": "openai-chat:"}, "$.model", "must look like 'provider:model'"),
    (
        "unknown endpoint in fallback_models",
        {"fallback_models": ["local:llama3"]},
        "$.fallback_models[0]",
        "unknown provider or model endpoint 'local'",
    ),
    (
        "duplicate tool names",
        {"tools": [{"type": "external", "name": "t"}, {"type": "external", "name": "t"}]},
        "$.tools[1].name",
        "duplicate tool name 't'",
    ),
    (
        "bad tool name",
        {"tools": [{"type": "external", "name": "1-bad"}]},
        "$.tools[0].name",
        "must be a valid identifier",
    ),
    ("bad tool type", {"tools": [{"type": "shell", "name": "t"}]}, "$.tools[0].type", "unknown tool type 'shell'"),
    ("tool without a type", {"tools": [{"name": "t"}]}, "$.tools[0].type", "is required"),
    (
        "tool parameters not an object schema",
        {"tools": [{"type": "external", "name": "t", "parameters": {"type": "string"}}]},
        "$.tools[0].parameters",
        '"type": "object"',
    ),
    (
        "webhook url not http(s)",
        {"tools": [{"type": "webhook", "name": "t", "url": "ftp://files.example/hook"}]},
        "$.tools[0].url",
        "must be an http(s) URL",
    ),
    (
        "webhook url not allowlisted",
        {"tools": [{"type": "webhook", "name": "t", "url": "https://evil.example/hook"}]},
        "$.tools[0].url",
        "Webhook URL refused",
    ),
    (
        "unknown builtin tool",
        {"tools": [{"type": "builtin", "name": "rm_rf"}]},
        "$.tools[0].name",
        "no builtin tool 'rm_rf'",
    ),
    (
        "bad model_settings key",
        {"model_settings": {"temprature": 0.2}},
        "$.model_settings.temprature",
        "unknown key 'temprature'",
    ),
    (
        "extra_headers",
        {"model_settings": {"extra_headers": {"Authorization": "x"}}},
        "$.model_settings.extra_headers",
        "extra_headers is not allowed",
    ),
    (
        "extra_body",
        {"model_settings": {"extra_body": {"a": 1}}},
        "$.model_settings.extra_body",
        "extra_body is not allowed",
    ),
    ("name not a slug", {"name": "Bank Support"}, "$.name", "must be a slug"),
    ("name looks like an id", {"name": "6f1c3c1e-2f7e-4c55-9d0c-3f3f3f3f3f3f"}, "$.name", "must not look like a UUID"),
    ("instructions of the wrong type", {"instructions": 42}, "$.instructions", "must be a string or a list of strings"),
    ("bad output_mode", {"output_mode": "json"}, "$.output_mode", "Input should be 'tool', 'native' or 'prompted'"),
    ("bad end_strategy", {"end_strategy": "never"}, "$.end_strategy", "Input should be"),
    (
        "negative usage limit",
        {"usage_limits": {"request_limit": 0}},
        "$.usage_limits.request_limit",
        "greater than or equal to 1",
    ),
    (
        "system_prompt and instructions",
        {"system_prompt": "a", "instructions": "b"},
        "$.system_prompt",
        "either system_prompt or instructions",
    ),
    ("bad scope", {"scope": "public"}, "$.scope", "Input should be 'private' or 'shared'"),
]


@pytest.mark.parametrize(("case", "change", "path", "message"), CASES, ids=[case[0] for case in CASES])
async def test_invalid_definition(
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    case: str,
    change: dict[str, Any],
    path: str,
    message: str,
) -> None:
    response = await client.post("/agents", json={**BASE, **change}, headers=user_headers)

    assert response.status_code == 422, case
    assert response.json() == {
        "status": "error",
        "error_type": "InvalidAgentDefinition",
        "message": IsStr(regex=r"Agent definition is invalid \(1 problem\)\."),
        "details": {"errors": [{"path": path, "message": IsStr(regex=f".*{_escape(message)}.*")}]},
        "retryable": False,
        "retry_after": None,
        "run_id": None,
        "request_id": IsStr(),
    }
    listed = await client.get("/agents", headers=user_headers)
    assert listed.json() == {"items": [], "next_cursor": None}


def _escape(text: str) -> str:
    import re

    return re.escape(text)


async def test_missing_name_and_model(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    response = await client.post("/agents", json={"description": "nameless"}, headers=user_headers)

    assert response.status_code == 422
    assert response.json()["details"] == {
        "errors": [{"path": "$.name", "message": "is required"}, {"path": "$.model", "message": "is required"}]
    }


async def test_every_problem_is_reported_at_once(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    definition = {
        "name": "many-problems",
        "model": "acme:gpt",
        "colour": "blue",
        "instructions": "Hi {{who}}",
        "deps_schema": {"type": "object", "properties": {}},
        "output_schema": RECURSIVE,
        "tools": [{"type": "external", "name": "t"}, {"type": "nope", "name": "u"}, {"type": "external", "name": "t"}],
        "capabilities": ["MCP"],
        "model_settings": {"extra_headers": {"x": "y"}},
    }

    response = await client.post("/agents/validate", json=definition, headers=user_headers)

    assert response.status_code == 422
    paths = sorted(problem["path"] for problem in response.json()["details"]["errors"])
    assert paths == [
        "$.capabilities[0]",
        "$.colour",
        "$.instructions",
        "$.model",
        "$.model_settings.extra_headers",
        "$.output_schema",
        "$.tools[1].type",
        "$.tools[2].name",
    ]
    assert response.json()["message"] == "Agent definition is invalid (8 problems)."


async def test_a_definition_must_be_an_object(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    response = await client.post("/agents/validate", json=["not", "an", "object"], headers=user_headers)

    assert response.status_code == 422
    assert response.json()["error_type"] == "ValidationError"


async def test_each_tool_problem_names_the_wrong_field(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    """Field paths come from the declaration itself: never a union tag such as ``$.tools[0].agent``."""
    tools: list[Any] = [
        {"type": "agent", "name": "not an identifier", "agent": "helper"},
        {"type": "agent", "name": "ask", "agent": "helper", "requires_approval": "maybe"},
        {"type": "agent", "name": "ask2"},
        {"type": "webhook", "name": "hook", "url": "https://x.example/h", "timeout_seconds": -1},
        {"type": "external", "name": "ext", "parameters": {"type": "string"}},
        {"type": "builtin", "name": "calculator", "description": "x" * 5000},
        {"type": "external", "name": "webhook", "agent": "confusing"},
        "not an object",
        {"type": "mcp", "name": "gh", "url": "https://mcp.example/mcp"},
    ]
    response = await client.post("/agents/validate", json={**BASE, "tools": tools}, headers=user_headers)

    assert response.status_code == 422
    assert response.json()["error_type"] == "InvalidAgentDefinition"
    assert response.json()["details"] == {
        "errors": [
            {"path": "$.tools[0].name", "message": IsStr(regex="must be a valid identifier.*")},
            {"path": "$.tools[1].requires_approval", "message": IsStr()},
            {"path": "$.tools[2].agent", "message": "is required"},
            {"path": "$.tools[3].timeout_seconds", "message": IsStr(regex=".*greater than 0")},
            {"path": "$.tools[4].parameters", "message": IsStr(regex='.*"type": "object"')},
            {"path": "$.tools[5].description", "message": IsStr(regex=".*at most 4096 characters")},
            {"path": "$.tools[6].agent", "message": "unknown key 'agent'"},
            {"path": "$.tools[7]", "message": "must be an object (a tool declaration)"},
            {"path": "$.tools[8].type", "message": "MCP tools are not supported yet"},
        ]
    }


async def test_mcp_tools_are_refused_when_written(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    """Until MCP tools can run, a definition declaring one is refused on create and replace, not at run time."""
    mcp = {"type": "mcp", "name": "gh", "url": "https://mcp.example/mcp"}
    created = await client.post("/agents", json={**BASE, "tools": [mcp]}, headers=user_headers)
    stored = await client.post("/agents", json=BASE, headers=user_headers)
    replaced = await client.put("/agents/probe", json={**BASE, "tools": [mcp]}, headers=user_headers)

    assert stored.status_code == 201
    for refused in (created, replaced):
        assert refused.status_code == 422
        assert refused.json()["details"] == {
            "errors": [{"path": "$.tools[0].type", "message": "MCP tools are not supported yet"}]
        }
    assert (await client.get("/agents/probe", headers=user_headers)).json()["version"] == 1
