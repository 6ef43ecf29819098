import datetime as dt
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from app.llm.prices import ModelPrices

EndpointName = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_-]{0,62}$",
        description="Definitions name the endpoint as `<name>:<model>`; provider names (`openai`, `test`, …) are reserved.",
    ),
]

BASE_URL_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][^\u0000]*)?$"


class ModelEndpointCreate(BaseModel):
    """An OpenAI-compatible endpoint. The key is write-only: stored encrypted, never returned."""

    model_config = ConfigDict(extra="forbid")

    name: EndpointName
    base_url: str = Field(
        max_length=2048,
        pattern=BASE_URL_PATTERN,
        description="http(s) base URL, e.g. `http://127.0.0.1:8080/v1`; no credentials in it (use `api_key`).",
    )
    api_key: SecretStr | None = Field(default=None, max_length=4096, description="Write-only.")
    prices: ModelPrices | None = Field(
        default=None,
        description="USD per million tokens for every model of this endpoint; runs report `usage.cost_usd` "
        "from them and `cost_limit_usd` applies. Without prices, cost is null unless genai-prices knows the URL.",
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        if parts.username or parts.password:
            raise ValueError("must not contain credentials; use api_key")
        return value


class ModelEndpointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    base_url: str
    has_api_key: bool = Field(description="Whether a key is stored; the key itself is never returned.")
    prices: ModelPrices | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
