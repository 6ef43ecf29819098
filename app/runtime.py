"""The run context shared by agents, tools and runs: pydantic-ai's ``deps`` for our runs, and the
process-wide services a run can call. Neutral ground: it imports none of those packages."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from pydantic_ai.models import Model
from pydantic_ai.usage import RunUsage

from app.auth.service import Principal
from app.config import Settings

ModelResolver = Callable[[str], Model | None]
"""Agent name → the model to run it on instead of its definition's, or None. Given to `create_app`
by tests and benchmarks (scripted models); production passes none."""


@dataclass
class SubRunResult:
    """What an `agent` tool gets back from the delegated run."""

    run_id: str
    output: Any
    usage: RunUsage


class RunServices(Protocol):
    """Process-wide collaborators a run needs; implemented by the runs package."""

    settings: Settings
    webhook_client: httpx.AsyncClient

    async def run_subagent(self, parent: "RunDeps", agent_ref: str, user_input: str) -> SubRunResult: ...


@dataclass
class RunDeps:
    """Passed as pydantic-ai ``deps`` to every run we start."""

    vars: dict[str, Any]
    """The request's `deps`: instruction templates (``{{name}}``) render from these."""
    run_id: str
    principal: Principal
    agent_id: uuid.UUID
    agent_name: str
    services: RunServices
    lineage: tuple[uuid.UUID, ...] = field(default_factory=tuple)
    """Agent ids from the root run down to this one (the `agent` tool's depth limit and cycle check)."""
    last_output_error: dict[str, Any] | None = None
    """Set by the output validator on a schema mismatch: ``{"errors": [{"path", "message"}], "raw_output"}``;
    the runs engine puts it in ``OutputValidationFailed.details`` when output retries run out."""
