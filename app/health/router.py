from fastapi import APIRouter
from pydantic import BaseModel

from app.db import DatabaseDep
from app.errors import error_responses
from app.health import service

router = APIRouter(prefix="/health", tags=["health"])


class HealthStatus(BaseModel):
    status: str
    migration: str | None = None


@router.get("/live")
async def live() -> HealthStatus:
    return HealthStatus(status="ok")


@router.get("/ready", responses=error_responses(503))
async def ready(database: DatabaseDep) -> HealthStatus:
    return HealthStatus(status="ok", migration=await service.check_ready(database))
