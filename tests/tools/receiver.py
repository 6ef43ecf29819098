"""A scripted HTTP receiver on 127.0.0.1: webhook endpoints and pages for ``http_get``."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tests.doubles.server import serve


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"ok": true}'
    content_type: str = "application/json"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict[str, str])


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each request with the next scripted `Reply` (the last one repeats) and records it."""

    replies: dict[str, list[Reply]] = field(default_factory=dict[str, list[Reply]])
    received: list[Received] = field(default_factory=list[Received])
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, path: str, *replies: Reply) -> None:
        self.replies[path] = list(replies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        self.received.append(Received(request.method, request.url.path, dict(request.headers), body))
        queue = self.replies.get(request.url.path) or [Reply(status=404, body=b"no such path")]
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if reply.delay:
            await asyncio.sleep(reply.delay)
        response = Response(reply.body, reply.status, headers=reply.headers, media_type=reply.content_type)
        await response(scope, receive, send)


@contextlib.asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serve(receiver, graceful_seconds=1) as port:
        receiver.port = port
        yield receiver
