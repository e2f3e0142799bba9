"""`smc-bot check`: what the bot sees and whether each dependency answers, one line each."""

from __future__ import annotations

from bot.config import Settings
from storage.db import Database, DatabaseError, SchemaState


def run_check(settings: Settings) -> int:
    """Print the configuration (secrets only as set/not set) and probe the database; 0 when all is OK."""
    width = max(len(name) for name, _ in settings.describe())
    for name, value in settings.describe():
        print(f"{name:<{width}}  {value}")
    failures = 0
    try:
        db = Database(settings.database_url)
        status = db.schema_status()
        if status.state is SchemaState.CURRENT:
            print(f"database     OK  schema {status.current}")
        elif status.state is SchemaState.AHEAD:
            failures += 1
            newer = f"schema {status.current} is newer than this smc-bot ({status.head})"
            print(f"database     FIX {newer}: upgrade smc-bot")
        else:
            note = (
                "`smc-bot serve` applies it automatically on SQLite"
                if db.is_sqlite
                else "run `smc-bot db upgrade`"
            )
            print(f"database     FIX schema {status.current or 'empty'}, needs {status.head}: {note}")
            failures += 0 if db.is_sqlite else 1
    except DatabaseError as exc:
        failures += 1
        print(f"database     FIX {exc}")
    return 1 if failures else 0
