"""A deterministic OpenAI-compatible upstream for the benchmark (loopback only).

Serves ``POST /v1/chat/completions`` (JSON and SSE with a usage chunk) and ``GET /v1/models``.
Every completion waits ``--latency-ms`` before its first byte, then sends ``--tokens`` pieces
at once. What it answers:

- tools offered and no tool result in the conversation yet → one call of the first tool that is
  not pydantic-ai's output tool, with arguments built from its JSON Schema;
- otherwise → plain text of ``--tokens`` words starting with "The weather".

So an agent with one tool makes the standard two-call run: prompt → tool call → text.

    python bench/fake_upstream.py --port 8001 --latency-ms 200
"""

import argparse
import asyncio
import itertools
import json
from typing import Any

WORDS = [
    "The",
    "weather",
    "in",
    "the",
    "requested",
    "city",
    "is",
    "sunny",
    "with",
    "a",
    "light",
    "breeze",
    "and",
    "twenty",
    "one",
    "degrees",
    "today",
]
CREATED = 1_700_000_000
_ids = itertools.count(1)
CONFIG: dict[str, float] = {"latency_ms": 0.0, "tokens": 20}


def example(schema: Any, name: str = "value") -> Any:
    """A small value valid against simple JSON Schemas (objects, scalars, enums, arrays)."""
    if not isinstance(schema, dict):
        return name
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties", {})
        required = schema.get("required", [])
        return {key: example(properties.get(key, {}), key) for key in required}
    if kind == "array":
        return [example(schema.get("items", {}), name)]
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "Paris" if "city" in name.lower() else "2+3" if "expr" in name.lower() else f"example {name}"


def decide(body: dict[str, Any]) -> dict[str, Any]:
    tools = [t.get("function", t) for t in body.get("tools") or []]
    function_tools = [t for t in tools if not str(t.get("name", "")).startswith("final_result")]
    seen_result = any(m.get("role") == "tool" for m in body.get("messages", []))
    if function_tools and not seen_result:
        tool = function_tools[0]
        arguments = json.dumps(example(tool.get("parameters") or {}), separators=(",", ":"))
        return {"kind": "tool", "name": tool["name"], "arguments": arguments}
    count = int(CONFIG["tokens"])
    words = [WORDS[i % len(WORDS)] for i in range(count)]
    return {"kind": "text", "pieces": [words[0], *(" " + w for w in words[1:])]}


def usage(body: dict[str, Any], completion_tokens: int) -> dict[str, int]:
    prompt_tokens = max(1, len(json.dumps(body.get("messages", []))) // 4)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["method"] == "GET":
        await _reply(send, 200, b'{"object":"list","data":[{"id":"gpt-bench","object":"model"}]}')
        return
    body = json.loads(raw)
    number = next(_ids)
    plan = decide(body)
    model = body.get("model", "gpt-bench")
    if CONFIG["latency_ms"] > 0:
        await asyncio.sleep(CONFIG["latency_ms"] / 1000)
    completion_tokens = len(plan.get("pieces", [])) or 8
    finish = "tool_calls" if plan["kind"] == "tool" else "stop"
    call = {"id": f"call_{number}", "type": "function", "function": {"name": plan.get("name"), "arguments": ""}}
    if not body.get("stream"):
        message_out: dict[str, Any] = {"role": "assistant", "content": None}
        if plan["kind"] == "tool":
            call["function"]["arguments"] = plan["arguments"]
            message_out["tool_calls"] = [call]
        else:
            message_out["content"] = "".join(plan["pieces"])
        payload = {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [{"index": 0, "message": message_out, "finish_reason": finish}],
            "usage": usage(body, completion_tokens),
        }
        await _reply(send, 200, json.dumps(payload).encode())
        return

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        data = {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        return b"data: " + json.dumps(data).encode() + b"\n\n"

    if plan["kind"] == "tool":
        call["function"]["arguments"] = plan["arguments"]
        out = [chunk({"role": "assistant", "tool_calls": [{"index": 0, **call}]})]
    else:
        out = [
            chunk({"role": "assistant", "content": piece} if i == 0 else {"content": piece})
            for i, piece in enumerate(plan["pieces"])
        ]
    out.append(chunk({}, finish))
    if (body.get("stream_options") or {}).get("include_usage"):
        tail = {"id": f"chatcmpl-{number}", "object": "chat.completion.chunk", "created": CREATED, "model": model}
        tail |= {"choices": [], "usage": usage(body, completion_tokens)}
        out.append(b"data: " + json.dumps(tail).encode() + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body", "body": b"".join(out)})


async def _reply(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--tokens", type=int, default=20)
    args = parser.parse_args()
    CONFIG.update(latency_ms=args.latency_ms, tokens=args.tokens)
    import uvicorn

    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, lifespan="off", backlog=4096
    )


if __name__ == "__main__":
    main()
