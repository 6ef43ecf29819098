from fastapi import APIRouter

from app.auth.deps import AdminPrincipal
from app.config import SettingsDep
from app.db import SessionDep
from app.errors import error_responses
from app.llm import service
from app.llm.deps import EndpointDep
from app.llm.schemas import ModelEndpointCreate, ModelEndpointRead
from app.pagination import Page, PageDep

router = APIRouter(prefix="/model-endpoints", tags=["model endpoints"])


@router.post(
    "",
    status_code=201,
    responses=error_responses(401, 403, 409),
    summary="Add an OpenAI-compatible endpoint (admin)",
    description="Definitions then name it as `<name>:<model>`. The API key is stored encrypted and never returned.",
)
async def create_endpoint(
    data: ModelEndpointCreate, _: AdminPrincipal, session: SessionDep, settings: SettingsDep
) -> ModelEndpointRead:
    return ModelEndpointRead.model_validate(await service.create_endpoint(session, settings, data))


@router.get("", responses=error_responses(401, 403), summary="List model endpoints (admin; keys are never shown)")
async def list_endpoints(_: AdminPrincipal, session: SessionDep, params: PageDep) -> Page[ModelEndpointRead]:
    rows, cursor = await service.list_endpoints(session, params)
    return Page[ModelEndpointRead](items=[ModelEndpointRead.model_validate(row) for row in rows], next_cursor=cursor)


@router.get("/{name}", responses=error_responses(401, 403, 404), summary="Read one model endpoint (admin)")
async def read_endpoint(name: EndpointDep) -> ModelEndpointRead:
    return ModelEndpointRead.model_validate(name)


@router.put(
    "/{name}",
    responses=error_responses(401, 403, 404),
    summary="Replace an endpoint's base URL and key (admin)",
    description="Agents built against the old configuration are rebuilt on their next run.",
)
async def replace_endpoint(
    data: ModelEndpointCreate, name: EndpointDep, session: SessionDep, settings: SettingsDep
) -> ModelEndpointRead:
    return ModelEndpointRead.model_validate(await service.replace_endpoint(session, settings, name, data))


@router.delete(
    "/{name}",
    status_code=204,
    responses=error_responses(401, 403, 404),
    summary="Remove a model endpoint (admin)",
    description="Runs of agents that still name it fail with `422 ModelNotConfigured` until it is re-created.",
)
async def delete_endpoint(name: EndpointDep, session: SessionDep) -> None:
    await service.delete_endpoint(session, name)
