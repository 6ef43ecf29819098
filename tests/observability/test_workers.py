"""``axon serve --workers 2``: one `/metrics` view of both workers (prometheus multiprocess mode)."""

import asyncio
import os
import socket
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

AXON = str(Path(sys.executable).parent / "axon")
STARTUP_TIMEOUT = 180.0  # two workers importing and starting the app on a busy two-core machine
REQUESTS = 40


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _health_requests(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "axon_http_requests_total" and sample.labels.get("route") == "/health/live":
                return sample.value
    return 0.0


async def test_two_workers_report_one_view(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AXON_", "PROMETHEUS_"))}
    env |= {"AXON_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'axon.db'}", "AXON_ENV": "development"}
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        AXON, "serve", "--port", str(port), "--workers", "2", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    lines: list[str] = []

    async def drain() -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            lines.append(line.decode())

    reader = asyncio.create_task(drain())
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while sum("Application startup complete" in line for line in lines) < 2:
                assert process.returncode is None, "".join(lines)
                await asyncio.sleep(0.1)
        folder = next(line for line in lines if "metrics" in line.lower() and "axon-metrics-" in line)
        base = f"http://127.0.0.1:{port}"

        async def one() -> None:
            async with httpx.AsyncClient(trust_env=False) as fresh:  # a new connection each: both workers serve
                assert (await fresh.get(f"{base}/health/live")).status_code == 200

        await asyncio.gather(*(one() for _ in range(REQUESTS)))
        views: list[float] = []
        for _ in range(6):
            async with httpx.AsyncClient(trust_env=False) as fresh:
                views.append(_health_requests((await fresh.get(f"{base}/metrics")).text))
        assert views == [REQUESTS] * 6, views
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), timeout=60)
        await reader
    assert not await asyncio.to_thread(Path(folder.split()[-1]).exists)  # the temporary directory is gone
