"""Serve an ASGI app on a free 127.0.0.1 port inside the test's own event loop.

``uvicorn.Server`` on a socket we bind ourselves: no threads, no signal handlers, no
lifespan (the caller owns the app's lifespan, e.g. the ``app`` fixture). Used for the
scripted upstream and wherever a test needs the real wire (SSE framing, client disconnects).
"""

import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn


@contextlib.asynccontextmanager
async def serve(app: Any, graceful_seconds: float = 2) -> AsyncIterator[int]:
    """Yield the port ``app`` is served on; on exit, close connections and cancel what is left."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    config = uvicorn.Config(
        app,
        lifespan="off",
        ws="none",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(graceful_seconds),
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])
    try:
        yield sock.getsockname()[1]
    finally:
        await server.shutdown(sockets=[sock])
