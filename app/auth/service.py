"""Users, logins and API keys. Plain async functions; the caller's session owns the transaction."""

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import security
from app.auth.models import ApiKey, Role, User
from app.auth.ratelimit import LoginLimiter
from app.auth.schemas import LoginRequest, Token, UserCreate
from app.config import Settings
from app.db import utcnow
from app.errors import Conflict, NotFound, Unauthorized
from app.pagination import PageParams, page_of, paginate

_LAST_USED_GRANULARITY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user, and the API key if one was used."""

    user_id: uuid.UUID
    username: str
    role: Role
    api_key_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _principal(user: User, api_key_id: uuid.UUID | None = None) -> Principal:
    role: Role = "admin" if user.role == "admin" else "user"
    return Principal(user_id=user.id, username=user.username, role=role, api_key_id=api_key_id)


async def create_user(session: AsyncSession, settings: Settings, data: UserCreate) -> User:
    password_hash = await security.hash_password(settings, data.password)
    user = User(username=data.username, password_hash=password_hash, role=data.role)
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"Username {data.username!r} is taken.") from exc
    return user


async def get_user_by_name(session: AsyncSession, username: str) -> User:
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user {username!r}.")
    return user


async def count_users(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(User)) or 0


async def login(
    session: AsyncSession, settings: Settings, limiter: LoginLimiter, form: LoginRequest, client: str
) -> Token:
    keys = (f"user:{form.username.lower()}", f"addr:{client}")
    limiter.check(*keys)
    user = await session.scalar(select(User).where(User.username == form.username))
    if (
        not await security.verify_password(settings, form.password, user.password_hash if user else None)
        or user is None
    ):
        limiter.record_failure(*keys)
        raise Unauthorized("Incorrect username or password.")
    limiter.reset(keys[0])
    token = security.create_access_token(settings, str(user.id))
    return Token(access_token=token, expires_in=settings.access_token_ttl_seconds)


async def authenticate(session: AsyncSession, settings: Settings, token: str) -> Principal:
    if token.startswith(security.API_KEY_PREFIX):
        return await _authenticate_api_key(session, token)
    claims = security.decode_access_token(settings, token)
    if claims is None:
        raise Unauthorized("Invalid or expired token.")
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise Unauthorized("Invalid or expired token.") from exc
    user = await session.get(User, user_id)
    if user is None:
        raise Unauthorized("Invalid or expired token.")
    return _principal(user)


async def _authenticate_api_key(session: AsyncSession, key: str) -> Principal:
    row = (
        await session.execute(
            select(ApiKey, User)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.key_hash == security.hash_api_key(key), ApiKey.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        raise Unauthorized("Invalid or revoked API key.")
    api_key, user = row
    now = utcnow()
    # Written at most once a minute, so a busy key does not turn every request into a write.
    if api_key.last_used_at is None or now - api_key.last_used_at > _LAST_USED_GRANULARITY:
        api_key.last_used_at = now
        await session.flush()
    return _principal(user, api_key.id)


async def create_api_key(session: AsyncSession, user_id: uuid.UUID, name: str) -> tuple[ApiKey, str]:
    key = security.new_api_key()
    api_key = ApiKey(
        user_id=user_id, name=name, prefix=security.display_prefix(key), key_hash=security.hash_api_key(key)
    )
    session.add(api_key)
    await session.flush()
    return api_key, key


async def list_api_keys(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[ApiKey], str | None]:
    query = paginate(select(ApiKey).where(ApiKey.user_id == principal.user_id), params, ApiKey.created_at, ApiKey.id)
    return page_of(list((await session.scalars(query)).all()), params)


async def revoke_api_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> None:
    api_key = await session.get(ApiKey, key_id)
    if api_key is None or api_key.user_id != principal.user_id:
        raise NotFound("No such API key.")
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        await session.flush()
