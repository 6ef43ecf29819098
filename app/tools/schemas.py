"""Wire shapes of tool declarations inside an agent definition (API.md §2).

A declaration's ``parameters`` may be JSON Schema or an ALTAR ADM ``FunctionDeclaration``
schema (upper-case ``OBJECT``/``STRING`` types); ADM is normalised to JSON Schema on the
way in, so everything downstream sees JSON Schema only.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.tools import adm

TOOL_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
EMPTY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

ToolName = Annotated[str, Field(pattern=TOOL_NAME_PATTERN, description="A valid identifier, unique in the agent.")]


class _ToolBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ToolName
    description: str | None = Field(default=None, max_length=4096)
    requires_approval: bool = Field(
        default=False, description="Pause the run before executing a call (`requires_action` with `approvals`)."
    )


class _WithParameters(_ToolBase):
    parameters: dict[str, Any] = Field(
        default_factory=lambda: dict(EMPTY_OBJECT_SCHEMA),
        description="JSON Schema (draft 2020-12) of the arguments, or an ALTAR ADM schema (normalised on write).",
    )

    @field_validator("parameters", mode="before")
    @classmethod
    def _normalise_adm(cls, value: Any) -> Any:
        if isinstance(value, dict) and adm.is_adm_schema(value):  # pyright: ignore[reportUnknownArgumentType]
            return adm.adm_to_json_schema(value)  # pyright: ignore[reportUnknownArgumentType]
        return value


class BuiltinTool(_ToolBase):
    """A tool shipped with the service or registered by an installed plugin (`GET /tools`)."""

    type: Literal["builtin"]


class ExternalTool(_WithParameters):
    """Executed by the caller: a call ends the run with `requires_action`."""

    type: Literal["external"]


class WebhookTool(_WithParameters):
    """The service POSTs the call to `url` (allowlisted, HMAC-signed)."""

    type: Literal["webhook"]
    url: str = Field(max_length=2048)
    timeout_seconds: float | None = Field(default=None, gt=0, le=300)


class AgentTool(_ToolBase):
    """Delegates to another stored agent; the model sends it `{"input": "..."}`."""

    type: Literal["agent"]
    agent: str = Field(description="Name or id of an agent the caller may run.", max_length=200)


class McpTool(_ToolBase):
    """Tools of an allowlisted MCP server."""

    type: Literal["mcp"]
    url: str = Field(max_length=2048)


ToolDeclaration = Annotated[
    BuiltinTool | ExternalTool | WebhookTool | AgentTool | McpTool,
    Field(discriminator="type"),
]
