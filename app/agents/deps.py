from typing import Annotated, Any

from fastapi import Body, Depends, Path, Request
from pydantic import BeforeValidator

from app.agents import service
from app.agents.build import AgentFactory
from app.agents.models import Agent
from app.agents.schemas import DEFINITION_BODY_DESCRIPTION, DEFINITION_EXAMPLE, DefinitionInput
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


def _as_given(raw: Any) -> Any:
    return raw


DefinitionBody = Annotated[
    dict[str, Any],
    # The document shows the definition's own JSON Schema; the service validates, so problems come back
    # as ``InvalidAgentDefinition`` with JSON paths rather than FastAPI's generic 422.
    BeforeValidator(_as_given, json_schema_input_type=DefinitionInput),
    Body(description=DEFINITION_BODY_DESCRIPTION, openapi_examples={"bank-support": {"value": DEFINITION_EXAMPLE}}),
]
"""A raw definition (any JSON object); its schema in the OpenAPI document is :class:`DefinitionInput`'s."""


async def _agent_factory(request: Request) -> AgentFactory:
    factory: AgentFactory = request.app.state.agent_factory
    return factory


AgentFactoryDep = Annotated[AgentFactory, Depends(_agent_factory)]
