"""`axon agents apply|export`: the file workflow in-process, and the console script as a real subprocess."""

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI

from app.agents.cli import apply_path, export_agent, principal_for
from app.config import Settings
from app.db import Database
from app.errors import InvalidAgentDefinition
from tests.factories import auth_headers


async def _apply(app: FastAPI, path: Path) -> list[str]:
    database: Database = app.state.database
    async with database.sessionmaker() as session, session.begin():
        return await apply_path(session, app.state.settings, await principal_for(session, "admin"), path)


async def _export(app: FastAPI, name: str) -> str:
    database: Database = app.state.database
    async with database.sessionmaker() as session:
        return await export_agent(session, await principal_for(session, "admin"), name)


async def test_apply_is_idempotent_and_export_round_trips(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    headers = await auth_headers(app, "admin", role="admin")
    (tmp_path / "a-support.yaml").write_text("name: support\nmodel: test\ninstructions: Help {{who}}.\nscope: shared\n")
    (tmp_path / "b-triage.json").write_text('{"name": "triage", "model": "test", "system_prompt": "Sort."}')
    (tmp_path / "notes.txt").write_text("not a definition")

    first = await _apply(app, tmp_path)
    second = await _apply(app, tmp_path)
    (tmp_path / "b-triage.json").write_text('{"name": "triage", "model": "test", "instructions": "Sort fast."}')
    third = await _apply(app, tmp_path / "b-triage.json")

    assert first == ["created support (a-support.yaml)", "created triage (b-triage.json)"]
    assert second == ["unchanged support (a-support.yaml)", "unchanged triage (b-triage.json)"]
    assert third == ["updated triage (b-triage.json)"]
    triage = (await client.get("/agents/triage", headers=headers)).json()
    assert (triage["version"], triage["definition"]["instructions"]) == (2, "Sort fast.")
    support = (await client.get("/agents/support", headers=headers)).json()
    assert (support["version"], support["scope"]) == (1, "shared")

    exported = await _export(app, "support")
    assert yaml.safe_load(exported) == {
        "name": "support",
        "model": "test",
        "instructions": "Help {{who}}.",
        "scope": "shared",
    }
    (tmp_path / "exported.yaml").write_text(exported)
    assert await _apply(app, tmp_path / "exported.yaml") == ["unchanged support (exported.yaml)"]


async def test_apply_reports_every_problem_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    headers = await auth_headers(app, "admin", role="admin")
    (tmp_path / "a-good.yaml").write_text("name: good\nmodel: test\n")
    (tmp_path / "b-bad.yaml").write_text("name: bad\nmodel: acme:x\ncolour: blue\n")

    with pytest.raises(InvalidAgentDefinition) as raised:
        await _apply(app, tmp_path)

    assert raised.value.message.splitlines() == [
        f"{tmp_path / 'b-bad.yaml'}: Agent definition is invalid (2 problems).",
        "  $.model: unknown provider or model endpoint 'acme' (providers: anthropic, google, groq, ollama, openai, openai-chat, test)",
        "  $.colour: unknown key 'colour'",
    ]
    assert (await client.get("/agents", headers=headers)).json() == {"items": [], "next_cursor": None}


async def _axon(settings: Settings, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "AXON_DATABASE_URL": settings.database_url, "AXON_SECRET_KEY": settings.resolved_secret_key()}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_console_script(app: FastAPI, settings: Settings, tmp_path: Path) -> None:
    await auth_headers(app, "admin", role="admin")
    (tmp_path / "support.yaml").write_text("name: support\nmodel: test\n")
    (tmp_path / "bad.yaml").write_text("name: bad\nmodel: test\ncolour: blue\n")

    applied, refused = await asyncio.gather(  # independent: the two processes run side by side
        _axon(settings, "agents", "apply", str(tmp_path / "support.yaml")),
        _axon(settings, "agents", "apply", str(tmp_path / "bad.yaml"), "--owner", "admin"),
    )

    assert applied == (0, "created support (support.yaml)\n", "")
    assert refused[:2] == (1, "")
    assert "  $.colour: unknown key 'colour'" in refused[2]
