"""The one agent every benchmark measurement runs, and how to recognise its answer.

Standard two-call shape against ``fake_upstream.py``: prompt → the model calls the builtin
``calculator`` tool → the model answers in text.
"""

from typing import Any

MODEL_NAME = "gpt-bench"
TOOL_NAME = "calculator"
INSTRUCTIONS = "You are a concise assistant. Use the calculator tool for arithmetic, then answer in one sentence."
PROMPT = "What is 2+3?"


def definition(name: str, endpoint: str) -> dict[str, Any]:
    """The Axon agent definition of the benchmark agent on model endpoint ``endpoint``."""
    return {
        "name": name,
        "model": f"{endpoint}:{MODEL_NAME}",
        "instructions": INSTRUCTIONS,
        "tools": [{"type": "builtin", "name": TOOL_NAME}],
    }


def output_ok(output: Any) -> bool:
    return isinstance(output, str) and output.startswith("The weather")
