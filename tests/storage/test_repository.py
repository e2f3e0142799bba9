"""Storage behaviour on SQLite and PostgreSQL: enums round-trip, compare-and-set, idempotent inserts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from storage import repository as repo
from storage.db import Database
from storage.enums import (
    ApprovalAction,
    AuditOutcome,
    ExecutionMethod,
    JobStatus,
    OutboxKind,
    OutboxState,
    RequestState,
    TargetType,
    VoteDecision,
)
from storage.models import ChannelConfig, ParamTemplate, SmcJob, Vote
from tests.storage.factories import migration_request


def test_enum_columns_load_back_as_enums(any_db: Database) -> None:
    with any_db.unit_of_work() as s:
        req = repo.add(s, migration_request(pending_action=ApprovalAction.EXECUTE))
    with any_db.unit_of_work() as s:
        loaded = repo.get_request(s, req.id)
        assert loaded is not None
        assert loaded.state is RequestState.AWAITING_APPROVAL
        assert loaded.target_type is TargetType.IMAGE
        assert loaded.execution_method is ExecutionMethod.MIGRATE_NOW
        assert loaded.pending_action is ApprovalAction.EXECUTE
        assert loaded.created_at.tzinfo is not None


def test_stored_enum_is_its_value_not_its_name(any_db: Database) -> None:
    with any_db.unit_of_work() as s:
        req = repo.add(s, migration_request())
    with any_db.engine.connect() as conn:
        raw = conn.execute(
            text("SELECT target_type, state FROM migration_request WHERE id = :id"), {"id": req.id}
        )
        assert tuple(raw.one()) == ("Image", "awaiting_approval")


def test_compare_and_set_moves_only_from_the_expected_state(any_db: Database) -> None:
    with any_db.unit_of_work() as s:
        req = repo.add(s, migration_request())
    with any_db.unit_of_work() as s:
        assert repo.transition_request(s, req.id, RequestState.AWAITING_APPROVAL, RequestState.APPROVED)
    with any_db.unit_of_work() as s:
        assert not repo.transition_request(s, req.id, RequestState.AWAITING_APPROVAL, RequestState.REJECTED)
        loaded = repo.get_request(s, req.id)
        assert loaded is not None and loaded.state is RequestState.APPROVED


def test_compare_and_set_accepts_a_set_of_expected_states_and_extra_values(any_db: Database) -> None:
    with any_db.unit_of_work() as s:
        req = repo.add(s, migration_request(state=RequestState.TESTED))
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    with any_db.unit_of_work() as s:
        moved = repo.transition_request(
            s,
            req.id,
            {RequestState.TESTED, RequestState.DRILL_BLOCKED},
            RequestState.AWAITING_APPROVAL,
            approval_round=2,
            approval_expires_at=expires,
        )
        assert moved
        loaded = repo.get_request(s, req.id)
        assert loaded is not None
        assert (loaded.state, loaded.approval_round, loaded.approval_expires_at) == (
            RequestState.AWAITING_APPROVAL,
            2,
            expires,
        )


def test_unit_of_work_rolls_back_everything_on_error(any_db: Database) -> None:
    req = migration_request()
    with pytest.raises(RuntimeError), any_db.unit_of_work() as s:
        repo.add(s, req)
        repo.append_audit(s, actor="U1", action="submit", request_id=req.id)
        raise RuntimeError("boom")
    with any_db.unit_of_work() as s:
        assert repo.get_request(s, req.id) is None
        assert repo.audit_events(s, channel_id=None, since=datetime(2000, 1, 1, tzinfo=UTC)) == []


def test_a_repeated_vote_is_a_no_op(any_db: Database) -> None:
    with any_db.unit_of_work() as s:
        req = repo.add(s, migration_request())
    vote = Vote(
        request_id=req.id,
        round=0,
        voter="U0APPROVE1",
        params_hash=req.params_hash,
        decision=VoteDecision.APPROVE,
    )
    with any_db.unit_of_work() as s:
        assert repo.record_vote(s, vote)
        assert not repo.record_vote(s, Vote.model_validate(vote.model_dump(exclude={"id"})))
    with any_db.unit_of_work() as s:
        votes = repo.votes_for(s, req.id, 0, req.params_hash)
        assert [(v.voter, v.decision) for v in votes] == [("U0APPROVE1", VoteDecision.APPROVE)]


def test_votes_on_another_hash_do_not_count_for_this_one(any_db: Database) -> None:
    with any_db.unit_of_work() as s:
        req = repo.add(s, migration_request())
        repo.record_vote(
            s,
            Vote(request_id=req.id, round=0, voter="U1", params_hash="b" * 64, decision=VoteDecision.APPROVE),
        )
    with any_db.unit_of_work() as s:
        assert repo.votes_for(s, req.id, 0, req.params_hash) == []
        assert len(repo.votes_for(s, req.id, 0, "b" * 64)) == 1


def test_outbox_key_is_an_idempotency_key(any_db: Database) -> None:
    with any_db.unit_of_work() as s:
        assert repo.enqueue(
            s, "req:r-1:summary", OutboxKind.SLACK_POST, {"event": "summary"}, channel_id="C1"
        )
        assert not repo.enqueue(
            s, "req:r-1:summary", OutboxKind.SLACK_POST, {"event": "other"}, channel_id="C1"
        )
    with any_db.unit_of_work() as s:
        item = repo.get_outbox(s, "req:r-1:summary")
        assert item is not None
        assert (item.kind, item.state, item.payload) == (
            OutboxKind.SLACK_POST,
            OutboxState.PENDING,
            {"event": "summary"},
        )


def test_mark_dirty_reopens_a_delivered_update_instead_of_adding_another(any_db: Database) -> None:
    with any_db.unit_of_work() as s:
        repo.mark_dirty(
            s, "req:r-1:summary:edit", OutboxKind.SLACK_UPDATE, {"v": 1}, target_key="req:r-1:summary"
        )
        item = repo.get_outbox(s, "req:r-1:summary:edit")
        assert item is not None
        assert repo.compare_and_set(
            s, type(item), item.id, expected=OutboxState.PENDING, values={"state": OutboxState.SENT}
        )
    with any_db.unit_of_work() as s:
        repo.mark_dirty(
            s, "req:r-1:summary:edit", OutboxKind.SLACK_UPDATE, {"v": 2}, target_key="req:r-1:summary"
        )
    with any_db.engine.connect() as conn:
        rows = conn.execute(text("SELECT state, payload FROM outbox")).all()
    assert len(rows) == 1 and rows[0][0] == "pending"


def test_audit_events_cannot_be_changed_or_deleted(any_db: Database) -> None:
    with any_db.unit_of_work() as s:
        event = repo.append_audit(
            s, actor="U1", action="vote", outcome=AuditOutcome.REFUSED, detail={"why": "x"}
        )
    for statement in ("UPDATE audit_event SET actor = 'U2'", "DELETE FROM audit_event"):
        with pytest.raises((DBAPIError, IntegrityError)), any_db.engine.begin() as conn:
            conn.execute(text(statement))
    with any_db.unit_of_work() as s:
        (kept,) = repo.audit_events(s, channel_id=None, since=event.at - timedelta(seconds=1))
        assert (kept.actor, kept.outcome, kept.detail) == ("U1", AuditOutcome.REFUSED, {"why": "x"})


def test_channel_config_and_templates_round_trip(any_db: Database) -> None:
    with any_db.unit_of_work() as s:
        repo.save_channel_config(
            s,
            ChannelConfig(
                channel_id="C1", team_id="T1", approver_usergroups=["S1"], quorum=2, expiry_hours=12
            ),
        )
        repo.save_template(
            s, ParamTemplate(team_id="T1", name="web", params={"compress": 7}, created_by="U1")
        )
        repo.save_template(
            s, ParamTemplate(team_id="T1", name="web", params={"compress": 9}, created_by="U2")
        )
    with any_db.unit_of_work() as s:
        cfg = repo.get_channel_config(s, "C1")
        assert cfg is not None and (cfg.approver_usergroups, cfg.quorum, cfg.self_approval) == (
            ["S1"],
            2,
            False,
        )
        (template,) = repo.list_templates(s, "T1")
        assert (template.params, template.created_by) == ({"compress": 9}, "U2")
        assert repo.delete_template(s, "T1", "web")
        assert not repo.delete_template(s, "T1", "web")


def test_claimed_jobs_are_not_claimed_again_until_the_lease_ends(any_db: Database) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    with any_db.unit_of_work() as s:
        req = repo.add(s, migration_request(state=RequestState.IN_PROGRESS))
        repo.add(
            s, SmcJob(job_id="j-1", request_id=req.id, region_id="cn-hangzhou", status=JobStatus.RUNNING)
        )
    active = [JobStatus.RUNNING]
    with any_db.unit_of_work() as s:
        claimed = repo.claim_due_jobs(
            s, owner="a", now=now, lease=timedelta(seconds=60), limit=10, active=active
        )
        assert [j.job_id for j in claimed] == ["j-1"]
        assert claimed[0].lease_owner == "a"
    with any_db.unit_of_work() as s:
        assert (
            repo.claim_due_jobs(s, owner="b", now=now, lease=timedelta(seconds=60), limit=10, active=active)
            == []
        )
        assert not repo.release_lease(s, "j-1", "b", progress=50.0)
        assert repo.release_lease(s, "j-1", "a", progress=50.0)
    later = now + timedelta(seconds=1)
    with any_db.unit_of_work() as s:
        claimed = repo.claim_due_jobs(
            s, owner="b", now=later, lease=timedelta(seconds=60), limit=10, active=active
        )
        assert [(j.job_id, j.progress, j.lease_owner) for j in claimed] == [("j-1", 50.0, "b")]


def test_new_ids_are_short_distinct_and_valid_client_tokens() -> None:
    ids = {repo.new_id("r") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 10 and i.isascii() and i.startswith("r-") for i in ids)
