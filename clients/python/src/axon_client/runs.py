"""``client.runs``: sync, streamed and background runs, and run resources (API.md §3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx
from httpx_sse import EventSource

from axon_client._http import HTTP, new_idempotency_key, walk
from axon_client.errors import APIConnectionError, AxonError
from axon_client.events import RunEvent, parse_event
from axon_client.models import (
    TERMINAL_STATUSES,
    ApprovalDecision,
    CancelPending,
    Run,
    RunAccepted,
    RunResult,
    RunStatus,
    UsageLimits,
)

Input = str | list[str | dict[str, Any]] | None
OnDisconnect = Literal["cancel", "continue"]
DEFAULT_RUN_TIMEOUT = 960.0
"""Read timeout of a sync run without ``deadline_ms``: above the server's longest deadline (900 s)."""


def run_body(
    input: Input,
    *,
    deps: Mapping[str, Any] | None = None,
    session_id: str | None = None,
    message_history: list[dict[str, Any]] | None = None,
    version: int | None = None,
    model_settings: Mapping[str, Any] | None = None,
    usage_limits: UsageLimits | Mapping[str, Any] | None = None,
    deadline_ms: int | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The run request body (API.md §3.1), without the fields left unset."""
    if isinstance(usage_limits, UsageLimits):
        usage_limits = usage_limits.model_dump(exclude_none=True)
    body = {
        "input": input,
        "deps": deps,
        "session_id": session_id,
        "message_history": message_history,
        "version": version,
        "model_settings": model_settings,
        "usage_limits": usage_limits,
        "deadline_ms": deadline_ms,
        "metadata": metadata,
    }
    return {key: value for key, value in body.items() if value is not None}


def _agent_path(agent: str) -> str:
    return f"/agents/{quote(agent, safe='')}"


def _run_path(run_id: str) -> str:
    return f"/runs/{quote(run_id, safe='')}"


class Runs:
    def __init__(self, http: HTTP) -> None:
        self._http = http

    async def run(
        self,
        agent: str,
        input: Input = None,
        *,
        deps: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        message_history: list[dict[str, Any]] | None = None,
        version: int | None = None,
        model_settings: Mapping[str, Any] | None = None,
        usage_limits: UsageLimits | Mapping[str, Any] | None = None,
        deadline_ms: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> RunResult:
        """Run and wait: ``completed`` (see ``output``) or ``requires_action`` (see ``deferred``).

        A failed run raises its typed `AxonError` (with ``run_id``). Retries reuse one ``Idempotency-Key``
        (yours, or one made for this call), so a retry never starts a second run.
        """
        body = run_body(
            input,
            deps=deps,
            session_id=session_id,
            message_history=message_history,
            version=version,
            model_settings=model_settings,
            usage_limits=usage_limits,
            deadline_ms=deadline_ms,
            metadata=metadata,
        )
        data = await self._http.json(
            "POST",
            f"{_agent_path(agent)}/run",
            json=body,
            headers={"Idempotency-Key": idempotency_key or new_idempotency_key()},
            http_timeout=self._run_timeout(deadline_ms),
        )
        return RunResult.model_validate(data)

    async def stream(
        self,
        agent: str,
        input: Input = None,
        *,
        deps: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        message_history: list[dict[str, Any]] | None = None,
        version: int | None = None,
        model_settings: Mapping[str, Any] | None = None,
        usage_limits: UsageLimits | Mapping[str, Any] | None = None,
        deadline_ms: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        on_disconnect: OnDisconnect = "continue",
    ) -> AsyncIterator[RunEvent]:
        """Run as a stream of typed events, ending with the terminal one (``run.completed``,
        ``run.requires_action``, ``run.failed`` — see its ``error`` — or ``run.cancelled``).

        When the connection drops, the stream resumes by itself from the last event it saw
        (``GET /runs/{id}/events`` with ``Last-Event-ID``) and yields every event exactly once. That needs
        the run to go on while nobody listens, hence ``on_disconnect="continue"`` by default; leaving the
        loop early then leaves the run running (`cancel` it if you want it stopped).
        """
        body = run_body(
            input,
            deps=deps,
            session_id=session_id,
            message_history=message_history,
            version=version,
            model_settings=model_settings,
            usage_limits=usage_limits,
            deadline_ms=deadline_ms,
            metadata=metadata,
        )
        key = idempotency_key or new_idempotency_key()
        async for event in self._follow(
            f"{_agent_path(agent)}/run/stream", body, key, {"on_disconnect": on_disconnect}
        ):
            yield event

    async def start(
        self,
        agent: str,
        input: Input = None,
        *,
        deps: Mapping[str, Any] | None = None,
        session_id: str | None = None,
        message_history: list[dict[str, Any]] | None = None,
        version: int | None = None,
        model_settings: Mapping[str, Any] | None = None,
        usage_limits: UsageLimits | Mapping[str, Any] | None = None,
        deadline_ms: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> RunAccepted:
        """Start a background run (``queued``); follow it with `wait` or `events`."""
        body = run_body(
            input,
            deps=deps,
            session_id=session_id,
            message_history=message_history,
            version=version,
            model_settings=model_settings,
            usage_limits=usage_limits,
            deadline_ms=deadline_ms,
            metadata=metadata,
        )
        data = await self._http.json(
            "POST",
            f"{_agent_path(agent)}/runs",
            json=body,
            headers={"Idempotency-Key": idempotency_key or new_idempotency_key()},
        )
        return RunAccepted.model_validate(data)

    async def get(self, run_id: str) -> Run:
        return Run.model_validate(await self._http.json("GET", _run_path(run_id)))

    async def list(
        self,
        *,
        agent: str | None = None,
        status: RunStatus | None = None,
        session_id: str | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Run]:
        """Your runs, newest first (walks the cursor)."""
        params = {"agent": agent, "status": status, "session_id": session_id}
        async for item in walk(self._http, "/runs", params, page_size):
            yield Run.model_validate(item)

    async def events(self, run_id: str, *, after: int = 0) -> AsyncIterator[RunEvent]:
        """The run's events after sequence number ``after``: stored ones, then live ones until the
        terminal event. Resumes by itself when the connection drops."""
        async for event in self._follow(None, None, None, None, run_id=run_id, after=after):
            yield event

    async def wait(self, run_id: str, *, timeout: float | None = None) -> Run:  # noqa: ASYNC109
        """Wait until the run is finished (or ``requires_action``) and return it.

        Raises `TimeoutError` after ``timeout`` seconds (the run goes on). A failed run is returned, not
        raised: see ``run.error``."""
        async with asyncio.timeout(timeout):
            run = await self.get(run_id)
            if run.status not in TERMINAL_STATUSES:
                async for event in self.events(run_id):
                    if event.terminal:
                        break
                run = await self.get(run_id)
            return run

    async def resume(
        self,
        run_id: str,
        *,
        tool_results: Mapping[str, Any] | None = None,
        tool_errors: Mapping[str, str] | None = None,
        approvals: Mapping[str, bool | ApprovalDecision | Mapping[str, Any]] | None = None,
        deadline_ms: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> RunResult:
        """Answer a ``requires_action`` run's pending calls; the continuation is a new run
        (``parent_run_id``) and is answered like `run`."""
        body = _resume_body(tool_results, tool_errors, approvals, deadline_ms, metadata)
        data = await self._http.json(
            "POST",
            f"{_run_path(run_id)}/resume",
            json=body,
            headers={"Idempotency-Key": idempotency_key or new_idempotency_key()},
            http_timeout=self._run_timeout(deadline_ms),
        )
        return RunResult.model_validate(data)

    async def resume_stream(
        self,
        run_id: str,
        *,
        tool_results: Mapping[str, Any] | None = None,
        tool_errors: Mapping[str, str] | None = None,
        approvals: Mapping[str, bool | ApprovalDecision | Mapping[str, Any]] | None = None,
        deadline_ms: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        on_disconnect: OnDisconnect = "continue",
    ) -> AsyncIterator[RunEvent]:
        """`resume`, answered as a stream of the continuation's events (resuming like `stream`)."""
        body = _resume_body(tool_results, tool_errors, approvals, deadline_ms, metadata)
        key = idempotency_key or new_idempotency_key()
        params = {"stream": "true", "on_disconnect": on_disconnect}
        async for event in self._follow(f"{_run_path(run_id)}/resume", body, key, params):
            yield event

    async def cancel(self, run_id: str) -> Run | CancelPending:
        """Cancel a queued, running or ``requires_action`` run: the stopped run, or `CancelPending` if it is
        still stopping. Idempotent; a finished run raises `Conflict`."""
        response = await self._http.request("POST", f"{_run_path(run_id)}/cancel")
        if response.status_code == 202:
            return CancelPending.model_validate(response.json())
        return Run.model_validate(response.json())

    def _run_timeout(self, deadline_ms: int | None) -> httpx.Timeout:
        configured = self._http.client.timeout
        read = DEFAULT_RUN_TIMEOUT if deadline_ms is None else deadline_ms / 1000 + (configured.read or 60.0)
        return httpx.Timeout(configured.connect, read=read, write=configured.write, pool=configured.pool)

    async def _follow(
        self,
        start_path: str | None,
        body: dict[str, Any] | None,
        key: str | None,
        params: dict[str, Any] | None,
        *,
        run_id: str | None = None,
        after: int = 0,
    ) -> AsyncIterator[RunEvent]:
        """Events from ``POST start_path`` (or, with ``run_id``, from the run's event log), reconnecting
        after a drop: before the first event by repeating the POST with the same ``Idempotency-Key`` (it
        attaches to the same run), after it through ``GET /runs/{id}/events`` with ``Last-Event-ID``.
        Events already seen (``seq`` ≤ the last one) are skipped, so each is yielded exactly once."""
        last = after
        failures = 0
        stream_timeout = httpx.Timeout(self._http.client.timeout.connect, read=None)
        while True:
            if run_id is None:
                assert start_path is not None
                assert key is not None
                opening = self._http.stream(
                    "POST",
                    start_path,
                    json=body,
                    params=params,
                    headers={"Idempotency-Key": key, "Accept": "text/event-stream"},
                    http_timeout=stream_timeout,
                )
            else:
                opening = self._http.stream(
                    "GET",
                    f"{_run_path(run_id)}/events",
                    headers={"Last-Event-ID": str(last), "Accept": "text/event-stream"},
                    http_timeout=stream_timeout,
                )
            try:
                async with opening as response:
                    async for message in EventSource(response).aiter_sse():
                        if not message.event or not message.data:
                            continue
                        event = parse_event(message.event, message.data)
                        run_id = event.run_id
                        if event.seq <= last:
                            continue
                        last = event.seq
                        failures = 0
                        yield event
                        if event.terminal:
                            return
            except httpx.TransportError as exc:
                error: AxonError = APIConnectionError(f"the event stream broke: {type(exc).__name__}: {exc}")
            else:
                error = APIConnectionError("the event stream ended before the run's terminal event")
            error.run_id = run_id
            if failures >= self._http.max_retries:
                raise error
            await asyncio.sleep(self._http.delay(failures, None))
            failures += 1


def _resume_body(
    tool_results: Mapping[str, Any] | None,
    tool_errors: Mapping[str, str] | None,
    approvals: Mapping[str, bool | ApprovalDecision | Mapping[str, Any]] | None,
    deadline_ms: int | None,
    metadata: Mapping[str, Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tool_results": dict(tool_results or {}),
        "tool_errors": dict(tool_errors or {}),
        "approvals": {
            call: decision.model_dump(exclude_none=True) if isinstance(decision, ApprovalDecision) else decision
            for call, decision in (approvals or {}).items()
        },
    }
    if deadline_ms is not None:
        body["deadline_ms"] = deadline_ms
    if metadata is not None:
        body["metadata"] = metadata
    return body
