"""Wire shapes of tool declarations inside an agent definition (API.md §2).

A declaration's ``parameters`` may be JSON Schema or an ALTAR ADM ``FunctionDeclaration``
schema (upper-case ``OBJECT``/``STRING`` types); ADM is normalised to JSON Schema on the
way in, so everything downstream sees JSON Schema only.
"""

from typing import Annotated, Any, Literal, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
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
        if not isinstance(value, dict):
            return value
        schema = cast(dict[str, Any], value)
        return adm.adm_to_json_schema(schema) if adm.is_adm_schema(schema) else schema

    @field_validator("parameters")
    @classmethod
    def _valid_object_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        if value.get("type") != "object":
            raise ValueError('tool parameters must be a JSON Schema with "type": "object"')
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
TOOL_TYPES: dict[str, type[BuiltinTool | ExternalTool | WebhookTool | AgentTool | McpTool]] = {
    "builtin": BuiltinTool,
    "external": ExternalTool,
    "webhook": WebhookTool,
    "agent": AgentTool,
    "mcp": McpTool,
}
"""Each declaration ``type`` and its model (validating against one model keeps error locations free of union tags)."""


ToolFormat = Literal["jsonschema", "adm"]


class ToolInfo(BaseModel):
    """A tool as the model sees it; ``parameters`` in the requested format."""

    name: str
    type: Literal["builtin", "external", "webhook", "agent", "mcp"] = Field(
        description="`builtin` covers tools shipped with the service and plugin tools."
    )
    description: str | None
    parameters: dict[str, Any] = Field(description="JSON Schema, or an ALTAR ADM schema with `?format=adm`.")
    requires_approval: bool = False


class ToolList(BaseModel):
    format: ToolFormat
    tools: list[ToolInfo]


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    args: dict[str, Any] = Field(default_factory=dict[str, Any], description="The tool's arguments.")


class ToolResultError(BaseModel):
    message: str


class ToolResult(BaseModel):
    """An ALTAR LATER ``ToolResult``: failures are ``ERROR`` results, not HTTP errors."""

    name: str
    status: Literal["SUCCESS", "ERROR"]
    content: Any = Field(default=None, description="The tool's return value (null on ERROR).")
    error: ToolResultError | None = None
