"""Settings, read once from the environment (prefix ``AXON_``) and ``.env``."""

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, Request
from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./axon.db"
SECRET_FILE_NAME = ".axon_secret_key"
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Every knob of the service. See the configuration table in the README."""

    model_config = SettingsConfigDict(env_prefix="AXON_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("AXON_DATABASE_URL", "DATABASE_URL"),
    )
    secret_key: SecretStr | None = None
    """Signs JWTs and webhook requests, derives the key that encrypts endpoint API keys."""
    host: str = "127.0.0.1"
    port: int = 8000

    access_token_ttl_seconds: int = 3600
    jwt_issuer: str = "axon"
    jwt_audience: str = "axon-api"
    login_max_failures: int = 5
    """Failed logins allowed per username and per client address within the window."""
    login_failure_window_seconds: int = 300
    password_hash_time_cost: int = Field(default=3, ge=1)
    """Argon2id iterations for new password hashes (existing hashes keep the parameters they were made with)."""
    password_hash_memory_kib: int = Field(default=65_536, ge=32)
    """Argon2id memory per password hash, in KiB. The defaults are argon2-cffi's (RFC 9106 low-memory)."""

    max_body_bytes: int = 1_048_576
    max_schema_bytes: int = 65_536
    max_schema_depth: int = 32

    webhook_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list[str])
    http_get_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list[str])
    executable_tools: Annotated[list[str], NoDecode] = Field(default_factory=list[str])
    """Builtin/plugin tools non-admins may run through ``POST /tools/{name}/execute``."""
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 3

    model_max_retries: int = 0
    """Retries the provider SDK makes by itself; 0 so the caller sees every failure."""
    model_timeout_seconds: float = 120.0

    default_deadline_ms: int = 120_000
    max_deadline_ms: int = 900_000
    agent_cache_size: int = 256
    max_agent_tool_depth: int = 3

    max_deps_bytes: int = 65_536
    """Largest ``deps`` of a run request (JSON); larger is a 422."""
    max_metadata_bytes: int = 16_384
    """Largest ``metadata`` of a run request (JSON); larger is a 422."""
    event_batch_seconds: float = 0.05
    """How long stream events wait to be stored together (a terminal event is stored at once)."""
    terminal_write_patience_seconds: float = Field(default=30.0, ge=0)
    """How long a run keeps retrying to store its end while the database is unreachable; after that the run
    stays live in the database until reconcile (every heartbeat) ends it ``failed``/``Interrupted``."""
    reconcile_after_seconds: float = Field(default=15.0, ge=0)
    """Reconcile looks only at live runs at least this old (so it never races a run being admitted)."""
    executor_id: str | None = None
    """This process's unique id in the run list and for durable recovery; default ``host-pid-random``.
    Give a replica a stable id (e.g. its StatefulSet ordinal) to have it resume its own runs at once."""
    max_concurrent_runs: int = Field(default=32, ge=1)
    """Background runs executing at once across all processes (enforced by the durable queue)."""
    max_concurrent_runs_per_owner: int = Field(default=4, ge=1)
    max_queued_runs: int = Field(default=1000, ge=0)
    """Background runs waiting in the queue; above it new background runs get 503 ``Overloaded``."""
    shutdown_grace_seconds: float = 10.0
    """On shutdown, in-flight sync/stream runs get this long to finish; background runs are left to resume."""
    cancel_wait_seconds: float = 5.0
    """``POST /runs/{id}/cancel`` waits this long for the run to stop before answering ``cancel_pending``."""
    executor_heartbeat_seconds: float = 5.0
    executor_dead_after_seconds: float = 30.0
    """A process whose heartbeat is older than this is dead: another process takes over its runs."""
    queue_poll_seconds: float = 1.0
    """How often each process polls the durable queue for runs to start."""
    dbos_system_database_url: str | None = None
    """DBOS's system database; default: the service's own database (schema ``dbos`` on Postgres, a
    sibling ``*.dbos.sqlite`` file beside a SQLite database)."""

    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per line (time, level, message, logger, request_id, run_id, agent, owner, ...)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"] = "INFO"
    log_content: bool = False
    """Log prompts, outputs and tool arguments (never by default)."""
    metrics_token: SecretStr | None = None
    """When set, ``GET /metrics`` requires ``Authorization: Bearer <token>``; unset, it is open (no user auth)."""

    _secret: str | None = PrivateAttr(default=None)

    @field_validator("webhook_allowlist", "http_get_allowlist", "executable_tools", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _production_needs_secret(self) -> "Settings":
        if self.env == "production" and self.secret_key is None:
            raise ValueError("AXON_ENV=production requires AXON_SECRET_KEY (at least 32 characters)")
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"AXON_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def data_dir(self) -> Path:
        """Where development state (the generated secret) lives: beside the SQLite file."""
        if self.is_sqlite and ":memory:" not in self.database_url:
            path = self.database_url.split("///", 1)[1].split("?", 1)[0]
            return Path(path).resolve().parent
        return Path.cwd()

    def resolved_secret_key(self) -> str:
        """The configured secret, or in development one generated once and kept on disk (mode 0600).

        Read once per ``Settings`` object; the file is created atomically so two processes
        starting together agree on one secret.
        """
        if self._secret is None:
            self._secret = self.secret_key.get_secret_value() if self.secret_key else _development_secret(self)
        return self._secret


def _development_secret(settings: Settings) -> str:
    path = settings.data_dir() / SECRET_FILE_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written to a private temporary file, then linked into place: the secret is never
        # world-readable, never half-written, and the first of two racing processes wins.
        temporary = path.with_name(f"{SECRET_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()


async def _app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_app_settings)]
