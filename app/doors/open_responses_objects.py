"""Open Responses shapes: request ``input`` items → a chat conversation, a stored run → a ``response``
object, and a run's events → the typed stream events (`response.created` … `response.completed`).

A response *is* a run: its ``id`` is the run id, its ``status`` the run's (``queued``, ``in_progress``
for ``running``, ``completed`` — also for a run paused on the caller's function calls, whose
``function_call`` items are the output —, ``failed``, ``cancelled``). What the request said that the
run itself does not keep (its input items, ``instructions``, ``tools``, sampling parameters) is kept
in `RunExtras.door`.
"""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelResponse, TextPart

from app.doors import openai_messages as convert
from app.doors.openai_common import unix
from app.doors.openai_errors import UnsupportedParameter, openai_error
from app.runs.errors import error_from_envelope
from app.runs.models import Run
from app.runs.schemas import Deferred, Usage

# -- input items → chat messages ---------------------------------------------------------------------


def _content_text(content: Any, param: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise UnsupportedParameter(param, "Content must be a string or a list of text parts.")
    return convert.text_of([convert.TextContent.model_validate(part) for part in content], param)  # pyright: ignore[reportUnknownVariableType]


def chat_messages(
    items: list[dict[str, Any]],
) -> list[convert.SystemMessage | convert.UserMessage | convert.AssistantMessage | convert.ToolMessage]:
    """Items as chat messages: consecutive ``function_call`` items join the assistant message before them."""
    messages: list[convert.SystemMessage | convert.UserMessage | convert.AssistantMessage | convert.ToolMessage] = []
    for index, item in enumerate(items):
        kind = item.get("type", "message")
        param = f"input.{index}"
        if kind == "message":
            role = item.get("role")
            text = _content_text(item.get("content", ""), f"{param}.content")
            if role in ("system", "developer"):
                messages.append(convert.SystemMessage(role=role, content=text))
            elif role == "user":
                messages.append(convert.UserMessage(role="user", content=text))
            elif role == "assistant":
                messages.append(convert.AssistantMessage(role="assistant", content=text))
            else:
                raise UnsupportedParameter(f"{param}.role", f"Unknown message role {role!r}.")
        elif kind == "function_call":
            call = convert.ToolCall(
                id=str(item.get("call_id")),
                function=convert.FunctionCall(name=str(item.get("name")), arguments=str(item.get("arguments", "{}"))),
            )
            last = messages[-1] if messages else None
            if isinstance(last, convert.AssistantMessage):
                last.tool_calls = [*(last.tool_calls or []), call]
            else:
                messages.append(convert.AssistantMessage(role="assistant", tool_calls=[call]))
        elif kind == "function_call_output":
            output = _content_text(item.get("output", ""), f"{param}.output")
            messages.append(convert.ToolMessage(role="tool", tool_call_id=str(item.get("call_id")), content=output))
        elif kind != "reasoning":  # reasoning items are the model's own notes: nothing to replay
            raise UnsupportedParameter(f"{param}.type", f"Input item type {kind!r} is not supported.")
    return messages


def input_items(raw: str | list[dict[str, Any]], response_id: uuid.UUID) -> list[dict[str, Any]]:
    """The request's input as stored items, each with an ``id`` (`GET /v1/responses/{id}/input_items`)."""
    items: list[dict[str, Any]] = [{"type": "message", "role": "user", "content": raw}] if isinstance(raw, str) else raw
    stored: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        kind = item.get("type", "message")
        item_id = item.get("id") or f"{_PREFIXES.get(kind, 'item')}_{response_id.hex}_{index}"
        if kind == "message":
            role = item.get("role", "user")
            content = item.get("content", "")
            part = "output_text" if role == "assistant" else "input_text"
            parts: list[dict[str, Any]] = [{"type": part, "text": content}] if isinstance(content, str) else content
            if role == "assistant":
                parts = [{"annotations": [], **p} for p in parts]
            stored.append({"id": item_id, "type": "message", "role": role, "content": parts, "status": "completed"})
        else:
            stored.append({**item, "id": item_id, "type": kind, "status": item.get("status", "completed")})
    return stored


_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}


# -- a run → a response object -------------------------------------------------------------------------


@dataclass
class RunState:
    """The parts of a run a response object shows (from the stored row or the terminal event)."""

    status: str
    output: Any
    deferred: Deferred | None
    usage: Usage
    messages: list[dict[str, Any]]
    error: dict[str, Any] | None
    finished_at: Any

    @classmethod
    def of_row(cls, run: Run) -> "RunState":
        return cls(
            status=run.status,
            output=run.output,
            deferred=Deferred.model_validate(run.deferred) if run.deferred else None,
            usage=Usage.model_validate(run.usage or {}),
            messages=run.messages or [],
            error=run.error,
            finished_at=run.finished_at,
        )


_STATUSES = {"running": "in_progress", "requires_action": "completed"}


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def output_text(run: Run, state: RunState) -> str | None:
    """The text of the answer: the output (JSON for a structured agent), or a paused run's last text."""
    if state.status == "completed":
        structured = ((run.run_options.extras and run.run_options.extras.door) or {}).get("structured", False)
        if structured or not isinstance(state.output, str):
            return _json(state.output)
        return state.output
    if state.status != "requires_action":
        return None
    messages = ModelMessagesTypeAdapter.validate_python(state.messages)
    last = next((m for m in reversed(messages) if isinstance(m, ModelResponse)), None)
    return "".join(p.content for p in last.parts if isinstance(p, TextPart)) if last else None


