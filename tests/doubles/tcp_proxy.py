"""A loopback TCP proxy a test controls, in front of an HTTP server or a database: it can cut every open
connection, refuse new ones for a while (a restart, a failover), or answer the next HTTP request with a
canned error after the server has handled it (the answer is lost on the way back)."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field


@dataclass
class Proxy:
    upstream_port: int
    upstream_host: str = "127.0.0.1"
    port: int = 0
    refusing: bool = False
    """While set, new connections are closed at once (the upstream is "down")."""
    connections: int = 0
    """Connections accepted so far."""
    _server: asyncio.Server | None = None
    _open: set[asyncio.StreamWriter] = field(default_factory=set[asyncio.StreamWriter])
    _fail_next: list[bytes] = field(default_factory=list[bytes])

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
        self._fail_next.append(("\r\n".join(headers) + "\r\n\r\n").encode() + body)

    def drop_next_request(self) -> None:
        """The next connection's request reaches the server; the connection is closed as its answer starts."""
        self._fail_next.append(b"")

    def cut(self) -> None:
        """Close every open connection (both sides), as a network failure would."""
        for writer in list(self._open):
            transport = writer.transport
            transport.abort()
        self._open.clear()

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """The upstream is away inside the block: open connections are cut, new ones refused."""
        self.refusing = True
        self.cut()
        try:
            yield
        finally:
            self.refusing = False

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            client_writer.transport.abort()
            return
        self.connections += 1
        upstream_reader, upstream_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        self._open.update({client_writer, upstream_writer})
        canned = self._fail_next.pop(0) if self._fail_next else None
        try:
            if canned is None:
                await asyncio.gather(
                    _pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer), return_exceptions=True
                )
            else:
                pipe = asyncio.create_task(_pipe(client_reader, upstream_writer))
                await upstream_reader.read(1)  # the server has answered: the request was handled
                if canned:
                    client_writer.write(canned)
                    await client_writer.drain()
                else:
                    client_writer.transport.abort()
                pipe.cancel()
        except OSError:
            pass
        finally:
            for writer in (client_writer, upstream_writer):
                self._open.discard(writer)
                writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["Proxy"]:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            self.cut()
            self._server.close()
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()
