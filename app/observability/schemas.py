"""Wire shapes of `GET /usage` (API.md §7)."""

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

UsageGroup = Literal["agent", "model", "owner", "day"]


class UsageRow(BaseModel):
    key: str | None = Field(
        description="The agent name, the definition's model reference, the owner's username, or the UTC day "
        "(`YYYY-MM-DD`); null for a model no longer known (its agent was deleted)."
    )
    runs: int
    requests: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: float | None = Field(description="Sum of the known costs; null when none of the runs had one.")


class UsageReport(BaseModel):
    """Runs created in ``[from, to)``, grouped: the caller's own, or every owner's for an admin."""

    from_: dt.datetime = Field(serialization_alias="from")
    to: dt.datetime
    group_by: UsageGroup
    items: list[UsageRow]
