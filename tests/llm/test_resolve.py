"""Model references resolve to pydantic-ai models with server-side credentials and the shared client."""

import importlib.util

import httpx2
import pytest
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.models.test import TestModel

from app.config import Settings
from app.llm.resolve import EndpointConfig, ModelNotConfigured, build_model, build_model_chain, check_model_ref

ENDPOINTS = {"local": EndpointConfig(name="local", base_url="http://127.0.0.1:9/v1", api_key="sk-local")}


@pytest.fixture
async def http_client() -> httpx2.AsyncClient:
    async with httpx2.AsyncClient() as client:
        yield client  # type: ignore[misc]


def test_check_model_ref(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OLLAMA_BASE_URL", raising=False)

    assert check_model_ref("test", []) == (None, None)
    assert check_model_ref("local:llama3", ["local"]) == (None, None)
    assert check_model_ref("openai-chat:gpt-4o", []) == (
        None,
        "OPENAI_API_KEY is not set on the server; runs will fail until it is",
    )
    assert (
        check_model_ref("ollama:llama3", [])[1]
        == "OLLAMA_BASE_URL is not set on the server; runs will fail until it is"
    )
    assert check_model_ref("gpt-4o", [])[0] == (
        "model 'gpt-4o' must look like 'provider:model' (e.g. 'openai-chat:gpt-4o-mini'), 'endpoint:model' or 'test'"
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert check_model_ref("openai:gpt-5", []) == (None, None)


@pytest.mark.parametrize("provider", ["anthropic", "google", "groq"])
def test_other_providers_are_recognised(provider: str) -> None:
    error, _ = check_model_ref(f"{provider}:some-model", [])
    sdk = {"anthropic": "anthropic", "google": "google", "groq": "groq"}[provider]
    if importlib.util.find_spec(sdk) is None:
        assert error == f"provider {provider!r} is not installed on this server (pydantic-ai-slim[{provider}])"
    else:
        assert error is None


async def test_openai_models_share_the_client(http_client: httpx2.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    settings = Settings(secret_key="s" * 40, model_max_retries=2, model_timeout_seconds=12.5)  # type: ignore[arg-type]

    chat = build_model("openai-chat:gpt-4o-mini", settings, http_client, {})
    responses = build_model("openai:gpt-5", settings, http_client, {})
    endpoint = build_model("local:llama3", settings, http_client, ENDPOINTS)

    assert isinstance(chat, OpenAIChatModel)
    assert isinstance(responses, OpenAIResponsesModel)
    assert isinstance(endpoint, OpenAIChatModel)
    for model in (chat, responses, endpoint):
        client = model.client  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportUnknownVariableType]
        assert (client.max_retries, client.timeout, client._client) == (2, 12.5, http_client)  # pyright: ignore
    assert endpoint.base_url == "http://127.0.0.1:9/v1/"


async def test_missing_credentials_at_run_time(
    http_client: httpx2.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = Settings(secret_key="s" * 40)  # type: ignore[arg-type]

    with pytest.raises(ModelNotConfigured, match="OPENAI_API_KEY is not set on the server") as raised:
        build_model("openai-chat:gpt-4o", settings, http_client, {})

    assert (raised.value.status_code, raised.value.error_type, raised.value.retryable) == (
        422,
        "ModelNotConfigured",
        False,
    )


async def test_fallback_chain(http_client: httpx2.AsyncClient) -> None:
    settings = Settings(secret_key="s" * 40)  # type: ignore[arg-type]

    single = build_model_chain(["test"], settings, http_client, ENDPOINTS)
    chain = build_model_chain(["local:llama3", "test"], settings, http_client, ENDPOINTS)

    assert isinstance(single, TestModel)
    assert isinstance(chain, FallbackModel)
    assert [type(model) for model in chain.models] == [OpenAIChatModel, TestModel]
