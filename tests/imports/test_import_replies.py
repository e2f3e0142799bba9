"""What the import thread says: Slack's limits hold for any batch size, and names cannot format or mention."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.delivery import SlackMessage
from bot.domain.imports import ImportBatchView, ImportItemView
from handlers.render.import_replies import (
    cloud_error_message,
    failures_message,
    finished_message,
    refused_message,
)
from handlers.render.import_summary import import_summary_message
from storage.enums import ImportBatchState, ImportItemState

SECTION_LIMIT = 3000
MESSAGE_BLOCKS = 50


def within_slack_limits(message: SlackMessage) -> None:
    blocks: Sequence[dict[str, Any]] = message.blocks or []
    assert 0 < len(blocks) <= MESSAGE_BLOCKS
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_LIMIT
    assert message.text


def retry_values(message: SlackMessage) -> list[str]:
    return [
        e["value"]
        for b in message.blocks or []
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "import_retry"
    ]


def test_a_hundred_failures_fit_one_reply_with_their_output_and_a_retry_button() -> None:
    items = [
        {"instance_id": f"i-{n:04d}", "name": f"web-{n}", "message": "exit 1", "output_tail": "x\n" * 900}
        for n in range(10)
    ]
    message = failures_message(
        {
            "batch_id": "imp-1",
            "code": "ExitCodeNonzero",
            "service": "cloud_assistant",
            "items": items,
            "more": 90,
        }
    )
    within_slack_limits(message)
    assert "100 servers failed to import" in message.text
    assert "…and 90 more" in str(message.blocks)
    assert retry_values(message) == ["imp-1"]


def test_names_and_cloud_messages_cannot_mention_or_link() -> None:
    message = failures_message(
        {
            "batch_id": "imp-1",
            "code": "ExitCodeNonzero",
            "service": "cloud_assistant",
            "items": [
                {"instance_id": "i-1", "name": "<!channel>", "message": "<https://evil|x>", "output_tail": ""}
            ],
        }
    )
    shown = str(message.blocks)
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown
    assert "<https://evil" not in shown


def test_a_cloud_error_offers_retry_only_where_it_can_help() -> None:
    refused = {
        "batch_id": "imp-1",
        "step": "check",
        "code": "NoPermission",
        "message": "You are not authorized to do this action.",
        "service": "sts",
        "action": "AssumeRole",
        "request_id": "req-1",
        "instances": [{"instance_id": "i-1", "name": "web"}],
        "retry": True,
    }
    with_retry = cloud_error_message(refused)
    within_slack_limits(with_retry)
    assert retry_values(with_retry) == ["imp-1"]
    assert "AliyunSTSAssumeRoleAccess" in str(with_retry.blocks)  # the table's fix for STS NoPermission
    assert (
        retry_values(cloud_error_message({**refused, "code": "InvalidParameter.RoleArn", "retry": False}))
        == []
    )


def test_the_end_of_a_run_is_broadcast_with_each_new_source() -> None:
    done = finished_message(
        {
            "batch_id": "imp-1",
            "state": "completed",
            "online": 2,
            "failed": 0,
            "total": 2,
            "sources": [{"instance_id": "i-1", "name": "web", "source_id": "s-1"}],
            "retry": False,
            "broadcast": True,
        }
    )
    assert done.broadcast and "2 of 2 source servers online" in done.text
    assert "/smc migrate s-1" in str(done.blocks) and retry_values(done) == []
    failed = finished_message(
        {"batch_id": "imp-1", "state": "failed", "total": 3, "failed": 3, "retry": True}
    )
    assert "none of the 3" in failed.text and retry_values(failed) == ["imp-1"]


def test_refusals_say_why_nothing_happened() -> None:
    assert "approvers" in refused_message({"reason": "not_allowed"}).text
    assert "Nothing to retry" in refused_message({"reason": "nothing"}).text


def test_the_summary_of_a_hundred_failed_servers_fits_and_offers_retry() -> None:
    items = tuple(
        ImportItemView(
            instance_id=f"i-{n:04d}",
            name=f"batch-sh-{n:03d}",
            private_ip=f"192.168.1.{n}",
            state=ImportItemState.FAILED,
            source_server_id=None,
            error_code="ExitCodeNonzero",
            error_message="the command execution exit code is not zero",
        )
        for n in range(100)
    )
    batch = ImportBatchView(
        id="imp-1",
        team_id="T",
        channel_id="C",
        requester="U",
        cross_account=False,
        account_id=None,
        role_name=None,
        region_id="cn-shanghai",
        state=ImportBatchState.FAILED,
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        message_ts=None,
        items=items,
    )
    tails = {i.instance_id: "downloading\ncurl: (6) Could not resolve host `p2v-tools`" for i in items}

    message = import_summary_message(batch, tails)

    within_slack_limits(message)
    assert retry_values(message) == ["imp-1"]
    assert "Could not resolve host" in str(message.blocks)
    assert retry_values(import_summary_message(batch)) == ["imp-1"]
