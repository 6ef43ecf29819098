"""OpenAI chat ``messages`` → what a run starts from: extra instructions, pydantic-ai history, the input.

- ``system`` and ``developer`` messages, wherever they stand, become instructions appended to the
  agent's own (in order); they are not part of the history.
- The last message is the turn to answer: a ``user`` message is the run's input; trailing ``tool``
  messages answer the assistant's pending ``tool_calls`` (``tool_results``), and then the run starts
  without new input.
- Everything before is history: ``user`` → a request with a `UserPromptPart`, ``assistant`` → a
  response with its text and `ToolCallPart`s, ``tool`` → a request with `ToolReturnPart`s.
"""

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    ModelResponsePart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from app.doors.openai_errors import UnsupportedParameter


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")  # `name` and other per-message hints


class TextContent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None


Content = str | list[TextContent]


class SystemMessage(_Message):
    role: Literal["system", "developer"]
    content: Content


class UserMessage(_Message):
    role: Literal["user"]
    content: Content


class FunctionCall(BaseModel):
    name: str
    arguments: str


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class AssistantMessage(_Message):
    role: Literal["assistant"]
    content: Content | None = None
    tool_calls: list[ToolCall] | None = None


class ToolMessage(_Message):
    role: Literal["tool"]
    tool_call_id: str
    content: Content


ChatMessage = Annotated[SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")]


@dataclass
class Conversation:
    instructions: list[str] = field(default_factory=list[str])
    history: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    """pydantic-ai message JSON."""
    input: str | None = None
    tool_results: dict[str, Any] = field(default_factory=dict[str, Any])
    """``tool_call_id`` → the caller's result, when the request ends with ``tool`` messages."""


def text_of(content: Content | None, param: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts: list[str] = []
    for index, part in enumerate(content):
        if part.type not in ("text", "input_text", "output_text") or part.text is None:
            raise UnsupportedParameter(f"{param}.{index}.type", f"Content part type {part.type!r} is not supported.")
        texts.append(part.text)
    return "".join(texts)


def conversation(
    messages: list[SystemMessage | UserMessage | AssistantMessage | ToolMessage], field: str = "messages"
) -> Conversation:
    """``field`` names the request parameter in errors (``input`` for the Responses API)."""
    chat = Conversation()
    turns: list[tuple[int, UserMessage | AssistantMessage | ToolMessage]] = []
    for index, message in enumerate(messages):
        if isinstance(message, SystemMessage):
            chat.instructions.append(text_of(message.content, f"{field}.{index}.content"))
        else:
            turns.append((index, message))
    if not turns or isinstance(turns[-1][1], AssistantMessage):
        raise UnsupportedParameter(field, "The last message must be a `user` or `tool` message.")
    last_index, last = turns[-1]
    if isinstance(last, UserMessage):
        chat.input = text_of(last.content, f"{field}.{last_index}.content")
        turns = turns[:-1]
    else:
        trailing = 0
        while trailing < len(turns) and isinstance(turns[-1 - trailing][1], ToolMessage):
            trailing += 1
        for index, message in turns[-trailing:]:
            assert isinstance(message, ToolMessage)
            chat.tool_results[message.tool_call_id] = text_of(message.content, f"{field}.{index}.content")
    chat.history = ModelMessagesTypeAdapter.dump_python(_history(turns, field), mode="json")
    return chat


def _history(turns: list[tuple[int, UserMessage | AssistantMessage | ToolMessage]], field: str) -> list[ModelMessage]:
    history: list[ModelMessage] = []
    names: dict[str, str] = {}
    pending: list[ModelRequestPart] = []

    def flush() -> None:
        if pending:
            history.append(ModelRequest(parts=list(pending)))
            pending.clear()

    for index, message in turns:
        param = f"{field}.{index}"
        if isinstance(message, UserMessage):
            pending.append(UserPromptPart(text_of(message.content, f"{param}.content")))
        elif isinstance(message, ToolMessage):
            name = names.get(message.tool_call_id)
            if name is None:
                raise UnsupportedParameter(
                    f"{param}.tool_call_id", f"No assistant tool call has the id {message.tool_call_id!r}."
                )
            content = text_of(message.content, f"{param}.content")
            pending.append(ToolReturnPart(tool_name=name, content=content, tool_call_id=message.tool_call_id))
        else:
            flush()
            parts: list[ModelResponsePart] = []
            text = text_of(message.content, f"{param}.content")
            if text:
                parts.append(TextPart(text))
            for call in message.tool_calls or []:
                names[call.id] = call.function.name
                parts.append(ToolCallPart(call.function.name, call.function.arguments, tool_call_id=call.id))
            if parts:  # an empty assistant turn says nothing to replay
                history.append(ModelResponse(parts=parts))
    flush()
    return history
