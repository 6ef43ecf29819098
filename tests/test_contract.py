"""Issue 18's findings, one by one, through the real app on every backend.

Each was a 500, a schema-valid request refused, or a wrong ``Allow`` that schemathesis found
(`tests/test_fuzz.py` runs it on every build).
"""

import httpx
import pytest
from dirty_equals import IsStr

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
    assert response.status_code in {404, 422}  # 404 once path errors are NotFound (app.errors)
    assert response.json()["status"] == "error"


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
