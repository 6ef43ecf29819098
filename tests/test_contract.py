"""Issue 18's findings, one by one, through the real app on every backend.

Each was a 500, a schema-valid request refused, or a wrong ``Allow`` that schemathesis found
(`tests/test_fuzz.py` runs it on every build).
"""

import re
import uuid
from typing import Any

import httpx
import jsonschema
import pytest
from dirty_equals import IsStr

from app.agents.definition import AgentDefinition
from app.pagination import CURSOR_PATTERN

AGENT = {"name": "fuzzed", "model": "test"}


async def _agent(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    created = await client.post("/agents", json=AGENT, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def _field_errors(response: httpx.Response) -> list[tuple[list[object], str]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error_type"] == "ValidationError"
    return [(error["loc"], error["msg"]) for error in body["details"]["errors"]]


# --- integers beyond the column's range ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/agents/{a}/versions/9999999999999999"), ("POST", "/agents/{a}/versions/12684683634060/activate")],
)
async def test_a_version_number_beyond_the_column_is_not_found(
    client: httpx.AsyncClient, user_headers: dict[str, str], method: str, path: str
) -> None:
    agent = await _agent(client, user_headers)
    response = await client.request(method, path.format(a=agent), headers=user_headers)
    assert response.status_code == 404
    assert response.json()["error_type"] == "NotFound"


async def test_a_run_version_beyond_the_column_is_a_validation_error(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    agent = await _agent(client, user_headers)
    response = await client.post(
        f"/agents/{agent}/runs", json={"input": "hi", "version": 1195763892248874077609000960}, headers=user_headers
    )
    assert [loc for loc, _ in _field_errors(response)] == [["body", "version"]]


async def test_an_event_number_beyond_the_column_is_a_validation_error(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    run = await client.post(
        f"/agents/{await _agent(client, user_headers)}/run", json={"input": "hi"}, headers=user_headers
    )
    response = await client.get(f"/runs/{run.json()['run_id']}/events?after=2199023255552", headers=user_headers)
    assert [loc for loc, _ in _field_errors(response)] == [["query", "after"]]


# --- text no database stores ----------------------------------------------------------------------------


async def test_nul_in_an_api_key_name_is_refused_naming_the_field(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    response = await client.post("/api-keys", json={"name": "ci\u0000key"}, headers=user_headers)
    assert _field_errors(response) == [(["body", "name"], "must not contain the NUL character (U+0000)")]


async def test_nul_in_a_session_body_is_refused_everywhere_it_is(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    body = {"agent": "a\u0000", "tools": ["ok", "t\u0000"], "metadata": {"k\u0000": 1, "nested": [{"v": "\u0000"}]}}
    response = await client.post("/sessions", json=body, headers=user_headers)
    assert [loc for loc, _ in _field_errors(response)] == [
        ["body", "agent"],
        ["body", "tools", 1],
        ["body", "metadata", "k\u0000"],
        ["body", "metadata", "nested", 0, "v"],
    ]
    assert _field_errors(response)[2][1] == "key must not contain the NUL character (U+0000)"


async def test_nul_in_a_query_parameter_is_refused(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    response = await client.get("/sessions?agent=%00", headers=user_headers)
    assert [loc for loc, _ in _field_errors(response)] == [["query", "agent"]]


async def test_nul_in_a_path_names_nothing(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    response = await client.get("/agents/a%00b", headers=user_headers)
    assert response.status_code == 404
    assert response.json()["error_type"] == "NotFound"


async def test_nul_in_a_header_is_refused(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    agent = await _agent(client, user_headers)
    response = await client.post(
        f"/agents/{agent}/runs", json={"input": "hi"}, headers={**user_headers, "Idempotency-Key": "k\x00"}
    )
    assert [loc for loc, _ in _field_errors(response)] == [["header", "idempotency-key"]]


async def test_nul_in_a_login_form_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/token", data={"username": "a\u0000", "password": "x"})
    assert [loc for loc, _ in _field_errors(response)] == [["body", "username"]]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"agent": "x", "metadata": {"a": NaN}}', "must be a finite number (NaN and Infinity are not JSON)"),
        ('{"agent": "x", "metadata": {"a": 1e999}}', "must be a finite number (NaN and Infinity are not JSON)"),
        ('{"agent": "x", "metadata": {"a": "\\ud800"}}', "must not contain a lone surrogate (not valid Unicode text)"),
    ],
)
async def test_numbers_and_text_json_cannot_hold_are_refused(
    client: httpx.AsyncClient, user_headers: dict[str, str], raw: str, message: str
) -> None:
    headers = {**user_headers, "Content-Type": "application/json"}
    response = await client.post("/sessions", content=raw, headers=headers)
    assert _field_errors(response) == [(["body", "metadata", "a"], message)]


# --- 405 lists every method of the path -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/agents", "GET, POST"),
        ("/agents/x", "DELETE, GET, PUT"),
        ("/api-keys", "GET, POST"),
        ("/model-endpoints/x", "DELETE, GET, PUT"),
        ("/sessions/00000000-0000-0000-0000-000000000000", "DELETE, GET"),
    ],
)
async def test_a_405_allows_every_method_of_the_path(
    client: httpx.AsyncClient, user_headers: dict[str, str], path: str, allow: str
) -> None:
    response = await client.options(path, headers=user_headers)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json() == {
        "status": "error",
        "error_type": "MethodNotAllowed",
        "message": IsStr(),
        "details": None,
        "retryable": False,
        "retry_after": None,
        "run_id": None,
        "request_id": IsStr(),
    }


async def test_a_concrete_path_allows_only_its_own_methods(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    response = await client.options("/agents/validate", headers=user_headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


# --- cursors: any string of the documented shape is a position ----------------------------------------


async def test_a_cursor_of_the_documented_shape_is_a_position(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    for name in ("one", "two", "three"):
        await client.post("/agents", json={"name": name, "model": "test"}, headers=user_headers)
    first = (await client.get("/agents?limit=2", headers=user_headers)).json()
    cursor = first["next_cursor"]
    assert re.fullmatch(CURSOR_PATTERN, cursor)
    rest = (await client.get("/agents", params={"limit": 2, "cursor": cursor}, headers=user_headers)).json()
    assert [a["name"] for a in first["items"] + rest["items"]] == ["three", "two", "one"]
    assert rest["next_cursor"] is None

    never_issued = f"{10**15}-{uuid.uuid4().hex}"  # a position in 2001: nothing is older
    page = await client.get("/agents", params={"cursor": never_issued}, headers=user_headers)
    assert page.json() == {"items": [], "next_cursor": None}


async def test_a_cursor_of_another_shape_is_a_validation_error(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    response = await client.get("/sessions", params={"cursor": "NUL"}, headers=user_headers)
    assert [loc for loc, _ in _field_errors(response)] == [["query", "cursor"]]


# --- a model the server cannot serve ----------------------------------------------------------------------


async def test_a_provider_without_credentials_is_a_non_retryable_422(
    client: httpx.AsyncClient, user_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    created = await client.post(
        "/agents", json={"name": "unkeyed", "model": "openai-chat:gpt-4o-mini"}, headers=user_headers
    )
    assert created.json()["warnings"] == [{"path": "$.model", "message": IsStr(regex=".*OPENAI_API_KEY.*")}]

    response = await client.post("/agents/unkeyed/run", json={"input": "hi"}, headers=user_headers)

    assert response.status_code == 422
    assert response.headers["x-should-retry"] == "false"
    assert response.json() | {"run_id": None, "request_id": None} == {
        "status": "error",
        "error_type": "ModelNotConfigured",
        "message": "OPENAI_API_KEY is not set on the server.",
        "details": {"provider": "openai-chat"},
        "retryable": False,
        "retry_after": None,
        "run_id": None,
        "request_id": None,
    }


# --- the OpenAPI document says what the server accepts ----------------------------------------------------


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    return (await client.get("/openapi.json")).json()


def _parameter(document: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    return next(p for p in document["paths"][path][method]["parameters"] if p["name"] == name)


async def test_the_definition_body_is_the_definition_schema(document: dict[str, Any]) -> None:
    for path, method in [("/agents", "post"), ("/agents/validate", "post"), ("/agents/{agent}", "put")]:
        body = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"] == "#/components/schemas/DefinitionInput"
    schema = document["components"]["schemas"]["DefinitionInput"]
    assert schema["required"] == ["name", "model"]
    assert schema["additionalProperties"] is False
    generated = set(AgentDefinition.model_json_schema(by_alias=True)["properties"])
    assert set(schema["properties"]) == generated | {"system_prompt", "result_type", "result_retries"}


async def test_parameters_are_never_null_and_are_typed_as_parsed(document: dict[str, Any]) -> None:
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                assert {"type": "null"} not in parameter["schema"].get("anyOf", []), parameter
    assert _parameter(document, "/runs/{run_id}/events", "get", "Last-Event-ID")["schema"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 2**31 - 1,
        "title": "Last-Event-Id",
    }
    cursor = _parameter(document, "/agents", "get", "cursor")["schema"]
    assert (cursor["type"], cursor["pattern"]) == ("string", CURSOR_PATTERN)
    assert "opaque" in cursor["description"]


async def test_the_document_refuses_what_the_server_refuses(document: dict[str, Any]) -> None:
    """A NUL anywhere, a null parameter: invalid by the document, as the server answers 422."""
    components = document["components"]
    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/SessionCreate", "components": components}
    )
    assert validator.is_valid({"agent": "a", "tools": ["t"], "metadata": {"k": [{"v": 1.5}]}})
    for bad in (
        {"agent": "a\u0000"},
        {"agent": "a", "tools": ["t\u0000"]},
        {"agent": "a", "metadata": {"k\u0000": 1}},
        {"agent": "a", "metadata": {"k": [{"v": "\u0000"}]}},
    ):
        assert not validator.is_valid(bad), bad
