"""The service-overhead benchmark: Axon over HTTP against pydantic-ai in-process, same agent, same upstream.

What one run does (everything on 127.0.0.1, every loop bounded in count and time):

1. creates a fresh PostgreSQL database (``--postgres``, default the local server), migrates it,
   creates an admin user and an API key with the ``axon`` CLI;
2. starts two fake upstreams (``fake_upstream.py``): one answering at once, one after 200 ms;
3. starts the service exactly as deployed (``uvicorn app.main:create_app --factory``, one worker,
   auth on, ``AXON_ENV=production``, runs stored in that database, access log off), registers both
   upstreams as model endpoints and defines the benchmark agent once per upstream;
4. for each upstream latency and mode (sync ``POST /agents/{a}/run``, streaming
   ``POST /agents/{a}/run/stream``): a warm-up, then concurrency 1, 32 and 256 with a closed-loop
   raw HTTP/1.1 load generator, then the same levels with ``inproc.py`` (``agent.run()`` /
   ``run_stream_events()`` of the same agent in one process);
5. prints the table (p50/p95 latency, throughput, overhead against in-process, SSE time to first
   event, server CPU per run), writes it and the raw numbers to ``--out``, and checks the targets.

    .venv/bin/python bench/run.py --out /tmp/axon-bench
"""

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import RawClient, Sample, drive, sse_events, summarize  # noqa: E402
from bench.scenario import PROMPT, definition, output_ok  # noqa: E402

PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
TERMINAL = {"run.completed", "run.failed", "run.cancelled", "run.requires_action"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def process(name: str, args: list[str], env: dict[str, str], logs: Path) -> AsyncIterator[int]:
    """Start a process (its output to ``logs/name.log``); stop it by PID, SIGTERM then SIGKILL."""
    with (logs / f"{name}.log").open("wb") as out:
        proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=out, stderr=out, cwd=ROOT)
        try:
            yield proc.pid
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 15)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def wait_ready(port: int, path: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        client = RawClient("127.0.0.1", port)
        try:
            if (await client.request("GET", path)).status == 200:
                return
        except OSError:
            pass
        finally:
            await client.close()
        await asyncio.sleep(0.2)
    raise SystemExit(f"nothing ready on port {port}{path} after {seconds:g} s")


async def cli(env: dict[str, str], *args: str, stdin: bytes | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "app.cli",
        *args,
        env=env,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 120)
    if proc.returncode:
        raise SystemExit(f"axon {' '.join(args[:2])} failed: {err.decode()[-2000:]}")
    return out.decode()


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str) -> AsyncIterator[str]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"axon_bench_{os.getpid()}_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure_service(
    port: int, server_pid: int, agent: str, key: str, mode: str, args: argparse.Namespace
) -> list[dict[str, Any]]:
    path = f"/agents/{agent}/run" + ("/stream" if mode == "stream" else "")
    headers = {"authorization": f"Bearer {key}"}
    client = RawClient("127.0.0.1", port)

    async def one() -> Sample:
        start = time.perf_counter()
        try:
            response = await client.request("POST", path, {"input": PROMPT}, headers)
        except Exception as exc:
            return Sample(False, time.perf_counter() - start, error=type(exc).__name__)
        latency = time.perf_counter() - start
        if response.status != 200:
            return Sample(False, latency, error=f"HTTP {response.status}")
        if mode == "sync":
            body = json.loads(response.body)
            ok = body.get("status") == "completed" and output_ok(body.get("output"))
            return Sample(ok, latency, error=None if ok else "unexpected body")
        events = sse_events(response.body)
        last_name, last = events[-1] if events else (None, {})
        ok = last_name == "run.completed" and output_ok(last.get("output"))
        ok = ok and sum(1 for name, _ in events if name in TERMINAL) == 1
        ttfe = None if response.first_event is None else response.first_event - start
        return Sample(ok, latency, ttfe=ttfe, error=None if ok else f"stream ended with {last_name}")

    results: list[dict[str, Any]] = []
    try:
        await drive(one, args.warmup_concurrency, args.warmup, duration=60)
        for level in args.levels:
            await asyncio.sleep(0.5)
            cpu_before = cpu_seconds(server_pid)
            samples, wall = await drive(one, level, args.count, args.duration)
            summary = {"concurrency": level, **summarize(samples, wall)}
            cpu = cpu_seconds(server_pid) - cpu_before
            summary["server_cpu_ms_per_run"] = round(cpu * 1000 / summary["ok"], 2) if summary["ok"] else None
            log(f"    axon   C={level:<4} {_brief(summary)}")
            results.append(summary)
    finally:
        await client.close()
    return results


