"""A small Server-Sent Events parser for tests: read a streaming httpx response into events."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class SSEEvent:
    event: str | None = None
    id: str | None = None
    data: Any = None
    comments: list[str] = field(default_factory=list[str])

    @property
    def is_comment(self) -> bool:
        return self.event is None and self.data is None and bool(self.comments)


def _finish(lines: list[str]) -> SSEEvent:
    event = SSEEvent()
    data: list[str] = []
    for line in lines:
        if line.startswith(":"):
            event.comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event.event = value
        elif name == "id":
            event.id = value
        elif name == "data":
            data.append(value)
    if data:
        joined = "\n".join(data)
        try:
            event.data = json.loads(joined)
        except ValueError:
            event.data = joined
    return event


async def iter_sse(response: httpx.Response, *, comments: bool = False) -> AsyncIterator[SSEEvent]:
    """Events (and, with ``comments=True``, comment-only blocks such as ``: ping``) as they arrive."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if lines:
                event = _finish(lines)
                lines = []
                if comments or not event.is_comment:
                    yield event
            continue
        lines.append(line)
    if lines:
        event = _finish(lines)
        if comments or not event.is_comment:
            yield event


async def read_sse(response: httpx.Response) -> list[SSEEvent]:
    return [event async for event in iter_sse(response)]


def names(events: list[SSEEvent]) -> list[str | None]:
    return [e.event for e in events]
