"""Shared fixtures: a migrated database per test on SQLite, and on PostgreSQL with TEST_DATABASE_URL."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from sandbox.cloud import CloudSimulator, default_world
from sandbox.slack import SlackStandIn
from storage.db import Database
from tests.harness import BotUnderTest, acking_server, running_bot

PG_ENV = "TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; every test gets a copy (running Alembic per test would dominate the suite)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return path


@pytest.fixture
def db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A fresh SQLite database at the head schema."""
    path = tmp_path / "smc-bot.db"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throw-away PostgreSQL database for this run, migrated to head, dropped at the end."""
    server = os.environ.get(PG_ENV)
    if not server:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} must be set in CI: the multi-replica tests need PostgreSQL")
        pytest.skip(f"{PG_ENV} is not set (PostgreSQL tests run in CI)")
    name = f"smc_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    database.upgrade()
    database.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    """The run's PostgreSQL database, emptied before each test."""
    database = Database(pg_url)
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest) -> Database:
    """The storage suite runs on both backends."""
    name = "db" if request.param == "sqlite" else "pg_db"
    database: Database = request.getfixturevalue(name)
    return database


@pytest.fixture
def cloud() -> Iterator[CloudSimulator]:
    """The sandbox cloud with its default world, on real HTTP."""
    with CloudSimulator(default_world()) as simulator:
        yield simulator


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    """The Slack stand-in with its default workspace."""
    with SlackStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def bot(db: Database, slack: SlackStandIn, cloud: CloudSimulator) -> Iterator[BotUnderTest]:
    """The bot in HTTP mode on SQLite, talking to the sandbox cloud and the Slack stand-in."""
    with running_bot(db, slack, cloud) as running:
        yield running


@pytest.fixture
def capture_url() -> Iterator[str]:
    """Where a SlackDriver sends a request only to have it built and signed (`harness.acking_server`)."""
    with acking_server() as url:
        yield url
