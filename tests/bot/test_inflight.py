"""Turns for work that can wait: at once when idle, after a gap or the limit under load, then paced by the
CPU it used, one paced turn at a time, never starved."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bot.inflight import InFlight

WAIT = 10.0


def in_turn(in_flight: InFlight, work: Callable[[], object] = lambda: None) -> threading.Event:
    """Take a turn on another thread; the event is set once the turn started."""
    started = threading.Event()

    def run() -> None:
        with in_flight.turn():
            started.set()
            work()

    threading.Thread(target=run, daemon=True).start()
    return started


def burn(cpu_s: float) -> None:
    end = time.thread_time() + cpu_s
    while time.thread_time() < end:
        pass


def test_with_no_request_in_flight_turns_go_at_once_and_together() -> None:
    in_flight = InFlight(limit_s=WAIT)
    release = threading.Event()
    first = in_turn(in_flight, lambda: release.wait(WAIT))
    second = in_turn(in_flight)
    assert first.wait(WAIT) and second.wait(WAIT)
    release.set()


def test_under_load_a_turn_waits_for_a_gap_and_goes_when_the_last_request_ends() -> None:
    in_flight = InFlight(limit_s=WAIT)
    with in_flight.serving():
        started = in_turn(in_flight)
        assert not started.wait(0.3), "went while a request was being answered"
    assert started.wait(WAIT)


def test_past_the_limit_one_turn_at_a_time_runs_while_requests_keep_coming() -> None:
    in_flight = InFlight(limit_s=0.05, starve_s=WAIT)
    release = threading.Event()
    with in_flight.serving():  # requests never stop
        first = in_turn(in_flight, lambda: release.wait(WAIT))
        assert first.wait(WAIT), "the limit did not bound the wait"
        second = in_turn(in_flight)
        assert not second.wait(0.3), "two paced turns ran at once"
        release.set()
        assert second.wait(WAIT)


def test_the_next_turn_waits_in_proportion_to_the_cpu_the_last_one_used_under_load() -> None:
    in_flight = InFlight(limit_s=0.0, share=0.1, starve_s=WAIT)  # 9 s of pause per second of CPU
    with in_flight.serving():
        heavy = in_turn(in_flight, lambda: burn(0.1))
        assert heavy.wait(WAIT)
        time.sleep(0.15)  # the heavy turn is over: ~0.9 s of pause from its end
        after = in_turn(in_flight)
        assert not after.wait(0.3), "no pause after a turn that used CPU while requests waited"
        assert after.wait(WAIT)
    idle = in_turn(in_flight)
    assert idle.wait(WAIT), "with nothing in flight, no pause applies"


def test_no_turn_waits_past_the_starvation_bound() -> None:
    in_flight = InFlight(limit_s=0.05, starve_s=0.5)
    release = threading.Event()
    with in_flight.serving():
        holder = in_turn(in_flight, lambda: release.wait(WAIT))
        assert holder.wait(WAIT)
        starving = in_turn(in_flight)  # the paced slot stays taken, requests keep coming
        assert starving.wait(WAIT), "a turn waited past the starvation bound"
        release.set()
