"""Model references → pydantic-ai models.

A reference is ``test``, ``<provider>:<model>`` for a provider in :data:`PROVIDERS` (credentials come
from the server's environment only), or ``<endpoint>:<model>`` naming an admin-managed
OpenAI-compatible endpoint (``/model-endpoints``). Definitions never carry URLs or keys.

Write time (:func:`check_model_ref`): an unknown provider or endpoint, or a provider whose SDK is
not installed, is an error; missing credentials are a warning. Run time (:func:`build_model`):
anything still missing raises :class:`ModelNotConfigured` (422 ``ModelNotConfigured``, not retryable).
"""

import importlib.util
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import httpx2
from openai import AsyncOpenAI
from pydantic_ai.models import Model, infer_model
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.ollama import OllamaModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.models.test import TestModel
from pydantic_ai.providers import infer_provider_class
from pydantic_ai.providers.ollama import OllamaProvider
from pydantic_ai.providers.openai import OpenAIProvider

from app.config import Settings
from app.errors import ModelNotConfigured

__all__ = ["ModelNotConfigured"]  # raised here; defined with the other error types


@dataclass(frozen=True)
class Provider:
    credential_env: tuple[str, ...]
    """Environment variables, any one of which supplies the credential (or base URL for Ollama)."""
    sdk: str
    """Python module the provider needs."""
    extra: str
    """The ``pydantic-ai-slim`` extra that installs it."""


PROVIDERS: dict[str, Provider] = {
    "openai": Provider(("OPENAI_API_KEY",), "openai", "openai"),
    "openai-chat": Provider(("OPENAI_API_KEY",), "openai", "openai"),
    "anthropic": Provider(("ANTHROPIC_API_KEY",), "anthropic", "anthropic"),
    "google": Provider(("GOOGLE_API_KEY", "GEMINI_API_KEY"), "google.genai", "google"),
    "groq": Provider(("GROQ_API_KEY",), "groq", "groq"),
    "ollama": Provider(("OLLAMA_BASE_URL",), "openai", "openai"),
}
"""Providers a definition may name. ``openai:`` is the Responses API, ``openai-chat:`` Chat Completions."""


@dataclass(frozen=True)
class EndpointConfig:
    """A decrypted endpoint, held only in memory while building a model."""

    name: str
    base_url: str
    api_key: str | None = field(repr=False)


def is_reserved_name(name: str) -> bool:
    """Endpoint names may not shadow ``test`` or any pydantic-ai provider name."""
    if name == "test" or name in PROVIDERS:
        return True
    try:
        infer_provider_class(name)
    except ValueError:
        return False
    except ImportError:
        return True
    return True


def split_ref(ref: str) -> tuple[str, str]:
    """``'openai-chat:gpt-4o'`` → ``('openai-chat', 'gpt-4o')``; ``'test'`` → ``('test', '')``."""
    if ref == "test":
        return "test", ""
    provider, _, model_name = ref.partition(":")
    return provider, model_name


def _sdk_installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _credentials_present(provider: Provider) -> bool:
    return any(os.environ.get(name) for name in provider.credential_env)


def check_model_ref(ref: str, endpoints: Collection[str]) -> tuple[str | None, str | None]:
    """``(error, warning)`` for one reference at definition time; both None when it resolves cleanly."""
    provider_name, model_name = split_ref(ref)
    if provider_name == "test":
        return None, None
    if not model_name or not provider_name:
        return (
            f"model {ref!r} must look like 'provider:model' (e.g. 'openai-chat:gpt-4o-mini'), 'endpoint:model' or 'test'",
            None,
        )
    provider = PROVIDERS.get(provider_name)
    if provider is not None:
        if not _sdk_installed(provider.sdk):
            return (
                f"provider {provider_name!r} is not installed on this server (pydantic-ai-slim[{provider.extra}])",
                None,
            )
        if not _credentials_present(provider):
            return None, f"{' or '.join(provider.credential_env)} is not set on the server; runs will fail until it is"
        return None, None
    if provider_name in endpoints:
        return None, None
    known = ", ".join(sorted([*PROVIDERS, "test"]))
    return f"unknown provider or model endpoint {provider_name!r} (providers: {known})", None


def create_http_client(settings: Settings) -> httpx2.AsyncClient:
    """The one pooled client all OpenAI-compatible model traffic of this process shares."""
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(settings.model_timeout_seconds, connect=5.0),
        limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100),
    )


def _openai_client(
    settings: Settings, http_client: httpx2.AsyncClient, base_url: str | None, api_key: str
) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=base_url,
        api_key=api_key,
        max_retries=settings.model_max_retries,
        timeout=settings.model_timeout_seconds,
        http_client=http_client,
    )


def _require_env(provider_name: str, provider: Provider) -> str:
    for name in provider.credential_env:
        if value := os.environ.get(name):
            return value
    raise ModelNotConfigured(
        f"{' or '.join(provider.credential_env)} is not set on the server.",
        details={"provider": provider_name},
    )


def build_model(
    ref: str, settings: Settings, http_client: httpx2.AsyncClient, endpoints: Mapping[str, EndpointConfig]
) -> Model:
    """A pydantic-ai model for ``ref``; raises :class:`ModelNotConfigured` if the server cannot serve it."""
    provider_name, model_name = split_ref(ref)
    if provider_name == "test":
        return TestModel()
    provider = PROVIDERS.get(provider_name)
    if provider is None:
        endpoint = endpoints.get(provider_name)
        if endpoint is None:
            raise ModelNotConfigured(f"Model endpoint {provider_name!r} does not exist.", details={"model": ref})
        client = _openai_client(settings, http_client, endpoint.base_url, endpoint.api_key or "api-key-not-set")
        return OpenAIChatModel(model_name, provider=OpenAIProvider(openai_client=client))
    if not _sdk_installed(provider.sdk):
        raise ModelNotConfigured(f"Provider {provider_name!r} is not installed on this server.", details={"model": ref})
    credential = _require_env(provider_name, provider)
    if provider_name == "openai-chat":
        client = _openai_client(settings, http_client, os.environ.get("OPENAI_BASE_URL"), credential)
        return OpenAIChatModel(model_name, provider=OpenAIProvider(openai_client=client))
    if provider_name == "openai":
        client = _openai_client(settings, http_client, os.environ.get("OPENAI_BASE_URL"), credential)
        return OpenAIResponsesModel(model_name, provider=OpenAIProvider(openai_client=client))
    if provider_name == "ollama":
        client = _openai_client(
            settings, http_client, credential, os.environ.get("OLLAMA_API_KEY") or "api-key-not-set"
        )
        return OllamaModel(model_name, provider=OllamaProvider(openai_client=client))
    return infer_model(ref)  # anthropic, google, groq: their own SDK clients, credentials from the environment


def build_model_chain(
    refs: list[str], settings: Settings, http_client: httpx2.AsyncClient, endpoints: Mapping[str, EndpointConfig]
) -> Model:
    """The first reference, falling back to the others in order on API errors."""
    models = [build_model(ref, settings, http_client, endpoints) for ref in refs]
    if len(models) == 1:
        return models[0]
    return FallbackModel(models[0], *models[1:])
