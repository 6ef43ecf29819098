import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"


class Token(BaseModel):
    access_token: str = Field(description="A JWT (HS256); send it as `Authorization: Bearer <token>`.")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class LoginRequest(BaseModel):
    """The OAuth2 password grant, form-encoded (the standard) or as a JSON object with the same fields."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    grant_type: Literal["password"] | None = None
    scope: str = Field(default="", description="Accepted for OAuth2 clients; ignored (roles decide access).")
    client_id: str | None = Field(default=None, description="Accepted for OAuth2 clients; ignored.")
    client_secret: str | None = Field(default=None, description="Accepted for OAuth2 clients; ignored.")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=USERNAME_PATTERN, description="Letters, digits and `_.@-`; at most 64.")
    password: str = Field(min_length=8, max_length=1024, description="At least 8 characters; stored as argon2.")
    role: Literal["user", "admin"] = "user"


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    username: str
    role: Literal["user", "admin"]
    created_at: dt.datetime


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="default", min_length=1, max_length=100)


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The first characters of the key, for recognising it.")
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The full key. Shown once; only its hash is stored.")
