"""Background runs on DBOS durable workflows and queues.

- One generic workflow, ``axon_run(run_id)``, registered at import. The stored run row and its
  agent version (immutable) are the snapshot it executes, so a recovered workflow rebuilds the
  same agent. Agents for durable runs carry `DBOSDurability`: every model request is a DBOS step,
  checkpointed in DBOS's system database, so a resumed run does not call the model again for a
  step that completed. Tools are not steps: a tool call after the last checkpoint runs again.
- One partitioned queue, ``axon_runs``: ``global_concurrency`` is ``max_concurrent_runs``,
  ``partition_concurrency`` is ``max_concurrent_runs_per_owner`` (partition key: the owner id).
  Both hold across every process sharing the database.
- ``DBOS.launch()`` is called on the server's event loop thread on purpose: DBOS then runs
  every dequeued or recovered workflow on that loop, so runs share the loop-bound engine, HTTP
  clients and in-process subscribers with requests (otherwise they run on DBOS's own loop in
  another thread, see the DBOS notes in the README).
- ``application_version`` is pinned (`APPLICATION_VERSION`): DBOS recovers only workflows of its
  current version. Bump it only when the workflow's step sequence changes incompatibly.
"""

import asyncio
import concurrent.futures
import logging
import os
import secrets
import socket
import uuid
from collections import OrderedDict
from typing import Any, Protocol

from dbos import DBOS, DBOSConfig, SetEnqueueOptions, SetWorkflowID
from pydantic_ai.durable_exec.dbos import DBOSDurability
from pydantic_ai.models import Model
from sqlalchemy import make_url

from app.agents.build import AgentFactory, BuiltAgent, build_agent, endpoint_refs
from app.agents.definition import load_stored
from app.agents.models import AgentVersion
from app.config import Settings
from app.llm.resolve import build_model_chain

logger = logging.getLogger("axon.runs")

WORKFLOW_NAME = "axon_run"
QUEUE_NAME = "axon_runs"
APPLICATION_VERSION = "axon-1"
_MODEL_STEP_CONFIG: Any = {"retries_allowed": False, "preemptible": True}
"""``preemptible``: DBOS checks every second whether the workflow was cancelled and aborts the step
(a backstop for the NOTIFY-driven cancel). Not in pydantic-ai's `StepConfig` type, passed through."""


def executor_id_of(settings: Settings) -> str:
    """``AXON_EXECUTOR_ID``, else unique per process (every uvicorn worker gets its own)."""
    return settings.executor_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def system_database_url(settings: Settings) -> str:
    """DBOS's system database: the service's own (schema ``dbos``), or a sibling SQLite file.

    DBOS uses synchronous drivers: ``+aiosqlite`` is dropped, and an asyncpg URL is rewritten by
    DBOS to psycopg 3.
    """
    url = make_url(settings.dbos_system_database_url or settings.database_url)
    if url.get_backend_name() != "sqlite":
        return url.render_as_string(hide_password=False)
    url = url.set(drivername="sqlite")
    if settings.dbos_system_database_url is None and url.database and url.database != ":memory:":
        url = url.set(database=f"{url.database}.dbos.sqlite")
    return url.render_as_string(hide_password=False)


class DurableAgents(AgentFactory):
    """The agent factory's build, plus `DBOSDurability` named per (agent id, version).

    Kept apart from the request path's cache: a durable agent's model steps only checkpoint
    inside a workflow, and its step names must stay stable across processes and restarts.
    """

    def __init__(self, factory: AgentFactory) -> None:
        super().__init__(
            factory.settings, factory.database, factory.http_client, toolset_options=factory.toolset_options
        )
        self._durable: OrderedDict[tuple[Any, ...], BuiltAgent] = OrderedDict()

    async def get_durable(self, version: AgentVersion, model: Model | None = None) -> BuiltAgent:
        definition = load_stored(version.definition)
        endpoints, fingerprint = await self._endpoints(endpoint_refs(definition))
        key = (version.agent_id, version.version, version.spec_hash, fingerprint, id(model))
        cached = self._durable.get(key)
        if cached is not None:
            self._durable.move_to_end(key)
            return cached
        chosen = model or build_model_chain(definition.model_refs(), self.settings, self.http_client, endpoints)
        name = f"axon_{version.agent_id.hex}_v{version.version}"
        durability: DBOSDurability[Any] = DBOSDurability(name=name, model_step_config=_MODEL_STEP_CONFIG)
        agent = build_agent(definition, chosen, self._toolsets(definition), [durability])
        self._durable[key] = agent
        while len(self._durable) > max(1, self.settings.agent_cache_size):
            self._durable.popitem(last=False)
        return agent


