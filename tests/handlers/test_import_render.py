"""Every view, options answer and message of the import, list, status and template commands, at its limits,
checked by the Slack stand-in's own Block Kit rules (what real Slack would refuse)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.cloud.ports import Instance, OsType, Region
from bot.domain.imports import ImportBatchView, ImportDraft, ImportItemView
from bot.domain.listing import ListScope, RequestListing
from bot.domain.params import MigrationParams, SystemDisk
from bot.domain.source_catalog import Access, AccessCheck, Lookup, LookupState
from bot.domain.templates import SavedTemplate, Template
from bot.domain.views import JobView, RequestView
from handlers.render import import_modal, listing, templates
from handlers.render.import_summary import import_summary_message
from sandbox.slack.blockkit import message_block_problems, view_problems
from sandbox.slack.clientside import option_problems
from storage.enums import (
    BusinessStatus,
    ExecutionMethod,
    ImportBatchState,
    ImportItemState,
    JobStatus,
    RequestState,
    TargetType,
)

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
LONG = "a-very-long-instance-name-that-keeps-going-" * 3
REFUSAL = AccessCheck(
    Access.REFUSED,
    "Cannot assume the RAM role acs:ram::3000000000000003:role/ram-role-smc (NoPermission: …). " * 8,
)


def instance(n: int, name: str | None = None) -> Instance:
    return Instance(
        id=f"i-bp1{n:017d}",
        name=name if name is not None else f"batch-sh-{n:03d}",
        region="cn-shanghai",
        zone="cn-shanghai-f",
        os_type=OsType.LINUX,
        os_name="CentOS 7.9",
        status="Running",
        private_ip=f"192.168.{n // 250}.{n % 250}",
        vpc_id=None,
        vswitch_id=None,
        instance_type="ecs.t6-c1m1.large",
    )


def view_dict(view: Any) -> dict[str, Any]:
    data: dict[str, Any] = view.to_dict()
    assert view_problems(data, allowed_types=("modal",)) == []
    return data


DRAFT = ImportDraft(
    team_id="T0SANDBOX",
    channel_id="C0MIGRATE",
    requester="U0REQUESTER",
    cross_account=True,
    account_id="3000000000000003",
    role_name="ram-role-smc",
    region_id="cn-shanghai",
    instance_ids=tuple(instance(n).id for n in range(100)),
)


@pytest.mark.parametrize("cross_account", [True, False])
def test_the_modal_fits_slack_with_every_note_and_a_hundred_picks(cross_account: bool) -> None:
    picked = tuple((instance(n).id, import_modal.instance_label(instance(n, LONG))) for n in range(100))
    modal = import_modal.ImportModal(
        channel_id="C0MIGRATE",
        cross_account=cross_account,
        account_id="3000000000000003",
        region_id="cn-shanghai",
        picked=picked,
        access=REFUSAL,
        problem="Not imported yet: " + REFUSAL.message,
    )
    data = view_dict(import_modal.import_modal(modal))
    ids = [b.get("block_id") for b in data["blocks"]]
    assert ("import_account" in ids) is cross_account and ("import_access" in ids) is cross_account
    assert len(data["blocks"][-2]["element"]["initial_options"]) == 100
    assert import_modal.channel_from_metadata(data["private_metadata"]) == "C0MIGRATE"


def test_the_checking_and_started_views_fit_slack() -> None:
    view_dict(import_modal.checking_view(DRAFT))
    started = view_dict(import_modal.started_view(batch(100)))
    assert "Import `imp-test0001` started: 100 instances" in started["blocks"][0]["text"]["text"]


def test_options_answers_stay_within_slacks_option_rules() -> None:
    many = Lookup(LookupState.READY, tuple(instance(n, LONG) for n in range(100)), total=130)
    answer = import_modal.instance_options(many)
    assert option_problems(answer) == []
    assert answer["option_groups"][0]["label"]["text"] == "First 100 of 130: type an ID, name or IP"
    label = answer["option_groups"][0]["options"][0]["text"]["text"]
    assert len(label) == 75 and label.endswith(f"· {instance(0).id} · 192.168.0.0")
    partial = Lookup(LookupState.READY, tuple(instance(n) for n in range(100)), total=100, complete=False)
    assert "to find others" in import_modal.instance_options(partial)["option_groups"][0]["label"]["text"]
    few = import_modal.instance_options(Lookup(LookupState.READY, (instance(1),), total=1))
    assert [o["value"] for o in few["options"]] == [instance(1).id]
    waiting: Lookup[Any]
    for waiting in (
        Lookup(LookupState.LOADING, message="Loading… type again in a moment"),
        Lookup(LookupState.UNAVAILABLE, message="x" * 200),
    ):
        for answer in (import_modal.instance_options(waiting), import_modal.region_options(waiting)):
            assert option_problems(answer) == [] and answer["options"][0]["value"].startswith("!")
    regions = import_modal.region_options(
        Lookup(LookupState.READY, (Region("cn-hangzhou", "China (Hangzhou)"),), total=1)
    )
    assert regions == {
        "options": [
            {
                "text": {"type": "plain_text", "text": "China (Hangzhou) · cn-hangzhou", "emoji": True},
                "value": "cn-hangzhou",
            }
        ]
    }


ONLINE = list(ImportItemState).index(ImportItemState.ONLINE)


def batch(count: int) -> ImportBatchView:
    states = list(ImportItemState)
    return ImportBatchView(
        id="imp-test0001",
        team_id="T0SANDBOX",
        channel_id="C0MIGRATE",
        requester="U0REQUESTER",
        cross_account=True,
        account_id="2000000000000002",
        role_name="ram-role-smc",
        region_id="cn-shanghai",
        state=ImportBatchState.RUNNING,
        created_at=NOW,
        message_ts=None,
        items=tuple(
            ImportItemView(
                instance_id=instance(n).id,
                name=LONG[:128],
                private_ip=instance(n).private_ip,
                state=states[n % len(states)],
                source_server_id=f"s-bp1{n:017d}"
                if states[n % len(states)] is ImportItemState.ONLINE
                else None,
                error_code="InvalidInstance.NotFound" if n % 7 == 0 else None,
                error_message="The specified instance does not exist. " * 20 if n % 7 == 0 else None,
            )
            for n in range(count)
        ),
    )


def test_the_import_summary_of_a_hundred_servers_fits_one_message() -> None:
    message = import_summary_message(batch(100))
    assert message.blocks is not None and len(message.blocks) <= 50
    assert message_block_problems(list(message.blocks)) == []
    text = "\n".join(b["text"]["text"] for b in message.blocks if b["type"] == "section")
    assert text.count("`i-bp1") == 100
    assert f"online as `s-bp1{4:017d}`: `/smc migrate s-bp1{4:017d}`" in text
    assert message.text.startswith("Import of 100 source servers from account `2000000000000002`")


def request_view(n: int, *, job: bool) -> RequestView:
    params = MigrationParams(
        source_id="s-bp1dtyvdak02x846kq4p",
        target_type=TargetType.IMAGE,
        region_id="cn-hangzhou",
        image_name=f"img-{n}",
        migration_test=False,
        execution_method=ExecutionMethod.MIGRATE_NOW,
        system_disk=SystemDisk(size_gib=40),
    )
    return RequestView(
        id=f"r-{n:08d}",
        team_id="T0SANDBOX",
        channel_id="C0MIGRATE",
        requester="U0REQUESTER",
        state=RequestState.IN_PROGRESS if job else RequestState.AWAITING_APPROVAL,
        params=params,
        params_hash="a" * 64,
        approval_round=1,
        created_at=NOW - timedelta(hours=n),
        updated_at=NOW,
        thread_ts="1795000000.000100",
        job=JobView(
            job_id=f"j-bp1{n:017d}",
            region_id="cn-hangzhou",
            status=JobStatus.IN_ERROR,
            business_status=BusinessStatus.SYNCING,
            progress=37.5,
            incremental=False,
            error_code="SourceServerState.Invalid",
            status_info="x" * 3000,
        )
        if job
        else None,
    )


def test_list_status_and_template_answers_fit_one_message() -> None:
    page = RequestListing(
        ListScope.ALL,
        tuple(request_view(n, job=n % 2 == 0) for n in range(40)),
        more=160,
        more_is_lower_bound=True,
    )
    text, blocks = listing.request_list(page, NOW)
    assert len(blocks) <= 50 and message_block_problems(blocks) == []
    assert text == "200 all requests in this channel, 40 shown"
    assert blocks[-1]["elements"][0]["text"].startswith("…and 160+ more (older).")
    text, blocks = listing.request_status(
        request_view(3, job=True), "https://sandbox.slack.com/archives/C/p1", NOW
    )
    assert message_block_problems(blocks) == []
    assert text == "r-00000003: migrating, SMC job j-bp100000000000000003 InError"
    _, blocks = listing.import_status(batch(100), None)
    assert len(blocks) <= 50 and message_block_problems(blocks) == []
    saved = [
        Template(f"t-{n:02d}", {"target_type": "Image", "region_id": "cn-hangzhou"}, "U0REQUESTER", NOW)
        for n in range(60)
    ]
    text, blocks = templates.listing(saved)
    assert len(blocks) <= 50 and message_block_problems(blocks) == []
    assert blocks[-1]["elements"][0]["text"].startswith("…and 15 more.")
    _, blocks = templates.saved(SavedTemplate(saved[0], replaced=True, request_id="r-00000001"))
    assert message_block_problems(blocks) == []
    assert templates.describe({"target_type": "nonsense", "network_type": "x"}) == (
        "public network, no speed limit, compression 7"
    )
