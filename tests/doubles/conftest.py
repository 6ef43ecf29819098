from collections.abc import AsyncIterator

import pytest

from tests.doubles.openai_upstream import ScriptedUpstream, scripted_upstream


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    async with scripted_upstream() as server:
        yield server
