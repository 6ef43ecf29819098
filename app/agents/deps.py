from typing import Annotated, Any

from fastapi import Body, Depends, Path, Request

from app.agents import service
from app.agents.build import AgentFactory
from app.agents.models import Agent
from app.agents.schemas import DEFINITION_BODY_DESCRIPTION, DEFINITION_EXAMPLE
from app.auth.deps import CurrentPrincipal
from app.db import SessionDep


async def _visible_agent(
    principal: CurrentPrincipal,
    session: SessionDep,
    agent: Annotated[str, Path(description="The agent's id or name.")],
) -> Agent:
    return await service.get_visible_agent(session, principal, agent)


VisibleAgent = Annotated[Agent, Depends(_visible_agent)]
"""The ``{agent}`` of the path (id or name) as the caller may see it, else 404 ``NotFound``."""

DefinitionBody = Annotated[
    dict[str, Any],
    Body(description=DEFINITION_BODY_DESCRIPTION, openapi_examples={"bank-support": {"value": DEFINITION_EXAMPLE}}),
]
"""A raw definition; validated by the service so problems come back as ``InvalidAgentDefinition``."""


async def _agent_factory(request: Request) -> AgentFactory:
    factory: AgentFactory = request.app.state.agent_factory
    return factory


AgentFactoryDep = Annotated[AgentFactory, Depends(_agent_factory)]
