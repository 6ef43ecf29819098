"""Imports every ORM module so ``Base.metadata`` knows all tables (Alembic, tests)."""

from app.auth import models as auth_models
from app.db import Base

__all__ = ["Base", "auth_models"]
