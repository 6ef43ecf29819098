"""`AxonSyncClient`: the same API as `AxonClient`, without ``await``.

It runs an `AxonClient` on an event loop in a background thread (an anyio blocking portal); async
iterators become plain iterators.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from axon_client._http import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from axon_client.client import AxonClient
from axon_client.events import RunEvent
from axon_client.models import (
    Agent,
    AgentVersion,
    ApplyResult,
    ApprovalDecision,
    CancelPending,
    ModelEndpoint,
    Run,
    RunAccepted,
    RunResult,
    RunStatus,
    Session,
    SessionMessages,
    ToolList,
    ToolResult,
    UsageLimits,
    ValidationResult,
)
from axon_client.runs import Input, OnDisconnect

T = TypeVar("T")


class _Bridge:
    def __init__(self, portal: BlockingPortal) -> None:
        self.portal = portal

    def call(self, function: Callable[[], Awaitable[T]]) -> T:
        async def run() -> T:
            return await function()

        return self.portal.call(run)

    def iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self.call(iterator.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            aclose: Callable[[], Awaitable[None]] | None = getattr(iterator, "aclose", None)
            if aclose is not None:
                self.call(aclose)


class SyncAgents:
    def __init__(self, client: AxonClient, bridge: _Bridge) -> None:
        self._agents = client.agents
        self._bridge = bridge

    def create(self, definition: dict[str, Any]) -> Agent:
        return self._bridge.call(lambda: self._agents.create(definition))

    def get(self, agent: str) -> Agent:
        return self._bridge.call(lambda: self._agents.get(agent))

    def list(self, *, q: str | None = None, page_size: int | None = None) -> Iterator[Agent]:
        return self._bridge.iterate(self._agents.list(q=q, page_size=page_size))

    def update(self, agent: str, definition: dict[str, Any]) -> Agent:
        return self._bridge.call(lambda: self._agents.update(agent, definition))

    def delete(self, agent: str) -> None:
        return self._bridge.call(lambda: self._agents.delete(agent))

    def versions(self, agent: str, *, page_size: int | None = None) -> Iterator[AgentVersion]:
        return self._bridge.iterate(self._agents.versions(agent, page_size=page_size))

    def version(self, agent: str, n: int) -> AgentVersion:
        return self._bridge.call(lambda: self._agents.version(agent, n))

    def activate(self, agent: str, n: int) -> Agent:
        return self._bridge.call(lambda: self._agents.activate(agent, n))

    def validate(self, definition: dict[str, Any]) -> ValidationResult:
        return self._bridge.call(lambda: self._agents.validate(definition))

    def apply(self, path: str | Path) -> list[ApplyResult]:
        return self._bridge.call(lambda: self._agents.apply(path))


class SyncRuns:
    def __init__(self, client: AxonClient, bridge: _Bridge) -> None:
        self._runs = client.runs
        self._bridge = bridge

    def run(
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
        return self._bridge.call(
            lambda: self._runs.run(
                agent,
                input,
                deps=deps,
                session_id=session_id,
                message_history=message_history,
                version=version,
                model_settings=model_settings,
                usage_limits=usage_limits,
                deadline_ms=deadline_ms,
                metadata=metadata,
                idempotency_key=idempotency_key,
            )
        )

    def stream(
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
    ) -> Iterator[RunEvent]:
        return self._bridge.iterate(
            self._runs.stream(
                agent,
                input,
                deps=deps,
                session_id=session_id,
                message_history=message_history,
                version=version,
                model_settings=model_settings,
                usage_limits=usage_limits,
                deadline_ms=deadline_ms,
                metadata=metadata,
                idempotency_key=idempotency_key,
                on_disconnect=on_disconnect,
            )
        )

    def start(
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
        return self._bridge.call(
            lambda: self._runs.start(
                agent,
                input,
                deps=deps,
                session_id=session_id,
                message_history=message_history,
                version=version,
                model_settings=model_settings,
                usage_limits=usage_limits,
                deadline_ms=deadline_ms,
                metadata=metadata,
                idempotency_key=idempotency_key,
            )
        )

    def get(self, run_id: str) -> Run:
        return self._bridge.call(lambda: self._runs.get(run_id))

    def list(
        self,
        *,
        agent: str | None = None,
        status: RunStatus | None = None,
        session_id: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Run]:
        return self._bridge.iterate(
            self._runs.list(agent=agent, status=status, session_id=session_id, page_size=page_size)
        )

    def events(self, run_id: str, *, after: int = 0) -> Iterator[RunEvent]:
        return self._bridge.iterate(self._runs.events(run_id, after=after))

    def wait(self, run_id: str, *, timeout: float | None = None) -> Run:
        return self._bridge.call(lambda: self._runs.wait(run_id, timeout=timeout))

    def resume(
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
        return self._bridge.call(
            lambda: self._runs.resume(
                run_id,
                tool_results=tool_results,
                tool_errors=tool_errors,
                approvals=approvals,
                deadline_ms=deadline_ms,
                metadata=metadata,
                idempotency_key=idempotency_key,
            )
        )

    def resume_stream(
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
    ) -> Iterator[RunEvent]:
        return self._bridge.iterate(
            self._runs.resume_stream(
                run_id,
                tool_results=tool_results,
                tool_errors=tool_errors,
                approvals=approvals,
                deadline_ms=deadline_ms,
                metadata=metadata,
                idempotency_key=idempotency_key,
                on_disconnect=on_disconnect,
            )
        )

    def cancel(self, run_id: str) -> Run | CancelPending:
        return self._bridge.call(lambda: self._runs.cancel(run_id))


class SyncSessions:
    def __init__(self, client: AxonClient, bridge: _Bridge) -> None:
        self._sessions = client.sessions
        self._bridge = bridge

    def create(
        self, agent: str, *, tools: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Session:
        return self._bridge.call(lambda: self._sessions.create(agent, tools=tools, metadata=metadata))

    def get(self, session_id: str) -> Session:
        return self._bridge.call(lambda: self._sessions.get(session_id))

    def list(self, *, agent: str | None = None, page_size: int | None = None) -> Iterator[Session]:
        return self._bridge.iterate(self._sessions.list(agent=agent, page_size=page_size))

    def delete(self, session_id: str) -> None:
        return self._bridge.call(lambda: self._sessions.delete(session_id))

    def messages(self, session_id: str) -> SessionMessages:
        return self._bridge.call(lambda: self._sessions.messages(session_id))

    def fork(self, session_id: str, *, at: int | None = None, metadata: Mapping[str, Any] | None = None) -> Session:
        return self._bridge.call(lambda: self._sessions.fork(session_id, at=at, metadata=metadata))


class SyncTools:
    def __init__(self, client: AxonClient, bridge: _Bridge) -> None:
        self._tools = client.tools
        self._bridge = bridge

    def list(self, *, format: Literal["jsonschema", "adm"] = "jsonschema") -> ToolList:
        return self._bridge.call(lambda: self._tools.list(format=format))

    def execute(self, name: str, args: Mapping[str, Any] | None = None) -> ToolResult:
        return self._bridge.call(lambda: self._tools.execute(name, args))


class SyncModelEndpoints:
    def __init__(self, client: AxonClient, bridge: _Bridge) -> None:
        self._endpoints = client.model_endpoints
        self._bridge = bridge

    def create(self, name: str, base_url: str, *, api_key: str | None = None) -> ModelEndpoint:
        return self._bridge.call(lambda: self._endpoints.create(name, base_url, api_key=api_key))

    def get(self, name: str) -> ModelEndpoint:
        return self._bridge.call(lambda: self._endpoints.get(name))

    def list(self, *, page_size: int | None = None) -> Iterator[ModelEndpoint]:
        return self._bridge.iterate(self._endpoints.list(page_size=page_size))

    def update(self, name: str, base_url: str, *, api_key: str | None = None) -> ModelEndpoint:
        return self._bridge.call(lambda: self._endpoints.update(name, base_url, api_key=api_key))

    def delete(self, name: str) -> None:
        return self._bridge.call(lambda: self._endpoints.delete(name))


class AxonSyncClient:
    """`AxonClient` without ``await``: use it as a context manager (or call `close`)."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._exit = contextlib.ExitStack()
        portal = self._exit.enter_context(start_blocking_portal())
        self._bridge = _Bridge(portal)

        def make() -> AxonClient:
            return AxonClient(
                base_url, api_key=api_key, token=token, timeout=timeout, max_retries=max_retries, headers=headers
            )

        self._client = portal.call(make)
        self.agents = SyncAgents(self._client, self._bridge)
        self.runs = SyncRuns(self._client, self._bridge)
        self.sessions = SyncSessions(self._client, self._bridge)
        self.tools = SyncTools(self._client, self._bridge)
        self.model_endpoints = SyncModelEndpoints(self._client, self._bridge)

    def close(self) -> None:
        try:
            self._bridge.call(self._client.aclose)
        finally:
            self._exit.close()

    def __enter__(self) -> AxonSyncClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