def message_item(run: Run, text: str, status: str = "completed") -> dict[str, Any]:
    part: dict[str, Any] = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"id": f"msg_{run.id.hex}", "type": "message", "role": "assistant", "status": status, "content": [part]}


def function_call_items(state: RunState) -> list[dict[str, Any]]:
    calls = state.deferred.calls if state.deferred else []
    return [
        {
            "id": f"fc_{call.tool_call_id}",
            "type": "function_call",
            "status": "completed",
            "call_id": call.tool_call_id,
            "name": call.tool_name,
            "arguments": call.args if isinstance(call.args, str) else _json(call.args),
        }
        for call in calls
    ]


def usage_object(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def response_object(run: Run, state: RunState | None = None) -> dict[str, Any]:
    """The ``response`` object of a run (every field the Open Responses specification requires)."""
    state = state or RunState.of_row(run)
    extras = run.run_options.extras
    door: dict[str, Any] = (extras.door if extras else None) or {}
    output: list[dict[str, Any]] = []
    text = output_text(run, state)
    if text:
        output.append(message_item(run, text))
    output += function_call_items(state)
    error = None
    if state.error:
        parsed = error_from_envelope(state.error)
        error = {"code": openai_error(parsed.envelope(), parsed.status_code)["code"], "message": parsed.message}
    elif state.status == "cancelled":
        error = None
    ended = state.status in ("completed", "requires_action")
    return {
        "id": str(run.id),
        "object": "response",
        "created_at": unix(run.created_at),
        "completed_at": unix(state.finished_at) if ended else None,
        "status": _STATUSES.get(state.status, state.status),
        "incomplete_details": None,
        "model": door.get("model", run.agent_name),
        "previous_response_id": door.get("previous_response_id"),
        "instructions": door.get("instructions"),
        "output": output,
        "error": error,
        "tools": door.get("tools", []),
        "tool_choice": "auto",
        "truncation": "disabled",
        "parallel_tool_calls": door.get("parallel_tool_calls", True),
        "text": {"format": door.get("text_format") or {"type": "text"}},
        "top_p": door.get("top_p"),
        "temperature": door.get("temperature"),
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "top_logprobs": 0,
        "reasoning": None,
        "usage": usage_object(state.usage) if state.status not in ("queued", "running") else None,
        "max_output_tokens": door.get("max_output_tokens"),
        "max_tool_calls": door.get("max_tool_calls"),
        "store": True,
        "background": run.run_options.background,
        "service_tier": "default",
        "metadata": run.run_metadata or {},
        "safety_identifier": None,
        "prompt_cache_key": None,
    }


# -- the typed stream ------------------------------------------------------------------------------------


class StreamWriter:
    """Numbers the typed events of one streamed response (``sequence_number`` from 0)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.seq = -1
        self.text: str | None = None
        """The open message item's text so far (None: no message item opened yet)."""

    def event(self, kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        self.seq += 1
        return kind, {"type": kind, "sequence_number": self.seq, **fields}

    def delta(self, chunk: str) -> Iterator[tuple[str, dict[str, Any]]]:
        ids = {"item_id": f"msg_{self.run.id.hex}", "output_index": 0}
        if self.text is None:
            self.text = ""
            yield self.event(
                "response.output_item.added",
                output_index=0,
                item=message_item(self.run, "", "in_progress") | {"content": []},
            )
            yield self.event(
                "response.content_part.added",
                **ids,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            )
        self.text += chunk
        yield self.event("response.output_text.delta", **ids, content_index=0, delta=chunk, logprobs=[])

    def end(self, response: dict[str, Any], state: RunState) -> Iterator[tuple[str, dict[str, Any]]]:
        final = output_text(self.run, state)
        if final and self.text is None:
            yield from self.delta(final)
        elif final and self.text is not None and final.startswith(self.text) and final != self.text:
            yield from self.delta(final[len(self.text) :])
        index = 0
        if self.text is not None:
            ids = {"item_id": f"msg_{self.run.id.hex}", "output_index": 0}
            part: dict[str, Any] = {"type": "output_text", "text": self.text, "annotations": [], "logprobs": []}
            yield self.event("response.output_text.done", **ids, content_index=0, text=self.text, logprobs=[])
            yield self.event("response.content_part.done", **ids, content_index=0, part=part)
            yield self.event("response.output_item.done", output_index=0, item=message_item(self.run, self.text))
            index = 1
        for offset, item in enumerate(function_call_items(state)):
            at = index + offset
            yield self.event(
                "response.output_item.added", output_index=at, item=item | {"status": "in_progress", "arguments": ""}
            )
            ids = {"item_id": item["id"], "output_index": at}
            yield self.event("response.function_call_arguments.delta", **ids, delta=item["arguments"])
            yield self.event(
                "response.function_call_arguments.done", **ids, name=item["name"], arguments=item["arguments"]
            )
            yield self.event("response.output_item.done", output_index=at, item=item)
        kind = {"completed": "response.completed", "failed": "response.failed"}.get(
            response["status"], "response.failed"
        )
        yield self.event(kind, response=response)
