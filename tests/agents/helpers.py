"""Shared by the agents and llm tests: stored versions and run deps without a runs engine."""

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from app.agents import service
from app.agents.models import AgentVersion
from app.auth.service import Principal
from app.config import Settings
from app.db import Database
from app.runtime import RunDeps, SubRunResult


@dataclass
class NoServices:
    """A `RunServices` for agents without `agent` tools: nothing here is reached."""

    settings: Settings
    webhook_client: httpx.AsyncClient = field(default_factory=httpx.AsyncClient)

    async def run_subagent(self, parent: RunDeps, agent_ref: str, user_input: str) -> SubRunResult:
        raise AssertionError("no sub-agents in these tests")


def run_deps(settings: Settings, variables: dict[str, Any]) -> RunDeps:
    return RunDeps(
        vars=variables,
        run_id=str(uuid.uuid4()),
        principal=Principal(user_id=uuid.uuid4(), username="tester", role="user"),
        agent_id=uuid.uuid4(),
        agent_name="tester",
        services=NoServices(settings),
    )


async def current_version(app: FastAPI, agent_id: str) -> AgentVersion:
    database: Database = app.state.database
    admin = Principal(user_id=uuid.uuid4(), username="root", role="admin")
    async with database.sessionmaker() as session:
        agent = await service.get_visible_agent(session, admin, agent_id)
        return await service.get_version(session, agent, None)
