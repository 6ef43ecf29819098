import hashlib
import hmac
import json
import re
import time
from typing import Any

import httpx
import pytest
from dirty_equals import IsStr
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from app.config import Settings
from app.errors import ToolError
from app.tools.outbound import pin
from app.tools.toolset import build_toolsets
from app.tools.webhook import WebhookCall, WebhookFailed, call_webhook, check_webhook_url
from tests.tools.conftest import ToolTestServices, declarations, make_deps
from tests.tools.receiver import Receiver, Reply

CALL = WebhookCall(
    tool_call_id="call-1", tool_name="block_card", args={"reason": "stolen"}, run_id="run-1", agent="bank"
)


def resolver_for(mapping: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        return mapping[host]

    return resolve


async def test_signed_request_verifies_on_the_receiving_side(receiver: Receiver, tool_settings: Settings) -> None:
    receiver.script("/hook", Reply(body=b'{"blocked": true}'))
    async with httpx.AsyncClient(trust_env=False) as client:
        result = await call_webhook(client, tool_settings, receiver.url("/hook"), CALL)
    assert result == {"blocked": True}
    [request] = receiver.received
    assert json.loads(request.body) == {
        "tool_call_id": "call-1",
        "tool_name": "block_card",
        "args": {"reason": "stolen"},
        "run_id": "run-1",
        "agent": "bank",
    }
    timestamp = request.headers["x-axon-timestamp"]
    assert abs(int(timestamp) - time.time()) < 5
    # The receiver's side of the scheme, written out independently of the service's code.
    secret = b"tool-tests-secret-key-0123456789abcdef"
    key = hmac.new(secret, b"axon/webhook-signature/v1", hashlib.sha256).digest()
    expected = hmac.new(key, timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-axon-signature"], f"sha256={expected}")
    assert request.headers["content-type"] == "application/json"


async def test_retries_5xx_with_backoff_then_succeeds(receiver: Receiver, tool_settings: Settings) -> None:
    receiver.script("/hook", Reply(status=500), Reply(status=503), Reply(body=b'"third time"'))
    async with httpx.AsyncClient(trust_env=False) as client:
        result = await call_webhook(client, tool_settings, receiver.url("/hook"), CALL, backoff_base=0.01)
    assert result == "third time"
    assert [r.headers["x-axon-attempt"] for r in receiver.received] == ["1", "2", "3"]


async def test_gives_up_after_max_attempts(receiver: Receiver, tool_settings: Settings) -> None:
    receiver.script("/hook", Reply(status=502, body=b"bad gateway", content_type="text/plain"))
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(WebhookFailed, match=r"^Webhook answered HTTP 502: bad gateway \(after 3 attempts\)$"):
            await call_webhook(client, tool_settings, receiver.url("/hook"), CALL, backoff_base=0.01)
    assert len(receiver.received) == 3


async def test_timeouts_are_retried(receiver: Receiver, tool_settings: Settings) -> None:
    receiver.script("/slow", Reply(delay=1.0))
    settings = tool_settings.model_copy(update={"webhook_max_attempts": 2})
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(WebhookFailed, match=r"timed out after 0.2s \(after 2 attempts\)"):
            await call_webhook(client, settings, receiver.url("/slow"), CALL, timeout_seconds=0.2, backoff_base=0.01)
    assert len(receiver.received) == 2


async def test_4xx_is_not_retried(receiver: Receiver, tool_settings: Settings) -> None:
    receiver.script("/hook", Reply(status=400, body=b'{"error": "unknown card"}'))
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(WebhookFailed, match=re.escape('answered HTTP 400: {"error": "unknown card"}')):
            await call_webhook(client, tool_settings, receiver.url("/hook"), CALL)
    assert len(receiver.received) == 1


async def test_url_off_the_allowlist_is_refused_without_a_request(receiver: Receiver, tool_settings: Settings) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(WebhookFailed, match="is not on the allowlist"):
            await call_webhook(client, tool_settings, f"http://127.0.0.1:{receiver.port + 1}/hook", CALL)
    assert receiver.received == []


@pytest.mark.parametrize(
    "addresses",
    [["10.1.2.3"], ["127.0.0.1"], ["169.254.169.254"], ["93.184.216.34", "192.168.0.7"], ["::1"], ["::ffff:127.0.0.1"]],
)
async def test_names_resolving_to_non_public_addresses_are_refused(
    tool_settings: Settings, addresses: list[str]
) -> None:
    """DNS rebinding: the name passed the allowlist at definition time, but now resolves inward."""
    resolver = resolver_for({"cards.hooks.example": addresses})
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(WebhookFailed, match="resolves to a non-public address"):
            await call_webhook(client, tool_settings, "https://cards.hooks.example/block", CALL, resolver=resolver)


async def test_connection_is_pinned_to_the_checked_address(receiver: Receiver, tool_settings: Settings) -> None:
    """``localhost`` is named by the allowlist; the request goes to the address resolved and checked."""
    settings = tool_settings.model_copy(update={"webhook_allowlist": [f"http://localhost:{receiver.port}"]})
    receiver.script("/hook", Reply(body=b"{}"))
    resolver = resolver_for({"localhost": ["127.0.0.1"]})
    pinned = await pin(f"http://localhost:{receiver.port}/hook?x=1", settings.webhook_allowlist, resolver)
    assert (pinned.url, pinned.host_header) == (
        f"http://127.0.0.1:{receiver.port}/hook?x=1",
        f"localhost:{receiver.port}",
    )
    async with httpx.AsyncClient(trust_env=False) as client:
        await call_webhook(client, settings, f"http://localhost:{receiver.port}/hook", CALL, resolver=resolver)
    assert receiver.received[0].headers["host"] == f"localhost:{receiver.port}"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://orchestrator.internal/tools/block", None),
        ("https://orchestrator.internal:443/tools/block", None),
        (
            "https://orchestrator.internal:8443/tools/block",
            "https://orchestrator.internal:8443 is not on the allowlist",
        ),
        ("http://orchestrator.internal/tools/block", "http://orchestrator.internal:80 is not on the allowlist"),
        ("https://a.b.hooks.example/x", None),
        ("https://hooks.example/x", "is not on the allowlist"),
        ("https://evilhooks.example/x", "is not on the allowlist"),
        ("http://127.0.0.1:9000/x", None),
        ("http://127.0.0.1:9001/x", "is not on the allowlist"),
        ("ftp://orchestrator.internal/x", "must be an http or https URL"),
        ("https://user:pw@orchestrator.internal/x", "URLs with credentials are not allowed"),
        ("not a url", "must be an http or https URL"),
    ],
)
def test_check_webhook_url(url: str, error: str | None) -> None:
    settings = Settings(
        webhook_allowlist=["https://orchestrator.internal", "https://*.hooks.example", "http://127.0.0.1:9000"]
    )
    problem = check_webhook_url(url, settings)
    if error is None:
        assert problem is None
    else:
        assert problem is not None
        assert error in problem


