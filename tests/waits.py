"""Waiting on a condition, never on the clock: poll until it holds, bounded by a generous overall timeout.

The bound only decides how long a *failing* test takes: a passing one returns as soon as the
condition holds, however loaded the machine.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

WITHIN = 30.0
EVERY = 0.02

T = TypeVar("T")


async def until(check: Callable[[], Awaitable[T | None]], within: float = WITHIN, every: float = EVERY) -> T:
    """The first truthy result of ``await check()``; ``TimeoutError`` after ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            if result := await check():
                return result
            await asyncio.sleep(every)


async def wait_for_status(
    http: httpx.AsyncClient,
    run_id: str,
    *statuses: str,
    headers: dict[str, str] | None = None,
    within: float = WITHIN,
) -> dict[str, Any]:
    """``GET /runs/{id}`` until the run's status is one of ``statuses``; its body then."""
    seen: list[str] = []

    async def reached() -> dict[str, Any] | None:
        body: dict[str, Any] = (await http.get(f"/runs/{run_id}", headers=headers)).json()
        seen.append(str(body.get("status")))
        return body if body.get("status") in statuses else None

    try:
        return await until(reached, within)
    except TimeoutError:
        raise AssertionError(f"run {run_id} never reached {statuses} in {within}s; last seen {seen[-1:]}") from None
