from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.agents import service
from app.agents.deps import DefinitionBody, VisibleAgent
from app.agents.schemas import AgentRead, AgentWritten, ValidationResult, VersionRead
from app.auth.deps import CurrentPrincipal
from app.config import SettingsDep
from app.db import SessionDep
from app.errors import error_responses
from app.pagination import Page, PageDep
from app.tools.deps import ToolFormatQuery, ToolRegistryDep
from app.tools.schemas import ToolList

router = APIRouter(prefix="/agents", tags=["agents"])

VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="A version number, from 1.")]
"""Bounded to the column's range: a number no version can have is a 404 (see `app.errors`), not a database error."""


@router.post(
    "/validate",
    responses=error_responses(401),
    summary="Validate a definition without storing it",
    description="Answers the normalised definition, its `spec_hash` and warnings; an invalid one is a 422 "
    "`InvalidAgentDefinition` whose `details.errors` lists every problem with its JSON path.",
)
async def validate_definition(
    body: DefinitionBody, _: CurrentPrincipal, session: SessionDep, settings: SettingsDep, registry: ToolRegistryDep
) -> ValidationResult:
    return await service.validate_only(session, settings, registry, body)


@router.post(
    "",
    status_code=201,
    responses=error_responses(401, 409),
    summary="Create an agent (version 1)",
    description="`scope: shared` makes it readable and runnable by every user. A name you already use is a 409.",
)
async def create_agent(
    body: DefinitionBody,
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    registry: ToolRegistryDep,
) -> AgentWritten:
    return await service.create_agent(session, settings, registry, principal, body)


@router.get(
    "",
    responses=error_responses(401),
    summary="List the agents you can see, newest first",
    description="Your own agents and every shared one (admins: all). `q` matches name or description, "
    "case-insensitively. Walking `next_cursor` returns each agent once even while agents are created.",
)
async def list_agents(
    principal: CurrentPrincipal,
    session: SessionDep,
    params: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="Substring of the name or description.")] = None,
) -> Page[AgentRead]:
    items, cursor = await service.list_agents(session, principal, params, q)
    return Page[AgentRead](items=items, next_cursor=cursor)


@router.get("/{agent}", responses=error_responses(401, 404), summary="An agent with its current definition")
async def read_agent(agent: VisibleAgent, session: SessionDep) -> AgentRead:
    return await service.read_agent(session, agent)


@router.put(
    "/{agent}",
    responses=error_responses(401, 403, 404, 409),
    summary="Replace the definition (creates version N+1)",
    description="If the normalised definition equals the current one, no version is created and the current "
    "one is returned. `scope` in the body changes the agent's scope (absent: unchanged); a new `name` renames it. "
    "Only the owner or an admin may replace a shared agent (403 for others).",
)
async def replace_agent(
    body: DefinitionBody,
    agent: VisibleAgent,
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    registry: ToolRegistryDep,
    response: Response,
) -> AgentWritten:
    written, created = await service.replace_agent(session, settings, registry, principal, agent, body)
    response.headers["X-Axon-Version-Created"] = "true" if created else "false"
    return written


@router.delete(
    "/{agent}",
    status_code=204,
    responses=error_responses(401, 403, 404),
    summary="Delete an agent and its versions (its runs stay readable)",
)
async def delete_agent(agent: VisibleAgent, principal: CurrentPrincipal, session: SessionDep) -> None:
    await service.delete_agent(session, principal, agent)


@router.get(
    "/{agent}/versions",
    responses=error_responses(401, 404),
    summary="The agent's versions, newest first (`current` marks the active one)",
)
async def list_versions(agent: VisibleAgent, session: SessionDep, params: PageDep) -> Page[VersionRead]:
    items, cursor = await service.list_versions(session, agent, params)
    return Page[VersionRead](items=items, next_cursor=cursor)


@router.get("/{agent}/versions/{n}", responses=error_responses(401, 404), summary="One immutable version")
async def read_version(agent: VisibleAgent, n: VersionNumber, session: SessionDep) -> VersionRead:
    return service.version_read(agent, await service.get_version(session, agent, n))


@router.post(
    "/{agent}/versions/{n}/activate",
    responses=error_responses(401, 403, 404),
    summary="Make version n current (rollback)",
    description="Creates no version; runs started afterwards use version n.",
)
async def activate_version(
    agent: VisibleAgent, n: VersionNumber, principal: CurrentPrincipal, session: SessionDep
) -> AgentRead:
    return await service.activate_version(session, principal, agent, n)


@router.get(
    "/{agent}/tools",
    summary="List an agent's tools",
    description=(
        "The tools declared by the agent's current definition, as the model sees them: builtin and "
        "plugin tools take their schema (and, unless overridden, description) from the registry; "
        '`agent` tools take `{"input": string}`. With `?format=adm` the parameters are ALTAR ADM '
        "schemas; a schema ADM cannot express is a `422 ValidationError` listing the constructs "
        "under `details.unsupported`, never silently dropped."
    ),
    responses=error_responses(401, 404, 422),
)
async def list_agent_tools(
    agent: VisibleAgent, session: SessionDep, registry: ToolRegistryDep, fmt: ToolFormatQuery = "jsonschema"
) -> ToolList:
    return await service.list_agent_tools(session, agent, registry, fmt)
