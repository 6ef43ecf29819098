"""Logs: text, or one JSON object per line (``AXON_LOG_FORMAT=json``), with the request and run they
belong to.

`bind` puts ``request_id`` (the request middleware), ``run_id``, ``agent`` and ``owner`` (the executor,
in each run's own task) into a context variable; every record logged in that context carries them.
Prompts, outputs and tool arguments are never logged unless ``AXON_LOG_CONTENT=true`` (`content`).
"""

import contextvars
import datetime as dt
import json
import logging
from typing import Any

FIELDS = ("request_id", "run_id", "agent", "owner", "trace_id", "error_type")
_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("axon_log_context", default=None)
_log_content = False


def bind(**values: str | None) -> None:
    """Add these fields to every record logged from the current context (and tasks it starts)."""
    _context.set({**(_context.get() or {}), **{k: v for k, v in values.items() if v is not None}})


def content(value: Any) -> Any:
    """``value`` when content logging is on, else a placeholder: use it for prompts, outputs, tool args."""
    return value if _log_content else "[content hidden; AXON_LOG_CONTENT=true shows it]"


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        known = " ".join(f"{n}={getattr(record, n)}" for n in FIELDS if getattr(record, n, None) is not None)
        return f"{line} [{known}]" if known else line


def config(log_format: str, level: str, log_content: bool) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the service and uvicorn (its access log included), per worker."""
    global _log_content
    _log_content = log_content
    formatter = (
        {"()": JsonFormatter}
        if log_format == "json"
        else {"()": TextFormatter, "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "axon",
        "filters": ["context"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"axon": formatter},
        "handlers": {"axon": handler},
        "root": {"handlers": ["axon"], "level": level.upper()},
        "loggers": {
            name: {"handlers": [], "level": level.upper(), "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
