"""Prometheus metrics (API.md §7): the instruments, and the few calls that record them.

The instruments live in this module's own `REGISTRY` (not prometheus-client's global default), made
once at import like every prometheus-client metric. Recording is a handful of counter increments
per run, done once when it ends (`record_run_end`), never per token or per event.

Several workers (``axon serve --workers N``): prometheus-client's multiprocess mode. ``axon serve``
sets ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the workers start
(`app.observability.multiproc`); each worker then writes its values to files there, and
`exposition` reads every worker's files into one view, whichever worker Prometheus reaches.
"""

import os
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import (
    MultiProcessCollector,
    mark_process_dead,  # pyright: ignore[reportUnknownVariableType]
)
from pydantic_ai.messages import ModelMessage, ModelResponse

from app.observability.multiproc import MULTIPROC_ENV

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED_ROUTE = "<unmatched>"
"""The ``route`` label of a request no route matched (a 404): raw paths never become labels."""

disable_created_metrics()  # no ``*_created`` series: they double the series count and nobody graphs them
REGISTRY = CollectorRegistry(auto_describe=True)

RUN_SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0)
FIRST_EVENT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 60.0)
HTTP_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)

RUNS = Counter(
    "axon_runs",
    "Runs that ended, by agent, status and error type.",
    ["agent", "status", "error_type"],
    registry=REGISTRY,
)
RUN_DURATION = Histogram(
    "axon_run_duration_seconds",
    "Wall time from a run's start to its end.",
    ["agent", "mode"],
    buckets=RUN_SECONDS_BUCKETS,
    registry=REGISTRY,
)
RUN_FIRST_EVENT = Histogram(
    "axon_run_time_to_first_event_seconds",
    "Time from a run's start to its first text, thinking, output or tool-call event.",
    ["agent"],
    buckets=FIRST_EVENT_BUCKETS,
    registry=REGISTRY,
)
RUNS_ACTIVE = Gauge(
    "axon_runs_active", "Runs executing in this process now.", registry=REGISTRY, multiprocess_mode="livesum"
)
MODEL_REQUESTS = Counter(
    "axon_model_requests", "Model responses received, by model name.", ["model"], registry=REGISTRY
)
TOKENS = Counter(
    "axon_tokens",
    "Tokens used, by model and type (input, output, cache_read, cache_write, reasoning).",
    ["model", "type"],
    registry=REGISTRY,
)
COST = Counter(
    "axon_cost_usd", "Cost in USD of the model responses whose price is known, by model.", ["model"], registry=REGISTRY
)
TOOL_CALLS = Counter(
    "axon_tool_calls",
    "Tool calls, by tool and outcome (success, error, retry).",
    ["tool", "outcome"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "axon_webhook_deliveries",
    "Webhook HTTP attempts, by outcome (success, http_4xx, http_5xx, timeout, connection_error, refused).",
    ["outcome"],
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "axon_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "axon_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response (a stream counts until it closes).",
    ["method", "route", "status"],
    buckets=HTTP_SECONDS_BUCKETS,
    registry=REGISTRY,
)

_TOKEN_FIELDS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_tokens"),
    ("cache_write", "cache_write_tokens"),
    ("reasoning", "output_reasoning_tokens"),
)


def record_run_end(
    *,
    agent: str,
    mode: str,
    status: str,
    error_type: str | None,
    duration_s: float,
    first_event_s: float | None,
    messages: Sequence[ModelMessage],
) -> None:
    """Count one ended run and the model responses among its new messages.

    Tokens and cost come from each response (a sub-run's responses are counted by the sub-run, so
    nothing is counted twice even though the parent's ``usage`` includes them).
    """
    RUNS.labels(agent, status, error_type or "").inc()
    RUN_DURATION.labels(agent, mode).observe(max(duration_s, 0.0))
    if first_event_s is not None:
        RUN_FIRST_EVENT.labels(agent).observe(max(first_event_s, 0.0))
    for message in messages:
        if isinstance(message, ModelResponse):
            _record_response(message)


def _record_response(response: ModelResponse) -> None:
    model = response.model_name or "unknown"
    MODEL_REQUESTS.labels(model).inc()
    usage = response.usage
    for kind, attribute in _TOKEN_FIELDS:
        count: int = getattr(usage, attribute)
        if count:
            TOKENS.labels(model, kind).inc(count)
    if usage.cost is not None:
        COST.labels(model).inc(float(usage.cost))


def record_tool_result(tool: str, outcome: str) -> None:
    TOOL_CALLS.labels(tool, outcome).inc()


def record_webhook_delivery(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome).inc()


def record_http(method: str, route: str, status: int, seconds: float) -> None:
    code = str(status)
    HTTP_REQUESTS.labels(method, route, code).inc()
    HTTP_DURATION.labels(method, route, code).observe(seconds)


# -- exposition ------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class _Snapshot:
    """A collector of values computed at scrape time (the database's queued runs)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def exposition(queued_runs: int | None) -> bytes:
    """The text format of every metric: this process's, or every worker's in multiprocess mode."""
    registry = CollectorRegistry()
    folder = multiprocess_dir()
    if folder is not None:
        MultiProcessCollector(registry, path=folder)
    else:
        registry.register(_Snapshot(REGISTRY.collect()))
    if queued_runs is not None:
        queued = GaugeMetricFamily(
            "axon_runs_queued", "Background runs waiting in the durable queue (all replicas).", value=queued_runs
        )
        registry.register(_Snapshot([queued]))
    return generate_latest(registry)


def process_exited() -> None:
    """Drop this worker's live gauges from the multiprocess view (called on shutdown)."""
    if multiprocess_dir() is not None:
        mark_process_dead(os.getpid())
