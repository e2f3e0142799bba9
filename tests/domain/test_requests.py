"""RequestService: a submission is stored, audited, announced and admitted in one unit of work; edits bump
the approval round and the hash; the read models never hand out ORM rows."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.domain.catalog import source_facts
from bot.domain.errors import Conflict, InvalidParams, NotAllowed, NotFound
from bot.domain.notifications import execution_key, summary_edit_key, summary_key
from bot.domain.params import MigrationParams
from bot.domain.requests import RequestService
from bot.domain.smc_request import create_replication_job_request
from bot.domain.validation import ValidationContext
from storage import repository as repo
from storage.db import Database
from storage.enums import (
    ApprovalAction,
    ExecutionMethod,
    OutboxKind,
    OutboxState,
    RequestState,
    TargetType,
    VoteDecision,
)
from storage.models import AuditEvent, ChannelConfig, MigrationRequest, Outbox, SmcJob, Vote
from tests.handlers.samples import NOW, REGION, image_params, linux_source, target_instance

CHANNEL = "C0MIGRATE"
TEAM = "T0SANDBOX"
ALICE = "U0ALICE"


class Kicks:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def kicks() -> Kicks:
    return Kicks()


@pytest.fixture
def service(db: Database, kicks: Kicks) -> RequestService:
    return RequestService(db, clock=lambda: NOW, kick=kicks)


def context(**changes: object) -> ValidationContext:
    values: dict[str, object] = {
        "now": NOW,
        "source": source_facts(linux_source()),
        "regions": (REGION, "cn-shanghai"),
        "target_instance": target_instance(),
    }
    values.update(changes)
    return ValidationContext(**values)  # type: ignore[arg-type]


def submit(service: RequestService, params: MigrationParams | None = None) -> str:
    view = service.submit(
        params or image_params(), context(), requester=ALICE, team_id=TEAM, channel_id=CHANNEL
    )
    return view.id


def test_a_submission_stores_the_canonical_parameters_their_hash_and_the_exact_request(
    service: RequestService, db: Database, kicks: Kicks
) -> None:
    params = image_params(speed_limit_mbps=100)
    view = service.submit(params, context(), requester=ALICE, team_id=TEAM, channel_id=CHANNEL)
    assert view.id.startswith("r-") and view.params == params and view.params_hash == params.params_hash()
    with db.unit_of_work() as session:
        row = repo.get_request(session, view.id)
        assert row is not None
        assert (row.requester, row.team_id, row.channel_id) == (ALICE, TEAM, CHANNEL)
        assert (row.source_id, row.region_id, row.target_type) == (params.source_id, REGION, TargetType.IMAGE)
        assert row.params == json.loads(params.canonical_json())
        assert row.params_hash == params.params_hash()
        [audit] = session.scalars(select(AuditEvent)).all()
        assert (audit.actor, audit.action, audit.params_hash) == (ALICE, "request_submitted", row.params_hash)
        assert audit.detail["create_replication_job"] == create_replication_job_request(
            params, client_token=view.id
        )
        summary = repo.get_outbox(session, summary_key(view.id))
        assert summary is not None and summary.kind is OutboxKind.SLACK_POST and summary.channel_id == CHANNEL
        assert summary.payload == {"event": "request_summary", "request_id": view.id}
        pointer = repo.get_outbox(session, f"req:{view.id}:pointer")
        assert pointer is not None and pointer.user_id == ALICE and pointer.kind is OutboxKind.SLACK_EPHEMERAL
    assert kicks.count == 1


def test_gated_methods_wait_for_approval_in_round_one_until_expiry(
    service: RequestService, db: Database
) -> None:
    view = service.submit(image_params(), context(), requester=ALICE, team_id=TEAM, channel_id=CHANNEL)
    assert view.state is RequestState.AWAITING_APPROVAL
    assert view.pending_action is ApprovalAction.EXECUTE and view.approval_round == 1
    assert view.approval_expires_at == NOW + timedelta(hours=24)
    with db.unit_of_work() as session:
        assert repo.get_outbox(session, execution_key(view.id, 1)) is None


def test_approval_never_outlives_a_scheduled_start(service: RequestService) -> None:
    start = NOW + timedelta(hours=2)
    params = image_params(
        migration_test=False, execution_method=ExecutionMethod.MIGRATE_LATER, scheduled_start=start
    )
    view = service.submit(params, context(), requester=ALICE, team_id=TEAM, channel_id=CHANNEL)
    assert view.approval_expires_at == start


def test_test_only_of_an_image_is_approved_at_once_and_queues_its_execution(
    service: RequestService, db: Database
) -> None:
    view = service.submit(
        image_params(execution_method=ExecutionMethod.TEST_ONLY),
        context(),
        requester=ALICE,
        team_id=TEAM,
        channel_id=CHANNEL,
    )
    assert view.state is RequestState.APPROVED and view.pending_action is None
    with db.unit_of_work() as session:
        work = repo.get_outbox(session, f"work:{view.id}:1:execute")
        assert work is not None and work.kind is OutboxKind.WORK
        assert {k: work.payload[k] for k in ("task", "request_id", "round")} == {
            "task": "execute",
            "request_id": view.id,
            "round": 1,
        }


def test_an_instance_target_always_waits_for_approval(service: RequestService) -> None:
    params = image_params(
        target_type=TargetType.TARGET_INSTANCE,
        image_name=None,
        instance_id=target_instance().instance_id,
        execution_method=ExecutionMethod.TEST_ONLY,
    )
    assert service.submit(params, context(), requester=ALICE, team_id=TEAM, channel_id=CHANNEL).state is (
        RequestState.AWAITING_APPROVAL
    )


def test_a_channel_can_gate_test_only_too(service: RequestService, db: Database) -> None:
    with db.unit_of_work() as session:
        repo.save_channel_config(
            session, ChannelConfig(channel_id=CHANNEL, team_id=TEAM, approval_methods=["test_only"])
        )
    view = service.submit(
        image_params(execution_method=ExecutionMethod.TEST_ONLY),
        context(),
        requester=ALICE,
        team_id=TEAM,
        channel_id=CHANNEL,
    )
    assert view.state is RequestState.AWAITING_APPROVAL


def test_invalid_parameters_store_nothing(service: RequestService, db: Database, kicks: Kicks) -> None:
    with pytest.raises(InvalidParams) as refused:
        service.submit(
            image_params(data_disks=()), context(), requester=ALICE, team_id=TEAM, channel_id=CHANNEL
        )
    assert "data_disk_size.1" in refused.value.by_key()
    with db.unit_of_work() as session:
        assert session.scalars(select(MigrationRequest)).all() == []
        assert session.scalars(select(Outbox)).all() == []
    assert kicks.count == 0


def test_an_edit_changes_the_hash_opens_the_next_round_and_old_votes_stop_counting(
    service: RequestService, db: Database
) -> None:
    request_id = submit(service)
    before = service.get(request_id)
    with db.unit_of_work() as session:
        repo.record_vote(
            session,
            Vote(
                request_id=request_id,
                round=1,
                voter="U0BOB",
                params_hash=before.params_hash,
                decision=VoteDecision.APPROVE,
            ),
        )
    edited = service.edit(request_id, image_params(speed_limit_mbps=50), context(), editor=ALICE)
    assert edited.params_hash != before.params_hash and edited.approval_round == 2
    assert edited.state is RequestState.AWAITING_APPROVAL and edited.params.speed_limit_mbps == 50
    with db.unit_of_work() as session:
        assert repo.votes_for(session, request_id, edited.approval_round, edited.params_hash) == []
        # The summary has not gone out yet, so it will be rendered with the edit: no separate edit queued.
        post = repo.get_outbox(session, summary_key(request_id))
        assert post is not None and post.state is OutboxState.PENDING
        assert repo.get_outbox(session, summary_edit_key(request_id)) is None
        actions = [a.action for a in session.scalars(select(AuditEvent)).all()]
        assert actions == ["request_submitted", "request_edited"]


def test_only_the_requester_edits_and_only_before_a_job_exists(service: RequestService, db: Database) -> None:
    request_id = submit(service)
    with pytest.raises(NotAllowed):
        service.edit(request_id, image_params(speed_limit_mbps=50), context(), editor="U0MALLORY")
    with db.unit_of_work() as session:
        assert repo.transition_request(
            session, request_id, RequestState.AWAITING_APPROVAL, RequestState.APPROVED
        )
    with pytest.raises(Conflict, match="can no longer be edited"):
        service.edit(request_id, image_params(speed_limit_mbps=50), context(), editor=ALICE)
    with pytest.raises(NotFound):
        service.edit("r-00000000", image_params(), context(), editor=ALICE)


def test_an_edit_to_the_same_parameters_changes_nothing(service: RequestService) -> None:
    request_id = submit(service)
    assert service.edit(request_id, image_params(), context(), editor=ALICE).approval_round == 1


def test_status_finds_a_request_by_its_id_or_its_smc_job(service: RequestService, db: Database) -> None:
    request_id = submit(service)
    with db.unit_of_work() as session:
        repo.add(
            session,
            SmcJob(job_id="j-bp1a2b3c4d5e6f7g", request_id=request_id, region_id=REGION, progress=12.5),
        )
    by_job = service.status("j-bp1a2b3c4d5e6f7g")
    assert by_job.id == request_id and by_job.job is not None and by_job.job.progress == 12.5
    assert service.status(request_id).job == by_job.job
    with pytest.raises(NotFound):
        service.status("j-unknown")
    with pytest.raises(NotFound):
        service.get("r-00000000")


def test_lists_filter_by_channel_requester_and_state(service: RequestService) -> None:
    first = submit(service)
    second = service.submit(
        image_params(execution_method=ExecutionMethod.TEST_ONLY),
        context(),
        requester="U0BOB",
        team_id=TEAM,
        channel_id=CHANNEL,
    ).id
    assert {r.id for r in service.list_requests(channel_id=CHANNEL)} == {first, second}
    assert [r.id for r in service.list_requests(requester="U0BOB")] == [second]
    assert [r.id for r in service.list_requests(states=[RequestState.AWAITING_APPROVAL])] == [first]
    assert service.list_requests(channel_id="C0ELSEWHERE") == []


def test_templates_and_channel_defaults_are_read_for_the_wizard(
    service: RequestService, db: Database
) -> None:
    from storage.models import ParamTemplate

    with db.unit_of_work() as session:
        repo.save_template(
            session, ParamTemplate(team_id=TEAM, name="vpc", params={"network_type": 2}, created_by=ALICE)
        )
        repo.save_channel_config(
            session,
            ChannelConfig(
                channel_id=CHANNEL, team_id=TEAM, default_region="cn-shanghai", default_network="vpc"
            ),
        )
    [preset] = service.templates(TEAM)
    assert (preset.name, dict(preset.params)) == ("vpc", {"network_type": 2})
    assert service.template(TEAM, "vpc") == preset
    with pytest.raises(NotFound):
        service.template(TEAM, "nope")
    defaults = service.channel_defaults(CHANNEL)
    assert (defaults.region_id, defaults.network) == ("cn-shanghai", "vpc")
    assert service.channel_defaults("C0NEW").region_id is None
