"""A loopback TCP proxy a test controls, in front of a database or an HTTP server.

- A database outage: point the app's database URL at the proxy (`TcpProxy.url_for`), then `cut()`:
  every open connection is reset and new ones are refused, as when the database restarts or fails
  over. `restore()` listens again on the same port. Only the proxied connections notice; the
  database itself keeps running, so the test can still inspect it directly.
- A lossy network in front of the service: `reset()` drops the open connections (new ones are
  accepted), `drop_next_request()` / `fail_next_request()` let the next request reach the server and
  lose its answer (closed, or replaced with a canned error).

The proxy runs its own event loop in a thread: code that blocks the test's loop (DBOS connects
with synchronous psycopg during the app's startup) must still get through it.

    async with TcpProxy("127.0.0.1", 5432) as proxy:
        settings = Settings(database_url=proxy.url_for(database_url), ...)
        ...
        await proxy.cut()
        ...
        await proxy.restore()
"""

import asyncio
import contextlib
import json
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy.engine import make_url

CHUNK_BYTES = 65_536
T = TypeVar("T")


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1") -> None:
        self.target_host, self.target_port = target_host, target_port
        self.listen_host = listen_host
        self.port = 0
        """The listening port (chosen at the first `start`, kept across `cut`/`restore`)."""
        self.connections_accepted = 0
        self.connections_cut = 0
        self._answers: list[bytes] = []
        """Canned answers for the next connections (``b""``: close as the server's answer starts)."""
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)

    @classmethod
    def to_database(cls, database_url: str) -> Self:
        """A proxy in front of the server ``database_url`` names."""
        url = make_url(database_url)
        return cls(url.host or "127.0.0.1", url.port or 5432)

    def url_for(self, database_url: str) -> str:
        """``database_url`` with its host and port replaced by the proxy's."""
        assert self.port, "start the proxy first"
        url = make_url(database_url).set(host=self.listen_host, port=self.port)
        return url.render_as_string(hide_password=False)

    @property
    def url(self) -> str:
        """The proxy as an HTTP base URL."""
        return f"http://{self.listen_host}:{self.port}"

    def fail_next_request(self, status: int, envelope: dict[str, object], retry_after: float | None = None) -> None:
        """The next connection's request reaches the server, but the client gets ``status`` with ``envelope``
        (and ``Connection: close``) instead of the server's answer."""
        body = json.dumps({"status": "error", **envelope}).encode()
        headers = [
            f"HTTP/1.1 {status} Error",
            "content-type: application/json",
            f"content-length: {len(body)}",
            f"x-should-retry: {'true' if envelope.get('retryable') else 'false'}",
            "connection: close",
        ]
        if retry_after is not None:
            headers.append(f"retry-after: {retry_after:g}")
        self._answers.append(("\r\n".join(headers) + "\r\n\r\n").encode() + body)

    def drop_next_request(self) -> None:
        """The next connection's request reaches the server; the connection is closed as its answer starts."""
        self._answers.append(b"")

    async def reset(self) -> None:
        """Reset every open connection; new ones are still accepted (a network blip)."""
        await self._in_proxy_loop(self._reset())

    @property
    def is_cut(self) -> bool:
        return self._server is None

    async def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()
        await self._in_proxy_loop(self._listen())

    async def cut(self) -> None:
        """Refuse new connections and reset every open one."""
        await self._in_proxy_loop(self._cut())

    async def restore(self) -> None:
        """Accept connections again, on the same port."""
        await self._in_proxy_loop(self._listen())

    async def close(self) -> None:
        await self._in_proxy_loop(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join, 5)
        self._loop.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _in_proxy_loop(self, work: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    # --- in the proxy's loop ------------------------------------------------------------------------

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, self.listen_host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self._reset()
        if server is not None:
            await server.wait_closed()

    async def _reset(self) -> None:
        for client, upstream in list(self._links):
            self.connections_cut += 1
            _abort(client)
            _abort(upstream)
        self._links.clear()

    async def _close(self) -> None:
        await self._cut()
        if self._tasks:  # their connections are reset: they end on their own
            await asyncio.wait(list(self._tasks), timeout=5)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(client_reader, client_writer)
        finally:
            self._tasks.discard(task)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            _abort(client_writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            _abort(client_writer)
            return
        self.connections_accepted += 1
        link = (client_writer, upstream_writer)
        self._links.add(link)
        canned = self._answers.pop(0) if self._answers else None
        answer = (
            _pipe(upstream_reader, client_writer) if canned is None else _lose(upstream_reader, client_writer, canned)
        )
        pipes = [asyncio.create_task(_pipe(client_reader, upstream_writer)), asyncio.create_task(answer)]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            self._links.discard(link)
            _abort(client_writer)
            _abort(upstream_writer)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(CHUNK_BYTES):
            writer.write(data)
            await writer.drain()


async def _lose(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, canned: bytes) -> None:
    """Wait for the server's answer to start (the request was handled), then send ``canned`` instead."""
    with contextlib.suppress(OSError):
        await reader.read(1)
        if canned:
            writer.write(canned)
            await writer.drain()
            writer.close()  # gracefully: the canned answer must arrive before the connection ends
            await writer.wait_closed()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close at once (RST), as a dead server's connection ends; never waits."""
    writer.transport.abort()
