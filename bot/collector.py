"""The cyclic garbage collector, run between Slack requests instead of in the middle of one.

Python runs a collection in whichever thread allocates past the threshold, with every other thread
stopped. In `smc-bot serve` that thread is often answering Slack, and the collector's pauses were most of
the p99 of acks under load (bench/ack_latency.py: at 50 clients, help 50 → 36 ms and Approve 103 → 47 ms
with collections out of the way). `IdleCollector` turns automatic collection off and runs the same
generations (by Python's own thresholds) from its own thread when no request is in flight.

Under sustained load there is no such moment, and a pause grows with what waited for one: letting the
young generation wait up to 2 s made single collections of 60-80 ms, each landing on every request in
flight. So only `BACKLOG` thresholds' worth of young objects may wait for a gap; past that the collection
runs at once, a short pause instead of a long one. Reference counting frees what is not in a cycle as
before; only cyclic garbage waits.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class IdleCollector:
    PERIOD_S = 0.02
    BACKLOG = 10
    """Young-generation thresholds' worth of objects that may wait for a moment with no request in flight."""

    def __init__(self, busy: Callable[[], bool]) -> None:
        self._busy = busy
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def collect_due(self) -> int | None:
        """One step: the generation collected (as Python's thresholds would pick it), None if none is due
        or it can wait for a gap."""
        young, middle, old = gc.get_count()
        first, second, third = gc.get_threshold()
        if young < first or (young < first * self.BACKLOG and self._busy()):
            return None
        generation = 2 if old >= third else 1 if middle >= second else 0
        gc.collect(generation)
        return generation

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        gc.disable()

        def loop() -> None:
            while not self._stop.wait(self.PERIOD_S):
                try:
                    self.collect_due()
                except Exception:
                    log.exception("garbage collection step failed")

        self._thread = threading.Thread(target=loop, name="idle-gc", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Automatic collection again (shutdown, tests)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()
        gc.enable()
