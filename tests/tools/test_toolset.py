import uuid
from typing import Any

import pytest
from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, ToolApproved, ToolDenied
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel
from pydantic_ai.usage import RunUsage

from app.errors import InvalidAgentDefinition, ToolError
from app.runtime import RunDeps, SubRunResult
from app.tools.toolset import build_toolsets, check_delegation
from tests.tools.conftest import ToolTestServices, declarations, make_deps

LOOKUP = {
    "type": "external",
    "name": "lookup_order",
    "description": "Look up an order.",
    "parameters": {
        "type": "object",
        "properties": {"order_id": {"type": "string", "pattern": "^[0-9]+$"}, "verbose": {"type": "boolean"}},
        "required": ["order_id"],
        "additionalProperties": False,
    },
}


def scripted(*responses: ModelResponse) -> tuple[FunctionModel, list[list[ModelMessage]]]:
    seen: list[list[ModelMessage]] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(list(messages))
        return responses[min(len(seen), len(responses)) - 1]

    return FunctionModel(respond), seen


def call(tool: str, args: dict[str, Any], call_id: str = "c1") -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(tool, args, tool_call_id=call_id)])


def last_part(messages: list[ModelMessage]) -> Any:
    request = messages[-1]
    assert isinstance(request, ModelRequest)
    return request.parts[-1]


async def test_invalid_builtin_arguments_go_back_to_the_model(services: ToolTestServices) -> None:
    model, seen = scripted(
        call("calculator", {"expression": 42, "extra": True}),
        call("calculator", {"expression": "6 * 7"}, "c2"),
        ModelResponse(parts=[TextPart("42")]),
    )
    agent = Agent(
        model, toolsets=build_toolsets(declarations({"type": "builtin", "name": "calculator"}), services.settings)
    )
    result = await agent.run("what is 6*7", deps=make_deps(services))
    assert result.output == "42"
    retry = last_part(seen[1])
    assert isinstance(retry, ToolReturnPart)
    assert retry.outcome == "retried"
    assert (
        retry.content
        == "Arguments for tool 'calculator' do not match its schema: expression: 42 is not of type 'string'"
    )
    answer = last_part(seen[2])
    assert (answer.tool_name, answer.content, answer.outcome) == ("calculator", 42, "success")


async def test_exhausted_validation_retries_fail_naming_the_tool(services: ToolTestServices) -> None:
    model, _ = scripted(call("calculator", {}))
    agent = Agent(
        model,
        toolsets=build_toolsets(declarations({"type": "builtin", "name": "calculator"}), services.settings),
        retries=2,
    )
    with pytest.raises(UnexpectedModelBehavior, match="Tool 'calculator' exceeded max retries count of 2"):
        await agent.run("go", deps=make_deps(services))


async def test_external_call_is_validated_then_deferred(services: ToolTestServices) -> None:
    model, seen = scripted(
        call("lookup_order", {"order_id": "A-1", "debug": 1}),
        call("lookup_order", {"order_id": "42"}, "c2"),
        ModelResponse(parts=[TextPart("Shipped.")]),
    )
    agent = Agent(
        model, toolsets=build_toolsets(declarations(LOOKUP), services.settings), output_type=[str, DeferredToolRequests]
    )
    first = await agent.run("where is 42?", deps=make_deps(services))
    assert last_part(seen[1]).content == (
        "Arguments for tool 'lookup_order' do not match its schema: "
        "(root): Additional properties are not allowed ('debug' was unexpected); "
        "order_id: 'A-1' does not match '^[0-9]+$'"
    )
    assert isinstance(first.output, DeferredToolRequests)
    assert [(c.tool_name, c.args, c.tool_call_id) for c in first.output.calls] == [
        ("lookup_order", {"order_id": "42"}, "c2")
    ]
    assert first.output.approvals == []

    second = await agent.run(
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(calls={"c2": {"status": "shipped"}}),
        deps=make_deps(services),
    )
    assert second.output == "Shipped."
    assert last_part(seen[-1]).content == {"status": "shipped"}


async def test_requires_approval_pauses_and_resumes(services: ToolTestServices) -> None:
    tools = declarations({"type": "builtin", "name": "calculator", "requires_approval": True})
    model, seen = scripted(
        ModelResponse(
            parts=[
                ToolCallPart("calculator", {"expression": "1+1"}, tool_call_id="a"),
                ToolCallPart("calculator", {"expression": "2+2"}, tool_call_id="b"),
                ToolCallPart("calculator", {"expression": "3+3"}, tool_call_id="c"),
            ]
        ),
        ModelResponse(parts=[TextPart("done")]),
    )
    agent = Agent(model, toolsets=build_toolsets(tools, services.settings), output_type=[str, DeferredToolRequests])
    paused = await agent.run("sum things", deps=make_deps(services))
    assert isinstance(paused.output, DeferredToolRequests)
    assert paused.output.calls == []
    assert [c.tool_call_id for c in paused.output.approvals] == ["a", "b", "c"]

    resumed = await agent.run(
        message_history=paused.all_messages(),
        deferred_tool_results=DeferredToolResults(
            approvals={
                "a": True,
                "b": ToolDenied("The manager said no."),
                "c": ToolApproved(override_args={"expression": "10*10"}),
            }
        ),
        deps=make_deps(services),
    )
    assert resumed.output == "done"
    request = seen[-1][-1]
    assert isinstance(request, ModelRequest)
    assert {p.tool_call_id: p.content for p in request.parts if isinstance(p, ToolReturnPart)} == {
        "a": 2,
        "b": "The manager said no.",
        "c": 100,
    }


