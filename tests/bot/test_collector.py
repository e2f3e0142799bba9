"""The idle collector: automatic collection off, the same generations run once requests are answered."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bot.collector import IdleCollector
from bot.inflight import InFlight


@pytest.fixture
def restore_gc() -> Iterator[None]:
    enabled, threshold = gc.isenabled(), gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


def make_cycles(n: int) -> None:
    for _ in range(n):
        a: list[object] = []
        a.append(a)


def test_start_turns_automatic_collection_off_and_stop_turns_it_back_on(restore_gc: None) -> None:
    collector = IdleCollector(lambda: False)
    collector.PERIOD_S = 3600.0  # only the explicit steps below collect
    collector.start()
    try:
        assert not gc.isenabled()
    finally:
        collector.stop()
    assert gc.isenabled()


def test_a_step_collects_the_cycles_only_once_the_young_generation_is_due(restore_gc: None) -> None:
    gc.disable()
    gc.collect()
    gc.set_threshold(100, 10, 10)
    collector = IdleCollector(lambda: False)
    assert collector.collect_due() is None
    make_cycles(200)
    assert gc.get_count()[0] >= 100
    assert collector.collect_due() == 0
    assert gc.get_count()[0] < 100
    assert gc.get_count()[1] == 1, "one young collection counted toward the next generation"


def test_a_young_backlog_waits_for_a_gap_but_a_large_one_is_collected_at_once(restore_gc: None) -> None:
    gc.disable()
    gc.collect()
    gc.set_threshold(100, 10, 10)
    in_flight = InFlight()
    collector = IdleCollector(in_flight.busy)
    with in_flight.serving():
        make_cycles(200)
        assert collector.collect_due() is None, "collected while a request was being answered"
        make_cycles(100 * IdleCollector.BACKLOG)
        assert collector.collect_due() == 0, "a backlog past the bound waited for a gap"
        make_cycles(200)
        assert collector.collect_due() is None
    assert collector.collect_due() == 0, "no collection once the request was answered"
