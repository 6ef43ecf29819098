"""A scripted OpenAI-compatible upstream on 127.0.0.1 for the real provider path.

Tests start it in their own event loop (``async with ScriptedUpstream.running() as upstream``,
or the ``upstream`` fixture), point a model endpoint at ``upstream.base_url`` and queue the
replies the "model" gives, in order, with ``upstream.script(...)``:

- ``Text("...")``: an assistant message; streamed as one chunk per word (or ``chunks=N``
  pieces) followed by a usage chunk when the request asks for ``stream_options.include_usage``;
- ``ToolCalls(ToolCall("name", {...}), ...)``: tool calls, streamed as argument deltas;
  ``output({...})`` is a call of pydantic-ai's output tool ``final_result``;
- ``ErrorReply(status, body, headers)`` and the shorthands ``rate_limited``, ``server_error``,
  ``unauthorized``, ``context_length_exceeded``; ``content_filtered()`` is a
  ``finish_reason: content_filter`` reply;
- ``Hang()``: never answers; it ends when the client goes away (counted in ``disconnects``).

Every reply may wait ``first_byte_delay`` seconds before answering and ``chunk_delay`` between
stream chunks; a reply whose client disconnects stops at once and is counted too. A request
with nothing left in the script is answered ``500`` with ``"no scripted reply"`` so an
unexpected extra model call fails loudly. Every request is recorded (method, path, lowercased
headers, JSON body) in ``upstream.requests``.

It is a raw ASGI app served by ``tests.doubles.server.serve`` on a free loopback port in the
caller's loop: no threads, no signal handlers, startup in milliseconds.
"""

import asyncio
import contextlib
import itertools
import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.models import override_allow_model_requests

from tests.doubles.server import serve

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CREATED = 1_700_000_000
OUTPUT_TOOL = "final_result"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 11
    completion_tokens: int = 7

    def as_json(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass(frozen=True)
class Text:
    """An assistant text reply."""

    text: str
    usage: Usage = Usage()
    finish_reason: str = "stop"
    chunks: int | None = None
    """Stream the text in this many near-equal pieces; default: one piece per word."""
    first_byte_delay: float = 0.0
    chunk_delay: float = 0.0

    def pieces(self) -> list[str]:
        if self.chunks is None:
            words = self.text.split(" ")
            return [words[0], *(" " + word for word in words[1:])]
        return split(self.text, self.chunks)


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] | str
    """A dict is sent as its JSON; a str is sent verbatim (to script malformed arguments)."""
    id: str | None = None

    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass(frozen=True)
class ToolCalls:
    """An assistant reply made of tool calls (parallel when there are several)."""

    calls: tuple[ToolCall, ...]
    usage: Usage = Usage()
    finish_reason: str = "tool_calls"
    first_byte_delay: float = 0.0
    chunk_delay: float = 0.0

    def __init__(
        self,
        *calls: ToolCall,
        usage: Usage = Usage(),
        finish_reason: str = "tool_calls",
        first_byte_delay: float = 0.0,
        chunk_delay: float = 0.0,
    ) -> None:
        object.__setattr__(self, "calls", calls)
        object.__setattr__(self, "usage", usage)
        object.__setattr__(self, "finish_reason", finish_reason)
        object.__setattr__(self, "first_byte_delay", first_byte_delay)
        object.__setattr__(self, "chunk_delay", chunk_delay)


@dataclass(frozen=True)
class ErrorReply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict[str, str])
    first_byte_delay: float = 0.0


@dataclass(frozen=True)
class Hang:
    """Accept the request and never answer; ends only when the client disconnects."""


Reply = Text | ToolCalls | ErrorReply | Hang


def output(arguments: dict[str, Any] | str, **kwargs: Any) -> ToolCalls:
    """A call of pydantic-ai's default output tool (structured output in `tool` mode)."""
    return ToolCalls(ToolCall(OUTPUT_TOOL, arguments), **kwargs)


