"""Which processes run work, and whether they are alive (the replica story of the README).

Every process has a unique executor id (``AXON_EXECUTOR_ID``, else ``host-pid-random``) and
keeps a row here with a heartbeat. DBOS only recovers the workflows of its own executor id, so
a live process *claims* an executor whose heartbeat is stale (one claim wins: a conditional
UPDATE) and then re-enqueues that executor's pending workflows and interrupts its non-durable
runs. A process that stops gracefully marks its row stopped, so the claim happens at once.
"""

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class Executor(Base):
    __tablename__ = "executors"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    """Set on a graceful stop: its pending background runs can be taken over immediately."""
    claimed_by: Mapped[str | None] = mapped_column(String(255), default=None)
    """The executor that took over this one's work after it died or stopped."""
    claimed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
