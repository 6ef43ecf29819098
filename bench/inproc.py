"""The in-process lower bound: the benchmark agent run with pydantic-ai directly, no HTTP hop.

The same agent the service runs (instructions, the builtin ``calculator`` tool from Axon's own
registry, pydantic-ai's OpenAI chat model on the same fake upstream, SDK retries off), driven
by this process's event loop with the same closed loop as the service measurements:

    --mode sync     ``await agent.run(prompt)``
    --mode stream   ``async with agent.run_stream_events(prompt)`` drained; ttfe = first event

Prints one JSON object per level on stdout.

    python bench/inproc.py --base-url http://127.0.0.1:8001/v1 --mode sync --levels 1,32,256
"""

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import Sample, drive, summarize
from bench.scenario import INSTRUCTIONS, MODEL_NAME, PROMPT, TOOL_NAME, output_ok


def build_agent(base_url: str) -> Any:
    from openai import AsyncOpenAI
    from pydantic_ai import Agent, Tool
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    from app.config import Settings
    from app.tools.registry import ToolRegistry

    builtin = ToolRegistry.load(Settings()).get(TOOL_NAME)
    assert builtin is not None, f"builtin tool {TOOL_NAME!r} is missing"

    async def call(**kwargs: Any) -> Any:
        return await builtin.invoke(None, kwargs)

    tool = Tool.from_schema(call, name=builtin.name, description=builtin.description, json_schema=builtin.parameters)
    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    model = OpenAIChatModel(MODEL_NAME, provider=OpenAIProvider(openai_client=client))
    return Agent(model, instructions=INSTRUCTIONS, tools=[tool])


async def measure(args: argparse.Namespace) -> None:
    agent = build_agent(args.base_url)

    async def sync_once() -> Sample:
        start = time.perf_counter()
        try:
            result = await agent.run(PROMPT)
        except Exception as exc:
            return Sample(False, time.perf_counter() - start, error=type(exc).__name__)
        ok = output_ok(result.output)
        return Sample(ok, time.perf_counter() - start, error=None if ok else "unexpected output")

    async def stream_once() -> Sample:
        from pydantic_ai import AgentRunResultEvent

        start = time.perf_counter()
        first: float | None = None
        output: Any = None
        try:
            async with agent.run_stream_events(PROMPT) as events:
                async for event in events:
                    if first is None:
                        first = time.perf_counter()
                    if isinstance(event, AgentRunResultEvent):
                        output = event.result.output
        except Exception as exc:
            return Sample(False, time.perf_counter() - start, error=type(exc).__name__)
        ok = output_ok(output)
        ttfe = None if first is None else first - start
        return Sample(ok, time.perf_counter() - start, ttfe=ttfe, error=None if ok else "unexpected output")

    one = sync_once if args.mode == "sync" else stream_once
    await drive(one, args.warmup_concurrency, args.warmup, duration=60)
    for level in (int(x) for x in args.levels.split(",")):
        await asyncio.sleep(0.5)
        cpu_before = time.process_time()
        samples, wall = await drive(one, level, args.count, args.duration)
        summary = {"concurrency": level, **summarize(samples, wall)}
        cpu_ms = (time.process_time() - cpu_before) * 1000
        summary["process_cpu_ms_per_run"] = round(cpu_ms / summary["ok"], 2) if summary["ok"] else None
        print(json.dumps(summary), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--mode", choices=["sync", "stream"], default="sync")
    parser.add_argument("--levels", default="1,32,256")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=64)
    parser.add_argument("--warmup-concurrency", type=int, default=16)
    args = parser.parse_args()
    import uvloop

    uvloop.run(measure(args))


if __name__ == "__main__":
    main()
