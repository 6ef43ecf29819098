"""The OpenAI doors, driven by the official `openai` SDK against the app behind a real uvicorn server."""

from collections.abc import AsyncIterator

import openai
import pytest

from tests.runs.conftest import define, executor, live_url  # noqa: F401 (fixtures)


@pytest.fixture
async def sdk(live_url: str, user_headers: dict[str, str]) -> AsyncIterator[openai.AsyncOpenAI]:  # noqa: F811
    """The official SDK as alice (her `axk_` API key), default retries."""
    key = user_headers["Authorization"].removeprefix("Bearer ")
    async with openai.AsyncOpenAI(base_url=f"{live_url}/v1", api_key=key) as client:
        yield client
