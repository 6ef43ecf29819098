"""Wire shapes of sessions (API.md §2.1 Session, §3.6)."""

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: str = Field(description="The agent (id or name) whose runs extend this session.", min_length=1)
    tools: list[str] | None = Field(
        default=None,
        description="Names of the agent's tools the session's runs may use (the session-scoped registry); "
        "null or absent means all of them. An unknown name is a 422.",
    )
    metadata: dict[str, Any] | None = Field(default=None, description="Caller metadata, stored with the session.")


class SessionAgent(BaseModel):
    id: uuid.UUID
    name: str


class SessionOut(BaseModel):
    """A session. ``active_run_id`` is the run that holds it (a second run is `409 SessionBusy`)."""

    id: uuid.UUID
    agent: SessionAgent
    tools: list[str] | None
    metadata: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime
    message_count: int
    active_run_id: uuid.UUID | None = None


class SessionMessages(BaseModel):
    """The stored history, oldest first, as pydantic-ai message JSON: pass it as `message_history`
    to run statelessly, or fork the session."""

    session_id: uuid.UUID
    message_count: int
    messages: list[dict[str, Any]]


class ForkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: int | None = Field(
        default=None,
        ge=0,
        le=2**31 - 1,
        description="Copy the first `at` messages (default: all). Above `message_count` is a 422. "
        "The fork has the same agent and tools and its own copy of the metadata.",
    )
    metadata: dict[str, Any] | None = Field(default=None, description="Replaces the copied metadata when given.")
