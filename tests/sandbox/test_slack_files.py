"""File uploads through the Slack stand-in: files_upload_v2 end to end, and the legacy files.upload."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.slack import MIGRATIONS_CHANNEL, SlackStandIn


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def test_files_upload_v2_stores_the_file_and_shares_it(client: WebClient, slack: SlackStandIn) -> None:
    csv = "when,who,what\n2026-01-01,alex,approved\n"
    result = client.files_upload_v2(
        channel=MIGRATIONS_CHANNEL,
        content=csv,
        filename="audit.csv",
        title="Audit log",
        initial_comment="Audit",
    )
    assert result["file"]["name"] == "audit.csv"
    assert [c.method for c in slack.calls()] == ["files.getUploadURLExternal", "files.completeUploadExternal"]

    [stored] = slack.files()
    assert (stored.name, stored.title, stored.content, stored.channels) == (
        "audit.csv",
        "Audit log",
        csv.encode(),
        (MIGRATIONS_CHANNEL,),
    )
    [message] = slack.channel_messages(MIGRATIONS_CHANNEL)
    assert message.text == "Audit" and message.files[0]["id"] == stored.id

    download = urllib.request.Request(
        result["file"]["url_private"], headers={"Authorization": f"Bearer {slack.bot_token}"}
    )
    with urllib.request.urlopen(download) as resp:
        assert resp.read() == csv.encode()


def test_files_upload_v2_into_a_thread(client: WebClient, slack: SlackStandIn) -> None:
    parent = client.chat_postMessage(channel=MIGRATIONS_CHANNEL, text="Request r-1")
    client.files_upload_v2(
        channel=MIGRATIONS_CHANNEL, thread_ts=parent["ts"], content=b"x", filename="drill.txt"
    )
    [message] = slack.channel_messages(MIGRATIONS_CHANNEL)
    assert [r.files[0]["name"] for r in message.replies] == ["drill.txt"]
    assert slack.files()[0].thread_ts == parent["ts"]


def test_completing_an_upload_that_never_arrived_fails(client: WebClient, slack: SlackStandIn) -> None:
    reserved = client.files_getUploadURLExternal(filename="audit.csv", length=3)
    with pytest.raises(SlackApiError) as caught:
        client.files_completeUploadExternal(files=[{"id": reserved["file_id"], "title": "t"}])
    assert caught.value.response["error"] == "file_upload_not_complete"
    assert slack.files() == []


@pytest.mark.filterwarnings("ignore:client.files_upload")
def test_legacy_files_upload_accepts_content_and_multipart_files(
    client: WebClient, slack: SlackStandIn
) -> None:
    client.files_upload(content="a,b\n", filename="one.csv", title="One", channels=[MIGRATIONS_CHANNEL])
    client.files_upload(file=b"\x00\x01binary", filename="two.bin", title="Two")
    assert [(f.name, f.title, f.content) for f in slack.files()] == [
        ("one.csv", "One", b"a,b\n"),
        ("two.bin", "Two", b"\x00\x01binary"),
    ]
    assert slack.calls("files.upload")[1].params["file"] == {"filename": "two.bin", "bytes": 8}
