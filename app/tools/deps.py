from typing import Annotated

from fastapi import Depends, Query, Request

from app.tools.registry import ToolRegistry
from app.tools.schemas import ToolFormat


async def _registry(request: Request) -> ToolRegistry:
    registry: ToolRegistry = request.app.state.tool_registry
    return registry


ToolRegistryDep = Annotated[ToolRegistry, Depends(_registry)]
"""The app's tool registry, loaded once in the lifespan."""

ToolFormatQuery = Annotated[
    ToolFormat,
    Query(alias="format", description="`jsonschema` (default) or `adm` (ALTAR ADM FunctionDeclaration schemas)."),
]
