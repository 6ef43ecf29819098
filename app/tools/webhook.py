"""Webhook tools: the service POSTs a call to an allowlisted URL, HMAC-signed.

Request body (compact JSON, UTF-8)::

    {"tool_call_id": "...", "tool_name": "...", "args": {...}, "run_id": "...", "agent": "..."}

Headers: ``X-Axon-Timestamp`` (unix seconds) and ``X-Axon-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` keyed with `signing_key` (derived from
``AXON_SECRET_KEY``). A 2xx answer's JSON body (or text) is the tool result. 5xx answers,
timeouts and connection errors are retried with exponential backoff up to
``AXON_WEBHOOK_MAX_ATTEMPTS`` attempts; 3xx and 4xx are not retried.
"""

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from app.config import Settings
from app.observability.metrics import record_webhook_delivery
from app.tools.outbound import OutboundRefused, Resolver, match_allowlist, pin, system_resolver

MAX_RESPONSE_BYTES = 1_048_576
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 5.0
_KEY_CONTEXT = b"axon/webhook-signature/v1"


class WebhookFailed(Exception):
    """The webhook could not produce a result; the message is safe to show the model."""


def check_webhook_url(url: str, settings: Settings) -> str | None:
    """Definition-time check: an error message, or None when ``url`` is on the webhook allowlist."""
    try:
        match_allowlist(url, settings.webhook_allowlist)
    except OutboundRefused as exc:
        return f"Webhook URL refused: {exc} Allowed origins are configured with AXON_WEBHOOK_ALLOWLIST."
    return None


def signing_key(settings: Settings) -> bytes:
    """The per-deployment webhook key: HMAC-SHA256(secret key, a fixed context), so the raw secret never leaves."""
    return hmac.new(settings.resolved_secret_key().encode(), _KEY_CONTEXT, hashlib.sha256).digest()


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookCall:
    tool_call_id: str
    tool_name: str
    args: dict[str, Any]
    run_id: str
    agent: str

    def body(self) -> bytes:
        payload = {
            "tool_call_id": self.tool_call_id,
            "tool_name": self.tool_name,
            "args": self.args,
            "run_id": self.run_id,
            "agent": self.agent,
        }
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def call_webhook(
    client: httpx.AsyncClient,
    settings: Settings,
    url: str,
    call: WebhookCall,
    *,
    timeout_seconds: float | None = None,
    resolver: Resolver = system_resolver,
    backoff_base: float = BACKOFF_BASE_SECONDS,
) -> Any:
    """POST ``call`` to ``url`` with retries; the answer's JSON (or text), or `WebhookFailed`."""
    body = call.body()
    key = signing_key(settings)
    attempts = max(1, settings.webhook_max_attempts)
    seconds = timeout_seconds or settings.webhook_timeout_seconds
    problem = "no attempt was made"
    for attempt in range(1, attempts + 1):
        try:
            target = await pin(url, settings.webhook_allowlist, resolver)
        except OutboundRefused as exc:
            record_webhook_delivery("refused")
            raise WebhookFailed(f"Webhook refused: {exc}") from exc
        timestamp = str(int(time.time()))
        headers = {
            **target.headers,
            "Content-Type": "application/json",
            "User-Agent": "axon-webhook",
            "X-Axon-Timestamp": timestamp,
            "X-Axon-Signature": sign(key, timestamp, body),
            "X-Axon-Attempt": str(attempt),
        }
        request = client.build_request(
            "POST", target.url, content=body, headers=headers, extensions=target.extensions, timeout=seconds
        )
        try:
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                content = await _read_capped(response)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            record_webhook_delivery("timeout")
            problem = f"timed out after {seconds:g}s"
        except httpx.TransportError as exc:
            record_webhook_delivery("connection_error")
            problem = f"connection failed ({type(exc).__name__})"
        else:
            record_webhook_delivery("success" if response.is_success else f"http_{response.status_code // 100}xx")
            if response.is_success:
                return _decode(response, content)
            snippet = content[:300].decode("utf-8", errors="replace")
            problem = f"answered HTTP {response.status_code}: {snippet}"
            if response.status_code < 500:
                raise WebhookFailed(f"Webhook {problem}")
        if attempt < attempts:
            await asyncio.sleep(min(BACKOFF_MAX_SECONDS, backoff_base * 2 ** (attempt - 1)))
    raise WebhookFailed(f"Webhook {problem} (after {attempts} attempt{'' if attempts == 1 else 's'})")


async def _read_capped(response: httpx.Response) -> bytes:
    content = bytearray()
    async for chunk in response.aiter_bytes():
        content.extend(chunk)
        if len(content) > MAX_RESPONSE_BYTES:
            raise WebhookFailed(f"Webhook answer is larger than {MAX_RESPONSE_BYTES} bytes.")
    return bytes(content)


def _decode(response: httpx.Response, content: bytes) -> Any:
    if not content:
        return None
    if "json" in response.headers.get("content-type", ""):
        try:
            return json.loads(content)
        except ValueError:
            pass
    return content.decode(response.encoding or "utf-8", errors="replace")
