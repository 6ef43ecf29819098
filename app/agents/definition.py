"""The agent definition: a strict superset of pydantic-ai 2.68's ``AgentSpec`` (API.md §2).

The models here are the normalised form; `app.agents.validation.validate_definition` turns a raw
definition into one (or lists every problem). :func:`stored_form` and :func:`spec_hash` give the
normalised JSON that is stored and hashed. ``scope`` is accepted in the body but belongs to the
agent, not the definition: it is neither stored in the definition nor part of ``spec_hash``.
"""

import hashlib
import json
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.agents import capabilities
from app.tools.schemas import ToolDeclaration

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"

AgentName = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="A slug, unique per owner: lowercase letters, digits, `-` and `_`, at most 63 characters.",
    ),
]
OutputMode = Literal["tool", "native", "prompted"]
Scope = Literal["private", "shared"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSettingsSpec(_Strict):
    """pydantic-ai ``ModelSettings`` keys a definition may set. ``extra_headers``/``extra_body`` are refused:
    a definition must not smuggle credentials or endpoints."""

    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    request_timeout: float | None = Field(default=None, gt=0)
    first_event_timeout: float | None = Field(default=None, gt=0)
    framing_announcement: Literal["always", "when_needed", "never"] | None = None
    max_retries: int | None = Field(default=None, ge=0, le=10)
    parallel_tool_calls: bool | None = None
    tool_choice: Literal["none", "required", "auto"] | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, int] | None = None
    stop_sequences: list[str] | None = None
    thinking: bool | Literal["minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    citations: bool | None = None
    cache: bool | Literal["5m", "30m", "1h", "12h"] | None = None
    service_tier: Literal["auto", "default", "flex", "priority"] | None = None


class RetriesSpec(_Strict):
    """pydantic-ai ``AgentRetries``; unset means pydantic-ai's default (1)."""

    tools: int | None = Field(default=None, ge=0, le=20)
    output: int | None = Field(default=None, ge=0, le=20)


class UsageLimitsSpec(_Strict):
    """Caps for every run of this agent; a run request may tighten them, never loosen them."""

    request_limit: int | None = Field(default=None, ge=1)
    tool_calls_limit: int | None = Field(default=None, ge=0)
    input_tokens_limit: int | None = Field(default=None, ge=0)
    output_tokens_limit: int | None = Field(default=None, ge=0)
    total_tokens_limit: int | None = Field(default=None, ge=0)
    cost_limit_usd: float | None = Field(default=None, ge=0, description="Checked before each model request.")


class AgentDefinition(_Strict):
    """A normalised agent definition (API.md §2)."""

    json_schema_path: str | None = Field(default=None, alias="$schema", exclude=True)
    """Accepted (pydantic-ai spec files carry it), never stored."""
    name: AgentName
    description: str | None = Field(default=None, max_length=4096)
    model: str = Field(description="`provider:model` (e.g. `openai-chat:gpt-4o-mini`), `endpoint:model` or `test`.")
    fallback_models: list[str] = Field(
        default_factory=list[str], description="Model references tried in order when the model's API fails."
    )
    instructions: str | list[str] | None = Field(
        default=None, description="One string or a list, sent in order; `{{var}}` renders from the run's `deps`."
    )
    deps_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the run's `deps`; templates may only use variables it declares."
    )
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema (draft 2020-12, an object) of the structured output; plain text without."
    )
    output_mode: OutputMode = Field(
        default="tool", description="How structured output is requested: an output tool, native JSON mode or a prompt."
    )
    model_settings: ModelSettingsSpec | None = None
    retries: RetriesSpec | None = None
    end_strategy: Literal["early", "graceful", "exhaustive"] = "graceful"
    tool_timeout: float | None = Field(
        default=None, gt=0, le=3600, description="Seconds before a tool call is retried."
    )
    metadata: dict[str, Any] | None = None
    capabilities: list[str | dict[str, Any]] = Field(
        default_factory=list[str | dict[str, Any]],
        description="Allowlisted pydantic-ai capabilities: " + ", ".join(sorted(capabilities.ALLOWED)) + ".",
    )
    tools: list[ToolDeclaration] = Field(default_factory=list[ToolDeclaration])
    usage_limits: UsageLimitsSpec | None = None
    scope: Scope | None = Field(
        default=None, exclude=True, description="`private` (default) or `shared`; a property of the agent, not hashed."
    )

    @field_validator("instructions", mode="before")
    @classmethod
    def _instructions_shape(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(item, str) for item in cast(list[Any], value)):
            return cast(list[str], value)
        raise ValueError("must be a string or a list of strings")

    def instruction_parts(self) -> list[str]:
        if self.instructions is None:
            return []
        return [self.instructions] if isinstance(self.instructions, str) else list(self.instructions)

    def model_refs(self) -> list[str]:
        return [self.model, *self.fallback_models]


def stored_form(definition: AgentDefinition) -> dict[str, Any]:
    """The normalised JSON stored in a version (defaults dropped, ``scope`` and ``$schema`` left out)."""
    return definition.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def canonical_json(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(document: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON (sorted keys, no whitespace, UTF-8) of a stored definition."""
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def load_stored(document: dict[str, Any]) -> AgentDefinition:
    """A stored (already normalised) definition back as a model; no re-validation of references."""
    return AgentDefinition.model_validate(document)
