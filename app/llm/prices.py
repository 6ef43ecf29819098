"""Prices a model endpoint declares for itself (USD per million tokens), applied to its responses.

pydantic-ai prices every model response with genai-prices (`ModelResponse.usage.cost`), matching the
response's provider URL first, and checks ``usage_limits.cost_limit`` with those costs. An endpoint
with declared ``prices`` is registered here as a genai-prices provider whose API pattern is its base
URL, ahead of the bundled providers, so its responses are priced by the operator's table on every
path (sync, streamed, fallback, cost limits) with no per-request work of ours. An endpoint without
prices is not registered: genai-prices prices it only if it knows the URL, else the cost is null.

The genai-prices snapshot is process-wide; registrations are keyed by endpoint name and replaced
whenever the endpoints are loaded again.
"""

import re
import threading
from collections.abc import Iterable
from decimal import Decimal

from genai_prices import types
from genai_prices.data_snapshot import get_snapshot, set_custom_snapshot
from pydantic import BaseModel, ConfigDict, Field

_lock = threading.Lock()
_registered: dict[str, tuple[str, "ModelPrices"]] = {}
_bundled: list[types.Provider] | None = None


class ModelPrices(BaseModel):
    """An endpoint's prices, USD per million tokens (cache prices default to the input price)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(ge=0, le=1e6)
    output_per_mtok: float = Field(ge=0, le=1e6)
    cache_read_per_mtok: float | None = Field(default=None, ge=0, le=1e6)
    cache_write_per_mtok: float | None = Field(default=None, ge=0, le=1e6)


def _provider(name: str, base_url: str, prices: ModelPrices) -> types.Provider:
    def mtok(value: float | None) -> Decimal | None:
        return Decimal(str(value)) if value is not None else None

    price = types.ModelPrice(
        input_mtok=mtok(prices.input_per_mtok),
        output_mtok=mtok(prices.output_per_mtok),
        cache_read_mtok=mtok(prices.cache_read_per_mtok),
        cache_write_mtok=mtok(prices.cache_write_per_mtok),
    )
    every_model = types.ModelInfo(id="*", match=types.ClauseRegex(regex=""), prices=price)
    pattern = re.escape(base_url.rstrip("/")) + r"(/|$)"
    return types.Provider(id=f"axon-endpoint-{name}", name=name, api_pattern=pattern, models=[every_model])


def register(endpoints: Iterable[tuple[str, str, ModelPrices | None]]) -> None:
    """(name, base URL, prices or None) of freshly loaded endpoints: their prices apply from now on."""
    global _bundled
    with _lock:
        before = dict(_registered)
        for name, base_url, prices in endpoints:
            if prices is None:
                _registered.pop(name, None)
            else:
                _registered[name] = (base_url, prices)
        if _registered == before:
            return
        if _bundled is None:
            _bundled = list(get_snapshot().providers)
        ours = [_provider(name, url, prices) for name, (url, prices) in sorted(_registered.items())]
        set_custom_snapshot(get_snapshot().__class__(providers=[*ours, *_bundled], from_auto_update=False))
