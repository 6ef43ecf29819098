from typing import Annotated

from fastapi import Depends, Path

from app.auth.deps import AdminPrincipal
from app.db import SessionDep
from app.llm import service
from app.llm.models import ModelEndpoint


async def _endpoint(
    name: Annotated[str, Path(description="The endpoint's name.")], _: AdminPrincipal, session: SessionDep
) -> ModelEndpoint:
    return await service.get_endpoint(session, name)


EndpointDep = Annotated[ModelEndpoint, Depends(_endpoint)]
"""The endpoint ``{name}`` of the path (admins only), or 404; route parameters using it are called ``name``."""
