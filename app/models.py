"""Imports every ORM module so ``Base.metadata`` knows all tables (Alembic, tests)."""

from app.auth import models as auth_models

__all__ = ["auth_models"]
