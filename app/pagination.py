"""Keyset pagination, newest first, stable while new rows are inserted (API.md §2.1)."""

import base64
import datetime as dt
import json
import uuid
from typing import Annotated, Any, Generic, Protocol, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from app.errors import InvalidRequest

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    limit: int = 20
    cursor: str | None = None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page (max 100).")] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


class _Keyed(Protocol):
    id: uuid.UUID
    created_at: dt.datetime


R = TypeVar("R", bound=_Keyed)


def _decode(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        raw: Any = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return dt.datetime.fromisoformat(raw[0]), uuid.UUID(raw[1])
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise InvalidRequest(
            "Malformed cursor.", errors=[{"loc": ["query", "cursor"], "msg": "not a cursor this service issued"}]
        ) from exc


def _encode(row: _Keyed) -> str:
    return base64.urlsafe_b64encode(json.dumps([row.created_at.isoformat(), str(row.id)]).encode()).decode()


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
