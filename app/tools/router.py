"""`GET /tools` and the ALTAR LATER executor `POST /tools/{name}/execute` (API.md §5).

An agent's own tools (`GET /agents/{agent}/tools`) are served by the agents package."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from app.auth.deps import CurrentPrincipal
from app.config import SettingsDep
from app.errors import Forbidden, NotFound, error_responses
from app.tools import service
from app.tools.deps import ToolFormatQuery, ToolRegistryDep
from app.tools.functions import ToolFunction
from app.tools.schemas import ExecuteRequest, ToolList, ToolResult

router = APIRouter(tags=["tools"])


class ToolNotFound(NotFound):
    pass


class ToolNotExecutable(Forbidden):
    pass


async def _executable_tool(
    name: Annotated[str, Path(description="A tool name from `GET /tools`.")],
    registry: ToolRegistryDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> ToolFunction:
    tool = registry.get(name)
    if tool is None:
        raise ToolNotFound(f"No tool {name!r}.")
    if not principal.is_admin and name not in settings.executable_tools:
        raise ToolNotExecutable(f"Tool {name!r} is not executable by non-admins (AXON_EXECUTABLE_TOOLS).")
    return tool


ExecutableTool = Annotated[ToolFunction, Depends(_executable_tool)]


@router.get(
    "/tools",
    summary="List builtin and plugin tools",
    description=(
        "The global tool registry: tools shipped with the service and tools of installed plugins "
        "(entry-point group `axon.tools`), sorted by name. Agent definitions reference them as "
        '`{"type": "builtin", "name": …}`. With `?format=adm` the parameters are ALTAR ADM schemas; '
        "a schema ADM cannot express is a `422 ValidationError` listing the constructs under "
        "`details.unsupported`."
    ),
    responses=error_responses(401, 422),
)
async def list_tools(_: CurrentPrincipal, registry: ToolRegistryDep, fmt: ToolFormatQuery = "jsonschema") -> ToolList:
    return service.list_registry_tools(registry, fmt)


@router.post(
    "/tools/{name}/execute",  # noqa: FAST003 (resolved by a dependency)
    summary="Execute a builtin or plugin tool (ALTAR LATER executor)",
    description=(
        "Validates `args` against the tool's JSON Schema and runs the tool. The answer is always a "
        "LATER `ToolResult` with status `200`: invalid arguments, tool errors and exceptions are "
        '`"status": "ERROR"` results with `error.message`. Admins may execute any registered tool; '
        "other callers only tools listed in `AXON_EXECUTABLE_TOOLS` (`403 Forbidden` otherwise). "
        "Tools that need a run's context can only be called by agents (an `ERROR` result here)."
    ),
    responses=error_responses(401, 403, 404),
)
async def execute_tool(tool: ExecutableTool, body: ExecuteRequest) -> ToolResult:
    return await service.execute(tool, body.args)
