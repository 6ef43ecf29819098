"""Keyset pagination, newest first, stable while new rows are inserted (API.md §2.1)."""

import datetime as dt
import uuid
from typing import Annotated, Any, Generic, Protocol, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    limit: int = 20
    cursor: str | None = None


CURSOR_PATTERN = r"^[0-9]{1,16}-[0-9a-f]{32}$"
"""What every cursor looks like. Any string of this shape is a valid position (items strictly older than
it), so the document's pattern is exactly what the server accepts."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


async def page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (max 100).")] = 20,
    cursor: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN,
            description="`next_cursor` of the previous page: opaque, pass it back unchanged. Absent: the first page.",
        ),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


class _Keyed(Protocol):
    id: uuid.UUID
    created_at: dt.datetime


R = TypeVar("R", bound=_Keyed)


def _decode(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    """The key of a cursor that matches `CURSOR_PATTERN` (the query parameter's validation made sure)."""
    micros, _, hex_id = cursor.partition("-")
    return _EPOCH + int(micros) * _MICROSECOND, uuid.UUID(hex=hex_id)


def _encode(row: _Keyed) -> str:
    """``<microseconds since 1970 of created_at>-<id as 32 hex digits>``: the keyset position after ``row``."""
    created_at = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.UTC)
    return f"{(created_at - _EPOCH) // _MICROSECOND}-{row.id.hex}"


def paginate(
    query: Select[Any],
    params: PageParams,
    created_at: InstrumentedAttribute[dt.datetime],
    id_: InstrumentedAttribute[uuid.UUID],
) -> Select[Any]:
    """Order newest first and apply the cursor; fetch ``limit + 1`` rows and pass them to ``page_of``."""
    if params.cursor:
        at, last_id = _decode(params.cursor)
        query = query.where(or_(created_at < at, and_(created_at == at, id_ < last_id)))
    return query.order_by(created_at.desc(), id_.desc()).limit(params.limit + 1)


def page_of(rows: list[R], params: PageParams) -> tuple[list[R], str | None]:
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        return rows, _encode(rows[-1])
    return rows, None


PageDep = Annotated[PageParams, Depends(page_params)]
