"""The client's models and error classes, checked against the service's OpenAPI document so they cannot drift."""

from typing import Any, get_args

import axon_client
import pytest
from axon_client import models
from axon_client.errors import ERROR_CLASSES
from axon_client.runs import run_body
from pydantic import BaseModel

from app.config import Settings
from app.main import create_app

MODELS: dict[type[BaseModel], str] = {
    models.Agent: "AgentWritten",
    models.AgentVersion: "VersionRead",
    models.ValidationResult: "ValidationResult",
    models.AgentRef: "AgentRef",
    models.Usage: "Usage",
    models.DeferredCall: "DeferredCall",
    models.Deferred: "Deferred",
    models.ErrorEnvelope: "ErrorEnvelope",
    models.RunResult: "RunResult",
    models.Run: "RunOut",
    models.RunAccepted: "RunAccepted",
    models.CancelPending: "CancelPending",
    models.UsageLimits: "UsageLimitsIn",
    models.ApprovalDecision: "ApprovalDecision",
    models.SessionAgent: "SessionAgent",
    models.Session: "SessionOut",
    models.SessionMessages: "SessionMessages",
    models.ToolInfo: "ToolInfo",
    models.ToolList: "ToolList",
    models.ToolResult: "ToolResult",
    models.ToolResultError: "ToolResultError",
    models.ModelEndpoint: "ModelEndpointRead",
}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    settings = Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        secret_key="test-secret-key-that-is-long-enough-for-hs256",  # type: ignore[arg-type]
    )
    return create_app(settings).openapi()


def _schema(openapi: dict[str, Any], name: str) -> dict[str, Any]:
    return openapi["components"]["schemas"][name]


@pytest.mark.parametrize("model", list(MODELS), ids=lambda model: model.__name__)
def test_model_fields_match_the_server_schema(openapi: dict[str, Any], model: type[BaseModel]) -> None:
    schema = _schema(openapi, MODELS[model])
    assert set(model.model_fields) == set(schema["properties"])
    required_by_client = {name for name, field in model.model_fields.items() if field.is_required()}
    assert required_by_client <= set(schema.get("required", []))


def test_every_server_error_type_has_an_exception_class(openapi: dict[str, Any]) -> None:
    server_types = _schema(openapi, "ErrorEnvelope")["properties"]["error_type"]["enum"]
    assert set(server_types) <= set(ERROR_CLASSES)
    for error_type, cls in ERROR_CLASSES.items():
        assert (cls.__name__, cls.error_type) == (error_type, error_type)
        assert issubclass(cls, axon_client.AxonError)
        assert getattr(axon_client, error_type) is cls
    # Announced in API.md §4 before the server's enum has them.
    assert {"DatabaseUnavailable", "QuotaExceeded"} <= set(ERROR_CLASSES)


def test_run_statuses_match(openapi: dict[str, Any]) -> None:
    status = _schema(openapi, "RunOut")["properties"]["status"]
    assert set(status["enum"]) == set(get_args(models.RunStatus))


def test_request_bodies_use_server_fields(openapi: dict[str, Any]) -> None:
    body = run_body(
        "hi",
        deps={},
        session_id="s",
        message_history=[],
        version=1,
        model_settings={},
        usage_limits={},
        deadline_ms=1,
        metadata={},
    )
    assert set(body) == set(_schema(openapi, "RunRequest")["properties"])
    resume_fields = set(_schema(openapi, "ResumeRequest")["properties"])
    assert {"tool_results", "tool_errors", "approvals", "deadline_ms", "metadata"} <= resume_fields
