"""Stored definition versions → pydantic-ai agents, cached per version.

One :class:`AgentFactory` lives on ``app.state.agent_factory`` (created in the lifespan). The runs
package calls ``await factory.get(version)`` for every run; building costs ~1 ms and happens once per
(agent id, version, spec_hash, endpoint configuration) until evicted from the bounded LRU. A cache hit
neither re-validates the stored definition nor queries the database: the referenced endpoints are
reloaded when this process changed one, and at most ``ENDPOINT_RECHECK_SECONDS`` after another
process did.

What :func:`build_agent` produces:

- ``deps_type=RunDeps``; instructions rendered by us from ``ctx.deps.vars`` (see
  :mod:`app.agents.templates`), in list order, joined by a blank line.
- ``output_type``: ``str`` without ``output_schema``; otherwise ``StructuredDict(schema)`` wrapped per
  ``output_mode`` (``ToolOutput`` / ``NativeOutput`` / ``PromptedOutput``); always listed with
  ``DeferredToolRequests`` so external tools and approvals pause the run.
- An output validator that checks structured output with ``jsonschema`` (draft 2020-12). On a
  mismatch it sets ``ctx.deps.last_output_error = {"errors": [{"path", "message"}], "raw_output"}``
  and raises ``ModelRetry`` naming the errors.
- model (and ``FallbackModel`` chain) from :mod:`app.llm.resolve`; settings, retries, end strategy,
  tool timeout, metadata and allowlisted capabilities from the definition; toolsets from
  :func:`app.tools.toolset.build_toolsets`.

Errors: :class:`app.errors.ModelNotConfigured` (422 ``ModelNotConfigured``, not retryable) when the
server cannot serve the model (missing credentials, SDK or endpoint); the tools package's
``InvalidAgentDefinition`` for a tool that no longer resolves.
"""

import time
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

import httpx2
from jsonschema import Draft202012Validator, ValidationError
from pydantic_ai import (
    Agent,
    DeferredToolRequests,
    ModelRetry,
    NativeOutput,
    PromptedOutput,
    RunContext,
    StructuredDict,
    ToolOutput,
)
from pydantic_ai.agent.abstract import AgentRetries
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings
from pydantic_ai.toolsets import AbstractToolset

from app.agents import capabilities, templates
from app.agents.definition import AgentDefinition, load_stored
from app.agents.models import AgentVersion
from app.agents.schema_checks import json_path
from app.config import Settings
from app.db import Database
from app.llm.resolve import PROVIDERS, EndpointConfig, build_model_chain, split_ref
from app.llm.service import ENDPOINT_GENERATION, load_endpoints
from app.runtime import RunDeps
from app.tools.toolset import build_toolsets

BuiltAgent = Agent[RunDeps, Any]
CacheKey = tuple[Any, ...]

_MAX_REPORTED_ERRORS = 10
ENDPOINT_RECHECK_SECONDS = 5.0
"""How long an endpoint configuration read from the database is trusted (changes made by other processes)."""
_MAX_ENDPOINT_SETS = 1024


def _output_type(definition: AgentDefinition) -> Any:
    if definition.output_schema is None:
        return [str, DeferredToolRequests]
    structured = StructuredDict(definition.output_schema)
    wrapped: Any
    match definition.output_mode:
        case "native":
            wrapped = NativeOutput(structured)
        case "prompted":
            wrapped = PromptedOutput(structured)
        case _:
            wrapped = ToolOutput(structured, name="final_result")
    return [wrapped, DeferredToolRequests]


def _schema_errors(validator: Draft202012Validator, output: Any) -> list[dict[str, str]]:
    found: list[ValidationError] = list(validator.iter_errors(output))  # pyright: ignore[reportUnknownMemberType]
    found.sort(key=lambda error: [str(part) for part in error.absolute_path])
    return [{"path": json_path("$", list(error.absolute_path)), "message": error.message} for error in found]


def _add_output_validator(agent: BuiltAgent, schema: dict[str, Any]) -> None:
    validator = Draft202012Validator(schema)

    @agent.output_validator
    def check_output(ctx: RunContext[RunDeps], output: Any) -> Any:  # pyright: ignore[reportUnusedFunction]
        if ctx.partial_output or isinstance(output, DeferredToolRequests | str):
            return output
        errors = _schema_errors(validator, output)
        if not errors:
            ctx.deps.last_output_error = None
            return output
        ctx.deps.last_output_error = {"errors": errors, "raw_output": output}
        listed = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:_MAX_REPORTED_ERRORS])
        raise ModelRetry(f"The output does not match the output schema: {listed}. Send corrected output.")


def _instructions(definition: AgentDefinition) -> Any:
    parts = definition.instruction_parts()
    if not parts:
        return None
    deps_schema = definition.deps_schema

    def instructions(ctx: RunContext[RunDeps]) -> str:
        return templates.render_all(parts, ctx.deps.vars, deps_schema)

    return instructions


