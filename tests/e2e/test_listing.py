"""`/smc list` and `/smc status` over signed HTTP, on requests made through the request service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import text as sql

from bot.domain.imports import ImportDraft
from bot.domain.params import MigrationParams, OsType, SystemDisk
from bot.domain.validation import DiskFacts, SourceFacts, ValidationContext
from sandbox.slack import APPROVER_1, GENERAL_CHANNEL, MIGRATIONS_CHANNEL, REQUESTER, Ephemeral
from storage import repository as repo
from storage.enums import BusinessStatus, ExecutionMethod, JobStatus, RequestState, TargetType
from storage.models import MigrationRequest, SmcJob
from storage.types import utcnow
from tests.harness import BotUnderTest

SOURCE = "s-bp1dtyvdak02x846kq4p"


def make_request(
    bot: BotUnderTest,
    *,
    requester: str = REQUESTER,
    channel: str = MIGRATIONS_CHANNEL,
    image: str = "web-prod-02-img",
    state: RequestState | None = None,
    age: timedelta = timedelta(0),
) -> str:
    """A request made the way the migrate modal makes it, then moved to `state` and back-dated."""
    params = MigrationParams(
        source_id=SOURCE,
        target_type=TargetType.IMAGE,
        region_id="cn-hangzhou",
        image_name=image,
        migration_test=False,
        execution_method=ExecutionMethod.MIGRATE_NOW,
        system_disk=SystemDisk(size_gib=40),
    )
    ctx = ValidationContext(
        now=utcnow(),
        source=SourceFacts(
            source_id=SOURCE,
            os_type=OsType.LINUX,
            has_boot_partition=True,
            system_disk=DiskFacts(index=0, size_gib=40, used_gib=13.1),
        ),
        regions=("cn-hangzhou",),
    )
    view = bot.services.requests.submit(
        params, ctx, requester=requester, team_id=bot.slack.team_id, channel_id=channel
    )
    with bot.services.db.unit_of_work() as session:
        row = session.get(MigrationRequest, view.id)
        assert row is not None
        row.created_at = utcnow() - age
        if state is not None:
            row.state = state
    return view.id


def add_job(bot: BotUnderTest, request_id: str, job_id: str, progress: float) -> None:
    with bot.services.db.unit_of_work() as session:
        repo.add(
            session,
            SmcJob(
                job_id=job_id,
                request_id=request_id,
                region_id="cn-hangzhou",
                status=JobStatus.RUNNING,
                business_status=BusinessStatus.SYNCING,
                progress=progress,
            ),
        )


def listed(bot: BotUnderTest, text: str = "list") -> tuple[str, list[dict[str, Any]]]:
    answer = bot.command_answer(REQUESTER, MIGRATIONS_CHANNEL, text)
    return answer.text, answer.blocks


def rows(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks[1:] if b["type"] == "section"]


def status_answer(bot: BotUnderTest, ref: str) -> Ephemeral:
    answer = bot.command_answer(REQUESTER, MIGRATIONS_CHANNEL, f"status {ref}")
    assert answer.source != "ack"
    return answer


def test_list_shows_this_channels_active_requests_newest_first(bot: BotUnderTest) -> None:
    done = make_request(bot, state=RequestState.COMPLETED, age=timedelta(days=3))
    waiting = make_request(bot, requester=APPROVER_1, image="db-img", age=timedelta(hours=5))
    running = make_request(bot, image="app-img", state=RequestState.IN_PROGRESS, age=timedelta(minutes=12))
    add_job(bot, running, "j-bp1running00000001", 42.0)
    elsewhere = make_request(bot, channel=GENERAL_CHANNEL)

    text, blocks = listed(bot)
    assert text == "2 active requests in this channel"
    first, second = rows(blocks)
    assert first.startswith(f"`{running}` · `{SOURCE}` → ECS image `app-img` in `cn-hangzhou`")
    assert "*migrating* · Running · Syncing ▓▓▓▓░░░░░░ 42% · 12 min ago" in first
    assert second.startswith(f"`{waiting}`") and "*waiting for approval* · 5 h ago" in second
    assert f"<@{APPROVER_1}>" in second
    shown = " ".join(rows(blocks))
    assert done not in shown and elsewhere not in shown


def test_list_mine_and_all_choose_whose_and_which(bot: BotUnderTest) -> None:
    mine_done = make_request(bot, state=RequestState.COMPLETED)
    theirs = make_request(bot, requester=APPROVER_1)
    _, mine = listed(bot, "list mine")
    assert [r.split("`")[1] for r in rows(mine)] == [mine_done]
    _, everything = listed(bot, "list all")
    assert [r.split("`")[1] for r in rows(everything)] == [theirs, mine_done]


def test_a_long_list_stays_within_slacks_limits_and_says_how_many_more(bot: BotUnderTest) -> None:
    for n in range(45):
        make_request(bot, image=f"img-{n:02d}", age=timedelta(minutes=45 - n))
    text, blocks = listed(bot, "list all")
    assert len(blocks) <= 50
    assert len(rows(blocks)) == 40
    assert "`img-44`" in rows(blocks)[0]
    assert blocks[-1]["elements"][0]["text"].startswith("…and 5 more (older).")
    assert text == "45 all requests in this channel, 40 shown"


def test_an_empty_channel_and_an_unknown_scope_say_what_to_type(bot: BotUnderTest) -> None:
    text, _ = listed(bot)
    assert text.startswith("No active requests in this channel. `/smc list all` shows finished ones too")
    text, _ = listed(bot, "list everything")
    assert text == (
        "`everything` is not a list: type `/smc list mine`, `/smc list active` (the default) or "
        "`/smc list all`."
    )


def test_status_shows_the_digest_the_job_and_a_link_to_the_thread(bot: BotUnderTest) -> None:
    request_id = make_request(bot, state=RequestState.IN_PROGRESS)
    add_job(bot, request_id, "j-bp1status000000001", 63.0)
    bot.settle()
    [summary] = bot.slack.channel_messages(MIGRATIONS_CHANNEL)

    answer = status_answer(bot, request_id)
    assert answer.text == f"{request_id}: migrating, SMC job j-bp1status000000001 Running"
    body = "\n".join(b["text"]["text"] for b in answer.blocks if b["type"] == "section")
    assert f"*`{request_id}`* — migrating · asked by <@{REQUESTER}>" in body
    assert f"*Source:* {SOURCE}" in body
    assert "SMC job `j-bp1status000000001`: Running · Syncing ▓▓▓▓▓▓░░░░ 63%" in body
    link = answer.blocks[-1]["elements"][0]["text"]
    assert link == (
        f"<https://smc-sandbox.slack.com/archives/{MIGRATIONS_CHANNEL}/p{summary.ts.replace('.', '')}"
        "|Open the thread>"
    )
    assert bot.slack.calls("chat.getPermalink")[-1].params["message_ts"] == summary.ts

    by_job = status_answer(bot, "`j-bp1status000000001`")
    assert by_job.text == answer.text


def test_status_of_an_unknown_id_says_how_to_find_ids(bot: BotUnderTest) -> None:
    answer = status_answer(bot, "r-nothere1")
    assert answer.text.startswith("`r-nothere1` was not found. `/smc list` shows the request ids")
    assert "`/smc status r-…`" in answer.text
    empty = status_answer(bot, "")
    assert empty.text.startswith("Name the request: `/smc status r-7k2q9m4x`")


def test_status_of_an_import_batch_links_its_thread(bot: BotUnderTest) -> None:
    batch = bot.services.imports.submit(
        ImportDraft(
            team_id=bot.slack.team_id,
            channel_id=MIGRATIONS_CHANNEL,
            requester=REQUESTER,
            cross_account=True,
            account_id="2000000000000002",
            role_name="ram-role-smc",
            region_id="cn-hangzhou",
            instance_ids=("i-bp1g89ubw2sb4krcndqk",),
        )
    )
    before = status_answer(bot, batch.id)
    assert before.text == f"{batch.id}: queued (1 queued)"
    assert before.blocks[-1]["elements"][0]["text"].startswith("The thread has not been posted yet")
    bot.settle()
    after = status_answer(bot, batch.id)
    assert after.text.startswith(f"{batch.id}: ")
    assert "`i-bp1g89ubw2sb4krcndqk`" in after.blocks[1]["text"]["text"]
    assert after.blocks[-1]["elements"][0]["text"].endswith("|Open the thread>")


def test_an_answer_that_fails_on_the_bots_side_still_tells_the_user(bot: BotUnderTest) -> None:
    make_request(bot)
    with bot.services.db.unit_of_work() as session:
        session.execute(sql("ALTER TABLE migration_request RENAME TO migration_request_gone"))
    answer = bot.command_answer(REQUESTER, MIGRATIONS_CHANNEL, "list")
    assert answer.source != "ack"
    assert answer.text.startswith(":warning: That did not work because of an error on the bot's side")
    assert "Try again in a minute" in answer.text
