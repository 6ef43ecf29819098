"""Password hashing, JWT access tokens and API key material."""

import asyncio
import datetime as dt
import hashlib
import secrets
from functools import cache
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.config import Settings

API_KEY_PREFIX = "axk_"


@cache
def _hasher(time_cost: int, memory_kib: int) -> PasswordHash:
    return PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib),))


def _hasher_of(settings: Settings) -> PasswordHash:
    """Argon2id with the configured cost (``password_hash_*``); verification follows each hash's own."""
    return _hasher(settings.password_hash_time_cost, settings.password_hash_memory_kib)


@cache
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    """Verified against when the username is unknown, so both failures cost the same.

    Made on first use (not at import, which would cost every CLI start one argon2 hash).
    """
    return _hasher(time_cost, memory_kib).hash(secrets.token_urlsafe(16))


def _dummy_hash_of(settings: Settings) -> str:
    return _dummy_hash(settings.password_hash_time_cost, settings.password_hash_memory_kib)


async def prepare(settings: Settings) -> None:
    """Make the dummy hash at startup, so even the first unknown-user login costs exactly one verify."""
    await asyncio.to_thread(_dummy_hash_of, settings)


async def hash_password(settings: Settings, password: str) -> str:
    return await asyncio.to_thread(_hasher_of(settings).hash, password)


async def verify_password(settings: Settings, password: str, password_hash: str | None) -> bool:
    """Constant-work check: an unknown user still pays for one argon2 verification (at the configured cost)."""
    hasher = _hasher_of(settings)
    ok = await asyncio.to_thread(lambda: hasher.verify(password, password_hash or _dummy_hash_of(settings)))
    return ok and password_hash is not None


def create_access_token(settings: Settings, subject: str) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + dt.timedelta(seconds=settings.access_token_ttl_seconds),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    return jwt.encode(claims, settings.resolved_secret_key(), algorithm="HS256")


def decode_access_token(settings: Settings, token: str) -> dict[str, Any] | None:
    """The claims of a valid token, or None for anything else (bad alg, signature, time, audience)."""
    try:
        return jwt.decode(
            token,
            settings.resolved_secret_key(),
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        return None


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[: len(API_KEY_PREFIX) + 8]
