"""GET /metrics: the bot wired as `smc-bot serve` wires it, after real Slack requests, cloud calls, a poll
tick and deliveries (one of them rate-limited), exported as Prometheus text and read back with its parser."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.cloud.ports import CloudError
from bot.transport import Bot, build_bot, slack_http_app
from sandbox.cloud import CloudSimulator
from sandbox.slack import GENERAL_CHANNEL, MIGRATIONS_CHANNEL, REQUESTER, SlackDriver, SlackStandIn
from storage import repository as repo
from storage.db import Database
from storage.enums import JobStatus
from tests.harness import free_port, serve_http, settings_for
from tests.poller.support import params_for, record

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def served(db: Database, slack: SlackStandIn, cloud: CloudSimulator) -> Iterator[tuple[Bot, str]]:
    bot = build_bot(settings_for(db, slack, cloud), db, signing_secret=slack.signing_secret)
    with serve_http(slack_http_app(bot, slack.signing_secret), free_port()) as url:
        yield bot, url


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_acks_cloud_calls_polls_slack_calls_outbox_and_jobs(
    served: tuple[Bot, str], slack: SlackStandIn, cloud: CloudSimulator, db: Database
) -> None:
    bot, url = served
    driver = SlackDriver(slack, url)
    for _ in range(2):
        assert driver.slash_command(REQUESTER, MIGRATIONS_CHANNEL, text="help").status == 200
    assert driver.post_raw(b"command=%2Fsmc&text=help", {"X-Slack-Signature": "v0=00"}).status == 401

    destination = bot.services.cloud.destination()
    destination.list_source_servers()
    cloud.faults.set_error_rate("GetCallerIdentity", 1.0, code="Forbidden.RAM", status=403, times=1)
    with pytest.raises(CloudError, match=r"Forbidden\.RAM"):
        destination.get_caller_identity()

    assert bot.runtime.poller is not None
    bot.runtime.poller.run_tick()

    for n, channel in enumerate((MIGRATIONS_CHANNEL, GENERAL_CHANNEL)):
        rid = repo.new_id("r")
        record(
            db,
            params_for(f"s-metrics{n}", "cn-hangzhou", f"img-{n}"),
            request_id=rid,
            job_id=f"j-{rid}",
            channel_id=channel,
        )
    with db.unit_of_work() as s:
        job = repo.job_for_request(s, rid)
        assert job is not None
        repo.update_job(s, job.job_id, status=JobStatus.FINISHED)
    slack.fail_next("chat.postMessage", status=429, retry_after=30)
    stats = bot.runtime.delivery.run_once()
    assert (stats.sent, stats.rate_limited) == (1, 1)

    release = threading.Event()
    bot.services.background.run(lambda: release.wait(30), name="held")  # after-ack work still running
    try:
        samples = scrape(url)
    finally:
        release.set()

    assert value(samples, "smc_bot_after_ack_pending") == 1
    assert value(samples, "smc_bot_slack_ack_seconds_count", kind="command", status="200") == 2
    assert value(samples, "smc_bot_slack_ack_seconds_bucket", kind="command", status="200", le="3.0") == 2
    listed = {"service": "smc", "action": "DescribeSourceServers", "outcome": "ok"}
    assert value(samples, "smc_bot_cloud_calls_total", **listed) == 1
    refused = {"service": "sts", "action": "GetCallerIdentity", "outcome": "Forbidden.RAM"}
    assert value(samples, "smc_bot_cloud_calls_total", **refused) == 1
    assert value(samples, "smc_bot_cloud_call_seconds_count", service="smc") >= 1
    assert value(samples, "smc_bot_slack_calls_total", method="chat.postMessage", outcome="ok") == 1
    assert value(samples, "smc_bot_slack_calls_total", method="chat.postMessage", outcome="ratelimited") == 1
    assert value(samples, "smc_bot_poll_seconds_count", outcome="ok") == 1
    assert value(samples, "smc_bot_outbox_pending") == 1
    assert value(samples, "smc_bot_outbox_oldest_age_seconds") >= 0
    assert value(samples, "smc_bot_jobs", status="Ready") == 1
    assert value(samples, "smc_bot_jobs", status="Finished") == 1
    assert value(samples, "smc_bot_scheduler_running") == 0
    assert ("smc_bot_poll_last_success_age_seconds", frozenset()) in samples
