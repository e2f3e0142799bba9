"""The request summary in every state, with and without a job, in every job status: within Slack's limits,
accepted by the stand-in over HTTP, with a text fallback and the buttons the workflow allows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient

from bot.domain.views import JobView, RequestView
from bot.domain.workflow import summary_actions
from handlers.ids import SUMMARY_ACTION_IDS
from handlers.render.summary import pointer_message, summary_blocks, summary_message
from sandbox.slack import MIGRATIONS_CHANNEL, SlackStandIn
from sandbox.slack.blockkit import MAX_MESSAGE_BLOCKS, message_block_problems
from storage.enums import BusinessStatus, JobStatus, RequestState
from tests.handlers.samples import everything_params, image_params

CREATED = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stand_in() -> Iterator[SlackStandIn]:
    with SlackStandIn() as slack:
        yield slack


def request(state: RequestState, job: JobView | None = None, *, instance: bool = False) -> RequestView:
    params = everything_params(data_disks=16, partitions=6, tags=20) if instance else image_params()
    return RequestView(
        id="r-7k2q9m4x",
        team_id="T0SANDBOX",
        channel_id=MIGRATIONS_CHANNEL,
        requester="U0REQUESTER",
        state=state,
        params=params,
        params_hash=params.params_hash(),
        approval_round=2,
        created_at=CREATED,
        updated_at=CREATED,
        approval_expires_at=CREATED + timedelta(hours=24),
        job=job,
    )


def job(status: JobStatus, business: BusinessStatus | None = None, **changes: object) -> JobView:
    values: dict[str, object] = {
        "job_id": "j-bp1a2b3c4d5e6f7g",
        "region_id": "cn-hangzhou",
        "status": status,
        "business_status": business,
        "progress": 42.5,
        "incremental": False,
        "total_bytes": 60 * 1024**3,
        "speed_bps": 12_500_000.0,
        "last_polled_at": CREATED + timedelta(hours=1),
    }
    values.update(changes)
    return JobView(**values)  # type: ignore[arg-type]


def posted_by_slack(slack: SlackStandIn, text: str, blocks: list[dict[str, object]]) -> None:
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    assert client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text=text, blocks=blocks)["ok"]


JOBS = [None] + [job(status) for status in JobStatus] + [job(JobStatus.RUNNING, b) for b in BusinessStatus]


@pytest.mark.parametrize("state", list(RequestState))
@pytest.mark.parametrize(
    "the_job", JOBS, ids=lambda j: "no job" if j is None else f"{j.status}-{j.business_status}"
)
def test_the_summary_fits_every_state_and_job_status(
    state: RequestState, the_job: JobView | None, stand_in: SlackStandIn
) -> None:
    for instance in (False, True):
        shown = request(state, the_job, instance=instance)
        message = summary_message(shown)
        blocks = list(message.blocks or [])
        assert message.text and shown.id in message.text
        assert len(blocks) <= MAX_MESSAGE_BLOCKS
        assert message_block_problems(blocks) == []
        posted_by_slack(stand_in, message.text, blocks)
        expected = summary_actions(
            state,
            job_status=the_job.status if the_job else None,
            business=the_job.business_status if the_job else None,
            incremental=the_job.incremental if the_job else shown.params.incremental,
            image_target=not instance,
        )
        buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
        assert [e["action_id"] for e in buttons] == [SUMMARY_ACTION_IDS[a] for a in expected]
        assert all(e["value"] == shown.id for e in buttons)


def test_the_summary_shows_the_digest_the_exact_request_and_the_progress() -> None:
    running = request(RequestState.IN_PROGRESS, job(JobStatus.RUNNING, BusinessStatus.SYNCING))
    text = json.dumps([b.to_dict() for b in summary_blocks(running)], ensure_ascii=False)
    assert "*Destination:* ECS image web-prod-02 in cn-hangzhou" in text
    assert "ImageName = web-prod-02" in text and "ClientToken = r-7k2q9m4x" in text
    assert "▓" in text and "42%" in text
    assert "Transferred 25.5 GiB of 60.0 GiB" in text and "12.5 MB/s (100 Mbit/s)" in text
    assert "ETA 49 min" in text and "Last update <!date^" in text
    assert running.params_hash[:12] in text


def test_a_failed_job_says_what_went_wrong_and_that_it_keeps_billing() -> None:
    failed = job(JobStatus.IN_ERROR, error_code="SourceServer.Offline", status_info="the agent stopped")
    text = json.dumps([b.to_dict() for b in summary_blocks(request(RequestState.FAILED, failed))])
    assert "SourceServer.Offline: the agent stopped" in text and "keeps billing" in text


def test_a_waiting_request_says_who_must_act_and_until_when() -> None:
    text = json.dumps([b.to_dict() for b in summary_blocks(request(RequestState.AWAITING_APPROVAL))])
    assert "Waiting for this channel's approvers (round 2)" in text and "<!date^" in text


def test_a_long_request_is_shortened_and_never_overflows() -> None:
    huge = request(RequestState.AWAITING_APPROVAL, instance=True)
    blocks = [b.to_dict() for b in summary_blocks(huge)]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    assert any("more parameter(s): see the approval card" in text for text in sections)


def test_the_pointer_links_the_thread_once_it_exists() -> None:
    without = pointer_message(request(RequestState.AWAITING_APPROVAL))
    assert f"<#{MIGRATIONS_CHANNEL}>" in without.text and "archives" not in without.text
    posted = request(RequestState.APPROVED)
    linked = pointer_message(RequestView(**{**posted.__dict__, "thread_ts": "1740816000.000100"}))
    assert f"https://slack.com/archives/{MIGRATIONS_CHANNEL}/p1740816000000100" in linked.text