async def test_approved_override_arguments_are_validated_too(services: ToolTestServices) -> None:
    tools = declarations({"type": "builtin", "name": "calculator", "requires_approval": True})
    model, seen = scripted(call("calculator", {"expression": "1+1"}, "a"), ModelResponse(parts=[TextPart("ok")]))
    agent = Agent(model, toolsets=build_toolsets(tools, services.settings), output_type=[str, DeferredToolRequests])
    paused = await agent.run("go", deps=make_deps(services))
    await agent.run(
        message_history=paused.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"a": ToolApproved(override_args={"expression": 3})}),
        deps=make_deps(services),
    )
    retry = last_part(seen[-1])
    assert retry.outcome == "retried"
    assert "expression: 3 is not of type 'string'" in retry.content


async def test_plugin_tool_receives_the_run_context(services: ToolTestServices) -> None:
    tools = declarations({"type": "builtin", "name": "whoami"})
    deps = make_deps(services, agent_name="greeter")
    agent = Agent(TestModel(call_tools=["whoami"]), toolsets=build_toolsets(tools, services.settings))
    result = await agent.run("hi", deps=deps)
    assert result.output == f'{{"whoami":"Hello, alice! This is greeter in run {deps.run_id}."}}'


def test_unknown_builtin_and_mcp_are_definition_errors(services: ToolTestServices) -> None:
    with pytest.raises(InvalidAgentDefinition, match="Unknown builtin tool 'nope'"):
        build_toolsets(declarations({"type": "builtin", "name": "nope"}), services.settings)
    with pytest.raises(InvalidAgentDefinition, match="MCP tools are not supported yet"):
        build_toolsets(declarations({"type": "mcp", "name": "m", "url": "https://mcp.example"}), services.settings)
    assert build_toolsets([], services.settings) == []


def test_adm_parameters_are_normalised_on_the_way_in() -> None:
    [tool] = declarations(
        {
            "type": "external",
            "name": "get_weather",
            "parameters": {
                "type": "OBJECT",
                "properties": {
                    "location": {"type": "STRING", "min_length": 1},
                    "unit": {"type": "STRING", "enum": ["c", "f"]},
                },
                "required": ["location"],
            },
        }
    )
    assert tool.model_dump()["parameters"] == {
        "type": "object",
        "properties": {"location": {"type": "string", "minLength": 1}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["location"],
    }


async def sub_agent(parent: RunDeps, agent_ref: str, user_input: str) -> SubRunResult:
    usage = RunUsage(requests=2, input_tokens=100, output_tokens=20)
    return SubRunResult(
        run_id=str(uuid.uuid4()), output={"verdict": f"{agent_ref} says ok to {user_input!r}"}, usage=usage
    )


async def test_agent_tool_delegates_and_adds_usage(services: ToolTestServices) -> None:
    services.subagent = sub_agent
    tools = declarations({"type": "agent", "name": "ask_fraud_desk", "agent": "fraud-desk"})
    model, seen = scripted(call("ask_fraud_desk", {"input": "card 42?"}), ModelResponse(parts=[TextPart("fine")]))
    agent = Agent(model, toolsets=build_toolsets(tools, services.settings))
    result = await agent.run("check", deps=make_deps(services))
    assert services.subruns == [("fraud-desk", "card 42?")]
    assert last_part(seen[1]).content == {"verdict": "fraud-desk says ok to 'card 42?'"}
    assert result.usage.requests == 2 + 2
    assert result.usage.input_tokens >= 100
    assert result.usage.output_tokens >= 20


async def test_agent_tool_depth_limit_and_self_delegation(services: ToolTestServices) -> None:
    services.subagent = sub_agent
    tools = declarations(
        {"type": "agent", "name": "deeper", "agent": "other"}, {"type": "agent", "name": "me", "agent": "support"}
    )
    toolsets = build_toolsets(tools, services.settings)
    too_deep = make_deps(services, lineage_len=services.settings.max_agent_tool_depth + 1)
    with pytest.raises(ToolError, match="nest at most 3 levels"):
        await Agent(scripted(call("deeper", {"input": "x"}))[0], toolsets=toolsets).run("go", deps=too_deep)
    with pytest.raises(ToolError, match="delegates to its own agent"):
        await Agent(scripted(call("me", {"input": "x"}))[0], toolsets=toolsets).run("go", deps=make_deps(services))
    assert services.subruns == []


def test_check_delegation_refuses_cycles(services: ToolTestServices) -> None:
    parent = make_deps(services, lineage_len=2)
    with pytest.raises(ToolError, match="cycle"):
        check_delegation(parent, parent.lineage[0], services.settings)
    check_delegation(parent, uuid.uuid4(), services.settings)
