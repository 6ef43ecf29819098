import httpx
from dirty_equals import IsStr

from app.tools.registry import discover_plugins


async def test_list_tools_as_json_schema(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    response = await client.get("/tools", headers=user_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["format"] == "jsonschema"
    by_name = {tool["name"]: tool for tool in body["tools"]}
    assert list(by_name) == sorted(by_name)
    assert {"calculator", "current_time", "http_get", *(t.name for t in discover_plugins())} == set(by_name)
    assert by_name["current_time"] == {
        "name": "current_time",
        "type": "builtin",
        "description": "Return the current date and time as an ISO 8601 string.",
        "parameters": {
            "type": "object",
            "properties": {
                "timezone": {
                    "type": "string",
                    "description": "An IANA time zone name such as `Europe/Berlin` or `America/New_York`.",
                }
            },
        },
        "requires_approval": False,
    }


async def test_list_tools_as_adm(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    response = await client.get("/tools", params={"format": "adm"}, headers=user_headers)
    assert response.status_code == 200, response.text
    by_name = {tool["name"]: tool for tool in response.json()["tools"]}
    assert by_name["convert_temperature"]["parameters"] == {
        "type": "OBJECT",
        "properties": {
            "value": {"type": "NUMBER", "description": "The temperature to convert."},
            "to": {"type": "STRING", "enum": ["C", "F"], "description": "The unit to convert into."},
            "precision": {
                "type": "INTEGER",
                "nullable": True,
                "description": "Decimal places to round to; no rounding when omitted.",
            },
        },
        "required": ["value"],
    }


async def test_tools_need_auth_and_a_known_format(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    assert (await client.get("/tools")).json()["error_type"] == "Unauthorized"
    bad = await client.get("/tools", params={"format": "yaml"}, headers=user_headers)
    assert (bad.status_code, bad.json()["error_type"]) == (422, "ValidationError")


async def test_execute_success(client: httpx.AsyncClient, user_headers: dict[str, str]) -> None:
    response = await client.post(
        "/tools/calculator/execute", json={"args": {"expression": "2 ** 10"}}, headers=user_headers
    )
    assert response.status_code == 200
    assert response.json() == {"name": "calculator", "status": "SUCCESS", "content": 1024, "error": None}


async def test_execute_invalid_arguments_is_an_error_result(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/tools/word_count/execute", json={"args": {"text": 3, "unique": "no"}}, headers=user_headers
    )
    assert response.status_code == 200
    assert response.json() == {
        "name": "word_count",
        "status": "ERROR",
        "content": None,
        "error": {
            "message": "Invalid arguments: text: 3 is not of type 'string'; unique: 'no' is not of type 'boolean'"
        },
    }


async def test_execute_exceptions_and_tool_errors_are_error_results(
    client: httpx.AsyncClient, user_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    boom = await client.post("/tools/fail_loudly/execute", json={"args": {"reason": "kaput"}}, headers=user_headers)
    assert boom.json() == {
        "name": "fail_loudly",
        "status": "ERROR",
        "content": None,
        "error": {"message": "RuntimeError: kaput"},
    }
    retry = await client.post("/tools/calculator/execute", json={"args": {"expression": "1/0"}}, headers=user_headers)
    assert retry.json()["error"] == {"message": "Division by zero."}
    needs_run = await client.post("/tools/whoami/execute", json={"args": {}}, headers=admin_headers)
    assert needs_run.json()["error"] == {
        "message": "Tool 'whoami' needs a run's context and can only be called by an agent."
    }


async def test_execute_permissions(
    client: httpx.AsyncClient, user_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    body = {"args": {"value": 100}}
    forbidden = await client.post("/tools/convert_temperature/execute", json=body, headers=user_headers)
    assert forbidden.status_code == 403
    assert forbidden.json() == {
        "status": "error",
        "error_type": "Forbidden",
        "message": "Tool 'convert_temperature' is not executable by non-admins (AXON_EXECUTABLE_TOOLS).",
        "details": None,
        "retryable": False,
        "retry_after": None,
        "run_id": None,
        "request_id": IsStr(),
    }
    allowed = await client.post("/tools/convert_temperature/execute", json=body, headers=admin_headers)
    assert allowed.json() == {"name": "convert_temperature", "status": "SUCCESS", "content": 212.0, "error": None}
    unknown = await client.post("/tools/nope/execute", json=body, headers=admin_headers)
    assert (unknown.status_code, unknown.json()["error_type"], unknown.json()["message"]) == (
        404,
        "NotFound",
        "No tool 'nope'.",
    )
    extra = await client.post("/tools/calculator/execute", json={"args": {}, "other": 1}, headers=admin_headers)
    assert (extra.status_code, extra.json()["error_type"]) == (422, "ValidationError")
