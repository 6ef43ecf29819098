import datetime as dt
import uuid
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, utcnow


class ModelEndpoint(Base):
    """An admin-managed OpenAI-compatible endpoint that definitions name as ``<name>:<model>``."""

    __tablename__ = "model_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    base_url: Mapped[str] = mapped_column(String(2048))
    api_key_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    """Fernet token (key derived from ``AXON_SECRET_KEY``); never returned, never logged."""
    prices: Mapped[Any] = mapped_column(JSONType, nullable=True, default=None)
    """`app.llm.prices.ModelPrices` as JSON, or null (genai-prices' table applies, if it knows the URL)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def has_api_key(self) -> bool:
        return self.api_key_encrypted is not None
