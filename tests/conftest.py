"""Shared fixtures (a database per test, on SQLite and, where it runs, PostgreSQL; the real bot
stack) and the tiers: every test is marked `unit`, `integration`, `e2e` or `faults` after the
folder it lives in (`pytest -m unit`, or `scripts/test --tier unit`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.store import Store, boundary
from precoro_devkit.emulator.stack import LocalStack

POSTGRES_URL = os.environ.get("BOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:
        return False
    return True


POSTGRES_UP = _postgres_available()

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "e2e", "faults")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier, the first folder under tests/ (tests/unit/... is `unit`)."""
    for item in items:
        try:
            folder = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:  # not under tests/
            continue
        if folder in TIERS:
            item.add_marker(getattr(pytest.mark, folder))


@pytest.fixture(autouse=True)
def event_loop_never_waits_on_the_database() -> Iterator[None]:
    """Every test: the served bot ran no database statement on its event loop."""
    boundary.violations.clear()
    yield
    assert not boundary.violations, "database statement on the event loop:\n" + boundary.violations[0]


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema of its own, dropped afterwards."""
    if not POSTGRES_UP:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}; CI must start it")
        pytest.skip("PostgreSQL is not running")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    yield opened
    opened.close()


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    """The real bot between the Precoro emulator and the Slack stand-in, on each database."""
    running = LocalStack.start(database_url)
    yield running
    running.stop()
