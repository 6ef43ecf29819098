"""schemathesis against the app on each backend: every check, zero failures.

The app is the suite's own (the ``app`` fixture, its lifespan on the test's event loop) with an admin
API key; schemathesis calls it in process (``schemathesis.openapi.from_asgi``) from a thread of its
own, each request bridged onto the test's loop. It reads ``/openapi.json`` and runs its engine, the
same one as its command line, with the settings of
``schemathesis.toml`` beside this file, every check, a fixed seed and the budget of a profile:

- ``ci`` (``make test``): examples, fuzzing and stateful phases, a few cases per operation;
- ``deep`` (``make fuzz``): every phase, coverage included, and many more cases.

``AXON_FUZZ_PROFILE`` picks the profile, ``AXON_FUZZ_SEED`` another seed (default 7). A failure
lists each problem with the curl command that reproduces it.
"""

import asyncio
import os
import tomllib
import warnings
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis.errors import HypothesisDeprecationWarning
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, from_schema
from schemathesis.engine.events import EngineFinished, FatalError, NonFatalError, ScenarioFinished
from schemathesis.python import asgi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


def _bridged(app: ASGIApp, loop: asyncio.AbstractEventLoop) -> ASGIApp:
    """``app`` as schemathesis calls it, from the event loop thread it runs ASGI apps on.

    Each request runs on ``loop``, the test's, where the ``app`` fixture started the lifespan (one
    app per process: DBOS runs once); schemathesis's own lifespan messages are answered here.
    """

    async def bridged(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        here = asyncio.get_running_loop()

        async def receive_here() -> Message:
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(receive(), here))

        async def send_here(message: Message) -> None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(send(message), here))

        handled = asyncio.run_coroutine_threadsafe(app(scope, receive_here, send_here), loop)
        try:
            await asyncio.wrap_future(handled)
        except asyncio.CancelledError:  # schemathesis cut an event stream short
            handled.cancel()
            raise

    return bridged


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


async def test_schemathesis_finds_nothing(app: FastAPI, admin_headers: dict[str, str]) -> None:
    problems = await asyncio.to_thread(_run, _bridged(app, asyncio.get_running_loop()), _config(admin_headers))
    assert not problems, "\n\n".join(dict.fromkeys(problems))


def _run(app: ASGIApp, config: SchemathesisConfig) -> list[str]:
    """The engine's run (blocking): every problem it found."""
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
            schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
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
    return problems
