"""Pure decisions of an import run: run numbers, command batches, idempotency tokens, sources to instances."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.cloud.ports import (
    MAX_INSTANCES_PER_RUN_COMMAND,
    AccessToken,
    AccessTokenStatus,
    CommandType,
    InstanceInvocation,
    InvocationStatus,
    OsType,
    SourceServer,
    SourceServerState,
)
from bot.import_script import COMMAND_TYPES
from storage.enums import ImportBatchState, ImportItemState

FINAL_ITEM_STATES = frozenset(
    {
        ImportItemState.ONLINE,
        ImportItemState.FAILED,
        ImportItemState.TIMED_OUT,
        ImportItemState.AGENT_OFFLINE,
    }
)
RETRYABLE_ITEM_STATES = frozenset(
    {ImportItemState.FAILED, ImportItemState.TIMED_OUT, ImportItemState.AGENT_OFFLINE}
)
"""What **Retry import** starts again: everything that ended without an online source."""
IN_FLIGHT_ITEM_STATES = frozenset({ImportItemState.INSTALLING, ImportItemState.WAITING_ONLINE})
FINAL_BATCH_STATES = frozenset(
    {ImportBatchState.COMPLETED, ImportBatchState.PARTIAL, ImportBatchState.FAILED}
)
ONLINE_SOURCE_STATES = frozenset({SourceServerState.AVAILABLE, SourceServerState.IN_USE})
"""`Available` is the console's "Migration Source Online"; `InUse` is an online source that has a job."""

OUTPUT_TAIL_LINES = 20
OUTPUT_TAIL_CHARS = 1500
MAX_CLIENT_TOKEN = 64

# ---- runs ----------------------------------------------------------------------------------------


def run_prefix(batch_id: str) -> str:
    """Every WORK intent of one batch starts with this (the first run's key is C2's `…:run`)."""
    return f"work:imp:{batch_id}:"


def run_key(batch_id: str, run: int) -> str:
    """Run 0 is the submission's intent; each Retry import adds run N under its own key."""
    return f"{run_prefix(batch_id)}run" if run == 0 else f"{run_prefix(batch_id)}retry:{run}"


def run_of_key(batch_id: str, key: str) -> int | None:
    """The run number a key stands for, None for a key that is not a run intent of this batch."""
    rest = key.removeprefix(run_prefix(batch_id))
    if rest == key:
        return None
    if rest == "run":
        return 0
    head, _, number = rest.partition(":")
    return int(number) if head == "retry" and number.isdigit() else None


def latest_run(batch_id: str, keys: Iterable[str]) -> int:
    """The newest run recorded for a batch; an older run's task stops when it sees a newer one."""
    runs = [run for run in (run_of_key(batch_id, key) for key in keys) if run is not None]
    return max(runs, default=0)


# ---- activation codes ----------------------------------------------------------------------------


def token_name(batch_id: str, run: int) -> str:
    """The access token's name: how a run finds a token it created just before a crash."""
    return f"smc-chatops-{batch_id}-r{run}"


def token_usable(token: AccessToken, needed: int) -> bool:
    """Not expired or disabled, and enough registrations left for `needed` more sources."""
    if token.status not in (AccessTokenStatus.ACTIVATED, AccessTokenStatus.UNACTIVATED):
        return False
    if token.count is None:
        return True
    return token.count - (token.registered_count or 0) >= needed


# ---- commands ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandBatch:
    """Instances that get one RunCommand: one OS family (one command type), at most 100."""

    os_type: OsType
    command_type: CommandType
    instance_ids: tuple[str, ...]


def command_batches(
    os_of: Mapping[str, OsType], limit: int = MAX_INSTANCES_PER_RUN_COMMAND
) -> list[CommandBatch]:
    """Linux and Windows apart, sorted ids in chunks of `limit`: the same input gives the same calls."""
    batches: list[CommandBatch] = []
    for family in (OsType.LINUX, OsType.WINDOWS):
        ids = sorted(i for i, os_type in os_of.items() if _family(os_type) is family)
        for start in range(0, len(ids), limit):
            batches.append(CommandBatch(family, COMMAND_TYPES[family], tuple(ids[start : start + limit])))
    return batches


def _family(os_type: OsType) -> OsType:
    return OsType.WINDOWS if os_type is OsType.WINDOWS else OsType.LINUX


def client_token(batch_id: str, run: int, command_type: CommandType, instance_ids: Collection[str]) -> str:
    """RunCommand's ClientToken: the same batch, run, type and instances always give the same token."""
    digest = hashlib.sha256(
        "|".join([batch_id, str(run), command_type.value, *sorted(instance_ids)]).encode()
    ).hexdigest()
    return f"{batch_id}-{run}-{digest[:24]}"[:MAX_CLIENT_TOKEN]


# ---- outcomes ------------------------------------------------------------------------------------

_SECRETISH = re.compile(
    r"(?i)(access_?token_?code|activation[_ ]?code|--accesstokencode)(['\"]?\s*[:= ]\s*['\"]?)([^\s'\",&}]+)"
)


def output_tail(
    text: str | None,
    *,
    lines: int = OUTPUT_TAIL_LINES,
    chars: int = OUTPUT_TAIL_CHARS,
    mask: Sequence[str] = (),
) -> str:
    """The end of a command's output, for the thread; anything that looks like an activation code masked."""
    if not text:
        return ""
    for value in mask:
        if value:
            text = text.replace(value, "**********")
    text = _SECRETISH.sub(lambda m: m.group(1) + m.group(2) + "**********", text)
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept[-chars:]


def failure_code(result: InstanceInvocation) -> str:
    """The code to explain for a finished, unsuccessful invocation on one instance."""
    if result.error_code:
        return result.error_code
    if result.exit_code not in (None, 0):
        return "ExitCodeNonzero"
    return f"Invocation{result.status.value}"


def command_succeeded(result: InstanceInvocation) -> bool:
    return result.status is InvocationStatus.SUCCESS


def match_source(
    instance_id: str, name: str | None, private_ip: str | None, sources: Iterable[SourceServer]
) -> SourceServer | None:
    """The destination's source server for an instance: named after its id, name or hostname, same IP.

    SourceServer has no instance id; SMC names an imported ECS source after the instance, and its
    `SystemInfo` reports the hostname and private IPv4. An online match wins over others, then the newest.
    """
    wanted = {instance_id} | ({name} if name else set())
    found: list[SourceServer] = []
    for source in sources:
        if source.state is SourceServerState.DELETING:
            continue
        names = {source.name, source.system_info.get("hostname", "")} - {""}
        if not names & wanted:
            continue
        reported_ip = source.system_info.get("ipv4", "")
        if private_ip and reported_ip and reported_ip != private_ip:
            continue
        found.append(source)
    if not found:
        return None
    found.sort(
        key=lambda s: (
            s.state in ONLINE_SOURCE_STATES,
            s.creation_time.timestamp() if s.creation_time else 0.0,
        ),
        reverse=True,
    )
    return found[0]


def batch_outcome(states: Iterable[ImportItemState]) -> ImportBatchState | None:
    """COMPLETED when every instance is online, FAILED when none is, PARTIAL otherwise; None while running."""
    seen = list(states)
    if not seen or any(state not in FINAL_ITEM_STATES for state in seen):
        return None
    online = sum(1 for state in seen if state is ImportItemState.ONLINE)
    if online == len(seen):
        return ImportBatchState.COMPLETED
    return ImportBatchState.FAILED if online == 0 else ImportBatchState.PARTIAL
