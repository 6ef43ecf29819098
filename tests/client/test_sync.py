"""`AxonSyncClient`: the same API without ``await`` (run in a worker thread: the server shares the test's loop)."""

import asyncio
from pathlib import Path

import pytest
from axon_client import AxonSyncClient, NotFound, RunCompleted, RunStarted

from tests.client.conftest import Axon
from tests.runs.scripts import Call, Sleep, script

BALANCE = {"type": "external", "name": "balance", "parameters": {"type": "object", "properties": {}}}


async def test_sync_client(axon: Axon, tmp_path: Path) -> None:
    name, paused_name, slow_name = axon.name("sync"), axon.name("sync-paused"), axon.name("sync-slow")
    endpoint_name = axon.name("sync-endpoint")
    axon.models[name] = script("Hello from sync.").model
    axon.models[paused_name] = script(
        Call("balance", {}, id="b-1"), "Balance known.", Call("balance", {}, id="b-1"), "Balance known."
    ).model
    axon.models[slow_name] = script(Sleep(5)).model
    (tmp_path / "agent.yaml").write_text(f"name: {slow_name}\nmodel: test\n")

    def scenario() -> None:
        with AxonSyncClient(axon.url, api_key=axon.user_key) as axon_sync:
            agent = axon_sync.agents.create({"name": name, "model": "test"})
            assert axon_sync.agents.get(name).id == agent.id
            assert [a.name for a in axon_sync.agents.list(q=name)] == [name]
            assert axon_sync.agents.update(name, {"name": name, "model": "test", "instructions": "Hi."}).version == 2
            assert [v.version for v in axon_sync.agents.versions(name)] == [2, 1]
            assert axon_sync.agents.version(name, 1).current is False
            assert axon_sync.agents.activate(name, 1).version == 1
            assert axon_sync.agents.validate({"name": name, "model": "test"}).valid
            assert [r.outcome for r in axon_sync.agents.apply(tmp_path)] == ["created"]

            result = axon_sync.runs.run(name, "hi")
            assert result.output == "Hello from sync."
            events = list(axon_sync.runs.stream(name, "hi"))
            assert isinstance(events[0], RunStarted)
            assert isinstance(events[-1], RunCompleted)
            accepted = axon_sync.runs.start(name, "hi")
            assert axon_sync.runs.wait(accepted.run_id, timeout=10).status == "completed"
            assert next(e.seq for e in axon_sync.runs.events(accepted.run_id)) == 1
            assert axon_sync.runs.get(accepted.run_id).run_id == accepted.run_id
            assert len(list(axon_sync.runs.list(agent=name))) == 3

            axon_sync.agents.create({"name": paused_name, "model": "test", "tools": [BALANCE]})
            paused = axon_sync.runs.run(paused_name, "balance?")
            assert paused.status == "requires_action"
            assert axon_sync.runs.resume(paused.run_id, tool_results={"b-1": 3}).output == "Balance known."
            again = axon_sync.runs.run(paused_name, "balance?")
            resumed = list(axon_sync.runs.resume_stream(again.run_id, tool_results={"b-1": 4}))
            assert isinstance(resumed[-1], RunCompleted)

            slow = axon_sync.runs.start(slow_name, "go")
            first = axon_sync.runs.events(slow.run_id)
            assert isinstance(next(first), RunStarted)
            first.close()
            assert axon_sync.runs.cancel(slow.run_id).status == "cancelled"

            session = axon_sync.sessions.create(name)
            axon_sync.runs.run(name, "remember", session_id=session.id)
            assert axon_sync.sessions.messages(session.id).message_count == 2
            assert axon_sync.sessions.fork(session.id, at=1).message_count == 1
            assert len(list(axon_sync.sessions.list(agent=name))) == 2
            axon_sync.sessions.delete(session.id)
            assert axon_sync.tools.list().format == "jsonschema"
            with AxonSyncClient(axon.url, api_key=axon.admin_key) as admin:
                endpoint = admin.model_endpoints.create(endpoint_name, "http://127.0.0.1:9/v1")
                assert admin.model_endpoints.get(endpoint_name).base_url == endpoint.base_url
                assert admin.model_endpoints.update(endpoint_name, "http://127.0.0.1:10/v1").base_url.endswith(":10/v1")
                assert endpoint_name in [e.name for e in admin.model_endpoints.list()]
                assert admin.tools.execute("calculator", {"expression": "6*7"}).content == 42
                admin.model_endpoints.delete(endpoint_name)
            axon_sync.agents.delete(name)
            with pytest.raises(NotFound):
                axon_sync.agents.get(name)

    await asyncio.to_thread(scenario)
