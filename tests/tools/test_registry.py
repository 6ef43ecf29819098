import datetime as dt
import threading
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from app.config import Settings
from app.tools.functions import introspect
from app.tools.registry import ToolContext, ToolRegistry, axon_tool, discover_plugins


def test_the_sample_plugin_is_found_through_its_entry_point() -> None:
    names = {tool.name for tool in discover_plugins()}
    assert {"word_count", "convert_temperature", "whoami", "fail_loudly"} <= names


def test_google_docstring_sync_function() -> None:
    tool = next(t for t in discover_plugins() if t.name == "word_count")
    assert tool.description == "Count the words in a text.\n\nWords are separated by whitespace."
    assert tool.takes_ctx is False
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "text": {"type": "string", "description": "The text to count."},
            "unique": {"type": "boolean", "description": "Count each distinct word once."},
        },
        "required": ["text"],
    }


def test_numpy_docstring_async_function_with_literal_and_optional() -> None:
    tool = next(t for t in discover_plugins() if t.name == "convert_temperature")
    assert tool.function.__name__ == "convert"
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "value": {"type": "number", "description": "The temperature to convert."},
            "to": {"type": "string", "enum": ["C", "F"], "description": "The unit to convert into."},
            "precision": {
                "type": ["integer", "null"],
                "description": "Decimal places to round to; no rounding when omitted.",
            },
        },
        "required": ["value"],
    }


def test_sphinx_docstring_and_run_context_parameter() -> None:
    tool = next(t for t in discover_plugins() if t.name == "whoami")
    assert tool.takes_ctx is True
    assert tool.description == "Greet the caller of the current run."
    assert tool.parameters == {
        "type": "object",
        "properties": {"greeting": {"type": "string", "description": "The word to greet with."}},
    }


class Window(BaseModel):
    start: dt.date
    days: int = Field(ge=1)


def test_nested_models_are_inlined_and_constraints_kept() -> None:
    @axon_tool(name="book", description="Book a room.")
    def book(ctx: ToolContext, room: Annotated[str, Field(pattern="^[A-Z][0-9]+$")], window: Window) -> str:
        return room

    assert book.takes_ctx
    assert book.description == "Book a room."
    assert book.parameters == {
        "type": "object",
        "properties": {
            "room": {"type": "string", "pattern": "^[A-Z][0-9]+$"},
            "window": {
                "type": "object",
                "properties": {
                    "start": {"type": "string", "format": "date"},
                    "days": {"type": "integer", "minimum": 1},
                },
                "required": ["start", "days"],
            },
        },
        "required": ["room", "window"],
    }


async def test_invoke_coerces_json_arguments_and_runs_sync_functions_in_a_thread() -> None:
    seen: list[str] = []

    def lookup(when: dt.date, mode: Literal["a", "b"] = "a") -> str:
        seen.append(threading.current_thread().name)
        return f"{when.isoformat()}:{mode}"

    tool = introspect(lookup)
    assert await tool.invoke(None, {"when": "2024-02-29"}) == "2024-02-29:a"
    assert seen
    assert seen[0] != threading.main_thread().name


def test_var_args_are_refused() -> None:
    def bad(*values: int) -> int:
        return sum(values)

    with pytest.raises(TypeError, match="must be passable by keyword"):
        introspect(bad)


def test_registry_has_builtins_and_plugins(tool_settings: Settings) -> None:
    registry = ToolRegistry.load(tool_settings)
    names = [tool.name for tool in registry.all()]
    assert names == sorted(names)
    assert {"current_time", "calculator", "http_get", "word_count", "whoami"} <= set(names)
    assert "nope" not in registry
