"""The Dockerfile, docker-compose.yml and README agree with each other and with the package.

No Docker engine runs here, so these check the files themselves: they parse, the commands
they run exist in the `axon` CLI, and the services are wired as the README says.
"""

import json
import os
import re
import shlex
import socket
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli import build_parser
from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), f"use the exec (JSON) form: {arguments}"
    return [str(item) for item in value]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _assert_axon_command(argv: list[str]) -> None:
    """`argv` is `axon …` with arguments the real parser accepts."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert argv[0] in scripts, argv
    assert scripts[argv[0]] == "app.cli:main"
    build_parser().parse_args(argv[1:])  # exits (SystemExit) on an unknown command or option


def test_dockerfile_is_multi_stage_with_uv_and_non_root():
    instructions = _dockerfile()
    stages = [args for name, args in instructions if name == "FROM"]
    runs = " ".join(args for name, args in instructions if name == "RUN")

    assert len(stages) >= 2
    assert all(stage.startswith("python:3.11-slim") for stage in stages)
    assert "uv sync --frozen --no-dev" in runs
    users = [args for name, args in instructions if name == "USER"]
    assert users, "the runtime stage must drop root"
    assert users[-1] not in {"root", "0"}
    assert [args for name, args in instructions if name == "EXPOSE"] == ["8000"]


def test_dockerfile_runs_axon_serve_and_checks_readiness():
    instructions = dict(_dockerfile())
    entrypoint = _exec_form(instructions["ENTRYPOINT"])
    command = _exec_form(instructions["CMD"])

    assert entrypoint + command[:1] == ["axon", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    _assert_axon_command(entrypoint + command)
    healthcheck = instructions["HEALTHCHECK"]
    assert "/health/ready" in healthcheck
    assert "curl" not in healthcheck  # not in the slim image


def test_compose_services_and_dependencies():
    compose = _compose()
    services = compose["services"]

    assert set(services) == {"postgres", "migrate", "app"}
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]  # a named volume, not a bind mount
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["app"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert services["app"]["ports"] == ["127.0.0.1:8000:8000"]


def test_compose_commands_are_real_axon_commands():
    entrypoint = _exec_form(dict(_dockerfile())["ENTRYPOINT"])
    services = _compose()["services"]

    for name in ("migrate", "app"):
        _assert_axon_command(entrypoint + services[name]["command"])
    assert services["migrate"]["command"] == ["migrate"]
    assert services["app"]["command"][0] == "serve"


@pytest.mark.parametrize("service", ["migrate", "app"])
def test_compose_configures_axon_by_environment(service: str):
    env = _compose()["services"][service]["environment"]

    assert env["AXON_ENV"] == "production"
    assert env["AXON_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env["AXON_DATABASE_URL"].endswith("@postgres:5432/axon")
    assert env["AXON_SECRET_KEY"].startswith("${AXON_SECRET_KEY")  # from the caller's environment, never a literal
    for key in env:
        assert key.removeprefix("AXON_").lower() in Settings.model_fields or not key.startswith("AXON_"), key


def test_readme_documents_the_commands_and_every_setting():
    readme = (ROOT / "README.md").read_text()

    for command in ("make run", "make test", "docker compose up", "AXON_TEST_POSTGRES_URL", ".ci/run"):
        assert command in readme, command
    for name in Settings.model_fields:
        assert f"`AXON_{name.upper()}`" in readme, f"README configuration table lacks AXON_{name.upper()}"
    assert "127.0.0.1:8000" in readme
    assert "/openapi.json" in readme


def test_readme_cli_examples_are_real_commands():
    readme = (ROOT / "README.md").read_text()
    examples = re.findall(r"^\s*(?:\.venv/bin/|uv run (?:--frozen )?)?(axon [^\n|<>]+)$", readme, re.MULTILINE)

    assert examples
    for example in examples:
        _assert_axon_command(shlex.split(example, comments=True))


def test_ci_fails_rather_than_skips_without_postgres():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = {**os.environ, "AXON_TEST_POSTGRES_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port}/postgres"}

    result = subprocess.run(
        ["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode != 0
    assert f"CI needs Postgres at 127.0.0.1:{closed_port}" in result.stderr
    assert "make" not in result.stdout  # it stopped before running the suite
