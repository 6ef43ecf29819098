"""Agents and their immutable versions. Plain async functions; the caller's session owns the transaction.

Visibility: a user sees its own agents and every ``shared`` agent; admins see all. Anything else
is :class:`AgentNotFound` (404, never 403). Editing (replace, activate, delete) is for the owner
or an admin; another user who can merely see a shared agent gets 403.
"""

import uuid
from typing import Any, cast

from sqlalchemy import Select, and_, case, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.definition import AgentDefinition, load_stored, spec_hash, stored_form
from app.agents.models import Agent, AgentVersion
from app.agents.schemas import AgentRead, AgentWritten, DefinitionProblem, ValidationResult, VersionRead
from app.agents.validation import validate_definition
from app.auth.service import Principal
from app.config import Settings
from app.db import utcnow
from app.errors import Conflict, Forbidden, NotFound
from app.llm.service import endpoint_names
from app.pagination import PageParams, page_of, paginate
from app.tools.registry import ToolRegistry
from app.tools.schemas import ToolFormat, ToolList
from app.tools.service import list_declared_tools


class AgentNotFound(NotFound):
    pass


class VersionNotFound(NotFound):
    pass


class AgentNameTaken(Conflict):
    pass


class AgentNotEditable(Forbidden):
    pass


async def check_definition(
    session: AsyncSession, settings: Settings, registry: ToolRegistry, raw: Any
) -> tuple[AgentDefinition, list[dict[str, str]]]:
    """:func:`validate_definition` against this server's endpoints and tool registry."""
    builtin_names = [tool.name for tool in registry.all()]
    return validate_definition(raw, settings, await endpoint_names(session), builtin_names=builtin_names)


def _visible(principal: Principal) -> Any:
    if principal.is_admin:
        return True
    return or_(Agent.owner_id == principal.user_id, Agent.scope == "shared")


async def get_visible_agent(session: AsyncSession, principal: Principal, ref: str) -> Agent:
    """The agent ``ref`` (an id, or a name) as ``principal`` may see it, else :class:`AgentNotFound`.

    A name is unique per owner only, so it resolves to the caller's own agent first, then to a
    shared agent (oldest first), and for admins (who see every agent) then to another owner's
    private agent (oldest first): an admin's name lookup finds what a user would, when one would.
    """
    try:
        agent_id = uuid.UUID(ref)
    except ValueError:
        preference = case((Agent.owner_id == principal.user_id, 0), (Agent.scope == "shared", 1), else_=2)
        query = select(Agent).where(Agent.name == ref, _visible(principal)).order_by(preference, Agent.created_at)
    else:
        query = select(Agent).where(Agent.id == agent_id, _visible(principal))
    agent = await session.scalar(query.limit(1))
    if agent is None:
        raise AgentNotFound(f"No agent {ref!r}.")
    return agent


async def get_version(session: AsyncSession, agent: Agent, version: int | None) -> AgentVersion:
    """Version ``version`` of ``agent`` (None: the current one), else :class:`VersionNotFound`."""
    number = agent.current_version if version is None else version
    row = await session.scalar(
        select(AgentVersion).where(AgentVersion.agent_id == agent.id, AgentVersion.version == number)
    )
    if row is None:
        raise VersionNotFound(f"Agent {agent.name!r} has no version {number}.")
    return row


def check_editable(principal: Principal, agent: Agent) -> None:
    if not principal.is_admin and agent.owner_id != principal.user_id:
        raise AgentNotEditable(f"Agent {agent.name!r} is shared with you but only its owner or an admin may change it.")


def agent_read(agent: Agent, version: AgentVersion) -> AgentRead:
    return AgentRead(
        id=agent.id,
        name=agent.name,
        scope="shared" if agent.scope == "shared" else "private",
        owner_id=agent.owner_id,
        version=version.version,
        spec_hash=version.spec_hash,
        definition=version.definition,
        created_at=agent.created_at,
        updated_at=agent.updated_at,
    )


def _written(agent: Agent, version: AgentVersion, warnings: list[dict[str, str]]) -> AgentWritten:
    problems = [DefinitionProblem(**warning) for warning in warnings]
    return AgentWritten(**agent_read(agent, version).model_dump(), warnings=problems)


async def _flush_or_conflict(session: AsyncSession, message: str, kind: type[Conflict] = AgentNameTaken) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise kind(message) from exc


async def create_agent(
    session: AsyncSession, settings: Settings, registry: ToolRegistry, principal: Principal, raw: Any
) -> AgentWritten:
    definition, warnings = await check_definition(session, settings, registry, raw)
    document = stored_form(definition)
    now = utcnow()
    agent = Agent(
        owner_id=principal.user_id,
        name=definition.name,
        scope=definition.scope or "private",
        current_version=1,
        description=definition.description,
        created_at=now,
        updated_at=now,
    )
    session.add(agent)
    await _flush_or_conflict(session, f"You already have an agent named {definition.name!r}.")
    version = AgentVersion(
        agent_id=agent.id, version=1, definition=document, spec_hash=spec_hash(document), created_by=principal.user_id
    )
    session.add(version)
    await session.flush()
    return _written(agent, version, warnings)


