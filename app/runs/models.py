"""The stored run and its events (API.md §2.1 Run, §3.3): the bottom of the run pipeline.

The status vocabulary lives here once: `RunStatus` and the sets every other module uses.
`RunOptions` is the schema of the ``options`` column (what a stored run needs to be executed
again by another process: a background run, or one resumed after a restart).
"""

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, utcnow

RunStatus = Literal["queued", "running", "requires_action", "completed", "failed", "cancelled"]
LIVE_STATUSES: tuple[RunStatus, ...] = ("queued", "running")
"""Somebody must still execute or end the run."""
ENDED_STATUSES: tuple[RunStatus, ...] = ("completed", "failed", "cancelled")
"""Final: nothing changes any more."""
TERMINAL_STATUSES: tuple[RunStatus, ...] = ("requires_action", *ENDED_STATUSES)
"""The run's stream has ended with a terminal event (a `requires_action` run continues as a new run)."""


class UsageLimitsIn(BaseModel):
    """Budgets for one run. Each is tightened, never loosened: the effective limit is the
    smaller of the definition's and the request's; a looser request value is clamped."""

    model_config = ConfigDict(extra="forbid")

    request_limit: int | None = Field(default=None, ge=1, le=2**31 - 1)
    tool_calls_limit: int | None = Field(default=None, ge=0, le=2**31 - 1)
    input_tokens_limit: int | None = Field(default=None, ge=1, le=2**53)
    output_tokens_limit: int | None = Field(default=None, ge=1, le=2**53)
    total_tokens_limit: int | None = Field(default=None, ge=1, le=2**53)
    cost_limit_usd: float | None = Field(
        default=None,
        ge=0,
        le=1e9,
        description="USD; checked before each model request against the run's known cost so far "
        "(not enforceable for a model without a known price).",
    )


class RunExtras(BaseModel):
    """Additions a protocol door (`app.doors`) makes to the stored definition for one run.

    Stored with the run, so a background run, a run resumed after a restart and a continuation
    (`Admission.resume`) execute with the same additions. The definition itself never changes.
    """

    instructions: list[str] = Field(default_factory=list[str])
    """Added to the definition's instructions (pydantic-ai per-run instructions, sent before them)."""
    tools: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    """``external`` tool declarations (API.md §2) the caller executes (e.g. OpenAI function ``tools``)."""
    door: dict[str, Any] | None = None
    """What the door needs to describe the run later in its own terms (opaque to the pipeline)."""


class RunOptions(BaseModel):
    """The ``options`` column: how the run was asked to execute."""

    model_settings: dict[str, Any] | None = None
    """Per-request settings merged over the definition's."""
    usage_limits: UsageLimitsIn | None = None
    """The request's limits (the definition's are applied on top, the tighter wins)."""
    deadline_ms: int
    background: bool = False
    """A durable (DBOS) run: resumed after a crash instead of being interrupted."""
    request_id: str | None = None
    """The request that started (or resumed) the run: carried by its error envelope."""
    extras: RunExtras | None = None
    """Per-run instructions and caller tools added by a protocol door."""


class Run(Base):
    """One run of one agent version.

    Agent id, name, version and ``spec_hash`` are plain columns, not a foreign key:
    deleting an agent keeps its runs readable.
    """

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("owner_id", "idempotency_key", name="uq_runs_owner_id_idempotency_key"),
        Index("ix_runs_owner_id_created_at", "owner_id", "created_at"),
        Index("ix_runs_created_at", "created_at"),  # GET /usage over every owner (admins)
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_name: Mapped[str] = mapped_column(String(200))
    agent_version: Mapped[int]
    spec_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[RunStatus] = mapped_column(String(16), index=True)
    input: Mapped[Any] = mapped_column(JSONType, nullable=True)
    deps: Mapped[Any] = mapped_column(JSONType, nullable=True)
    message_history: Mapped[Any] = mapped_column(JSONType, nullable=True)
    """The history the run started from (pydantic-ai message JSON)."""
    messages: Mapped[Any] = mapped_column(JSONType, nullable=True)
    """The run's new messages (pydantic-ai message JSON)."""
    options: Mapped[Any] = mapped_column(JSONType, nullable=True)
    """`RunOptions` as JSON (read it with `Run.run_options`)."""
    output: Mapped[Any] = mapped_column(JSONType, nullable=True)
    usage: Mapped[Any] = mapped_column(JSONType, nullable=True)
    error: Mapped[Any] = mapped_column(JSONType, nullable=True)
    deferred: Mapped[Any] = mapped_column(JSONType, nullable=True)
    run_metadata: Mapped[Any] = mapped_column("metadata", JSONType, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    parent_run_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    resumed_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    session_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    worker: Mapped[str | None] = mapped_column(String(255), default=None)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    first_token_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def run_options(self) -> RunOptions:
        return RunOptions.model_validate(self.options or {"deadline_ms": 0})

    @property
    def agent_ref(self) -> dict[str, Any]:
        """The wire `AgentRef` of the version the run used."""
        return {
            "id": str(self.agent_id),
            "name": self.agent_name,
            "version": self.agent_version,
            "spec_hash": self.spec_hash,
        }

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds() * 1000)


class RunEvent(Base):
    """One stream event of a run, stored in order so a client can replay what it missed."""

    __tablename__ = "run_events"
    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_run_events_run_id_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    seq: Mapped[int]
    event: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
