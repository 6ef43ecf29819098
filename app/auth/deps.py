from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from app.auth import service
from app.auth.ratelimit import LoginLimiter
from app.auth.schemas import LoginRequest
from app.auth.service import Principal
from app.config import SettingsDep
from app.db import SessionDep
from app.errors import Forbidden, InvalidRequest, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="A JWT from `POST /auth/token` or an API key (`axk_…`).")


async def _current_principal(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Missing bearer credentials.")
    return await service.authenticate(session, settings, credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(_current_principal)]


async def _admin_principal(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise Forbidden("This route is for admins.")
    return principal


AdminPrincipal = Annotated[Principal, Depends(_admin_principal)]


async def _login_form(request: Request) -> LoginRequest:
    """The OAuth2 password grant, form-encoded (the standard) or as JSON."""
    content_type = request.headers.get("content-type", "")
    raw: Any
    try:
        if content_type.startswith("application/json"):
            raw = await request.json()
        else:
            raw = dict(await request.form())
        return LoginRequest.model_validate(raw)
    except ValidationError as exc:
        fields = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise InvalidRequest("Login body is invalid.", details={"errors": fields}) from exc
    except ValueError as exc:
        raise InvalidRequest(
            "Login body is not valid JSON or form data.", errors=[{"loc": ["body"], "msg": "not JSON or form data"}]
        ) from exc


LoginForm = Annotated[LoginRequest, Depends(_login_form)]


async def _login_limiter(request: Request) -> LoginLimiter:
    limiter: LoginLimiter = request.app.state.login_limiter
    return limiter


LoginLimiterDep = Annotated[LoginLimiter, Depends(_login_limiter)]


async def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(_client_address)]
