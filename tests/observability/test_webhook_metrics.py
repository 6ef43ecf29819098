"""Webhook tool deliveries are counted per HTTP attempt, by outcome."""

import httpx
import pytest

from app.config import Settings
from app.tools.webhook import WebhookCall, WebhookFailed, call_webhook
from tests.observability.scrape import delta, key, scrape
from tests.tools.conftest import receiver, tool_settings
from tests.tools.receiver import Receiver, Reply

__all__ = ["receiver", "tool_settings"]

CALL = WebhookCall(tool_call_id="call-1", tool_name="notify", args={}, run_id="run-1", agent="bank")


async def test_webhook_attempts_are_counted_by_outcome(
    client: httpx.AsyncClient, receiver: Receiver, tool_settings: Settings
) -> None:
    before = await scrape(client)
    receiver.script("/hook", Reply(status=503), Reply(status=500), Reply(body=b'"ok"'))
    async with httpx.AsyncClient(trust_env=False) as http:
        assert await call_webhook(http, tool_settings, receiver.url("/hook"), CALL, backoff_base=0.01) == "ok"
        receiver.script("/gone", Reply(status=404))
        with pytest.raises(WebhookFailed):
            await call_webhook(http, tool_settings, receiver.url("/gone"), CALL)
        with pytest.raises(WebhookFailed):
            await call_webhook(http, tool_settings, f"http://127.0.0.1:{receiver.port + 1}/hook", CALL)
    deliveries = {k: v for k, v in delta(before, await scrape(client)).items() if k[0].startswith("axon_webhook")}
    assert deliveries == {
        key("axon_webhook_deliveries_total", outcome="http_5xx"): 2,
        key("axon_webhook_deliveries_total", outcome="success"): 1,
        key("axon_webhook_deliveries_total", outcome="http_4xx"): 1,
        key("axon_webhook_deliveries_total", outcome="refused"): 1,
    }
