"""Admin-managed model endpoints. Plain async functions; the caller's session owns the transaction."""

from collections.abc import Collection

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import utcnow
from app.errors import Conflict, InvalidRequest, NotFound
from app.llm import crypto, prices
from app.llm.models import ModelEndpoint
from app.llm.prices import ModelPrices
from app.llm.resolve import EndpointConfig, is_reserved_name
from app.llm.schemas import ModelEndpointCreate
from app.pagination import PageParams, page_of, paginate


class ModelEndpointNotFound(NotFound):
    pass


def _check_name(name: str) -> None:
    if is_reserved_name(name):
        raise InvalidRequest(
            f"Endpoint name {name!r} is reserved: it is a provider name.",
            errors=[{"loc": ["body", "name"], "msg": "reserved provider name"}],
        )


class _Generation:
    """Counts this process's endpoint writes: the agent factory reloads endpoints when it moves."""

    value = 0

    @classmethod
    def bump(cls) -> None:
        cls.value += 1


ENDPOINT_GENERATION = _Generation


async def create_endpoint(session: AsyncSession, settings: Settings, data: ModelEndpointCreate) -> ModelEndpoint:
    _check_name(data.name)
    key = data.api_key.get_secret_value() if data.api_key else None
    endpoint = ModelEndpoint(
        name=data.name,
        base_url=data.base_url,
        api_key_encrypted=crypto.encrypt(settings, key) if key else None,
        prices=data.prices.model_dump() if data.prices else None,
    )
    session.add(endpoint)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"Model endpoint {data.name!r} exists.") from exc
    ENDPOINT_GENERATION.bump()
    return endpoint


async def get_endpoint(session: AsyncSession, name: str) -> ModelEndpoint:
    endpoint = await session.scalar(select(ModelEndpoint).where(ModelEndpoint.name == name))
    if endpoint is None:
        raise ModelEndpointNotFound(f"No model endpoint {name!r}.")
    return endpoint


async def replace_endpoint(
    session: AsyncSession, settings: Settings, endpoint: ModelEndpoint, data: ModelEndpointCreate
) -> ModelEndpoint:
    """New base URL and key for an existing endpoint (the name in the body must match)."""
    if data.name != endpoint.name:
        raise InvalidRequest(
            "The body's name must match the path.", errors=[{"loc": ["body", "name"], "msg": "must match the path"}]
        )
    key = data.api_key.get_secret_value() if data.api_key else None
    endpoint.base_url = data.base_url
    endpoint.api_key_encrypted = crypto.encrypt(settings, key) if key else None
    endpoint.prices = data.prices.model_dump() if data.prices else None
    endpoint.updated_at = utcnow()
    await session.flush()
    ENDPOINT_GENERATION.bump()
    return endpoint


async def list_endpoints(session: AsyncSession, params: PageParams) -> tuple[list[ModelEndpoint], str | None]:
    query = paginate(select(ModelEndpoint), params, ModelEndpoint.created_at, ModelEndpoint.id)
    return page_of(list(await session.scalars(query)), params)


async def delete_endpoint(session: AsyncSession, endpoint: ModelEndpoint) -> None:
    await session.execute(delete(ModelEndpoint).where(ModelEndpoint.id == endpoint.id))
    ENDPOINT_GENERATION.bump()


async def endpoint_names(session: AsyncSession) -> set[str]:
    return set(await session.scalars(select(ModelEndpoint.name)))


async def load_endpoints(
    session: AsyncSession, settings: Settings, names: Collection[str]
) -> tuple[dict[str, EndpointConfig], tuple[tuple[str, str], ...]]:
    """Decrypted configs of the named endpoints, and a fingerprint that changes whenever one of them does."""
    if not names:
        return {}, ()
    rows = list(await session.scalars(select(ModelEndpoint).where(ModelEndpoint.name.in_(list(names)))))
    configs = {
        row.name: EndpointConfig(
            name=row.name,
            base_url=row.base_url,
            api_key=crypto.decrypt(settings, row.api_key_encrypted) if row.api_key_encrypted else None,
        )
        for row in rows
    }
    fingerprint = tuple(sorted((row.name, f"{row.id}:{row.updated_at.isoformat()}") for row in rows))
    prices.register(
        (row.name, row.base_url, ModelPrices.model_validate(row.prices) if row.prices else None) for row in rows
    )
    return configs, fingerprint
