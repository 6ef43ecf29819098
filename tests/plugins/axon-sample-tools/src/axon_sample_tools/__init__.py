"""Sample plugin tools: one sync, one async, one taking the run context; three docstring styles."""

from typing import Literal

from app.tools.functions import ToolContext, axon_tool


@axon_tool
def word_count(text: str, unique: bool = False) -> int:
    """Count the words in a text.

    Words are separated by whitespace.

    Args:
        text: The text to count.
        unique: Count each distinct word once.
    """
    words = text.split()
    return len(set(words)) if unique else len(words)


@axon_tool(name="convert_temperature")
async def convert(value: float, to: Literal["C", "F"] = "F", precision: int | None = None) -> float:
    """Convert a temperature between Celsius and Fahrenheit.

    Parameters
    ----------
    value
        The temperature to convert.
    to
        The unit to convert into.
    precision
        Decimal places to round to; no rounding when omitted.
    """
    result = value * 9 / 5 + 32 if to == "F" else (value - 32) * 5 / 9
    return round(result, precision) if precision is not None else result


@axon_tool
def whoami(ctx: ToolContext, greeting: str = "Hello") -> str:
    """Greet the caller of the current run.

    :param greeting: The word to greet with.
    """
    return f"{greeting}, {ctx.deps.principal.username}! This is {ctx.deps.agent_name} in run {ctx.deps.run_id}."


@axon_tool
def fail_loudly(reason: str) -> None:
    """Always raise an exception (for testing error handling).

    Args:
        reason: The exception message.
    """
    raise RuntimeError(reason)


TOOLS = [word_count, convert, whoami, fail_loudly]
