"""HTTP metrics: a pure ASGI middleware that labels each request with its route *template*.

The matched route is read from the ASGI scope after the app ran (FastAPI and Starlette record it
there), so ``/runs/{run_id}`` is one label value however many runs there are; a request no route
matched is labelled ``<unmatched>``, never with its raw path.
"""

import time

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import metrics


def route_template(scope: Scope) -> str:
    route: BaseRoute | None = scope.get("route")
    if route is None:
        return metrics.UNMATCHED_ROUTE
    template: str | None = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template or metrics.UNMATCHED_ROUTE


class HttpMetricsMiddleware:
    """Count every HTTP request and time it to the end of its response, by method, route and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes the app is answered 500 by Starlette's outermost handler

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            metrics.record_http(scope["method"], route_template(scope), status, time.perf_counter() - started)
