"""The pure decisions of an import run: runs, command batches, client tokens, matching, outcomes."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.cloud.ports import (
    AccessToken,
    AccessTokenStatus,
    CommandType,
    InstanceInvocation,
    InvocationStatus,
    OsType,
    SourceServer,
    SourceServerState,
)
from bot.domain.import_plan import (
    batch_outcome,
    client_token,
    command_batches,
    failure_code,
    latest_run,
    match_source,
    output_tail,
    run_key,
    run_of_key,
    token_usable,
)
from bot.domain.imports import run_key as submission_run_key
from storage.enums import ImportBatchState, ImportItemState


def test_the_first_run_is_the_submissions_intent_and_retries_count_up() -> None:
    assert run_key("imp-1", 0) == submission_run_key("imp-1")
    keys = [
        run_key("imp-1", 0),
        run_key("imp-1", 2),
        run_key("imp-1", 1),
        "imp:imp-1:summary",
        run_key("imp-2", 9),
    ]
    assert [run_of_key("imp-1", k) for k in keys] == [0, 2, 1, None, None]
    assert latest_run("imp-1", keys) == 2
    assert latest_run("imp-3", keys) == 0


def test_linux_and_windows_go_in_separate_commands_of_at_most_100_instances() -> None:
    os_of = {f"i-linux{n:04d}": OsType.LINUX for n in range(250)}
    os_of |= {f"i-win{n:04d}": OsType.WINDOWS for n in range(3)}
    os_of["i-unknown01"] = OsType.UNKNOWN

    batches = command_batches(os_of)

    assert [(b.command_type, len(b.instance_ids)) for b in batches] == [
        (CommandType.SHELL, 100),
        (CommandType.SHELL, 100),
        (CommandType.SHELL, 51),
        (CommandType.POWERSHELL, 3),
    ]
    assert sorted(i for b in batches for i in b.instance_ids) == sorted(os_of)
    assert command_batches(dict(reversed(list(os_of.items())))) == batches  # order of input does not matter


def test_a_client_token_is_stable_for_the_same_command_and_differs_for_another() -> None:
    token = client_token("imp-abcdefgh", 3, CommandType.SHELL, ["i-b", "i-a"])
    assert token == client_token("imp-abcdefgh", 3, CommandType.SHELL, ["i-a", "i-b"])
    assert len(token) <= 64 and token.isascii()
    assert token != client_token("imp-abcdefgh", 4, CommandType.SHELL, ["i-a", "i-b"])
    assert token != client_token("imp-abcdefgh", 3, CommandType.POWERSHELL, ["i-a", "i-b"])
    assert token != client_token("imp-abcdefgh", 3, CommandType.SHELL, ["i-a"])


def _token(status: AccessTokenStatus, count: int | None, registered: int | None) -> AccessToken:
    return AccessToken("at-1", "n", status, count, registered, 1)


def test_a_code_is_reused_only_while_it_has_enough_uses_left() -> None:
    assert token_usable(_token(AccessTokenStatus.UNACTIVATED, 3, 0), 3)
    assert token_usable(_token(AccessTokenStatus.ACTIVATED, 3, 2), 1)
    assert not token_usable(_token(AccessTokenStatus.ACTIVATED, 3, 2), 2)
    assert not token_usable(_token(AccessTokenStatus.EXPIRED, 3, 0), 1)
    assert not token_usable(_token(AccessTokenStatus.UNKNOWN, 3, 0), 1)


def test_the_output_tail_keeps_the_end_and_masks_anything_like_an_activation_code() -> None:
    output = (
        "\n".join(f"line {n}" for n in range(100))
        + "\nrun --accesstokencode=Zx9 --x\nsecret-abc-123 echoed\n"
    )
    tail = output_tail(output, lines=4, mask=["secret-abc-123"])
    assert tail.splitlines() == [
        "line 98",
        "line 99",
        "run --accesstokencode=********** --x",
        "********** echoed",
    ]
    assert output_tail("AccessTokenCode: abcdef") == "AccessTokenCode: **********"
    assert len(output_tail("x" * 10_000)) == 1500
    assert output_tail(None) == ""


def _result(
    status: InvocationStatus, *, exit_code: int | None = None, code: str | None = None
) -> InstanceInvocation:
    return InstanceInvocation("i-1", status, exit_code=exit_code, error_code=code)


def test_a_failed_command_is_explained_by_its_error_code_or_its_exit_code() -> None:
    assert failure_code(_result(InvocationStatus.ABORTED, code="ClientNotRunning")) == "ClientNotRunning"
    assert failure_code(_result(InvocationStatus.FAILED, exit_code=2)) == "ExitCodeNonzero"
    assert failure_code(_result(InvocationStatus.STOPPED)) == "InvocationStopped"


def _source(
    source_id: str,
    name: str,
    *,
    state: SourceServerState = SourceServerState.AVAILABLE,
    ip: str = "172.16.10.11",
    hostname: str = "",
    created: int = 1,
) -> SourceServer:
    return SourceServer(
        id=source_id,
        name=name,
        state=state,
        platform="CentOS",
        os_type=OsType.LINUX,
        creation_time=datetime(2025, 1, created, tzinfo=UTC),
        system_info={"ipv4": ip, "hostname": hostname},
    )


def test_a_source_matches_its_instance_by_name_id_or_hostname_and_the_same_ip() -> None:
    by_name = _source("s-1", "web-prod-01")
    by_id = _source("s-2", "i-bp1abc", ip="")
    by_host = _source("s-3", "renamed", hostname="web-prod-01")
    elsewhere = _source("s-4", "web-prod-01", ip="10.0.0.9")

    assert match_source("i-zzz", "web-prod-01", "172.16.10.11", [elsewhere, by_name]) == by_name
    assert match_source("i-bp1abc", None, "172.16.10.11", [by_id]) == by_id
    assert match_source("i-zzz", "web-prod-01", "172.16.10.11", [by_host]) == by_host
    assert match_source("i-zzz", "web-prod-01", "172.16.10.11", [elsewhere]) is None
    assert match_source("i-zzz", "db-01", None, [by_name]) is None


def test_an_online_match_wins_over_an_offline_one_and_deleting_sources_never_match() -> None:
    old_online = _source("s-old", "web", created=1)
    new_offline = _source("s-new", "web", state=SourceServerState.UNAVAILABLE, created=2)
    deleting = _source("s-gone", "web", state=SourceServerState.DELETING, created=3)

    assert match_source("i-1", "web", None, [new_offline, deleting, old_online]) == old_online
    assert match_source("i-1", "web", None, [deleting]) is None


def test_the_batch_ends_completed_partial_or_failed_only_when_every_instance_has_ended() -> None:
    online, failed = ImportItemState.ONLINE, ImportItemState.FAILED
    assert batch_outcome([online, online]) is ImportBatchState.COMPLETED
    assert batch_outcome([online, ImportItemState.AGENT_OFFLINE]) is ImportBatchState.PARTIAL
    assert batch_outcome([failed, ImportItemState.TIMED_OUT]) is ImportBatchState.FAILED
    assert batch_outcome([online, ImportItemState.WAITING_ONLINE]) is None
    assert batch_outcome([]) is None
