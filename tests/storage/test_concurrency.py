"""Compare-and-set under real concurrency: many threads, one winner (PostgreSQL, and SQLite in-process)."""

from __future__ import annotations

import threading

from storage import repository as repo
from storage.db import Database
from storage.enums import RequestState
from tests.storage.factories import migration_request


def _race(database: Database, threads: int) -> list[bool]:
    with database.unit_of_work() as s:
        req = repo.add(s, migration_request())
    barrier = threading.Barrier(threads)
    results: list[bool] = []
    lock = threading.Lock()

    def contender() -> None:
        barrier.wait()
        with database.unit_of_work() as s:
            won = repo.transition_request(s, req.id, RequestState.AWAITING_APPROVAL, RequestState.APPROVED)
        with lock:
            results.append(won)

    workers = [threading.Thread(target=contender) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    with database.unit_of_work() as s:
        final = repo.get_request(s, req.id)
        assert final is not None and final.state is RequestState.APPROVED
    return results


def test_sixteen_threads_race_to_approve_and_exactly_one_wins_on_postgresql(pg_db: Database) -> None:
    results = _race(pg_db, 16)
    assert len(results) == 16
    assert results.count(True) == 1


def test_sixteen_threads_race_to_approve_and_exactly_one_wins_on_sqlite(db: Database) -> None:
    results = _race(db, 16)
    assert results.count(True) == 1
