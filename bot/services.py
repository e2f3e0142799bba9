"""The Services container: built once in __main__ (or by a test), handed to handlers through context."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.cloud.ports import CallObserver, CloudGateway, Secret
from bot.config import Settings
from bot.domain.approvals import ApprovalService
from bot.domain.audit import AuditService
from bot.domain.catalog import Catalog
from bot.domain.channel_config import ConfigService
from bot.domain.command_log import CommandLog
from bot.domain.directory import Directory, UnwiredDirectory
from bot.domain.execution import ExecutionService
from bot.domain.home import HomeService
from bot.domain.import_retry import ImportRetryService
from bot.domain.import_runner import ImportRunner, ImportSettings
from bot.domain.imports import ImportService
from bot.domain.job_actions import JobActionService
from bot.domain.listing import ListingService
from bot.domain.requests import RequestService
from bot.domain.source_catalog import SourceCatalog
from bot.domain.templates import TemplateService
from bot.domain.verify import VerifyService
from bot.import_script import InstallScripts
from bot.inflight import InFlight
from bot.slack_views import ViewUpdates
from storage.db import Database
from storage.types import utcnow

Clock = Callable[[], datetime]
Failed = Callable[[str], None]
"""Told the log reference of after-ack work that raised (to tell the user what happened)."""


def instance_name() -> str:
    """Who holds a lease: host and pid, unique across replicas and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Background:
    """Runs what a listener does after its ack, and lets tests and shutdown wait for it.

    Two lanes. `run` starts a thread at once: for work that must reach Slack within seconds (a
    `trigger_id` lives 3 s; a modal waits for its `views.update`). `queue` hands work whose answer may
    wait a moment (a vote, a command's ephemeral answer, a job button's outcome) to `QUEUED_THREADS`
    threads, and each queued task runs in a `turn` behind the Slack requests in flight (`bot.inflight`:
    up to 2 s after it was queued for a gap, then paced to a share of the interpreter while requests
    keep coming). Under a burst of clicks the acks go first and the answers follow within seconds; when
    nothing is in flight, queued work starts at once.
    """

    QUEUED_THREADS = 4

    def __init__(self, in_flight: InFlight | None = None) -> None:
        self.in_flight = in_flight or InFlight()
        """The Slack requests being answered; queued work yields to them."""
        self._idle = threading.Condition()
        self._running = 0
        # A plain deque and our own threads, not an executor: under a burst thousands of tasks wait here,
        # and each executor task kept ~24 objects the garbage collector walks (a tuple and the work now).
        self._queued: deque[tuple[Callable[[], object], str, Failed | None, float]] = deque()
        self._has_work = threading.Condition()
        self._lane_threads = 0

    @property
    def pending(self) -> int:
        """Tasks queued or running in either lane."""
        return self._running

    def run(
        self, work: Callable[[], object], *, name: str = "after-ack", failed: Failed | None = None
    ) -> None:
        """Start `work` now on its own thread; an exception is logged with a reference, handed to `failed`
        (which tells the user), never raised to the caller."""
        self._started()
        threading.Thread(target=self._execute, args=(work, name, failed), name=name, daemon=True).start()

    def queue(
        self, work: Callable[[], object], *, name: str = "after-ack", failed: Failed | None = None
    ) -> None:
        """Run `work` on the next free queued thread in a turn behind the requests in flight
        (`in_flight.turn`, counted from now); a failure is handled as in `run`."""
        self._started()
        with self._has_work:
            self._queued.append((work, name, failed, time.monotonic()))
            if self._lane_threads < self.QUEUED_THREADS:
                self._lane_threads += 1
                thread = threading.Thread(
                    target=self._lane, name=f"after-ack_{self._lane_threads}", daemon=True
                )
                thread.start()
            self._has_work.notify()

    def _lane(self) -> None:
        while True:
            with self._has_work:
                while not self._queued:
                    self._has_work.wait()
                work, name, failed, queued_at = self._queued.popleft()
            with self.in_flight.turn(queued_at):
                self._execute(work, name, failed)

    def _started(self) -> None:
        with self._idle:
            self._running += 1

    def _execute(self, work: Callable[[], object], name: str, failed: Failed | None) -> None:
        try:
            work()
        except Exception:
            ref = secrets.token_hex(4)
            logging.getLogger(__name__).exception("background work failed name=%s ref=%s", name, ref)
            if failed is not None:
                try:
                    failed(ref)
                except Exception:
                    logging.getLogger(__name__).exception("could not report failure ref=%s", ref)
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until nothing runs; False if something still does after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True


