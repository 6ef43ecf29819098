"""What `/metrics` reads from the database at scrape time, and the usage report of `GET /usage`."""

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import AgentVersion
from app.auth.models import User
from app.auth.service import Principal
from app.db import Database, utcnow
from app.observability.schemas import UsageGroup, UsageReport, UsageRow
from app.runs.models import Run

logger = logging.getLogger("axon.metrics")


async def queued_runs(database: Database) -> int | None:
    """Background runs waiting in the durable queue (one indexed count); None if the database is away."""
    try:
        async with database.sessionmaker() as session:
            count = await session.scalar(select(func.count()).select_from(Run).where(Run.status == "queued"))
    except (SQLAlchemyError, OSError) as exc:
        logger.warning("metrics: could not count queued runs (%s)", type(exc).__name__)
        return None
    return int(count or 0)


DEFAULT_WINDOW = dt.timedelta(days=30)
_TOKENS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


def _group_key(session: AsyncSession, group_by: UsageGroup) -> Any:
    if group_by == "agent":
        return Run.agent_name
    if group_by == "owner":
        return User.username
    if group_by == "model":
        return AgentVersion.definition["model"].as_string()
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", Run.created_at), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", Run.created_at)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


async def usage_report(
    session: AsyncSession,
    principal: Principal,
    start: dt.datetime | None,
    end: dt.datetime | None,
    group_by: UsageGroup,
) -> UsageReport:
    """Sums of the stored runs' usage, one query over the ``created_at`` index (the owner's, or all for admins).

    The window defaults to the `DEFAULT_WINDOW` before ``end`` (default: now); times without a zone are UTC.
    """
    end = _utc(end) if end is not None else utcnow()
    start = _utc(start) if start is not None else end - DEFAULT_WINDOW
    if start >= end:  # `[from, to)` holds no instant: nothing was used in it
        return UsageReport(from_=start, to=end, group_by=group_by, items=[])
    key = _group_key(session, group_by).label("key")
    sums = [func.coalesce(func.sum(Run.usage[name].as_integer()), 0).label(name) for name in _TOKENS]
    query = (
        select(key, func.count(Run.id).label("runs"), *sums, func.sum(Run.usage["cost_usd"].as_float()).label("cost"))
        .where(Run.created_at >= start, Run.created_at < end)
        .group_by(key)
        .order_by(key)
    )
    if not principal.is_admin:
        query = query.where(Run.owner_id == principal.user_id)
    if group_by == "owner":
        query = query.join(User, User.id == Run.owner_id)
    elif group_by == "model":
        query = query.outerjoin(
            AgentVersion, (AgentVersion.agent_id == Run.agent_id) & (AgentVersion.version == Run.agent_version)
        )
    rows = (await session.execute(query)).all()
    items = [
        UsageRow(
            key=row.key,
            runs=row.runs,
            **{name: int(getattr(row, name)) for name in _TOKENS},
            cost_usd=float(row.cost) if row.cost is not None else None,
        )
        for row in rows
    ]
    return UsageReport(from_=start, to=end, group_by=group_by, items=items)
