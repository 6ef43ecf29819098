"""What both OpenAI doors share: `/v1/models`, resolving a ``model`` to an agent, caller tools, usage.

A ``model`` is an agent the caller may run (its own or a shared one), by name or id, optionally
pinned to a version: ``bank-support@3``.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent, AgentVersion
from app.agents.service import get_version, get_visible_agent, list_agents
from app.auth.deps import CurrentPrincipal
from app.auth.service import Principal
from app.db import SessionDep
from app.doors.openai_errors import UnsupportedParameter, openai_error_responses
from app.pagination import PageParams
from app.tools.schemas import ExternalTool

router = APIRouter(prefix="/v1", tags=["openai"])


@dataclass
class Target:
    """The agent (and version) a request's ``model`` names."""

    agent: Agent
    version: AgentVersion
    pinned: int | None
    """The version the caller pinned with ``name@N`` (None: the current one)."""


async def resolve_model(session: AsyncSession, principal: Principal, model: str) -> Target:
    """``name``, ``id`` or ``name@N`` → the agent the caller may run, else 404 ``NotFound``."""
    name, _, pin = model.rpartition("@") if "@" in model else (model, "", "")
    pinned = int(pin) if pin.isdigit() else None
    if pin and pinned is None:
        name = model
    agent = await get_visible_agent(session, principal, name)
    version = await get_version(session, agent, pinned)
    return Target(agent, version, pinned)


def unix(moment: dt.datetime | None) -> int | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return int(aware.timestamp())


def caller_tools(
    tools: list[tuple[str, str, dict[str, Any] | None, str | None]], version: AgentVersion
) -> list[dict[str, Any]]:
    """The caller's function tools ``(param path, name, parameters, description)`` as `external` declarations.

    A name the agent already uses, a repeated name or an invalid schema is a 400 naming the parameter.
    """
    own: list[dict[str, Any]] = version.definition.get("tools") or []
    taken = {str(tool.get("name")) for tool in own}
    declared: list[dict[str, Any]] = []
    for param, name, parameters, description in tools:
        if name in taken:
            raise UnsupportedParameter(param, f"Tool name {name!r} is already used by the agent or another tool.")
        taken.add(name)
        raw: dict[str, Any] = {"type": "external", "name": name, "description": description}
        if parameters is not None:
            raw["parameters"] = parameters
        try:
            declared.append(ExternalTool.model_validate(raw).model_dump(mode="json", exclude_none=True))
        except ValidationError as exc:
            problem = exc.errors()[0]
            raise UnsupportedParameter(param, f"Invalid function tool: {problem['msg']}") from None
    return declared


def check_extra_parameters(
    extra: dict[str, Any], ignored: frozenset[str] | set[str], defaults: dict[str, Any], *, allow_null: set[str]
) -> None:
    """Parameters beyond the request model: hints OpenAI itself may ignore pass; one Axon would not honour
    (anything but its default, or ``null`` for the names in ``allow_null``) is a 400 naming it."""
    for name, value in extra.items():
        if name in ignored:
            continue
        if name not in defaults:
            raise UnsupportedParameter(name, f"Unrecognized request argument supplied: {name}")
        if value != defaults[name] and not (name in allow_null and value is None):
            raise UnsupportedParameter(name, f"`{name}` is not supported by Axon (only its default).")


def check_output_format(fmt: dict[str, Any] | None, schema: dict[str, Any] | None, param: str) -> None:
    """``text`` always; ``json_object`` when the agent answers JSON; ``json_schema`` only with the agent's own schema."""
    kind = (fmt or {}).get("type", "text")
    if kind == "text":
        return
    if kind == "json_object" and schema is not None:
        return
    if kind == "json_schema" and schema is not None:
        wrapper = fmt.get("json_schema") if fmt and "json_schema" in fmt else fmt
        if isinstance(wrapper, dict) and wrapper.get("schema") == schema:  # pyright: ignore[reportUnknownMemberType]
            return
    raise UnsupportedParameter(
        param, f"`{param}` {kind!r} would change the agent's output; only its own output_schema (or text) is served."
    )


# -- /v1/models ----------------------------------------------------------------------------------


class ModelObject(BaseModel):
    """An agent as an OpenAI model object (``id`` = the agent's name)."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


def _model_object(name: str, created: dt.datetime, scope: str, mine: bool) -> ModelObject:
    owner = "you" if mine else "shared" if scope == "shared" else "other"
    return ModelObject(id=name, created=unix(created) or 0, owned_by=owner)


@router.get(
    "/models",
    summary="OpenAI: the agents you may run",
    responses=openai_error_responses(401),
    description="Every agent the caller may run (its own, then shared ones; admins: all) as an OpenAI model "
    "object whose `id` is the agent's name. Pass it (or `name@version`) as `model`.",
)
async def list_models(session: SessionDep, principal: CurrentPrincipal) -> ModelList:
    seen: dict[str, ModelObject] = {}
    params = PageParams(limit=100)
    while True:
        page, cursor = await list_agents(session, principal, params, None)
        for agent in page:
            mine = agent.owner_id == principal.user_id
            if agent.name not in seen or mine:
                seen[agent.name] = _model_object(agent.name, agent.created_at, agent.scope, mine)
        if cursor is None:
            break
        params = PageParams(limit=100, cursor=cursor)
    return ModelList(data=list(seen.values()))


async def _model_target(
    session: SessionDep, principal: CurrentPrincipal, model: Annotated[str, Path(description="An agent name.")]
) -> Target:
    return await resolve_model(session, principal, model)


ModelTarget = Annotated[Target, Depends(_model_target)]


@router.get(
    "/models/{model}",  # noqa: FAST003 (resolved by a dependency)
    summary="OpenAI: one agent as a model",
    responses=openai_error_responses(401, 404),
)
async def get_model(target: ModelTarget, principal: CurrentPrincipal) -> ModelObject:
    agent = target.agent
    return _model_object(agent.name, agent.created_at, agent.scope, agent.owner_id == principal.user_id)
