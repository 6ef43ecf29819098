import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from app.db import Database
from app.errors import Overloaded
from app.migrate import current_revision

logger = logging.getLogger("axon.health")

READINESS_TIMEOUT_SECONDS = 5.0


class NotReady(Overloaded):
    """503: the database cannot serve (unreachable, or its schema is not at head)."""


async def check_ready(database: Database) -> str:
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            revision = await current_revision(database.engine)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        # The exception text can carry the database URL; only its type is logged.
        logger.warning("readiness: database unreachable: %s", type(exc).__name__)
        raise NotReady("Database unreachable.", retry_after=5) from exc
    if revision is None or revision != database.head_revision:
        raise NotReady(
            "Database schema is not at the latest migration; run `axon migrate`.",
            details={"current": revision, "expected": database.head_revision},
            retry_after=5,
        )
    return revision
