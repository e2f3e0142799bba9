"""Prometheus metrics of one process: Slack acks, cloud and Slack calls, polls, outbox and jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from bot.health import PollerState
from storage import repository as repo
from storage.db import Database
from storage.models import SmcJob

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


class _DatabaseGauges(Collector):
    """Outbox depth/age and jobs by status, read from the database at scrape time (shared by replicas)."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("smc_bot_outbox_pending", "Outbox items waiting to be delivered")
        age = GaugeMetricFamily("smc_bot_outbox_oldest_age_seconds", "Age of the oldest pending outbox item")
        jobs = GaugeMetricFamily(
            "smc_bot_jobs", "SMC jobs the bot tracks, by last seen status", labels=["status"]
        )
        try:
            with self._db.unit_of_work() as session:
                count, oldest = repo.outbox_depth(session, self._clock())
                rows = session.execute(
                    select(col(SmcJob.status), func.count()).group_by(col(SmcJob.status))
                ).all()
        except SQLAlchemyError:
            return
        depth.add_metric([], count)
        age.add_metric([], oldest)
        for status, n in rows:
            jobs.add_metric([getattr(status, "value", str(status))], n)
        yield depth
        yield age
        yield jobs


class _PollerGauges(Collector):
    """Whether this process's scheduler runs and how long ago its last poll succeeded."""

    def __init__(self, poller: PollerState, clock: Callable[[], datetime]) -> None:
        self._poller = poller
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        running = GaugeMetricFamily("smc_bot_scheduler_running", "1 while the poll scheduler runs")
        running.add_metric([], 1 if self._poller.running else 0)
        yield running
        last = self._poller.last_success_at
        if last is not None:
            age = GaugeMetricFamily(
                "smc_bot_poll_last_success_age_seconds", "Seconds since this process's last successful poll"
            )
            age.add_metric([], max(0.0, (self._clock() - last).total_seconds()))
            yield age


class Metrics:
    """One registry per process (not the global one, so tests can build several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.acks = Histogram(
            "smc_bot_slack_ack_seconds",
            "Time from receiving a Slack request to answering it",
            ["kind", "status"],
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self.cloud_calls = Counter(
            "smc_bot_cloud_calls_total",
            "Alibaba Cloud API calls by service, action and outcome (ok or the error code)",
            ["service", "action", "outcome"],
            registry=self.registry,
        )
        self.cloud_seconds = Histogram(
            "smc_bot_cloud_call_seconds",
            "Alibaba Cloud API call latency",
            ["service"],
            registry=self.registry,
        )
        self.slack_calls = Counter(
            "smc_bot_slack_calls_total",
            "Slack Web API calls made by the outbox delivery, by method and outcome (ok, ratelimited, error)",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.polls = Histogram(
            "smc_bot_poll_seconds", "Duration of one poll tick", ["outcome"], registry=self.registry
        )

    def watch_database(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.registry.register(_DatabaseGauges(db, clock))

    def watch_poller(self, poller: PollerState, clock: Callable[[], datetime]) -> None:
        self.registry.register(_PollerGauges(poller, clock))

    def watch_after_ack(self, pending: Callable[[], int]) -> None:
        Gauge(
            "smc_bot_after_ack_pending",
            "Work listeners left for after their ack (votes, answers, modal updates), queued or running",
            registry=self.registry,
        ).set_function(pending)

    def observe_ack(self, kind: str, seconds: float, status: int) -> None:
        self.acks.labels(kind=kind, status=str(status)).observe(seconds)

    def observe_cloud(self, service: str, action: str, outcome: str, seconds: float) -> None:
        self.cloud_calls.labels(service=service, action=action, outcome=outcome).inc()
        self.cloud_seconds.labels(service=service).observe(seconds)

    def observe_slack(self, method: str, outcome: str) -> None:
        self.slack_calls.labels(method=method, outcome=outcome).inc()

    def observe_poll(self, seconds: float, ok: bool) -> None:
        self.polls.labels(outcome="ok" if ok else "failed").observe(seconds)

    def export(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