async def replace_agent(
    session: AsyncSession, settings: Settings, registry: ToolRegistry, principal: Principal, agent: Agent, raw: Any
) -> tuple[AgentWritten, bool]:
    """Store a new version unless the normalised definition equals the current one: ``(agent, created)``.

    ``scope`` in the body changes the agent's scope (absent: unchanged); a new ``name`` renames it.
    """
    check_editable(principal, agent)
    definition, warnings = await check_definition(session, settings, registry, raw)
    document = stored_form(definition)
    digest = spec_hash(document)
    current = await get_version(session, agent, None)
    if definition.scope is not None:
        agent.scope = definition.scope
    if digest == current.spec_hash and document == current.definition:
        await session.flush()
        return _written(agent, current, warnings), False
    latest = await session.scalar(select(func.max(AgentVersion.version)).where(AgentVersion.agent_id == agent.id))
    version = AgentVersion(
        agent_id=agent.id,
        version=(latest or 0) + 1,
        definition=document,
        spec_hash=digest,
        created_by=principal.user_id,
    )
    session.add(version)
    agent.name = definition.name
    agent.current_version = version.version
    agent.description = definition.description
    agent.updated_at = utcnow()
    await _flush_or_conflict(
        session, f"Agent {definition.name!r} was changed concurrently or the name is taken; retry."
    )
    return _written(agent, version, warnings), True


async def activate_version(session: AsyncSession, principal: Principal, agent: Agent, number: int) -> AgentRead:
    check_editable(principal, agent)
    version = await get_version(session, agent, number)
    agent.current_version = version.version
    agent.description = version.definition.get("description")
    agent.updated_at = utcnow()
    await session.flush()
    return agent_read(agent, version)


async def delete_agent(session: AsyncSession, principal: Principal, agent: Agent) -> None:
    """Delete the agent and its versions; runs keep their own copy of id, name, version and hash."""
    check_editable(principal, agent)
    await session.execute(delete(AgentVersion).where(AgentVersion.agent_id == agent.id))
    await session.execute(delete(Agent).where(Agent.id == agent.id))


def _with_current() -> Select[Agent, AgentVersion]:
    return select(Agent, AgentVersion).join(
        AgentVersion, and_(AgentVersion.agent_id == Agent.id, AgentVersion.version == Agent.current_version)
    )


async def read_agent(session: AsyncSession, agent: Agent) -> AgentRead:
    return agent_read(agent, await get_version(session, agent, None))


async def list_agent_tools(session: AsyncSession, agent: Agent, registry: ToolRegistry, fmt: ToolFormat) -> ToolList:
    """The tools of ``agent``'s current definition, as the model sees them."""
    version = await get_version(session, agent, None)
    return list_declared_tools(load_stored(version.definition).tools, registry, fmt)


async def list_agents(
    session: AsyncSession, principal: Principal, params: PageParams, q: str | None
) -> tuple[list[AgentRead], str | None]:
    """Visible agents, newest first; ``q`` matches name or description (case-insensitive substring)."""
    query = _with_current().where(_visible(principal))
    if q:
        needle = q.lower()
        query = query.where(
            or_(
                func.lower(Agent.name).contains(needle, autoescape=True),
                func.lower(func.coalesce(Agent.description, "")).contains(needle, autoescape=True),
            )
        )
    result = await session.execute(paginate(cast(Select[Any], query), params, Agent.created_at, Agent.id))
    pairs: list[tuple[Agent, AgentVersion]] = [tuple(row) for row in result]  # pyright: ignore[reportAssignmentType]
    page, cursor = page_of([_Row(agent, version) for agent, version in pairs], params)
    return [agent_read(row.agent, row.version) for row in page], cursor


class _Row:
    """A (agent, current version) pair keyed like the agent, for ``page_of``."""

    def __init__(self, agent: Agent, version: AgentVersion) -> None:
        self.agent, self.version = agent, version
        self.id, self.created_at = agent.id, agent.created_at


async def list_versions(
    session: AsyncSession, agent: Agent, params: PageParams
) -> tuple[list[VersionRead], str | None]:
    query = paginate(
        select(AgentVersion).where(AgentVersion.agent_id == agent.id), params, AgentVersion.created_at, AgentVersion.id
    )
    rows, cursor = page_of(list(await session.scalars(query)), params)
    return [version_read(agent, row) for row in rows], cursor


def version_read(agent: Agent, version: AgentVersion) -> VersionRead:
    return VersionRead(
        version=version.version,
        spec_hash=version.spec_hash,
        definition=version.definition,
        created_by=version.created_by,
        created_at=version.created_at,
        current=version.version == agent.current_version,
    )


async def validate_only(
    session: AsyncSession, settings: Settings, registry: ToolRegistry, raw: Any
) -> ValidationResult:
    definition, warnings = await check_definition(session, settings, registry, raw)
    document = stored_form(definition)
    return ValidationResult(
        definition=document, spec_hash=spec_hash(document), warnings=[DefinitionProblem(**w) for w in warnings]
    )
