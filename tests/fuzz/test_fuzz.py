"""schemathesis against a real server on each backend: zero failures of any check.

The server is `uvicorn app.main:create_app` (tests/runs/processes.py) on a fresh database, with an
admin API key; schemathesis loads its `/openapi.json` and runs every phase (examples, coverage,
fuzzing, stateful) with every check, a fixed seed and a bounded budget. `AXON_FUZZ_PROFILE=deep`
(`make fuzz`) gives it a larger budget; `AXON_FUZZ_SEED` another seed.
"""

import os
import subprocess
import sys
from pathlib import Path

from tests.runs.processes import Server, api_key, fresh_database

CONFIG = Path(__file__).with_name("schemathesis.toml")

PROFILES: dict[str, list[str]] = {
    # `make test`: about 15 s a backend.
    "ci": ["--max-examples", "6", "--phases", "examples,coverage,fuzzing,stateful"],
    # `make fuzz`: minutes, for a deliberate deeper look.
    "deep": ["--max-examples", "200", "--phases", "examples,coverage,fuzzing,stateful"],
}


def _profile() -> list[str]:
    name = os.environ.get("AXON_FUZZ_PROFILE", "ci")
    seed = os.environ.get("AXON_FUZZ_SEED", "7")
    return [*PROFILES[name], "--seed", seed]


async def test_schemathesis_finds_nothing(backend: str, tmp_path: Path) -> None:
    async with fresh_database(backend, tmp_path) as database_url:
        headers = await api_key(database_url, "fuzzer", role="admin")
        server = Server("fuzz", database_url, tmp_path / "server.log")
        await server.start()
        try:
            command = [
                *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color", "run"),
                f"{server.url}/openapi.json",
                *("--header", f"Authorization: {headers['Authorization']}"),
                *("--checks", "all", "--workers", "1", "--request-timeout", "20"),
                *_profile(),
            ]
            finished = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)  # noqa: ASYNC221
        finally:
            await server.stop_quietly()
    report = finished.stdout + finished.stderr
    summary = report[report.find("=" * 20) :] if "=" * 20 in report else report[-4000:]
    assert finished.returncode == 0, f"schemathesis found problems (server log: {server.log}):\n{report[-20000:]}"
    print(summary)  # noqa: T201