def _script(*responses: ModelResponse) -> tuple[FunctionModel, list[list[ModelMessage]]]:
    seen: list[list[ModelMessage]] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(list(messages))
        return responses[len(seen) - 1]

    return FunctionModel(respond), seen


async def test_webhook_tool_in_a_run(receiver: Receiver, services: ToolTestServices) -> None:
    receiver.script("/block", Reply(body=b'{"blocked": true}'))
    tools = declarations(
        {
            "type": "webhook",
            "name": "block_card",
            "url": receiver.url("/block"),
            "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]},
        }
    )
    model, seen = _script(
        ModelResponse(parts=[ToolCallPart("block_card", {"reason": "stolen"}, tool_call_id="c1")]),
        ModelResponse(parts=[TextPart("Blocked.")]),
    )
    deps = make_deps(services, agent_name="bank")
    agent = Agent(model, deps_type=type(deps), toolsets=build_toolsets(tools, services.settings))
    result = await agent.run("block it", deps=deps)
    assert result.output == "Blocked."
    assert json.loads(receiver.received[0].body) == {
        "tool_call_id": "c1",
        "tool_name": "block_card",
        "args": {"reason": "stolen"},
        "run_id": deps.run_id,
        "agent": "bank",
    }
    last = seen[1][-1]
    assert isinstance(last, ModelRequest)
    assert isinstance(last.parts[0], ToolReturnPart)
    assert last.parts[0].content == {"blocked": True}


async def test_failing_webhook_is_a_retry_for_the_model_then_a_tool_error(
    receiver: Receiver, services: ToolTestServices
) -> None:
    receiver.script("/block", Reply(status=500, body=b"down", content_type="text/plain"))
    services.settings = services.settings.model_copy(update={"webhook_max_attempts": 1})
    tools = declarations({"type": "webhook", "name": "block_card", "url": receiver.url("/block")})
    call = ModelResponse(parts=[ToolCallPart("block_card", {}, tool_call_id="c1")])
    model, seen = _script(call, call)
    agent = Agent(model, deps_type=object, toolsets=build_toolsets(tools, services.settings), retries=1)
    with pytest.raises(ToolError) as raised:
        await agent.run("block it", deps=make_deps(services))
    assert (
        raised.value.message
        == "Tool 'block_card' failed after 2 attempt(s): Webhook answered HTTP 500: down (after 1 attempt)"
    )
    assert raised.value.details == {"tool_name": "block_card", "tool_call_id": IsStr()}
    retry = seen[1][-1].parts[0]
    assert isinstance(retry, ToolReturnPart)
    assert retry.outcome == "retried"
    assert retry.content == "Tool 'block_card' failed: Webhook answered HTTP 500: down (after 1 attempt)"
    assert len(receiver.received) == 2
