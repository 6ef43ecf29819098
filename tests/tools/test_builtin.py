import datetime as dt

import pytest
from pydantic_ai import ModelRetry

from app.config import Settings
from app.tools.builtin import HTTP_GET_MAX_BYTES, calculator, current_time, make_http_get
from tests.tools.receiver import Receiver, Reply


@pytest.mark.parametrize(
    ("expression", "expected"),
    [("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("-2 ** 2", -4), ("7 // 2", 3), ("7 % 4", 3), ("1 / 4", 0.25), ("+5", 5)],
)
async def test_calculator_arithmetic(expression: str, expected: float) -> None:
    assert await calculator(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('id')", "Unsupported syntax in expression: Call"),
        ("(1).real", "Unsupported syntax in expression: Attribute"),
        ("x + 1", "Unsupported syntax in expression: Name"),
        ("'a' * 3", "Unsupported syntax in expression: Constant"),
        ("True + 1", "Unsupported syntax in expression: Constant"),
        ("9 ** 9 ** 9", "too large"),
        ("10 ** 100000", "too large"),
        ("1e308 * 10", "too large"),
        ("1 / 0", "Division by zero"),
        ("(-8) ** 0.5", "not a real number"),
        ("1 +", "Not an arithmetic expression"),
        ("1" + " + 1" * 200, "longer than 256"),
    ],
)
async def test_calculator_refuses(expression: str, message: str) -> None:
    with pytest.raises(ModelRetry, match=message.replace("(", r"\(").replace("*", r"\*")):
        await calculator(expression)


async def test_current_time_in_a_zone() -> None:
    value = dt.datetime.fromisoformat(await current_time("Asia/Kolkata"))
    assert value.utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert abs(value - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
    assert dt.datetime.fromisoformat(await current_time()).utcoffset() == dt.timedelta(0)


async def test_current_time_unknown_zone_is_a_tool_error() -> None:
    with pytest.raises(ModelRetry, match="Unknown time zone 'Mars/Olympus'"):
        await current_time("Mars/Olympus")


async def test_http_get_allowlisted_host(receiver: Receiver, tool_settings: Settings) -> None:
    receiver.script("/page", Reply(body=b"hello", content_type="text/plain"))
    http_get = make_http_get(tool_settings)
    assert await http_get(receiver.url("/page?q=1")) == {
        "url": receiver.url("/page?q=1"),
        "status": 200,
        "content_type": "text/plain; charset=utf-8",
        "text": "hello",
        "truncated": False,
    }
    assert receiver.received[0].headers["host"] == f"127.0.0.1:{receiver.port}"


async def test_http_get_refuses_hosts_off_the_allowlist(tool_settings: Settings) -> None:
    http_get = make_http_get(tool_settings)
    with pytest.raises(ModelRetry, match="is not on the allowlist"):
        await http_get("http://127.0.0.2:9/")
    with pytest.raises(ModelRetry, match="must be an http or https URL"):
        await http_get("file:///etc/passwd")


async def test_http_get_rechecks_every_redirect(receiver: Receiver, tool_settings: Settings) -> None:
    receiver.script("/hop", Reply(status=302, body=b"", headers={"location": "/final"}))
    receiver.script("/final", Reply(body=b"landed", content_type="text/plain"))
    receiver.script("/escape", Reply(status=302, body=b"", headers={"location": "http://169.254.169.254/latest"}))
    http_get = make_http_get(tool_settings)
    assert (await http_get(receiver.url("/hop")))["text"] == "landed"
    with pytest.raises(ModelRetry, match=r"refused 'http://169.254.169.254/latest'.*not on the allowlist"):
        await http_get(receiver.url("/escape"))
    assert [r.path for r in receiver.received] == ["/hop", "/final", "/escape"]


async def test_http_get_gives_up_after_too_many_redirects(receiver: Receiver, tool_settings: Settings) -> None:
    receiver.script("/loop", Reply(status=302, body=b"", headers={"location": "/loop"}))
    with pytest.raises(ModelRetry, match="gave up after 3 redirects"):
        await make_http_get(tool_settings)(receiver.url("/loop"))
    assert len(receiver.received) == 4


async def test_http_get_truncates_large_bodies(receiver: Receiver, tool_settings: Settings) -> None:
    receiver.script("/big", Reply(body=b"x" * (HTTP_GET_MAX_BYTES * 2), content_type="text/plain"))
    result = await make_http_get(tool_settings)(receiver.url("/big"))
    assert result["truncated"] is True
    assert result["text"] == "x" * 100_000
