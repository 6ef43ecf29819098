import logging

from sqlalchemy.exc import SQLAlchemyError

from app.db import Database
from app.errors import Overloaded
from app.migrate import current_revision

logger = logging.getLogger("axon.health")


class NotReady(Overloaded):
    """503: the database cannot serve (unreachable, or its schema is not at head)."""


async def check_ready(database: Database) -> str:
    try:
        revision = await current_revision(database.engine)
    except (SQLAlchemyError, OSError) as exc:
        logger.warning("readiness: database unreachable: %s", type(exc).__name__)
        raise NotReady("Database unreachable.", retry_after=5) from exc
    if revision is None or revision != database.head_revision:
        raise NotReady(
            "Database schema is not at the latest migration.",
            details={"current": revision, "expected": database.head_revision},
            retry_after=5,
        )
    return revision