def _openai_error(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def rate_limited(retry_after: float = 2.0) -> ErrorReply:
    return ErrorReply(
        429,
        _openai_error("Rate limit reached for requests", "requests", "rate_limit_exceeded"),
        {"retry-after": f"{retry_after:g}"},
    )


def server_error() -> ErrorReply:
    return ErrorReply(500, _openai_error("The server had an error processing your request.", "server_error", None))


def unauthorized() -> ErrorReply:
    return ErrorReply(401, _openai_error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))


def context_length_exceeded() -> ErrorReply:
    return ErrorReply(
        400,
        _openai_error(
            "This model's maximum context length is 128 tokens.", "invalid_request_error", "context_length_exceeded"
        ),
    )


def content_filtered() -> Text:
    return Text("", finish_reason="content_filter")


def split(text: str, count: int) -> list[str]:
    """``text`` in at most ``count`` non-empty, near-equal pieces (one empty piece for "")."""
    count = max(1, min(count, len(text)))
    size, extra = divmod(len(text), count)
    pieces: list[str] = []
    position = 0
    for index in range(count):
        step = size + (1 if index < extra else 0)
        pieces.append(text[position : position + step])
        position += step
    return pieces


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def api_key(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value.removeprefix("Bearer ") if value.startswith("Bearer ") else None


class _ClientGone(Exception):
    pass


class ScriptedUpstream:
    """The server and its script. Use ``ScriptedUpstream.running()``."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        """Replies cut short because the client went away (hangs included)."""
        self.in_flight = 0
        """Chat requests being answered right now."""
        self._script: deque[Reply] = deque()
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()
        self._arrived = asyncio.Condition()
        self._gone = asyncio.Condition()
        self.port = 0

    # -- scripting ----------------------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        self._script.extend(replies)

    def clear(self) -> None:
        """Drop the replies not used yet."""
        self._script.clear()

    @property
    def remaining(self) -> int:
        """Scripted replies not used yet."""
        return len(self._script)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def wait_for_requests(self, count: int, within: float = 10.0) -> None:
        """Until ``count`` chat requests have arrived."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.chat_requests) >= count)

    async def wait_for_disconnects(self, count: int, within: float = 10.0) -> None:
        async with asyncio.timeout(within), self._gone:
            await self._gone.wait_for(lambda: self.disconnects >= count)

    async def wait_idle(self, within: float = 10.0) -> None:
        """Until no chat request is being answered (every hang or slow reply has ended)."""
        async with asyncio.timeout(within), self._gone:
            await self._gone.wait_for(lambda: self.in_flight == 0)

    # -- lifecycle ------------------------------------------------------------------------
    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls) -> AsyncIterator["ScriptedUpstream"]:
        upstream = cls()
        async with serve(upstream) as port:
            upstream.port = port
            try:
                yield upstream
            finally:
                upstream._closing.set()

    # -- ASGI -----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path: str = scope["path"]
        self.requests.append(RecordedRequest(scope["method"], path, headers, body))
        async with self._arrived:
            self._arrived.notify_all()

        if scope["method"] == "GET" and path.endswith("/models"):
            models = {"object": "list", "data": [{"id": "gpt-test", "object": "model", "created": CREATED}]}
            await _send_json(send, 200, models)
            return
        if scope["method"] != "POST" or not path.endswith("/chat/completions"):
            await _send_json(send, 404, _openai_error(f"no route {path}", "invalid_request_error", None))
            return

        reply: Reply = self._script.popleft() if self._script else _unscripted()
        gone = asyncio.Event()
        done = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, gone, done))
        self.in_flight += 1
        try:
            await self._answer(reply, body if isinstance(body, dict) else {}, send, gone)
        except _ClientGone:
            self.disconnects += 1
        finally:
            done.set()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self.in_flight -= 1
            async with self._gone:
                self._gone.notify_all()

    async def _answer(self, reply: Reply, body: dict[str, Any], send: Send, gone: asyncio.Event) -> None:
        if isinstance(reply, Hang):
            await self._pause(None, gone)  # returns only when the server shuts down
            await _send_json(send, 503, _openai_error("upstream shutting down", "server_error", None))
            return
        await self._pause(reply.first_byte_delay, gone)
        if isinstance(reply, ErrorReply):
            await _send_json(send, reply.status, reply.body, reply.headers)
            return
        number = next(self._ids)
        model = str(body.get("model") or "gpt-test")
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            await _send_start(send, 200, "text/event-stream", {"cache-control": "no-cache"})
            for index, chunk in enumerate(_stream_chunks(reply, number, model, include_usage)):
                if index and reply.chunk_delay:
                    await self._pause(reply.chunk_delay, gone)
                await _send_body(send, b"data: " + json.dumps(chunk).encode() + b"\n\n", more=True, gone=gone)
            await _send_body(send, b"data: [DONE]\n\n", more=False, gone=gone)
            return
        await _send_json(send, 200, _completion(reply, number, model))

    async def _pause(self, seconds: float | None, gone: asyncio.Event) -> None:
        """Sleep (forever when None) unless the client goes away (raise) or the server closes."""
        if seconds is not None and seconds <= 0:
            if gone.is_set():
                raise _ClientGone
            return
        waits = [asyncio.ensure_future(gone.wait()), asyncio.ensure_future(self._closing.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        if gone.is_set():
            raise _ClientGone


def _unscripted() -> ErrorReply:
    return ErrorReply(
        500, _openai_error("no scripted reply left for this request", "server_error", "no_scripted_reply")
    )


async def _watch_disconnect(receive: Receive, gone: asyncio.Event, done: asyncio.Event) -> None:
    message = await receive()
    if message["type"] == "http.disconnect" and not done.is_set():
        gone.set()


async def _send_start(send: Send, status: int, content_type: str, headers: dict[str, str] | None = None) -> None:
    raw = [(b"content-type", content_type.encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})


async def _send_body(send: Send, data: bytes, *, more: bool, gone: asyncio.Event | None = None) -> None:
    if gone is not None and gone.is_set():
        raise _ClientGone
    try:
        await send({"type": "http.response.body", "body": data, "more_body": more})
    except OSError as exc:  # uvicorn's ClientDisconnected
        raise _ClientGone from exc


async def _send_json(send: Send, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    await _send_start(send, status, "application/json", headers)
    await _send_body(send, json.dumps(payload).encode(), more=False)


def _completion(reply: Text | ToolCalls, number: int, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    if isinstance(reply, Text):
        message["content"] = reply.text
    else:
        message["tool_calls"] = [
            {
                "id": call.id or f"call_{number}_{index}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json()},
            }
            for index, call in enumerate(reply.calls)
        ]
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
        "usage": reply.usage.as_json(),
    }


def _stream_chunks(reply: Text | ToolCalls, number: int, model: str, include_usage: bool) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    chunks: list[dict[str, Any]] = []
    if isinstance(reply, Text):
        for index, piece in enumerate(reply.pieces()):
            chunks.append(chunk({"role": "assistant", "content": piece} if index == 0 else {"content": piece}))
    else:
        for index, call in enumerate(reply.calls):
            arguments = call.arguments_json()
            for part_number, piece in enumerate(split(arguments, 3) if arguments else [""]):
                delta: dict[str, Any] = {"index": index, "function": {"arguments": piece}}
                if part_number == 0:
                    delta |= {"id": call.id or f"call_{number}_{index}", "type": "function"}
                    delta["function"]["name"] = call.name
                role = {"role": "assistant", "content": None} if index == 0 and part_number == 0 else {}
                chunks.append(chunk({**role, "tool_calls": [delta]}))
    chunks.append(chunk({}, reply.finish_reason))
    if include_usage:
        usage_chunk = chunk({})
        usage_chunk["choices"] = []
        usage_chunk["usage"] = reply.usage.as_json()
        chunks.append(usage_chunk)
    return chunks


@contextlib.asynccontextmanager
async def scripted_upstream() -> AsyncIterator[ScriptedUpstream]:
    """A started upstream; pydantic-ai's real model requests are allowed while it runs (loopback only)."""
    with override_allow_model_requests(True):
        async with ScriptedUpstream.running() as upstream:
            yield upstream