async def measure_inproc(base_url: str, mode: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    command = [
        PYTHON,
        str(ROOT / "bench" / "inproc.py"),
        "--base-url",
        base_url,
        "--mode",
        mode,
        "--levels",
        ",".join(map(str, args.levels)),
        "--duration",
        str(args.duration),
        "--count",
        str(args.count),
        "--warmup",
        str(args.warmup),
        "--warmup-concurrency",
        str(args.warmup_concurrency),
    ]
    proc = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    limit = 120 + len(args.levels) * (args.duration + 70)
    out, err = await asyncio.wait_for(proc.communicate(), limit)
    if proc.returncode:
        raise SystemExit(f"inproc.py failed: {err.decode()[-2000:]}")
    results = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    for summary in results:
        log(f"    inproc C={summary['concurrency']:<4} {_brief(summary)}")
    return results


def _brief(summary: dict[str, Any]) -> str:
    text = f"ok={summary['ok']} err={summary['errors']} rps={summary['rps']} p50={summary['p50_ms']}ms"
    if summary.get("ttfe_p50_ms") is not None:
        text += f" ttfe50={summary['ttfe_p50_ms']}ms"
    if summary["error_kinds"]:
        text += f" errors={summary['error_kinds']}"
    return text


async def main(args: argparse.Namespace) -> None:
    out_dir: Path = args.out
    logs = out_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "args": sys.argv[1:], "cells": []}
    async with fresh_database(args.postgres) as database_url:
        env = {
            **os.environ,
            "AXON_DATABASE_URL": database_url,
            "AXON_ENV": "production",
            "AXON_SECRET_KEY": secrets.token_urlsafe(48),
            # Admission control would queue a single owner's 256 concurrent runs: measure the
            # serving path, not the configured limits.
            "AXON_MAX_CONCURRENT_RUNS": "1024",
            "AXON_MAX_CONCURRENT_RUNS_PER_OWNER": "1024",
            **dict(item.split("=", 1) for item in args.env),
        }
        await cli(env, "migrate")
        await cli(env, "users", "create", "bench", "--password", "-", "--admin", stdin=b"bench-password-long\n")
        key = (await cli(env, "api-keys", "create", "bench", "--name", "bench")).strip().splitlines()[-1]
        upstream_ports = {latency: free_port() for latency in args.latencies}
        async with contextlib.AsyncExitStack() as stack:
            for latency, port in upstream_ports.items():
                upstream = [PYTHON, str(ROOT / "bench" / "fake_upstream.py"), "--port", str(port)]
                await stack.enter_async_context(
                    process(f"upstream-{latency}ms", [*upstream, "--latency-ms", str(latency)], dict(os.environ), logs)
                )
                await wait_ready(port, "/v1/models")
            port = free_port()
            server = [PYTHON, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1"]
            server += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
            if args.profile:
                server = [PYTHON, str(ROOT / "bench" / "profile_server.py"), "--out", str(out_dir / "profile.txt")]
                server += ["--port", str(port)]
            server_pid = await stack.enter_async_context(process("axon", server, env, logs))
            await wait_ready(port, "/health/ready")
            await define_agents(port, key, upstream_ports)
            for latency, upstream_port in upstream_ports.items():
                for mode in args.modes:
                    log(f"== upstream {latency} ms, {mode}")
                    axon = await measure_service(port, server_pid, f"bench-{latency}", key, mode, args)
                    base_url = f"http://127.0.0.1:{upstream_port}/v1"
                    inproc = await measure_inproc(base_url, mode, args)
                    results["cells"].append({"latency_ms": latency, "mode": mode, "axon": axon, "inproc": inproc})
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    table = render(results)
    (out_dir / "results.md").write_text(table)
    print(table)


async def define_agents(port: int, key: str, upstream_ports: dict[int, int]) -> None:
    client = RawClient("127.0.0.1", port)
    headers = {"authorization": f"Bearer {key}"}
    try:
        for latency, upstream_port in upstream_ports.items():
            endpoint = {"name": f"fake{latency}", "base_url": f"http://127.0.0.1:{upstream_port}/v1", "api_key": "sk-x"}
            for path, body in (
                ("/model-endpoints", endpoint),
                ("/agents", definition(f"bench-{latency}", endpoint["name"])),
            ):
                response = await client.request("POST", path, body, headers)
                if response.status != 201:
                    raise SystemExit(f"POST {path} answered {response.status}: {response.body[:500]!r}")
    finally:
        await client.close()


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown",
    )
    return {"nproc": os.cpu_count(), "cpu": model, "python": sys.version.split()[0]}


