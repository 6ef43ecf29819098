"""Wire shapes of agents and versions (API.md §2.1)."""

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from app.agents.definition import AgentDefinition, RetriesSpec


class DefinitionProblem(BaseModel):
    path: str = Field(description="JSON path into the submitted definition, e.g. `$.tools[1].parameters`.")
    message: str


class AgentRead(BaseModel):
    """An agent with its current definition."""

    id: uuid.UUID
    name: str
    scope: Literal["private", "shared"]
    owner_id: uuid.UUID
    version: int = Field(description="The current version.")
    spec_hash: str = Field(description="SHA-256 of the canonical JSON of the current definition.")
    definition: dict[str, Any] = Field(description="The normalised current definition.")
    created_at: dt.datetime
    updated_at: dt.datetime


class AgentWritten(AgentRead):
    """An agent just created or replaced, with what the server noticed but accepted."""

    warnings: list[DefinitionProblem] = Field(
        default_factory=list[DefinitionProblem],
        description="E.g. a provider whose credentials are not set on this server: the definition is stored, runs fail.",
    )


class VersionRead(BaseModel):
    """One immutable version of an agent's definition."""

    version: int
    spec_hash: str
    definition: dict[str, Any]
    created_by: uuid.UUID | None = Field(description="The user who wrote it (null if since deleted).")
    created_at: dt.datetime
    current: bool = Field(description="Whether this is the agent's current version.")


class ValidationResult(BaseModel):
    """``POST /agents/validate`` on a valid definition (an invalid one is a 422 envelope)."""

    valid: Literal[True] = True
    definition: dict[str, Any] = Field(description="The normalised definition, as it would be stored.")
    spec_hash: str
    warnings: list[DefinitionProblem]


DEFINITION_BODY_DESCRIPTION = (
    "An agent definition (API.md §2): a superset of pydantic-ai's `AgentSpec` — `name`, `model`, `instructions`, "
    "`output_schema`, `tools`, `model_settings`, `retries`, `usage_limits`, `output_mode`, `scope`, … "
    "Unknown keys are rejected; every problem is listed at once in a 422 `InvalidAgentDefinition` "
    "with `details.errors[].path`."
)
DEFINITION_EXAMPLE: dict[str, Any] = {
    "name": "bank-support",
    "description": "Answers card questions and judges risk",
    "model": "openai-chat:gpt-4o-mini",
    "instructions": "You are a support agent in our bank. The customer is {{customer_name}}.",
    "output_schema": {
        "type": "object",
        "properties": {"support_advice": {"type": "string"}, "block_card": {"type": "boolean"}},
        "required": ["support_advice", "block_card"],
    },
    "model_settings": {"temperature": 0.2},
    "retries": {"tools": 2, "output": 3},
}


class DefinitionInput(AgentDefinition):
    """An agent definition as a request may give it: :class:`AgentDefinition`, which validates it, plus the
    original Axon payload's aliases, which validation rewrites (API.md §2). Only its JSON Schema is used:
    the request body's schema in the OpenAPI document is generated from it."""

    system_prompt: str | list[str] | None = Field(
        default=None, description="Alias of `instructions` (not both).", deprecated=True
    )
    result_type: dict[str, Any] | None = Field(
        default=None,
        description='Alias of `output_schema` (not both); `{"field": "string", …}` is short for an object schema '
        "requiring every field.",
        deprecated=True,
    )
    result_retries: int | None = Field(
        default=None, ge=0, le=20, description="Alias of `retries.output`.", deprecated=True
    )
    retries: RetriesSpec | Annotated[int, Field(ge=0, le=20)] | None = Field(  # pyright: ignore[reportIncompatibleVariableOverride]
        default=None, description="Retry budgets; an integer sets both `tools` and `output`."
    )
