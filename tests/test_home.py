"""App Home: opening the tab publishes my requests, what waits for my approval and the active migrations,
read live from the database, through signed `app_home_opened` events and the stand-in's `views.publish`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.domain.params import MigrationParams
from sandbox.cloud import CloudSimulator
from sandbox.slack import APPROVER_1, GENERAL_CHANNEL, MIGRATIONS_CHANNEL, OUTSIDER, REQUESTER, SlackStandIn
from sandbox.slack.records import ViewSnapshot
from storage import repository as repo
from storage.db import Database
from storage.enums import BusinessStatus, JobStatus, RequestState
from storage.models import SmcJob
from tests.approval.conftest import add_request, ask, configure, image_params
from tests.factories import new_request
from tests.harness import BotUnderTest, running_bot

TEAM = "T0SANDBOX"


@pytest.fixture
def home_bot(db: Database, slack: SlackStandIn, cloud: CloudSimulator) -> Iterator[BotUnderTest]:
    """Slack requests answered after their listeners ran, so the tab is published when the event returns."""
    with running_bot(db, slack, cloud) as running:
        yield running


def add_migration(
    db: Database,
    *,
    requester: str = REQUESTER,
    state: RequestState = RequestState.IN_PROGRESS,
    progress: float | None = 42.0,
    team: str = TEAM,
    channel: str = MIGRATIONS_CHANNEL,
    params: MigrationParams | None = None,
) -> str:
    """A request as the executor and the poller leave it: state, and its SMC job's last seen progress."""
    params = params or image_params()
    request_id = repo.new_id("r")
    with db.unit_of_work() as s:
        repo.add(
            s,
            new_request(
                request_id,
                params,
                team_id=team,
                channel_id=channel,
                requester=requester,
                state=state,
                approval_round=1,
            ),
        )
        if progress is not None:
            repo.add(
                s,
                SmcJob(
                    job_id=f"j-{request_id}",
                    request_id=request_id,
                    region_id=params.region_id,
                    status=JobStatus.RUNNING,
                    business_status=BusinessStatus.SYNCING,
                    progress=progress,
                ),
            )
    return request_id


def set_progress(db: Database, request_id: str, progress: float) -> None:
    with db.unit_of_work() as s:
        job = repo.job_for_request(s, request_id)
        assert job is not None
        repo.update_job(s, job.job_id, progress=progress)


def open_home(bot: BotUnderTest, user: str) -> ViewSnapshot:
    result = bot.driver.app_home_opened(user)
    assert result.acked_in_time and not result.problems, result.problems
    home = bot.slack.home(user)
    assert home is not None, "opening the tab published nothing"
    assert home.type == "home"
    return home


def section_texts(home: ViewSnapshot) -> list[str]:
    return [str(b["text"]["text"]) for b in home.blocks if b["type"] == "section"]


def part(home: ViewSnapshot, title: str) -> str:
    """Everything shown between a part's title and the next divider."""
    texts: list[str] = []
    inside = False
    for block in home.blocks:
        if block["type"] == "divider":
            if inside:
                break
            continue
        text = json.dumps(block, ensure_ascii=False)
        if title in text:
            inside = True
        if inside:
            texts.append(text)
    assert inside, f"no part titled {title!r}"
    return "\n".join(texts)


def buttons(home: ViewSnapshot) -> dict[str, str]:
    """Request id -> the URL of its row's button."""
    return {
        str(b["accessory"]["value"]): str(b["accessory"]["url"])
        for b in home.blocks
        if b["type"] == "section" and b.get("accessory", {}).get("type") == "button"
    }


def permalink(slack: SlackStandIn, channel: str, ts: str) -> str:
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    link: Any = client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
    return str(link)


def thread_ts(bot: BotUnderTest, request_id: str) -> str:
    ts = bot.services.requests.get(request_id).thread_ts
    assert ts is not None, f"the summary of {request_id} was not posted"
    return ts


def test_an_approver_sees_what_waits_for_them_with_a_link_to_the_card_thread(home_bot: BotUnderTest) -> None:
    bot = home_bot
    configure(bot.services.db)
    rid = add_request(bot.services.db)
    ask(bot, rid)

    home = open_home(bot, APPROVER_1)

    waiting = part(home, "Waiting for your approval")
    assert "(1)" in waiting and rid in waiting and REQUESTER in waiting and "0 of 1" in waiting
    assert buttons(home)[rid] == permalink(bot.slack, MIGRATIONS_CHANNEL, thread_ts(bot, rid))
    [row, *_] = [b for b in home.blocks if b.get("accessory", {}).get("value") == rid]
    click = bot.driver.block_action(APPROVER_1, "home_open_thread", view_id=home.id, block_id=row["block_id"])
    assert click.acked_in_time and not click.problems and click.status == 200


def test_the_requester_sees_their_requests_and_the_active_migrations_with_progress_bars(
    home_bot: BotUnderTest,
) -> None:
    bot = home_bot
    db = bot.services.db
    running = add_migration(db, progress=42.0)
    finished = add_migration(db, state=RequestState.COMPLETED, progress=100.0)
    someone_elses = add_migration(db, requester=OUTSIDER, progress=7.0, channel=GENERAL_CHANNEL)
    other_workspace = add_migration(db, team="T0ELSEWHERE", progress=63.0)

    home = open_home(bot, REQUESTER)

    mine = part(home, "Your requests")
    assert running in mine and finished in mine and someone_elses not in mine
    assert "migrating" in mine and "finished" in mine
    assert "Running · Syncing ▓▓▓▓░░░░░░ 42%" in mine
    active = part(home, "Active migrations in this workspace")
    assert running in active and someone_elses in active and finished not in active
    assert "▓░░░░░░░░░ 7%" not in active and "░░░░░░░░░░ 7%" in active
    assert other_workspace not in json.dumps(home.blocks)
    assert "Nothing waits for your decision." in part(home, "Waiting for your approval")


def test_reopening_the_tab_shows_the_progress_now_in_the_same_view(home_bot: BotUnderTest) -> None:
    bot = home_bot
    rid = add_migration(bot.services.db, progress=10.0)
    first = open_home(bot, REQUESTER)
    assert "10%" in part(first, "Your requests")

    set_progress(bot.services.db, rid, 80.0)
    again = open_home(bot, REQUESTER)

    assert again.id == first.id and again.hash != first.hash
    assert "▓▓▓▓▓▓▓▓░░ 80%" in part(again, "Your requests")


def test_a_busy_workspace_stays_within_slacks_100_blocks_and_says_how_many_more(
    home_bot: BotUnderTest,
) -> None:
    bot = home_bot
    for n in range(60):
        add_migration(bot.services.db, requester=REQUESTER if n % 2 else OUTSIDER, progress=float(n))

    home = open_home(bot, REQUESTER)

    assert len(home.blocks) <= 100
    assert "…and 20 more." in part(home, "Your requests")
    assert "…and 40 more." in part(home, "Active migrations in this workspace")


def test_a_first_visit_with_nothing_to_show_explains_how_to_start(home_bot: BotUnderTest) -> None:
    home = open_home(home_bot, OUTSIDER)
    texts = json.dumps(home.blocks)
    assert "Nothing waits for your decision." in texts
    assert "`/smc migrate` in a channel starts one" in texts
    assert "No migration is active right now." in texts
    assert buttons(home) == {}
