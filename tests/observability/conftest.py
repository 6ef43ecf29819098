"""Fixtures of the run tests (agents on scripted models), and a Prometheus scrape parser."""

from tests.runs.conftest import define, executor, live_url

__all__ = ["define", "executor", "live_url"]