def _retries(definition: AgentDefinition) -> AgentRetries | None:
    if definition.retries is None:
        return None
    return cast(AgentRetries, definition.retries.model_dump(exclude_none=True))


def _model_settings(definition: AgentDefinition) -> ModelSettings | None:
    if definition.model_settings is None:
        return None
    return cast(ModelSettings, definition.model_settings.model_dump(exclude_none=True))


def build_agent(
    definition: AgentDefinition,
    model: Model,
    toolsets: list[AbstractToolset[RunDeps]],
    extra_capabilities: Sequence[AbstractCapability[RunDeps]] = (),
) -> BuiltAgent:
    """A pydantic-ai agent for a validated definition and an already resolved model.

    ``extra_capabilities`` are the server's own (e.g. DBOS durability for background runs).
    """
    agent: BuiltAgent = Agent(
        model,
        output_type=_output_type(definition),
        instructions=_instructions(definition),
        deps_type=RunDeps,
        name=definition.name,
        description=definition.description,
        model_settings=_model_settings(definition),
        retries=_retries(definition),
        end_strategy=definition.end_strategy,
        tool_timeout=definition.tool_timeout,
        metadata=definition.metadata,
        capabilities=[*(capabilities.instantiate(stored) for stored in definition.capabilities), *extra_capabilities],
        toolsets=toolsets,
    )
    if definition.output_schema is not None:
        _add_output_validator(agent, definition.output_schema)
    return agent


def endpoint_refs(definition: AgentDefinition) -> set[str]:
    """Endpoint names among the definition's model references."""
    names = {split_ref(ref)[0] for ref in definition.model_refs()}
    return {name for name in names if name != "test" and name not in PROVIDERS}


class AgentFactory:
    """Builds agents from stored versions and keeps the last ``settings.agent_cache_size`` of them.

    The key is (agent id, version, spec_hash); an entry also remembers the fingerprint of the endpoints
    it was built with. A new version, an activated older one, or a changed/deleted endpoint all miss the
    cache. Built agents hold no per-run state.
    """

    def __init__(
        self,
        settings: Settings,
        database: Database,
        http_client: httpx2.AsyncClient,
        *,
        toolset_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.http_client = http_client
        self.toolset_options = dict(toolset_options or {})
        """Extra keyword arguments for ``build_toolsets`` (``registry``, ``resolver``)."""
        self._cache: OrderedDict[CacheKey, tuple[frozenset[str], tuple[Any, ...], BuiltAgent]] = OrderedDict()
        self._endpoint_cache: dict[frozenset[str], tuple[dict[str, EndpointConfig], tuple[Any, ...], int, float]] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        self._cache.clear()
        self._endpoint_cache.clear()

    async def _endpoints(self, names: Collection[str]) -> tuple[dict[str, EndpointConfig], tuple[Any, ...]]:
        """The named endpoints and their fingerprint, read again after a local change or the recheck time."""
        if not names:
            return {}, ()
        key = frozenset(names)
        generation, now = ENDPOINT_GENERATION.value, time.monotonic()
        cached = self._endpoint_cache.get(key)
        if cached is not None and cached[2] == generation and now - cached[3] < ENDPOINT_RECHECK_SECONDS:
            return cached[0], cached[1]
        async with self.database.sessionmaker() as session:
            endpoints, fingerprint = await load_endpoints(session, self.settings, names)
        if len(self._endpoint_cache) >= _MAX_ENDPOINT_SETS:
            self._endpoint_cache.clear()
        self._endpoint_cache[key] = (endpoints, fingerprint, generation, now)
        return endpoints, fingerprint

    async def get(self, version: AgentVersion) -> BuiltAgent:
        """The agent for ``version`` (from the cache when possible)."""
        key: CacheKey = (version.agent_id, version.version, version.spec_hash)
        cached = self._cache.get(key)
        if cached is not None:
            names, built_with, agent = cached
            if (await self._endpoints(names))[1] == built_with:
                self._cache.move_to_end(key)
                return agent
        definition = load_stored(version.definition)
        names = frozenset(endpoint_refs(definition))
        endpoints, fingerprint = await self._endpoints(names)
        model = build_model_chain(definition.model_refs(), self.settings, self.http_client, endpoints)
        agent = build_agent(definition, model, self._toolsets(definition))
        self._cache[key] = (names, fingerprint, agent)
        self._cache.move_to_end(key)
        while len(self._cache) > max(1, self.settings.agent_cache_size):
            self._cache.popitem(last=False)
        return agent

    def _toolsets(self, definition: AgentDefinition) -> list[AbstractToolset[RunDeps]]:
        # The one call into the tools package: declarations → toolsets (builtin, external, webhook, agent, mcp).
        return build_toolsets(definition.tools, self.settings, **self.toolset_options)
