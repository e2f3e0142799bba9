"""Builders for the poller's tests: a world with many online sources, and migrations started for real.

Jobs are created and started through the bot's real SDK adapters against the simulator; the matching
request and job rows are inserted as the executor would leave them (request in progress, job Ready, the
summary recorded in the outbox).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.cloud.aliyun import AliyunCloudGateway, CloudConfig
from bot.cloud.ports import CloudGateway, Secret, role_credential_ref
from bot.domain import notifications
from bot.domain.params import MigrationParams, SystemDisk
from bot.domain.smc_request import create_replication_job_request
from sandbox.slack import PostedMessage
from storage import repository as repo
from storage.db import Database
from storage.enums import ExecutionMethod, JobStatus, RequestState, TargetType
from storage.models import SmcJob
from tests.factories import new_request

GIB = 1024**3
DEST_UID = "1000000000000001"
DEST_KEY = "LTAI5tPollerDest000001"
DEST_SECRET = "poller-dest-secret-for-tests"
SECOND_KEY = "LTAI5tPollerDest000002"
SECOND_SECRET = "poller-dest-second-secret"
ROLE_NAME = "smc-bot-role"
REGIONS = ("cn-hangzhou", "cn-shanghai")


def account_uid(index: int) -> str:
    return f"{index + 1}{index + 1:015d}"


def world(
    sources_per_account: int,
    *,
    accounts: int = 1,
    regions: Sequence[str] = REGIONS,
    used_gib: Iterable[float] = (3.0,),
    timings: Mapping[str, float] | None = None,
    faults: Mapping[str, Any] | None = None,
    seed: str = "poller-tests",
) -> dict[str, Any]:
    """A world whose first account (the bot's, two AccessKeys) trusts the bot into the others' role.

    Every account has `sources_per_account` Available sources; their used space cycles through `used_gib`.
    """
    sizes = list(used_gib)
    account_list = []
    for index in range(accounts):
        uid = account_uid(index)
        keys = [{"id": DEST_KEY, "secret": DEST_SECRET}, {"id": SECOND_KEY, "secret": SECOND_SECRET}]
        if index:
            keys = [{"id": f"LTAI5tPollerAcct{index:06d}", "secret": f"poller-account-{index}-secret"}]
        account_list.append(
            {
                "uid": uid,
                "name": f"poller-account-{index}",
                "access_keys": keys,
                "roles": [{"name": ROLE_NAME, "trusted_accounts": [DEST_UID]}] if index else [],
                "quotas": {"max_jobs": 1000, "max_running_jobs": 1000},
                "source_servers": [
                    {
                        "id": source_id(index, n),
                        "name": f"src-{index}-{n:05d}",
                        "os": "centos-7.9",
                        "disks": [{"size_gib": 40, "used_gib": sizes[n % len(sizes)]}],
                    }
                    for n in range(sources_per_account)
                ],
            }
        )
    return {
        "seed": seed,
        "timings": dict(timings or {}),
        "speeds": {"public_mb_per_s": 30, "vpc_mb_per_s": 120},
        "faults": dict(faults or {}),
        "regions": [{"id": region, "zones": [{"id": f"{region}-h"}]} for region in regions],
        "instance_types": [{"id": "ecs.g6.large", "family": "ecs.g6"}],
        "accounts": account_list,
    }


def source_id(account: int, n: int) -> str:
    return f"s-pt{account:02d}{n:06d}"


def credential_ref(account: int) -> str:
    """The bot's own credentials for account 0, AssumeRole into the others."""
    return "default" if account == 0 else role_credential_ref(account_uid(account), ROLE_NAME)


def gateway(url: str, *, key: str = DEST_KEY, secret: str = DEST_SECRET, fast: bool = True) -> CloudGateway:
    """The real adapters; `fast` shortens SDK backoff so injected faults do not slow the tests down."""
    return AliyunCloudGateway(
        CloudConfig(
            endpoint=url,
            access_key_id=key,
            access_key_secret=Secret(secret),
            backoff_base_ms=5 if fast else 200,
            backoff_cap_ms=50 if fast else 5_000,
            max_retry_after_ms=50 if fast else 30_000,
        )
    )


@dataclass(frozen=True)
class Migration:
    request_id: str
    job_id: str
    channel_id: str
    source_id: str
    region_id: str
    credential_ref: str


def params_for(source: str, region: str, image_name: str) -> MigrationParams:
    return MigrationParams(
        source_id=source,
        target_type=TargetType.IMAGE,
        region_id=region,
        image_name=image_name,
        migration_test=False,
        execution_method=ExecutionMethod.MIGRATE_NOW,
        system_disk=SystemDisk(size_gib=40),
    )


def start_migrations(
    db: Database,
    cloud: CloudGateway,
    *,
    count: int,
    channels: Sequence[str],
    accounts: int = 1,
    regions: Sequence[str] = REGIONS,
    used_gib: Iterable[float] = (3.0,),
    created_at: datetime | None = None,
) -> list[Migration]:
    """Create and start `count` jobs (round-robin over accounts, regions and channels) and record them."""
    sizes = list(used_gib)
    made: list[Migration] = []
    per_account = [0] * accounts
    for n in range(count):
        account = n % accounts
        number = per_account[account]
        per_account[account] += 1
        region = regions[(n // accounts) % len(regions)]
        channel = channels[n % len(channels)]
        source = source_id(account, number)
        request_id = repo.new_id("r")
        params = params_for(source, region, f"img-{account}-{number:05d}")
        ref = credential_ref(account)
        destination = cloud.destination(ref)
        job_id = destination.create_replication_job(
            create_replication_job_request(params, client_token=request_id)
        )
        destination.start_replication_job(job_id)
        total = round(sizes[number % len(sizes)] * GIB)
        record(
            db,
            params,
            request_id=request_id,
            job_id=job_id,
            channel_id=channel,
            credential_ref=ref,
            total_bytes=total,
            created_at=created_at,
        )
        made.append(Migration(request_id, job_id, channel, source, region, ref))
    return made


def record(
    db: Database,
    params: MigrationParams,
    *,
    request_id: str,
    job_id: str,
    channel_id: str,
    credential_ref: str = "default",
    total_bytes: int | None = None,
    state: RequestState = RequestState.IN_PROGRESS,
    created_at: datetime | None = None,
) -> None:
    """The rows the executor leaves behind after creating and starting a job."""
    with db.unit_of_work() as session:
        request = new_request(
            request_id, params, team_id="T0SANDBOX", channel_id=channel_id, requester="U0REQUEST", state=state
        )
        if created_at is not None:
            request.created_at = created_at
        repo.add(session, request)
        job = SmcJob(
            job_id=job_id,
            request_id=request_id,
            region_id=params.region_id,
            credential_ref=credential_ref,
            status=JobStatus.READY,
            total_bytes=total_bytes,
        )
        if created_at is not None:
            job.created_at = created_at
        repo.add(session, job)
        notifications.post_request_summary(session, request_id, channel_id)


# --- reading the Slack stand-in --------------------------------------------------------------------------

_KEY = re.compile(r"^req:(?P<request>[^:]+):job:(?P<job>[^:]+):(?P<event>.+)$")


def outbox_key(message: PostedMessage) -> str | None:
    metadata = message.metadata or {}
    payload = metadata.get("event_payload") or {}
    key = payload.get("outbox_key")
    return str(key) if key else None


def label(event_key: str) -> str:
    """A job event's key in the words the tests compare: Running, Syncing, 25%, Finished, …"""
    kind, _, rest = event_key.partition(":")
    if kind == "status":
        return rest.split(":")[0]
    if kind == "business":
        return rest.split(":")[1]
    if kind == "milestone":
        return rest.split(":")[1] + "%"
    if kind == "finished":
        return "Finished"
    if kind == "error":
        return "InError"
    if kind == "run":
        return f"cycle {rest}"
    return event_key


def thread_labels(messages: Iterable[PostedMessage]) -> dict[str, list[str]]:
    """Per job id, the labels of its thread replies in the order Slack shows them."""
    threads: dict[str, list[str]] = {}
    for parent in messages:
        for reply in parent.replies:
            key = outbox_key(reply)
            match = _KEY.match(key or "")
            if match is None:
                continue
            threads.setdefault(match["job"], []).append(label(match["event"]))
    return threads


def thread_keys(messages: Iterable[PostedMessage]) -> list[str]:
    """Every reply's outbox key, in Slack order (duplicates kept: the tests look for them)."""
    return [key for parent in messages for reply in parent.replies if (key := outbox_key(reply))]


# --- the simulator's own account of each job ---------------------------------------------------------------

MARKS = (25, 50, 75)


class Expectation:
    """The replies each job should get, derived from the states the simulator reports tick by tick."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, str | None, float]] = {}
        self._seen_phases: dict[str, set[str]] = {}
        self.labels: dict[str, list[str]] = {}

    def sample(self, jobs: Mapping[str, tuple[str, str | None, float]]) -> None:
        """One tick's (status, phase, progress) per job id, read straight from the simulator."""
        for job_id, (status, phase, progress) in jobs.items():
            before_status, _, before_progress = self._last.get(job_id, ("Ready", None, 0.0))
            labels = self.labels.setdefault(job_id, [])
            seen = self._seen_phases.setdefault(job_id, set())
            head: list[str] = []
            tail: list[str] = []
            if status != before_status:
                if status == "Running":
                    head.append("Running")
                elif status == "Finished":
                    tail.append("Finished")
                elif status == "InError":
                    tail.append("InError")
                else:
                    tail.append(status)
            crossed = (
                [f"{m}%" for m in MARKS if before_progress < m <= progress] if status == "Running" else []
            )
            phases = [phase] if status == "Running" and phase is not None and phase not in seen else []
            seen.update(phases)
            # Milestones fall inside Syncing: up to Syncing the sub-status comes first, after it last.
            middle = phases + crossed if phase in (None, "Preparing", "Syncing") else crossed + phases
            labels.extend(head + middle + tail)
            self._last[job_id] = (status, phase, progress if status == "Running" else before_progress)
