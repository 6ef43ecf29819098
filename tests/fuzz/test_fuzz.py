"""schemathesis against the app on each backend: every check, zero failures.

The app runs in this process (``schemathesis.openapi.from_asgi``: schemathesis starts its lifespan on
an event loop thread of its own) on a fresh, migrated database with an admin API key. schemathesis
reads ``/openapi.json`` and runs its engine, the same one as its command line, with the settings of
``schemathesis.toml`` beside this file, every check, a fixed seed and the budget of a profile:

- ``ci`` (``make test``): examples, fuzzing and stateful phases, a few cases per operation;
- ``deep`` (``make fuzz``): every phase, coverage included, and many more cases.

``AXON_FUZZ_PROFILE`` picks the profile, ``AXON_FUZZ_SEED`` another seed (default 7). A failure
lists each problem with the curl command that reproduces it.
"""

import os
import tomllib
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis.errors import HypothesisDeprecationWarning
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, from_schema
from schemathesis.engine.events import EngineFinished, FatalError, NonFatalError, ScenarioFinished
from schemathesis.python import asgi

from app.config import Settings
from app.main import create_app
from tests.databases import scratch_database
from tests.runs.processes import api_key

CONFIG = Path(__file__).with_name("schemathesis.toml")
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
]
PROFILES: dict[str, dict[str, Any]] = {
    "ci": {"max-examples": 8, "coverage": False, "max-steps": 6},
    "deep": {"max-examples": 150, "coverage": True, "max-steps": 30},
}


def _config(headers: dict[str, str]) -> SchemathesisConfig:
    profile = PROFILES[os.environ.get("AXON_FUZZ_PROFILE", "ci")]
    data = tomllib.loads(CONFIG.read_text())
    data["seed"] = int(os.environ.get("AXON_FUZZ_SEED", "7"))
    data["headers"] = headers
    data["workers"] = 1
    data["checks"] = {name: {"enabled": True} for name in CHECKS}
    data.setdefault("generation", {})["max-examples"] = profile["max-examples"]
    data["phases"] = {
        "examples": {"enabled": True},
        "coverage": {"enabled": profile["coverage"]},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": True, "max-steps": profile["max-steps"]},
    }
    return SchemathesisConfig.from_dict(data)


@pytest.fixture
async def fuzz_settings(backend: str, tmp_path: Path) -> AsyncIterator[tuple[Settings, dict[str, str]]]:
    async with scratch_database(backend, tmp_path, "axon_fuzz", migrated=True) as url:
        settings = Settings(
            database_url=url,
            env="development",
            secret_key="fuzz-secret-key-that-is-long-enough-for-hs256",  # type: ignore[arg-type]
        )
        yield settings, await api_key(url, "fuzzer", role="admin")


def _describe(event: ScenarioFinished) -> list[str]:
    problems: list[str] = []
    for checks in event.recorder.checks.values():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                problems.append(
                    f"[{event.phase.value}] {event.label}: {failure.title}\n{failure.message}\n"
                    f"{check.failure_info.code_sample}"
                )
    return problems or [f"[{event.phase.value}] {event.label}: {event.status.value}"]


def test_schemathesis_finds_nothing(fuzz_settings: tuple[Settings, dict[str, str]]) -> None:
    settings, headers = fuzz_settings
    app = create_app(settings)
    problems: list[str] = []
    finished: EngineFinished | None = None
    scenarios: dict[str, int] = {}
    requests: dict[str, int] = {}
    timings: list[tuple[float, str]] = []
    with warnings.catch_warnings():
        # The app runs as it would under uvicorn: a library's deprecation warning is not an error there.
        warnings.simplefilter("default")
        warnings.simplefilter("ignore", HypothesisDeprecationWarning)  # schemathesis's own use of `random`
        try:
            schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(headers))
            for event in from_schema(schema).execute():
                if isinstance(event, ScenarioFinished):
                    scenarios[event.phase.value] = scenarios.get(event.phase.value, 0) + 1
                    requests[event.phase.value] = requests.get(event.phase.value, 0) + len(event.recorder.cases)
                    timings.append((event.elapsed_time, f"{event.phase.value} {event.label}"))
                if isinstance(event, ScenarioFinished) and event.status in (Status.FAILURE, Status.ERROR):
                    problems.extend(_describe(event))
                elif isinstance(event, NonFatalError | FatalError):
                    problems.append(f"{type(event).__name__}: {event.value!r}")
                elif isinstance(event, EngineFinished):
                    finished = event
        finally:
            asgi.shutdown_lifespans()
    assert finished is not None
    if os.environ.get("AXON_FUZZ_STATS"):
        print(f"schemathesis: {finished.running_time:.1f} s, scenarios {scenarios}, cases {requests}")  # noqa: T201
        print(sorted(timings, reverse=True)[:12])  # noqa: T201
    assert not problems, "\n\n".join(dict.fromkeys(problems))
