"""What `/metrics` reads from the database at scrape time."""

import logging

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.db import Database
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
