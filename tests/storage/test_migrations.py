"""Alembic: empty → head works, models and migrations agree, and a newer schema is refused untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from storage.db import Database, DatabaseError, SchemaState, alembic_config


def test_upgrade_from_empty_to_head_creates_every_table(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert database.schema_status().state is SchemaState.EMPTY
    status = database.upgrade()
    assert status.state is SchemaState.CURRENT
    tables = set(inspect(database.engine).get_table_names())
    assert {t.name for t in SQLModel.metadata.sorted_tables} <= tables


def test_reading_the_schema_of_a_missing_sqlite_file_does_not_create_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    assert Database(f"sqlite:///{path}").schema_status().state is SchemaState.EMPTY
    assert not path.exists()


def test_models_and_migrations_agree_on_sqlite(db: Database) -> None:
    command.check(alembic_config(db.engine))


def test_models_and_migrations_agree_on_postgresql(pg_db: Database) -> None:
    command.check(alembic_config(pg_db.engine))


def test_upgrade_is_idempotent(any_db: Database) -> None:
    assert any_db.upgrade().state is SchemaState.CURRENT
    assert any_db.upgrade().state is SchemaState.CURRENT


def test_a_schema_newer_than_the_code_is_refused_and_left_alone(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(DatabaseError, match=r"newer than this smc-bot.*upgrade smc-bot"):
        db.upgrade()
    with pytest.raises(DatabaseError, match="newer than this smc-bot"):
        db.require_current()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "9999_future"


def test_an_old_schema_asks_for_db_upgrade(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    with pytest.raises(DatabaseError, match="run `smc-bot db upgrade`"):
        database.require_current()


def test_an_unreachable_server_is_one_line_with_the_fix() -> None:
    database = Database("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    with pytest.raises(DatabaseError) as caught:
        database.upgrade()
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot reach the database" in message and "check DATABASE_URL" in message