def render(results: dict[str, Any]) -> str:
    rows = [
        "| upstream | mode | C | Axon p50 / p95 ms | in-process p50 / p95 ms | p50 overhead ms | Axon runs/s | "
        "in-process runs/s | throughput ratio | Axon TTFE p50 ms | in-process TTFE p50 ms | CPU ms/run Axon / "
        "in-process | errors Axon / in-process |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in results["cells"]:
        for axon, inproc in zip(cell["axon"], cell["inproc"], strict=True):
            overhead = _diff(axon["p50_ms"], inproc["p50_ms"])
            ratio = f"{axon['rps'] / inproc['rps']:.0%}" if inproc["rps"] else "-"
            rows.append(
                f"| {cell['latency_ms']} ms | {cell['mode']} | {axon['concurrency']} | "
                f"{axon['p50_ms']} / {axon['p95_ms']} | {inproc['p50_ms']} / {inproc['p95_ms']} | {overhead} | "
                f"{axon['rps']} | {inproc['rps']} | {ratio} | {axon['ttfe_p50_ms'] or '-'} | "
                f"{inproc['ttfe_p50_ms'] or '-'} | {axon['server_cpu_ms_per_run']} / "
                f"{inproc.get('process_cpu_ms_per_run', '-')} | "
                f"{axon['errors']} / {inproc['errors']} |"
            )
    return "\n".join(rows) + "\n\n" + "\n".join(targets(results)) + "\n"


def _diff(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a - b:+.2f}"


def targets(results: dict[str, Any]) -> list[str]:
    def cell(latency: int, mode: str, level: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for c in results["cells"]:
            if c["latency_ms"] == latency and c["mode"] == mode:
                for axon, inproc in zip(c["axon"], c["inproc"], strict=True):
                    if axon["concurrency"] == level:
                        return axon, inproc
        return None

    lines: list[str] = []
    if found := cell(0, "sync", 1):
        axon, inproc = found
        overhead = axon["p50_ms"] - inproc["p50_ms"]
        lines.append(
            f"- p50 overhead per sync run at C=1 (0 ms upstream): {overhead:+.2f} ms (target ≤ 2 ms): "
            + ("met" if overhead <= 2 else "MISSED")
        )
    if found := cell(200, "sync", 256):
        axon, inproc = found
        ratio = axon["rps"] / inproc["rps"] if inproc["rps"] else 0.0
        lines.append(
            f"- throughput at C=256, 200 ms upstream: {ratio:.0%} of in-process (target ≥ 90 %): "
            + ("met" if ratio >= 0.9 else "MISSED")
        )
    if found := cell(0, "stream", 1):
        axon, inproc = found
        if axon["ttfe_p50_ms"] is not None and inproc["ttfe_p50_ms"] is not None:
            extra = axon["ttfe_p50_ms"] - inproc["ttfe_p50_ms"]
            lines.append(
                f"- SSE time to first event at C=1 (0 ms upstream): {extra:+.2f} ms over in-process "
                "(target ≤ +3 ms): " + ("met" if extra <= 3 else "MISSED")
            )
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--levels", default="1,32,256", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--latencies", default="0,200", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--modes", default="sync,stream", type=lambda s: s.split(","))
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per level (a cap)")
    parser.add_argument("--count", type=int, default=5000, help="requests per level (a cap)")
    parser.add_argument("--warmup", type=int, default=64)
    parser.add_argument("--warmup-concurrency", type=int, default=16)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the service (limits)")
    parser.add_argument("--profile", action="store_true", help="run the service under pyinstrument")
    parser.add_argument("--out", type=Path, default=Path("/tmp") / f"axon-bench-{time.strftime('%Y%m%d-%H%M%S')}")
    args = parser.parse_args()
    for url in (args.postgres,):
        if "@127.0.0.1" not in url and "@localhost" not in url:
            raise SystemExit("the benchmark only talks to loopback")
    return args


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--render":  # re-render a results.json
        print(render(json.loads(Path(sys.argv[2]).read_text())))
        sys.exit(0)
    import uvloop

    uvloop.run(main(parse_args()))
