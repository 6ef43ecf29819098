"""Imports every ORM module so ``Base.metadata`` knows all tables (Alembic, tests)."""

from app.agents import models as agent_models
from app.auth import models as auth_models
from app.db import Base
from app.llm import models as llm_models
from app.runs import executors as executor_models
from app.runs import models as run_models
from app.sessions import models as session_models

__all__ = [
    "Base",
    "agent_models",
    "auth_models",
    "executor_models",
    "llm_models",
    "run_models",
    "session_models",
]
