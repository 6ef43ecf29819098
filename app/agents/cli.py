"""``axon agents apply|export``: definitions as files, through the same service functions as the API."""

import json
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import service
from app.agents.models import Agent
from app.auth.service import Principal, get_user_by_name
from app.config import Settings
from app.errors import AppError, InvalidAgentDefinition
from app.tools.registry import ToolRegistry

Outcome = Literal["created", "updated", "unchanged"]
SUFFIXES = (".yaml", ".yml", ".json")


async def principal_for(session: AsyncSession, username: str) -> Principal:
    user = await get_user_by_name(session, username)
    return Principal(user_id=user.id, username=user.username, role="admin" if user.role == "admin" else "user")


def definition_files(path: Path) -> list[Path]:
    """``path`` itself, or the definition files directly inside a folder (sorted by name)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    if not path.exists():
        raise InvalidAgentDefinition(f"{path}: no such file or folder.")
    return [path]


def read_definition(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidAgentDefinition(f"{path}: not valid {path.suffix.lstrip('.').upper()}: {exc}") from exc


async def _apply_one(
    session: AsyncSession, settings: Settings, registry: ToolRegistry, owner: Principal, raw: Any
) -> tuple[str, Outcome]:
    name = cast(dict[str, Any], raw).get("name") if isinstance(raw, dict) else None
    existing = None
    if isinstance(name, str):
        existing = await session.scalar(select(Agent).where(Agent.owner_id == owner.user_id, Agent.name == name))
    if existing is None:
        created = await service.create_agent(session, settings, registry, owner, raw)
        return created.name, "created"
    written, changed = await service.replace_agent(session, settings, registry, owner, existing, raw)
    return written.name, "updated" if changed else "unchanged"


async def apply_path(session: AsyncSession, settings: Settings, owner: Principal, path: Path) -> list[str]:
    """Create or update every definition under ``path``; one line per agent. All or nothing."""
    lines: list[str] = []
    registry = ToolRegistry.load(settings)
    for file in definition_files(path):
        try:
            name, outcome = await _apply_one(session, settings, registry, owner, read_definition(file))
        except AppError as exc:
            raise type(exc)(f"{file}: {exc.message}{_problems(exc)}", details=exc.details) from exc
        lines.append(f"{outcome} {name} ({file.name})")
    return lines


def _problems(exc: AppError) -> str:
    errors: Any = exc.details.get("errors") if isinstance(exc.details, dict) else None
    if not isinstance(errors, list):
        return ""
    problems = [cast(dict[str, Any], p) for p in cast(list[Any], errors) if isinstance(p, dict)]
    return "".join(f"\n  {problem.get('path')}: {problem.get('message')}" for problem in problems)


async def export_agent(session: AsyncSession, principal: Principal, name: str) -> str:
    """The agent's current definition as YAML (with ``scope: shared`` when shared), ready for ``apply``."""
    agent = await service.get_visible_agent(session, principal, name)
    version = await service.get_version(session, agent, None)
    document: dict[str, Any] = dict(version.definition)
    if agent.scope == "shared":
        document["scope"] = "shared"
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