@dataclass
class Services:
    """Everything a handler or worker may use; no module-global app, engine, session or client."""

    settings: Settings
    db: Database
    cloud: CloudGateway
    clock: Clock = utcnow
    owner: str = field(default_factory=instance_name)
    kick: Callable[[], None] = lambda: None
    """Wake the outbox delivery after a unit of work recorded something to send."""
    background: Background = field(default_factory=Background)
    """Work a listener continues after its ack (views.update, slow lookups); tests drain it."""
    view_updates: ViewUpdates = field(default_factory=ViewUpdates)
    """Orders modal re-renders per view so the newest choice is the one shown."""
    directory: Directory = field(default_factory=UnwiredDirectory)
    """Slack user groups and admin flags; the composition root sets `bot.slack_directory.SlackDirectory`."""
    audit: AuditService = field(init=False)
    """Append-only audit trail helpers and the CSV export."""
    command_log: CommandLog = field(init=False)
    """Every `/smc` invocation into the audit trail, batched while the runtime runs (off the ack's CPU)."""
    channel_config: ConfigService = field(init=False)
    """`/smc config`: per-channel approval policy and defaults."""
    approvals: ApprovalService = field(init=False)
    """Approval rounds, votes, expiry (the executor builds on `open_round` / `still_approved`)."""
    catalog: Catalog = field(init=False)
    """Destination-account option lists and validation facts, cached (the migration wizard)."""
    requests: RequestService = field(init=False)
    """Migration requests: submit, edit, read models."""
    source_catalog: SourceCatalog = field(init=False)
    """Source-account regions, instances and role access for the import modal, answered by a deadline."""
    imports: ImportService = field(init=False)
    """Import batches: validate and record (the runner executes them)."""
    import_runner: ImportRunner = field(init=False)
    """The `import` WORK task: Cloud Assistant installs the SMC client, then it polls until online."""
    import_retries: ImportRetryService = field(init=False)
    """Retry import (who may; a new run for the failed instances) and the failure details of a batch."""
    templates: TemplateService = field(init=False)
    """Saved parameter presets per workspace."""
    listing: ListingService = field(init=False)
    """`/smc list` and `/smc status` lookups."""
    verification: VerifyService = field(init=False)
    """Verify: launch an instance from the migrated image, check it, release it (the `verify` task)."""
    execution: ExecutionService = field(init=False)
    """The `execute` task: drill, CreateReplicationJob (ClientToken = request id), start."""
    job_actions: JobActionService = field(init=False)
    """Buttons on a migration: pause, resume, retry, modify, cut over, cancel, gated rounds, withdraw."""
    home: HomeService = field(init=False)
    """The App Home tab: my requests, approvals waiting for me, active migrations."""

    def __post_init__(self) -> None:
        self.audit = AuditService(self.db, clock=self._now, kick=self._wake)
        self.command_log = CommandLog(self.db, clock=self._now, turn=self.background.in_flight.turn)
        self.channel_config = ConfigService(
            self.db, self._directory, audit=self.audit, clock=self._now, kick=self._wake
        )
        self.approvals = ApprovalService(
            self.db, self._directory, audit=self.audit, clock=self._now, kick=self._wake
        )
        self.catalog = Catalog(self.cloud)
        # Late-bound: the runtime replaces `kick` (and a test may replace `clock`) after construction.
        self.requests = RequestService(self.db, clock=self._now, kick=self._wake, approvals=self.approvals)
        self.source_catalog = SourceCatalog(self.cloud)
        self.imports = ImportService(self.db, self.source_catalog, kick=self._wake)
        self.import_runner = ImportRunner(
            self.db,
            self.cloud,
            InstallScripts.load(
                linux=self.settings.import_script_linux, windows=self.settings.import_script_windows
            ),
            ImportSettings(
                poll_interval=timedelta(seconds=self.settings.import_poll_seconds),
                timeout=timedelta(minutes=self.settings.import_timeout_minutes),
            ),
            clock=self._now,
            kick=self._wake,
        )
        self.import_retries = ImportRetryService(
            self.db, roles=self.channel_config, directory=self._directory, kick=self._wake
        )
        self.templates = TemplateService(self.db)
        self.listing = ListingService(self.requests, self.imports)
        self.verification = VerifyService(self.db, self.cloud, clock=self._now, kick=self._wake)
        self.execution = ExecutionService(
            self.db,
            self.cloud,
            lambda: self.approvals,
            clock=self._now,
            kick=self._wake,
            verify=self.verification.begin,
        )
        self.job_actions = JobActionService(
            self.db, self.cloud, lambda: self.approvals, self._directory, clock=self._now, kick=self._wake
        )
        self.home = HomeService(self.requests, self.approvals)

    def _now(self) -> datetime:
        return self.clock()

    def _directory(self) -> Directory:
        return self.directory

    def _wake(self) -> None:
        self.kick()


def cloud_gateway(
    settings: Settings, *, observer: CallObserver | None = None, attempts: int | None = None
) -> CloudGateway:
    """The real SDK adapters, pointed at SMC_BOT_CLOUD_ENDPOINT when it is set (the sandbox).

    `observer(service, action, outcome, seconds)` sees every call (metrics); `attempts` caps the SDK's
    tries per call (`smc-bot check` answers at once instead of backing off against a dead endpoint).
    """
    from bot.cloud.aliyun import AliyunCloudGateway
    from bot.cloud.sdk import CloudConfig

    secret = settings.alibaba_cloud_access_key_secret
    config = CloudConfig(
        endpoint=str(settings.cloud_endpoint).rstrip("/") if settings.cloud_endpoint else None,
        access_key_id=settings.alibaba_cloud_access_key_id,
        access_key_secret=Secret(secret.get_secret_value()) if secret is not None else None,
    )
    if attempts is not None:
        config = replace(config, max_attempts=attempts)
    return AliyunCloudGateway(config, observer=observer)