class Executor(Protocol):
    """What the workflow needs from the process: run a stored run to its end (`app.runs.background`)."""

    async def execute_stored(self, run_id: uuid.UUID) -> None: ...


_executor: Executor | None = None
"""DBOS is one instance per process; the workflow finds this process's executor here."""


@DBOS.workflow(name=WORKFLOW_NAME)
async def axon_run(run_id: str) -> None:
    if _executor is None:
        raise RuntimeError("no background executor is running in this process")
    await _executor.execute_stored(uuid.UUID(run_id))


def _dbos_config(settings: Settings, executor_id: str) -> DBOSConfig:
    config: DBOSConfig = {
        "name": "axon",
        "system_database_url": system_database_url(settings),
        "executor_id": executor_id,
        "application_version": APPLICATION_VERSION,
        "log_level": "WARNING",
    }
    if settings.is_sqlite:
        # No LISTEN/NOTIFY on SQLite: DBOS polls; a short interval also makes shutdown quick.
        config["notification_listener_polling_interval_sec"] = 0.1
    return config


class _ShortDBOSRecords(logging.Filter):
    """DBOS logs some records with the full repr of a step's arguments (prompts, run context): keep the
    first line, cut to a sane length, and drop the stack so nothing sensitive ends up in the logs."""

    MAX_CHARS = 300

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage().splitlines()[0] if record.getMessage() else ""
        if len(message) > self.MAX_CHARS:
            message = message[: self.MAX_CHARS] + "…"
        record.msg, record.args, record.exc_info, record.exc_text = message, None, None, None
        return True


def launched() -> bool:
    return _executor is not None


async def launch(settings: Settings, executor_id: str, executor: Executor) -> None:
    """Start DBOS for this process: recovery of this executor's pending runs starts at once.

    DBOS is one instance per process: a second app in the same process (tests) must not launch.
    """
    global _executor
    if _executor is not None:
        raise RuntimeError("DBOS is already running in this process")
    dbos_logger = logging.getLogger("dbos")
    if not dbos_logger.handlers:
        # With a handler present DBOS keeps its records in the app's logging (no own console handler).
        dbos_logger.addHandler(logging.NullHandler())
    if not any(isinstance(f, _ShortDBOSRecords) for f in dbos_logger.filters):
        dbos_logger.addFilter(_ShortDBOSRecords())
    _executor = executor
    DBOS(config=_dbos_config(settings, executor_id))
    # Deliberately on the loop thread (a short, one-time block before the server serves): DBOS
    # adopts this loop and runs every workflow on it.
    DBOS.launch()
    await DBOS.register_queue_async(
        QUEUE_NAME,
        global_concurrency=settings.max_concurrent_runs,
        partition_concurrency=settings.max_concurrent_runs_per_owner,
        polling_interval_sec=settings.queue_poll_seconds,
        on_conflict="always_update",
    )


async def destroy() -> None:
    """Stop DBOS. Workflows still pending stay so in its database: a restart or another replica resumes them."""
    global _executor
    await asyncio.to_thread(DBOS.destroy, workflow_completion_timeout_sec=0)
    # DBOS installed its own thread pool as this loop's default executor and just shut it down.
    asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor())
    _executor = None


async def enqueue(run_id: uuid.UUID, owner_id: uuid.UUID) -> None:
    """Queue the run (idempotent per run id). Always with a partition key: without one DBOS would
    accept the enqueue and never start it."""
    with SetWorkflowID(str(run_id)), SetEnqueueOptions(queue_partition_key=str(owner_id)):
        await DBOS.enqueue_workflow_async(QUEUE_NAME, axon_run, str(run_id))


async def cancel(run_id: uuid.UUID) -> None:
    """Mark the workflow cancelled: a queued one never starts, a running one stops at its next step."""
    await DBOS.cancel_workflow_async(str(run_id))


async def workflow_status(run_id: uuid.UUID) -> str | None:
    status = await DBOS.get_workflow_status_async(str(run_id))
    return None if status is None else status.status


def recover_executor(executor_id: str) -> int:
    """Re-enqueue a dead executor's pending workflows (blocking; call in a thread).

    DBOS without its hosted conductor only recovers its own executor id at launch; this is the
    same recovery for another id. Idempotent: it only touches rows still pending on that executor.
    """
    handles = DBOS._recover_pending_workflows([executor_id])  # pyright: ignore[reportPrivateUsage]
    return len(handles)
