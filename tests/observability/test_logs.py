"""JSON logs: every line of a run matrix is one JSON object with its context, and holds no secret."""

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from app.observability import logging as logs
from tests.factories import DEFAULT_PASSWORD, create_user
from tests.runs.conftest import Define
from tests.runs.scripts import Call, Sleep, script

PROMPT = "my card 4111-1111-1111-1111 was stolen"
ENDPOINT_KEY = "sk-endpoint-secret-0123456789abcdef"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The service's logs as `AXON_LOG_FORMAT=json` writes them."""
    config = logs.config("json", "INFO", log_content=False)
    assert config["formatters"]["axon"]["()"] is logs.JsonFormatter
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def broken(_messages: list[ModelMessage], _info: AgentInfo) -> ModelResponse:
    raise RuntimeError("the model double broke")


async def test_json_logs_of_a_run_matrix(
    app: object,
    client: httpx.AsyncClient,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
    define: Define,
    captured: io.StringIO,
) -> None:
    await create_user(app, "carol")  # type: ignore[arg-type]
    jwt = (await client.post("/auth/token", data={"username": "carol", "password": DEFAULT_PASSWORD})).json()
    endpoint = {"name": "vault", "base_url": "http://127.0.0.1:9/v1", "api_key": ENDPOINT_KEY}
    assert (await client.post("/model-endpoints", json=endpoint, headers=admin_headers)).status_code == 201
    await define("ok", script("Your card is blocked.").model)
    await define(
        "calc",
        script(Call("calculator", {"expression": "6*7"}), "42").model,
        tools=[{"type": "builtin", "name": "calculator"}],
    )
    await define("broken", FunctionModel(broken))
    await define("slow", script(Sleep(5)).model)
    headers = {**user_headers, "X-Request-ID": "req-log-test"}
    assert (await client.post("/agents/ok/run", json={"input": PROMPT}, headers=headers)).status_code == 200
    assert (
        await client.post("/agents/calc/run/stream", json={"input": PROMPT}, headers=user_headers)
    ).status_code == 200
    assert (await client.post("/agents/broken/run", json={"input": PROMPT}, headers=user_headers)).status_code == 500
    slow = await client.post("/agents/slow/run", json={"input": PROMPT, "deadline_ms": 50}, headers=user_headers)
    assert slow.json()["error_type"] == "DeadlineExceeded"
    assert (
        await client.get("/users/me", headers={"Authorization": f"Bearer {jwt['access_token']}"})
    ).status_code == 200

    lines = captured.getvalue().splitlines()
    assert lines
    secrets = [PROMPT, ENDPOINT_KEY, jwt["access_token"], user_headers["Authorization"].split()[1], "4111"]
    entries = []
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "message", "logger"} <= set(entry), entry
        assert not [secret for secret in secrets if secret in line], line
        entries.append(entry)
    ended = [e for e in entries if e["message"].startswith("run ended")]
    assert {(e["agent"], e["message"], e.get("error_type")) for e in ended} == {
        ("ok", "run ended completed", None),
        ("calc", "run ended completed", None),
        ("broken", "run ended failed", "InternalError"),
        ("slow", "run ended failed", "DeadlineExceeded"),
    }
    assert all(e["owner"] == "alice" and e["run_id"] for e in ended)
    assert next(e for e in ended if e["agent"] == "ok")["request_id"] == "req-log-test"
    failure = next(e for e in entries if e["level"] == "ERROR")
    assert failure["agent"] == "broken"
    assert "RuntimeError" in failure["exception"]


def test_content_is_hidden_unless_enabled() -> None:
    logs.config("json", "INFO", log_content=False)
    assert logs.content(PROMPT) != PROMPT
    logs.config("json", "INFO", log_content=True)
    try:
        assert logs.content(PROMPT) == PROMPT
    finally:
        logs.config("text", "INFO", log_content=False)
