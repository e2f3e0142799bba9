"""The `import` WORK task (PRODUCT §3.1): Cloud Assistant installs the SMC client, then poll until online.

One call of the task does what can be done now and returns how long to wait before the next poll, so no
thread waits on the cloud. Every step re-reads the items and moves them by compare-and-set, so the task
may run twice, or be re-claimed after a crash, without a second activation code or a second command:

- an item moves PENDING → INSTALLING (with its deadline) *before* its RunCommand, and keeps the invoke id
  afterwards; an item that has one is only ever polled. An INSTALLING item without one (the process died
  mid-send) is never sent again: the bot waits for its source to appear until the deadline.
- the activation code is a secret that CreateAccessToken returns once. Only its id is stored; the code
  lives in this process's memory (`CodeVault`) while it can still be used, and a run that lost it creates
  a new one. A token named for this run whose id was never stored (a crash right after the create) is
  deleted before another is made.
- a newer run of the same batch (Retry import) supersedes the older run's task, which then stops.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.cloud.ports import (
    CloudError,
    CloudGateway,
    Instance,
    OsType,
    Secret,
    SourceCloud,
    SourceServer,
)
from bot.domain import notifications
from bot.domain.audit import SYSTEM_ACTOR, cloud_action
from bot.domain.import_plan import (
    FINAL_BATCH_STATES,
    FINAL_ITEM_STATES,
    ONLINE_SOURCE_STATES,
    RETRYABLE_ITEM_STATES,
    batch_outcome,
    client_token,
    command_batches,
    command_succeeded,
    failure_code,
    latest_run,
    match_source,
    output_tail,
    run_prefix,
    token_name,
    token_usable,
)
from bot.domain.notifications import Event
from bot.domain.smc_errors import CLOUD_ASSISTANT_OFFLINE, SOURCE_IMPORT_TIMEOUT, Service, explain
from bot.import_script import InstallScripts, activation_parameters
from storage import repository as repo
from storage.db import Database
from storage.enums import ImportBatchState, ImportItemState

log = logging.getLogger(__name__)

TOKEN_TTL_DAYS = 1
"""The shortest lifetime CreateAccessToken allows: the code only has to outlive one import."""
CODE_MEMORY = timedelta(hours=12)
"""How long this process keeps a code for a retry of the same batch (well inside the token's TTL)."""
MAX_SOURCE_PAGES = 40
MESSAGE_CHARS = 1000
REPLY_ITEMS = 10
"""Instances listed with their output in one failure reply; the rest are counted."""
INSTANCE_GONE = "InvalidInstanceId.NotFound"
AGENT_OFFLINE_MESSAGE = (
    "Cloud Assistant reports no heartbeat from this instance: install or start the Cloud Assistant agent, "
    "then Retry import."
)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ImportSettings:
    """How often to poll, how long one instance may take (SMC_BOT_IMPORT_POLL_SECONDS, _TIMEOUT_MINUTES)."""

    poll_interval: timedelta = timedelta(seconds=20)
    timeout: timedelta = timedelta(minutes=15)


class CodeVault:
    """Activation codes by token id, in this process's memory only: never logged, never persisted."""

    def __init__(self, clock: Clock, max_age: timedelta = CODE_MEMORY) -> None:
        self._clock = clock
        self._max_age = max_age
        self._codes: dict[str, tuple[Secret, datetime]] = {}
        self._lock = threading.Lock()

    def put(self, token_id: str, code: Secret) -> None:
        with self._lock:
            self._codes[token_id] = (code, self._clock())

    def get(self, token_id: str | None) -> Secret | None:
        """The code while it is young enough to reuse; None after a restart or once it is old."""
        if token_id is None:
            return None
        now = self._clock()
        with self._lock:
            for stale in [k for k, (_, at) in self._codes.items() if now - at > self._max_age]:
                del self._codes[stale]
            entry = self._codes.get(token_id)
        return entry[0] if entry is not None else None


@dataclass(frozen=True)
class _Item:
    id: int
    instance_id: str
    name: str | None
    private_ip: str | None
    state: ImportItemState
    invoke_id: str | None
    deadline_at: datetime | None


@dataclass(frozen=True)
class _Batch:
    id: str
    team_id: str
    channel_id: str
    cross_account: bool
    account_id: str | None
    role_name: str | None
    region_id: str
    state: ImportBatchState
    access_token_id: str | None
    items: tuple[_Item, ...]
    latest_run: int

    def in_state(self, *states: ImportItemState) -> list[_Item]:
        return [i for i in self.items if i.state in states]


@dataclass(frozen=True)
class _Failure:
    """One instance that ended without a source, for the state change and the thread reply."""

    item: _Item
    state: ImportItemState
    code: str
    service: Service
    message: str
    tail: str = ""
    expected: frozenset[ImportItemState] = field(default_factory=frozenset)


class ImportRunner:
    """The `import` task: `run(payload, ctx)` returns None when the batch is done, else when to poll again."""

    def __init__(
        self,
        db: Database,
        cloud: CloudGateway,
        scripts: InstallScripts,
        settings: ImportSettings,
        *,
        clock: Clock,
        kick: Callable[[], None],
        vault: CodeVault | None = None,
    ) -> None:
        self._db = db
        self._cloud = cloud
        self._scripts = scripts
        self._settings = settings
        self._clock = clock
        self._kick = kick
        self._vault = vault or CodeVault(clock)

    # ---- the task ----------------------------------------------------------------------------------

    def run(self, payload: Mapping[str, Any], ctx: object = None) -> timedelta | None:
        """One step of a run: start what is pending, poll what is in flight, finish when all are final."""
        batch_id = str(payload.get("batch_id") or "")
        run = _whole(payload.get("run"))
        batch = self._load(batch_id)
        if batch is None:
            log.warning("import batch not found batch=%s", batch_id)
            return None
        if run < batch.latest_run:
            log.info(
                "import run superseded by a retry batch=%s run=%s newer=%s", batch_id, run, batch.latest_run
            )
            return None
        if batch.state in FINAL_BATCH_STATES:
            return None
        if batch.state is ImportBatchState.PENDING:
            self._start_batch(batch)
        source = self._cloud.source(
            batch.account_id if batch.cross_account else None,
            batch.role_name if batch.cross_account else None,
        )
        pending = batch.in_state(ImportItemState.PENDING)
        if pending:
            self._launch(batch, run, source, pending)
            batch = self._reload(batch)
        self._poll(batch, run, source)
        batch = self._reload(batch)
        if any(item.state not in FINAL_ITEM_STATES for item in batch.items):
            return self._settings.poll_interval
        self._finish(batch, run)
        return None

    # ---- reading -----------------------------------------------------------------------------------

    def _load(self, batch_id: str) -> _Batch | None:
        with self._db.unit_of_work() as session:
            row = repo.get_import_batch(session, batch_id)
            if row is None:
                return None
            items = tuple(
                _Item(
                    id=i.id or 0,
                    instance_id=i.instance_id,
                    name=i.instance_name,
                    private_ip=i.private_ip,
                    state=i.state,
                    invoke_id=i.invoke_id,
                    deadline_at=i.deadline_at,
                )
                for i in repo.import_items(session, batch_id)
            )
            keys = repo.outbox_keys(session, run_prefix(batch_id))
            return _Batch(
                id=row.id,
                team_id=row.team_id,
                channel_id=row.channel_id,
                cross_account=row.cross_account,
                account_id=row.source_account_id,
                role_name=row.role_name,
                region_id=row.region_id,
                state=row.state,
                access_token_id=row.access_token_id,
                items=items,
                latest_run=latest_run(batch_id, keys),
            )

    def _reload(self, batch: _Batch) -> _Batch:
        again = self._load(batch.id)
        if again is None:  # pragma: no cover - batches are never deleted
            raise RuntimeError(f"import batch {batch.id} disappeared")
        return again

    # ---- starting ----------------------------------------------------------------------------------

    def _start_batch(self, batch: _Batch) -> None:
        with self._db.unit_of_work() as session:
            if repo.transition_import_batch(
                session, batch.id, ImportBatchState.PENDING, ImportBatchState.RUNNING
            ):
                notifications.refresh_import_summary(session, batch.id, batch.channel_id)
        log.info("import started batch=%s instances=%s", batch.id, len(batch.items))
        self._kick()

    def _launch(self, batch: _Batch, run: int, source: SourceCloud, pending: Sequence[_Item]) -> None:
        """Check the agents, then one activation code and one command per OS family and 100 instances."""
        ids = [item.instance_id for item in pending]
        try:
            found = {i.id: i for i in source.describe_instances(batch.region_id, ids)}
            present = [i for i in ids if i in found]
            statuses = {s.instance_id: s for s in source.cloud_assistant_status(batch.region_id, present)}
        except CloudError as err:
            self._fail_step(batch, run, "check", err, pending, expected=ImportItemState.PENDING)
            return
        pending = [_described(item, found.get(item.instance_id)) for item in pending]
        refused: list[_Failure] = []
        ready: list[_Item] = []
        for item in pending:
            instance = found.get(item.instance_id)
            status = statuses.get(item.instance_id)
            if instance is None:
                refused.append(
                    _Failure(
                        item,
                        ImportItemState.FAILED,
                        INSTANCE_GONE,
                        Service.ECS,
                        f"The instance was not found in {batch.region_id} of the source account: it was "
                        "released, or it is in another region.",
                        expected=frozenset({ImportItemState.PENDING}),
                    )
                )
            elif status is None or not status.online:
                refused.append(
                    _Failure(
                        item,
                        ImportItemState.AGENT_OFFLINE,
                        CLOUD_ASSISTANT_OFFLINE,
                        Service.BOT,
                        AGENT_OFFLINE_MESSAGE,
                        expected=frozenset({ImportItemState.PENDING}),
                    )
                )
            else:
                ready.append(item)
        self._record_lookup(batch, pending, refused, run)
        if not ready:
            return
        try:
            token_id, code = self._activation_code(batch, run, len(ready))
        except CloudError as err:
            self._fail_step(batch, run, "token", err, ready, expected=ImportItemState.PENDING)
            return
        os_of = {item.instance_id: _os_type(found[item.instance_id], statuses) for item in ready}
        by_instance = {item.instance_id: item for item in ready}
        for planned in command_batches(os_of):
            items = [by_instance[i] for i in planned.instance_ids]
            self._send(batch, run, source, items, os_type=planned.os_type, token_id=token_id, code=code)

    def _record_lookup(
        self, batch: _Batch, pending: Sequence[_Item], refused: Sequence[_Failure], run: int
    ) -> None:
        """Fill in names and IPs the submission did not know, and refuse offline or missing instances."""
        known = {item.id: item for item in batch.items}
        with self._db.unit_of_work() as session:
            named = False
            for item in pending:
                before = known.get(item.id)
                if before is not None and (before.name, before.private_ip) != (item.name, item.private_ip):
                    named |= repo.transition_import_item(
                        session,
                        item.id,
                        item.state,
                        item.state,
                        instance_name=item.name,
                        private_ip=item.private_ip,
                    )
            refused_any = self._record_failures(session, batch, run, refused)
            if named and not refused_any:
                notifications.refresh_import_summary(session, batch.id, batch.channel_id)
        if refused:
            log.info(
                "import instances refused batch=%s offline=%s missing=%s",
                batch.id,
                sum(1 for f in refused if f.state is ImportItemState.AGENT_OFFLINE),
                sum(1 for f in refused if f.state is ImportItemState.FAILED),
            )
            self._kick()

    def _activation_code(self, batch: _Batch, run: int, needed: int) -> tuple[str, Secret]:
        """The batch's code when this process still holds it and it has uses left, else a new one."""
        destination = self._cloud.destination()
        kept = self._vault.get(batch.access_token_id)
        if batch.access_token_id is not None and kept is not None:
            current = destination.list_access_tokens(token_ids=[batch.access_token_id])
            if current and token_usable(current[0], needed):
                log.info("reusing activation code batch=%s token_id=%s", batch.id, batch.access_token_id)
                return batch.access_token_id, kept
        name = token_name(batch.id, run)
        for token in destination.list_access_tokens(name=name):
            if token.id == batch.access_token_id or token.name != name:
                continue
            held = self._vault.get(token.id)
            if held is not None and token_usable(token, needed):
                self._remember_token(batch, token.id, needed, created=False)
                return token.id, held
            if token.registered_count:
                continue
            # Created by a run that died before it stored the id: nobody can use its code any more.
            try:
                destination.delete_access_token(token.id)
                log.info("deleted an orphaned activation code batch=%s token_id=%s", batch.id, token.id)
            except CloudError as err:
                log.warning(
                    "could not delete an orphaned activation code token_id=%s code=%s", token.id, err.code
                )
        created = destination.create_access_token(
            name=name, description=f"smc-chatops import {batch.id}", count=needed, ttl_days=TOKEN_TTL_DAYS
        )
        self._vault.put(created.id, created.code)
        self._remember_token(batch, created.id, needed, created=True)
        return created.id, created.code

    def _remember_token(self, batch: _Batch, token_id: str, count: int, *, created: bool) -> None:
        with self._db.unit_of_work() as session:
            repo.set_import_access_token(session, batch.id, token_id)
            if created:
                repo.append_audit(
                    session,
                    actor=SYSTEM_ACTOR,
                    action=cloud_action("CreateAccessToken"),
                    team_id=batch.team_id,
                    channel_id=batch.channel_id,
                    detail={"batch_id": batch.id, "access_token_id": token_id, "count": count},
                )

    def _send(
        self,
        batch: _Batch,
        run: int,
        source: SourceCloud,
        items: Sequence[_Item],
        *,
        os_type: OsType,
        token_id: str,
        code: Secret,
    ) -> None:
        """Claim the instances (PENDING → INSTALLING), then one RunCommand, then keep its invoke id."""
        deadline = self._clock() + self._settings.timeout
        with self._db.unit_of_work() as session:
            claimed = [
                item
                for item in items
                if repo.transition_import_item(
                    session,
                    item.id,
                    ImportItemState.PENDING,
                    ImportItemState.INSTALLING,
                    deadline_at=deadline,
                    attempts=run + 1,
                )
            ]
            if claimed:
                notifications.refresh_import_summary(session, batch.id, batch.channel_id)
        if not claimed:
            return
        self._kick()
        script = self._scripts.for_os(os_type)
        instance_ids = [item.instance_id for item in claimed]
        try:
            invoke_id = source.run_command(
                batch.region_id,
                instance_ids,
                script=script.text,
                command_type=script.command_type,
                parameters=activation_parameters(token_id, code),
                name=f"smc-chatops-import-{batch.id}",
                timeout_s=int(self._settings.timeout.total_seconds()),
                client_token=client_token(batch.id, run, script.command_type, instance_ids),
            )
        except CloudError as err:
            self._fail_step(batch, run, "command", err, claimed, expected=ImportItemState.INSTALLING)
            return
        with self._db.unit_of_work() as session:
            for item in claimed:
                repo.transition_import_item(
                    session,
                    item.id,
                    ImportItemState.INSTALLING,
                    ImportItemState.INSTALLING,
                    invoke_id=invoke_id,
                )
            repo.append_audit(
                session,
                actor=SYSTEM_ACTOR,
                action=cloud_action("RunCommand"),
                team_id=batch.team_id,
                channel_id=batch.channel_id,
                detail={
                    "batch_id": batch.id,
                    "invoke_id": invoke_id,
                    "command_type": script.command_type.value,
                    "script": script.origin,
                    "access_token_id": token_id,
                    "instance_ids": instance_ids,
                },
            )
        log.info(
            "install command sent batch=%s run=%s invoke_id=%s type=%s instances=%s",
            batch.id,
            run,
            invoke_id,
            script.command_type.value,
            len(instance_ids),
        )

    # ---- polling -----------------------------------------------------------------------------------

    def _poll(self, batch: _Batch, run: int, source: SourceCloud) -> None:
        """Read the commands and the destination's sources; move items on; time out what is overdue."""
        now = self._clock()
        installing = [i for i in batch.in_state(ImportItemState.INSTALLING) if i.invoke_id]
        waiting = [
            i
            for i in batch.items
            if i.state is ImportItemState.WAITING_ONLINE
            or (i.state is ImportItemState.INSTALLING and not i.invoke_id)
        ]
        if not installing and not waiting:
            return
        problems: list[CloudError] = []
        failures: list[_Failure] = []
        succeeded: list[_Item] = []
        tails: dict[int, str] = {}
        mask = self._masks(batch)
        by_invoke: dict[str, list[_Item]] = defaultdict(list)
        for item in installing:
            by_invoke[item.invoke_id or ""].append(item)
        for invoke_id, group in by_invoke.items():
            try:
                invocation = source.describe_invocation(batch.region_id, invoke_id)
            except CloudError as err:
                problems.append(err)
                continue
            for item in group:
                result = invocation.for_instance(item.instance_id)
                if result is None or not result.status.finished:
                    continue
                tail = output_tail(result.output, mask=mask)
                if command_succeeded(result):
                    succeeded.append(item)
                    tails[item.id] = tail
                    continue
                code = failure_code(result)
                failures.append(
                    _Failure(
                        item,
                        ImportItemState.FAILED,
                        code,
                        Service.CLOUD_ASSISTANT,
                        (result.error_info or explain(code, None, service=Service.CLOUD_ASSISTANT).meaning)[
                            :MESSAGE_CHARS
                        ],
                        tail,
                        frozenset({ImportItemState.INSTALLING}),
                    )
                )
        online: dict[int, SourceServer] = {}
        looking = waiting + succeeded
        if looking:
            try:
                sources = self._destination_sources()
            except CloudError as err:
                problems.append(err)
            else:
                for item in looking:
                    match = match_source(item.instance_id, item.name, item.private_ip, sources)
                    if match is not None and match.state in ONLINE_SOURCE_STATES:
                        online[item.id] = match
        failed_ids = {f.item.id for f in failures}
        for item in [*installing, *waiting]:
            if item.id in online or item.id in failed_ids:
                continue
            if item.deadline_at is not None and now >= item.deadline_at:
                failures.append(self._timed_out(item, succeeded, tails.get(item.id, "")))
        self._record_poll(batch, run, succeeded=succeeded, online=online, failures=failures, tails=tails)
        for problem in problems:
            self._report_poll_problem(batch, run, problem)

    def _timed_out(self, item: _Item, succeeded: Sequence[_Item], tail: str) -> _Failure:
        minutes = int(self._settings.timeout.total_seconds() // 60)
        if item.state is ImportItemState.WAITING_ONLINE or item in succeeded:
            message = (
                f"The SMC client was installed, but the source did not come online within {minutes} minutes."
            )
        elif item.invoke_id:
            message = f"The install command was still running after {minutes} minutes."
        else:
            message = (
                "The bot restarted while it was sending the install command, and the source did not come "
                f"online within {minutes} minutes."
            )
        return _Failure(
            item,
            ImportItemState.TIMED_OUT,
            SOURCE_IMPORT_TIMEOUT,
            Service.BOT,
            message,
            tail,
            frozenset({ImportItemState.INSTALLING, ImportItemState.WAITING_ONLINE}),
        )

    def _destination_sources(self) -> list[SourceServer]:
        destination = self._cloud.destination()
        found: list[SourceServer] = []
        for number in range(1, MAX_SOURCE_PAGES + 1):
            page = destination.list_source_servers(page_number=number)
            found.extend(page.items)
            if not page.has_more or not page.items:
                break
        return found

    def _record_poll(
        self,
        batch: _Batch,
        run: int,
        *,
        succeeded: Sequence[_Item],
        online: Mapping[int, SourceServer],
        failures: Sequence[_Failure],
        tails: Mapping[int, str],
    ) -> None:
        changed = False
        with self._db.unit_of_work() as session:
            for item in succeeded:
                if item.id in online:
                    continue
                changed |= repo.transition_import_item(
                    session,
                    item.id,
                    ImportItemState.INSTALLING,
                    ImportItemState.WAITING_ONLINE,
                    output_tail=tails.get(item.id) or None,
                )
            for item_id, match in online.items():
                now_online = repo.transition_import_item(
                    session,
                    item_id,
                    (ImportItemState.INSTALLING, ImportItemState.WAITING_ONLINE),
                    ImportItemState.ONLINE,
                    source_server_id=match.id,
                    error_code=None,
                    error_message=None,
                )
                if now_online:
                    log.info("source online batch=%s item=%s source_id=%s", batch.id, item_id, match.id)
                changed |= now_online
            changed |= self._record_failures(session, batch, run, failures)
            if changed:
                notifications.refresh_import_summary(session, batch.id, batch.channel_id)
        if changed:
            self._kick()

    def _report_poll_problem(self, batch: _Batch, run: int, err: CloudError) -> None:
        """Say once per run and code that polling fails; the items keep their deadline, so nothing hangs."""
        log.warning(
            "import poll failed batch=%s run=%s code=%s request_id=%s",
            batch.id,
            run,
            err.code,
            err.request_id,
        )
        with self._db.unit_of_work() as session:
            recorded = notifications.import_reply(
                session,
                batch.id,
                batch.channel_id,
                name=f"r{run}:poll-error:{err.code}",
                event=Event.IMPORT_CLOUD_ERROR,
                data={**_error_data(err, run, "poll"), "instances": [], "retry": False},
            )
        if recorded:
            self._kick()

    # ---- failures and the end ------------------------------------------------------------------------

    def _fail_step(
        self,
        batch: _Batch,
        run: int,
        step: str,
        err: CloudError,
        items: Sequence[_Item],
        *,
        expected: ImportItemState,
    ) -> None:
        """A cloud call of a step failed: its instances fail with the code, the thread says what to do."""
        log.warning(
            "import step failed batch=%s run=%s step=%s code=%s request_id=%s",
            batch.id,
            run,
            step,
            err.code,
            err.request_id,
        )
        with self._db.unit_of_work() as session:
            changed = [
                item
                for item in items
                if repo.transition_import_item(
                    session,
                    item.id,
                    expected,
                    ImportItemState.FAILED,
                    error_code=err.code[:128],
                    error_message=_one_line(err.message)[:MESSAGE_CHARS],
                    attempts=run + 1,
                )
            ]
            if changed:
                notifications.import_reply(
                    session,
                    batch.id,
                    batch.channel_id,
                    name=f"r{run}:error:{step}:{changed[0].instance_id}",
                    event=Event.IMPORT_CLOUD_ERROR,
                    data={
                        **_error_data(err, run, step),
                        "instances": [_label(item) for item in changed],
                        "retry": retry_helps(err),
                    },
                )
                notifications.refresh_import_summary(session, batch.id, batch.channel_id)
        self._kick()

    def _record_failures(
        self, session: Session, batch: _Batch, run: int, failures: Iterable[_Failure]
    ) -> bool:
        """Move failed instances, then one thread reply per error code (with each instance's output)."""
        landed: list[_Failure] = [
            failure
            for failure in failures
            if repo.transition_import_item(
                session,
                failure.item.id,
                failure.expected,
                failure.state,
                error_code=failure.code[:128],
                error_message=failure.message[:MESSAGE_CHARS],
                output_tail=failure.tail or None,
                attempts=run + 1,
            )
        ]
        by_code: dict[str, list[_Failure]] = defaultdict(list)
        for failure in landed:
            by_code[failure.code].append(failure)
        for code, group in by_code.items():
            notifications.import_reply(
                session,
                batch.id,
                batch.channel_id,
                name=f"r{run}:failed:{code}:{group[0].item.instance_id}",
                event=Event.IMPORT_FAILURES,
                data={
                    "run": run,
                    "code": code,
                    "service": group[0].service.value,
                    "state": group[0].state.value,
                    "items": [
                        {**_label(f.item), "message": f.message, "output_tail": f.tail}
                        for f in group[:REPLY_ITEMS]
                    ],
                    "more": max(0, len(group) - REPLY_ITEMS),
                },
            )
        if landed:
            notifications.refresh_import_summary(session, batch.id, batch.channel_id)
        return bool(landed)

    def _finish(self, batch: _Batch, run: int) -> None:
        outcome = batch_outcome(item.state for item in batch.items)
        if outcome is None:  # pragma: no cover - run() only finishes when every item is final
            return
        online = sum(1 for item in batch.items if item.state is ImportItemState.ONLINE)
        retryable = sum(1 for item in batch.items if item.state in RETRYABLE_ITEM_STATES)
        with self._db.unit_of_work() as session:
            if not repo.transition_import_batch(session, batch.id, ImportBatchState.RUNNING, outcome):
                return
            notifications.refresh_import_summary(session, batch.id, batch.channel_id)
            notifications.import_reply(
                session,
                batch.id,
                batch.channel_id,
                name=f"r{run}:finished",
                event=Event.IMPORT_FINISHED,
                data={
                    "run": run,
                    "state": outcome.value,
                    "online": online,
                    "failed": retryable,
                    "total": len(batch.items),
                    "sources": [
                        {**_label(item), "source_id": source_id}
                        for item, source_id in self._online_sources(session, batch)
                    ],
                    "retry": retryable > 0,
                },
                broadcast=True,
            )
        log.info(
            "import finished batch=%s run=%s state=%s online=%s of=%s",
            batch.id,
            run,
            outcome.value,
            online,
            len(batch.items),
        )
        self._kick()

    @staticmethod
    def _online_sources(session: Session, batch: _Batch) -> list[tuple[_Item, str]]:
        rows = {row.id: row.source_server_id for row in repo.import_items(session, batch.id)}
        return [
            (item, rows[item.id] or "")
            for item in batch.items
            if item.state is ImportItemState.ONLINE and rows.get(item.id)
        ]

    def _masks(self, batch: _Batch) -> list[str]:
        held = self._vault.get(batch.access_token_id)
        return [held.reveal()] if held is not None else []


# ---- helpers ---------------------------------------------------------------------------------------


def retry_helps(err: CloudError) -> bool:
    """Retrying can help unless the batch's own input is malformed (the role ARN, a parameter)."""
    code = err.code.lower()
    return not code.startswith(("invalidparameter", "missingparameter")) and not code.endswith(".malformed")


def _error_data(err: CloudError, run: int, step: str) -> dict[str, Any]:
    return {
        "run": run,
        "step": step,
        "code": err.code,
        "message": _one_line(err.message)[:MESSAGE_CHARS],
        "service": err.service,
        "action": err.action,
        "request_id": err.request_id,
        "http_status": err.http_status,
    }


def _label(item: _Item) -> dict[str, Any]:
    return {"instance_id": item.instance_id, "name": item.name}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _described(item: _Item, instance: Instance | None) -> _Item:
    """The item with the name and private IP ECS reports, where the submission did not know them."""
    if instance is None:
        return item
    return replace(
        item,
        name=item.name or (instance.name[:128] or None),
        private_ip=item.private_ip or instance.private_ip,
    )


def _os_type(instance: Instance, statuses: Mapping[str, Any]) -> OsType:
    if instance.os_type is not OsType.UNKNOWN:
        return instance.os_type
    status = statuses.get(instance.id)
    return status.os_type if status is not None else OsType.LINUX


def _whole(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
