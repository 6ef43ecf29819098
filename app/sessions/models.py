"""A session: one agent's conversation whose history the server keeps."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, utcnow


class ChatSession(Base):
    """The history is one JSON list, replaced in the transaction that finishes a run: a run's new
    messages are appended all at once or not at all. ``active_run_id`` is the busy lock: at most
    one run (or a chain of `requires_action` continuations) extends a session at a time."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_owner_id_created_at", "owner_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID] = mapped_column(index=True)
    """Plain column, not a foreign key: deleting the agent keeps its sessions readable."""
    agent_name: Mapped[str] = mapped_column(String(200))
    tools: Mapped[Any] = mapped_column(JSONType, nullable=True)
    """Names of the agent's tools this session may use; null means all of them."""
    session_metadata: Mapped[Any] = mapped_column("metadata", JSONType, nullable=True)
    messages: Mapped[Any] = mapped_column(JSONType, default=list)
    """The history as pydantic-ai message JSON."""
    message_count: Mapped[int] = mapped_column(default=0)
    active_run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
