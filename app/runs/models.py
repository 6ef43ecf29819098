"""The stored run and its events (API.md §2.1 Run, §3.3)."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, utcnow


class Run(Base):
    """One run of one agent version.

    Agent id, name, version and ``spec_hash`` are plain columns, not a foreign key:
    deleting an agent keeps its runs readable.
    """

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("owner_id", "idempotency_key", name="uq_runs_owner_id_idempotency_key"),
        Index("ix_runs_owner_id_created_at", "owner_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID] = mapped_column(index=True)
    agent_name: Mapped[str] = mapped_column(String(200))
    agent_version: Mapped[int]
    spec_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    input: Mapped[Any] = mapped_column(JSONType, nullable=True)
    deps: Mapped[Any] = mapped_column(JSONType, nullable=True)
    message_history: Mapped[Any] = mapped_column(JSONType, nullable=True)
    """The history the run started from (pydantic-ai message JSON)."""
    messages: Mapped[Any] = mapped_column(JSONType, nullable=True)
    """The run's new messages (pydantic-ai message JSON)."""
    options: Mapped[Any] = mapped_column(JSONType, nullable=True)
    """Per-request ``model_settings``, effective ``usage_limits`` and ``deadline_ms``."""
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
