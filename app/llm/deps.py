from typing import Annotated

from fastapi import Depends

from app.auth.deps import AdminPrincipal
from app.db import SessionDep
from app.llm import service
from app.llm.models import ModelEndpoint


async def _endpoint(name: str, _: AdminPrincipal, session: SessionDep) -> ModelEndpoint:
    return await service.get_endpoint(session, name)


EndpointDep = Annotated[ModelEndpoint, Depends(_endpoint)]
"""The endpoint named in the path (admins only), or 404."""
