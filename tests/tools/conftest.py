import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from app.auth.service import Principal
from app.config import Settings
from app.runtime import RunDeps, SubRunResult
from app.tools.schemas import ToolDeclaration
from tests.tools.receiver import Receiver, running_receiver

SubAgent = Callable[[RunDeps, str, str], Awaitable[SubRunResult]]


@dataclass
class ToolTestServices:
    """A real `RunServices` for direct pydantic-ai runs: a real HTTP client, sub-runs from a function."""

    settings: Settings
    webhook_client: httpx.AsyncClient
    subagent: SubAgent | None = None
    subruns: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])

    async def run_subagent(self, parent: RunDeps, agent_ref: str, user_input: str) -> SubRunResult:
        self.subruns.append((agent_ref, user_input))
        assert self.subagent is not None, "this test defines no sub-agents"
        return await self.subagent(parent, agent_ref, user_input)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as server:
        yield server


@pytest.fixture
def tool_settings(receiver: Receiver) -> Settings:
    """Settings for direct runs: the receiver's origin is the only webhook/http_get target."""
    return Settings(
        secret_key="tool-tests-secret-key-0123456789abcdef",  # type: ignore[arg-type]
        webhook_allowlist=[receiver.origin, "https://*.hooks.example"],
        http_get_allowlist=[receiver.origin],
        webhook_max_attempts=3,
        webhook_timeout_seconds=2.0,
    )


@pytest.fixture
async def services(tool_settings: Settings) -> AsyncIterator[ToolTestServices]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield ToolTestServices(settings=tool_settings, webhook_client=client)


def make_deps(services: ToolTestServices, *, agent_name: str = "support", lineage_len: int = 1) -> RunDeps:
    agent_id = uuid.uuid4()
    lineage = (*(uuid.uuid4() for _ in range(lineage_len - 1)), agent_id) if lineage_len else ()
    return RunDeps(
        vars={},
        run_id=str(uuid.uuid4()),
        principal=Principal(user_id=uuid.uuid4(), username="alice", role="user"),
        agent_id=agent_id,
        agent_name=agent_name,
        services=services,
        lineage=lineage,
    )


@pytest.fixture
def settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The app's settings, plus a non-admin executor allowlist and a webhook origin (for this test only)."""
    monkeypatch.setattr(settings, "executable_tools", ["calculator", "word_count", "fail_loudly", "whoami"])
    monkeypatch.setattr(settings, "webhook_allowlist", ["https://orchestrator.internal"])
    return settings


def declarations(*tools: dict[str, Any]) -> list[ToolDeclaration]:
    return TypeAdapter(list[ToolDeclaration]).validate_python(list(tools))
