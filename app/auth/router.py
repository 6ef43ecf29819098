import uuid

from fastapi import APIRouter

from app.auth import service
from app.auth.deps import AdminPrincipal, ClientAddress, CurrentPrincipal, LoginForm, LoginLimiterDep
from app.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, LoginRequest, Token, UserCreate, UserRead
from app.config import SettingsDep
from app.db import SessionDep
from app.errors import error_responses
from app.pagination import Page, PageDep

router = APIRouter(tags=["auth"])

_LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": LoginRequest.model_json_schema()},
            "application/json": {"schema": LoginRequest.model_json_schema()},
        },
    }
}


@router.post(
    "/auth/token",
    responses=error_responses(401, 429),
    openapi_extra=_LOGIN_BODY,
    summary="Exchange username and password for a JWT (OAuth2 password flow)",
    description=(
        "Form-encoded (`application/x-www-form-urlencoded`, the OAuth2 standard) or JSON. A wrong username and "
        "a wrong password give the same `401`. Failed logins are limited per username and per client address "
        "(`login_max_failures` per `login_failure_window_seconds`): over it, `429 RateLimited` with `Retry-After`."
    ),
)
async def issue_token(
    form: LoginForm, session: SessionDep, settings: SettingsDep, limiter: LoginLimiterDep, client: ClientAddress
) -> Token:
    return await service.login(session, settings, limiter, form, client)


@router.get("/users/me", responses=error_responses(401), summary="The calling user")
async def read_me(principal: CurrentPrincipal, session: SessionDep) -> UserRead:
    return UserRead.model_validate(await service.get_user_by_name(session, principal.username))


@router.post(
    "/users",
    status_code=201,
    responses=error_responses(401, 403, 409),
    summary="Create a user (admin)",
    description="`409 Conflict` when the username is taken; `403 Forbidden` for non-admins.",
)
async def create_user(data: UserCreate, _: AdminPrincipal, session: SessionDep, settings: SettingsDep) -> UserRead:
    return UserRead.model_validate(await service.create_user(session, settings, data))


@router.get(
    "/api-keys",
    responses=error_responses(401),
    summary="The caller's API keys, newest first",
    description="Keys are listed by `prefix` only; the full key is shown once, when it is created.",
)
async def list_api_keys(principal: CurrentPrincipal, session: SessionDep, params: PageDep) -> Page[ApiKeyRead]:
    keys, cursor = await service.list_api_keys(session, principal, params)
    return Page[ApiKeyRead](items=[ApiKeyRead.model_validate(k) for k in keys], next_cursor=cursor)


@router.post(
    "/api-keys",
    status_code=201,
    responses=error_responses(401),
    summary="Create an API key for the caller",
    description="`key` (`axk_…`) is in this response only; the service stores its SHA-256 hash.",
)
async def create_api_key(data: ApiKeyCreate, principal: CurrentPrincipal, session: SessionDep) -> ApiKeyCreated:
    api_key, key = await service.create_api_key(session, principal.user_id, data.name)
    return ApiKeyCreated(**ApiKeyRead.model_validate(api_key).model_dump(), key=key)


@router.delete(
    "/api-keys/{key_id}",
    status_code=204,
    responses=error_responses(401, 404),
    summary="Revoke one of the caller's API keys",
    description="Idempotent. A revoked key answers `401` from then on. Another user's key is a `404`.",
)
async def revoke_api_key(key_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep) -> None:
    await service.revoke_api_key(session, principal, key_id)
