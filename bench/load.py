"""Closed-loop load generation and statistics for the benchmark (loopback only).

``RawClient`` is a minimal keep-alive HTTP/1.1 client on asyncio streams (Content-Length and
chunked bodies): a few times less client CPU per request than httpx, which matters when the
load generator shares two cores with the service it measures. ``drive`` runs ``concurrency``
workers that each loop "send, wait for the whole answer" until ``count`` requests have been
started or ``duration`` seconds have passed; stragglers are cancelled after a hard deadline.
"""

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Sample:
    ok: bool
    latency: float
    """Seconds from sending the request to the last byte of the answer."""
    ttfe: float | None = None
    """SSE: seconds to the first event."""
    error: str | None = None
    end: float = 0.0


@dataclass
class Response:
    status: int
    body: bytes
    first_event: float | None = None
    """perf_counter() when the first SSE ``data:`` line arrived."""


class _Connection:
    __slots__ = ("reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.used = reader, writer, False


class RawClient:
    def __init__(self, host: str, port: int) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("the benchmark only talks to loopback")
        self.host, self.port = host, port
        self._idle: list[_Connection] = []

    async def close(self) -> None:
        for connection in self._idle:
            connection.writer.close()
        self._idle.clear()

    async def _connect(self, fresh: bool) -> _Connection:
        while self._idle and not fresh:
            connection = self._idle.pop()
            if not (connection.reader.at_eof() or connection.writer.is_closing()):
                return connection
            connection.writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)
        return _Connection(reader, writer)

    async def request(
        self, method: str, path: str, payload: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        head = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}", f"content-length: {len(body)}"]
        if payload is not None:
            head.append("content-type: application/json")
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        for attempt in (0, 1):
            connection = await self._connect(fresh=attempt > 0)
            reused = connection.used
            try:
                connection.writer.write(data)
                return await self._read(connection)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                connection.writer.close()
                if not reused or attempt:
                    raise ConnectionError(f"connection failed: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")

    async def _read(self, connection: _Connection) -> Response:
        reader = connection.reader
        status_line = await reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length: int | None = None
        chunked, keep_alive = False, True
        while True:
            line = await reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                keep_alive = False
        parts: list[bytes] = []
        first_event: float | None = None
        if chunked:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                part = await reader.readexactly(size)
                await reader.readexactly(2)
                if first_event is None and b"data:" in part:
                    first_event = time.perf_counter()
                parts.append(part)
        elif length is not None:
            parts.append(await reader.readexactly(length))
        else:
            parts.append(await reader.read())
            keep_alive = False
        if keep_alive:
            connection.used = True
            self._idle.append(connection)
        else:
            connection.writer.close()
        return Response(status, b"".join(parts), first_event)


def sse_events(body: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """(event name, parsed data) of every event of an SSE body; comments are skipped."""
    events: list[tuple[str | None, dict[str, Any]]] = []
    for block in body.decode().replace("\r\n", "\n").split("\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


async def drive(
    one: Callable[[], Awaitable[Sample]], concurrency: int, count: int, duration: float, hard_extra: float = 60.0
) -> tuple[list[Sample], float]:
    """Closed loop: ``concurrency`` workers call ``one()`` until ``count`` started or ``duration`` passed."""
    samples: list[Sample] = []
    started = itertools.count()
    start = time.perf_counter()
    stop_at = start + duration

    async def worker() -> None:
        while time.perf_counter() < stop_at and next(started) < count:
            sample = await one()
            sample.end = time.perf_counter()
            samples.append(sample)

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    done, pending = await asyncio.wait(tasks, timeout=duration + hard_extra)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    samples += [Sample(False, duration + hard_extra, error="cancelled at the hard deadline") for _ in pending]
    for task in done:
        if (exc := task.exception()) is not None:
            raise exc
    end = max((s.end for s in samples), default=time.perf_counter())
    return samples, max(end - start, 1e-9)


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..100) of sorted ``values``."""
    if not values:
        return None
    position = (len(values) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def summarize(samples: list[Sample], wall: float) -> dict[str, Any]:
    ok = [s for s in samples if s.ok]
    latencies = sorted(s.latency for s in ok)
    ttfes = sorted(s.ttfe for s in ok if s.ttfe is not None)
    errors: dict[str, int] = {}
    for sample in samples:
        if not sample.ok:
            errors[sample.error or "error"] = errors.get(sample.error or "error", 0) + 1

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    return {
        "ok": len(ok),
        "errors": len(samples) - len(ok),
        "error_kinds": errors,
        "wall_s": round(wall, 3),
        "rps": round(len(ok) / wall, 2),
        "p50_ms": ms(percentile(latencies, 50)),
        "p95_ms": ms(percentile(latencies, 95)),
        "p99_ms": ms(percentile(latencies, 99)),
        "ttfe_p50_ms": ms(percentile(ttfes, 50)),
        "ttfe_p95_ms": ms(percentile(ttfes, 95)),
    }
