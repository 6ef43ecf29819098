"""`client.agents`, `client.sessions`, `client.tools` and `client.model_endpoints` against a real server."""

import json
from pathlib import Path

import pytest
from axon_client import AxonClient, Forbidden, InvalidAgentDefinition, NotFound

from tests.client.conftest import Axon, Define
from tests.runs.scripts import script


async def test_agent_lifecycle(axon: Axon, client: AxonClient) -> None:
    name = axon.name("lifecycle")
    created = await client.agents.create({"name": name, "model": "test", "instructions": "One."})
    assert (created.name, created.version, created.definition["instructions"]) == (name, 1, "One.")
    assert (await client.agents.get(created.id)).name == name
    updated = await client.agents.update(name, {"name": name, "model": "test", "instructions": "Two."})
    assert (updated.version, updated.definition["instructions"]) == (2, "Two.")
    versions = [v async for v in client.agents.versions(name, page_size=1)]
    assert [(v.version, v.current) for v in versions] == [(2, True), (1, False)]
    assert (await client.agents.version(name, 1)).definition["instructions"] == "One."
    rolled_back = await client.agents.activate(name, 1)
    assert (rolled_back.version, rolled_back.definition["instructions"]) == (1, "One.")
    await client.agents.delete(name)
    with pytest.raises(NotFound):
        await client.agents.get(name)


async def test_list_walks_every_page(axon: Axon, client: AxonClient) -> None:
    prefix = axon.name("listed")
    names = [f"{prefix}-{i}" for i in range(3)]
    for name in names:
        await client.agents.create({"name": name, "model": "test"})
    found = [agent.name async for agent in client.agents.list(q=prefix, page_size=2)]
    assert found == list(reversed(names))


async def test_validate(client: AxonClient) -> None:
    result = await client.agents.validate({"name": "checked", "system_prompt": "Hi.", "model": "test"})
    assert (result.valid, result.definition["instructions"]) == (True, "Hi.")
    assert len(result.spec_hash) == 64
    with pytest.raises(InvalidAgentDefinition):
        await client.agents.validate({"name": "checked", "model": "test", "nope": 1})


async def test_apply_a_folder_is_idempotent(axon: Axon, client: AxonClient, tmp_path: Path) -> None:
    first, second = axon.name("applied"), axon.name("applied")
    (tmp_path / "a.yaml").write_text(f"name: {first}\nmodel: test\ninstructions: Be brief.\n")
    (tmp_path / "b.json").write_text(json.dumps({"name": second, "model": "test"}))
    (tmp_path / "notes.txt").write_text("not a definition")
    applied = await client.agents.apply(tmp_path)
    assert [(r.name, r.outcome, Path(r.file).name) for r in applied] == [
        (first, "created", "a.yaml"),
        (second, "created", "b.json"),
    ]
    again = await client.agents.apply(tmp_path)
    assert [r.outcome for r in again] == ["unchanged", "unchanged"]
    (tmp_path / "a.yaml").write_text(f"name: {first}\nmodel: test\ninstructions: Be briefer.\n")
    changed = await client.agents.apply(tmp_path / "a.yaml")
    assert [(r.outcome, r.agent.version) for r in changed] == [("updated", 2)]


async def test_sessions(client: AxonClient, define: Define) -> None:
    name = await define("chatty", script("First answer.", "Second answer.").model)
    session = await client.sessions.create(name, metadata={"user": "ada"})
    assert (session.agent.name, session.metadata, session.message_count) == (name, {"user": "ada"}, 0)
    await client.runs.run(name, "one", session_id=session.id)
    await client.runs.run(name, "two", session_id=session.id)
    history = await client.sessions.messages(session.id)
    assert history.message_count == 4
    assert len(history.messages) == 4
    fork = await client.sessions.fork(session.id, at=2)
    assert (fork.message_count, fork.metadata) == (2, {"user": "ada"})
    listed = [s.id async for s in client.sessions.list(agent=name)]
    assert listed == [fork.id, session.id]
    assert (await client.sessions.get(session.id)).message_count == 4
    assert [r.session_id async for r in client.runs.list(session_id=session.id)] == [session.id, session.id]
    await client.sessions.delete(fork.id)
    with pytest.raises(NotFound):
        await client.sessions.get(fork.id)


async def test_tools(axon: Axon, client: AxonClient) -> None:
    tools = await client.tools.list()
    assert tools.format == "jsonschema"
    assert "calculator" in {tool["name"] for tool in tools.tools}
    assert (await client.tools.list(format="adm")).format == "adm"
    with pytest.raises(Forbidden):  # not in AXON_EXECUTABLE_TOOLS: admins only
        await client.tools.execute("calculator", {"expression": "1+1"})
    async with axon.client(key=axon.admin_key) as admin:
        result = await admin.tools.execute("calculator", {"expression": "2 ** 10"})
        assert (result.status, result.content, result.error) == ("SUCCESS", 1024, None)
        failed = await admin.tools.execute("calculator", {"expression": "1/0"})
        assert failed.status == "ERROR"
        assert failed.error is not None
        with pytest.raises(NotFound):
            await admin.tools.execute("no_such_tool", {})


async def test_model_endpoints(axon: Axon) -> None:
    name = axon.name("local")
    async with axon.client(key=axon.admin_key) as admin:
        created = await admin.model_endpoints.create(name, "http://127.0.0.1:9/v1", api_key="sk-local")
        assert (created.name, created.has_api_key) == (name, True)
        assert "sk-local" not in created.model_dump_json()
        assert name in [e.name async for e in admin.model_endpoints.list()]
        updated = await admin.model_endpoints.update(name, "http://127.0.0.1:10/v1")
        assert (updated.base_url, updated.has_api_key) == ("http://127.0.0.1:10/v1", False)
        assert (await admin.model_endpoints.get(name)).base_url == "http://127.0.0.1:10/v1"
        await admin.model_endpoints.delete(name)
        with pytest.raises(NotFound):
            await admin.model_endpoints.get(name)
