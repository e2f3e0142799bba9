"""The approval engine's use cases (PRODUCT §5, issue 5): open a round, vote, sweep expiry, check.

A request may need several approval rounds over its life (the first run, "Migrate" after Test Only,
"Migrate anyway", a Create Only job's "Start", "Verify"), so votes carry the round as well as the
parameter hash. Reaching quorum moves the request to APPROVED by compare-and-set and records the
execution intent (a WORK outbox item) in the same transaction; only that intent starts SMC work.
Concurrent votes on one request queue on its row lock, so quorum is counted over committed votes.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError
from sqlmodel import Session

from bot.domain import notifications
from bot.domain.approval import (
    Decision,
    DecisionStatus,
    Policy,
    RefusalCode,
    action_label,
    approver_pool,
    eligible,
    escalation_at,
    outcome,
    reminder_at,
)
from bot.domain.audit import SYSTEM_ACTOR, AuditAction, AuditService
from bot.domain.directory import Directory, DirectoryUnavailable
from bot.domain.errors import Conflict, DomainError, NotAllowed, NotFound
from bot.domain.notifications import Event, approval_card_edit_key, approval_card_key, summary_key
from bot.domain.params import MigrationParams
from bot.domain.smc_request import create_replication_job_request, describe_request
from bot.domain.views import RequestView, params_from_row, request_view
from bot.domain.workflow import CLOSED, EDITABLE, can_transition
from storage import repository as repo
from storage.db import Database
from storage.enums import (
    ApprovalAction,
    AuditOutcome,
    ExecutionMethod,
    OutboxKind,
    RequestState,
    TargetType,
    VoteDecision,
)
from storage.models import ChannelConfig, MigrationRequest, Vote

log = logging.getLogger(__name__)

EXECUTE_TASK = "execute"
"""`payload["task"]` of the execution intent; the executor (issue E) registers it in bot/tasks.py."""

MAX_REASON_CHARS = 1000


def intent_key(request_id: str, round_: int, action: ApprovalAction) -> str:
    """`work:<request>:<round>:<action>`: one execution intent per approved round, ever."""
    return f"work:{request_id}:{round_}:{action.value}"


@dataclass(frozen=True)
class RoundRef:
    """What an Approve/Reject click is about: the round and parameter hash the approver saw."""

    request_id: str
    round: int
    params_hash: str

    @property
    def parts(self) -> tuple[str, int, str]:
        """(request_id, round, params_hash): the leading arguments of `vote` and `check_voter`."""
        return self.request_id, self.round, self.params_hash

    def encode(self) -> str:
        return f"{self.request_id}:{self.round}:{self.params_hash}"

    @classmethod
    def decode(cls, text: str) -> RoundRef | None:
        parts = text.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[0] or not parts[2]:
            return None
        return cls(parts[0], int(parts[1]), parts[2])


@dataclass(frozen=True)
class VoteResult:
    """What a click did: recorded (perhaps deciding the round) or refused, and what the voter is told."""

    accepted: bool
    message: str
    refusal: RefusalCode | None = None
    decision: Decision | None = None
    notified: bool = True
    """False when no ephemeral could be queued (an unknown request has no channel): reply directly."""


@dataclass(frozen=True)
class _Click:
    """One Approve/Reject as the engine handles it; `id` dedupes the reply to a replayed click."""

    round: int
    params_hash: str
    voter: str
    decision: VoteDecision
    reason: str | None
    id: str


@dataclass(frozen=True)
class VoteLine:
    voter: str
    decision: VoteDecision
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class ApprovalCard:
    """Everything the approval card of one round shows, read at render time."""

    request_id: str
    channel_id: str
    requester: str
    round: int
    current_round: int
    state: RequestState
    action: ApprovalAction
    action_label: str
    execution_method: ExecutionMethod
    target_type: TargetType
    instance_id: str | None
    params_hash: str
    digest: tuple[tuple[str, str], ...]
    api_request: tuple[tuple[str, str], ...]
    api_problem: str | None
    votes: tuple[VoteLine, ...]
    decision: Decision
    approver_groups: tuple[str, ...]
    approver_users: tuple[str, ...]
    admin_users: tuple[str, ...]
    self_approval: bool
    expires_at: datetime | None
    reminded: bool

    @property
    def superseded(self) -> bool:
        """A newer round (an edit, or the next action) replaced this card."""
        return self.round < self.current_round

    @property
    def is_open(self) -> bool:
        return self.state is RequestState.AWAITING_APPROVAL and not self.superseded

    @property
    def has_approvers(self) -> bool:
        return bool(self.approver_groups or self.approver_users)

    @property
    def ref(self) -> RoundRef:
        return RoundRef(self.request_id, self.round, self.params_hash)


@dataclass(frozen=True)
class WaitingApproval:
    """One line of `/smc approvals`."""

    request_id: str
    channel_id: str
    requester: str
    action_label: str
    tally: str
    expires_at: datetime | None
    thread_ts: str | None


class ApprovalService:
    """Approval rounds, votes, expiry; the executor (E) builds on `open_round` and `still_approved`."""

    def __init__(
        self,
        db: Database,
        directory: Callable[[], Directory],
        *,
        audit: AuditService,
        clock: Callable[[], datetime],
        kick: Callable[[], None],
    ) -> None:
        self._db = db
        self._directory = directory
        self._audit = audit
        self._clock = clock
        self._kick = kick

    # --- rounds --------------------------------------------------------------------------------------

    def open_round(self, session: Session, request_id: str, action: ApprovalAction, *, actor: str) -> None:
        """In the caller's unit of work: ask the approvers (round + 1, card, expiry) or approve at once.

        Without a needed approval the request moves to APPROVED and the execution intent is recorded.
        Records no audit event: the caller's own (submission, edit, button) says who asked and why.
        Raises NotFound, or Conflict when the request is in a state this action cannot follow.
        """
        row = repo.lock_request(session, request_id)
        if row is None:
            raise NotFound(f"Request {request_id}")
        req = _Snapshot.of(row)
        policy = Policy.from_config(repo.get_channel_config(session, req.channel_id))
        now = self._clock()
        instance = req.target_type is TargetType.TARGET_INSTANCE
        needed = policy.needs_approval(action, req.execution_method, instance_target=instance)
        if not needed and not can_transition(req.state, RequestState.APPROVED):
            # e.g. an edited Test Only request that was already tested: re-asked, never re-run unseen.
            needed = True
        target = RequestState.AWAITING_APPROVAL if needed else RequestState.APPROVED
        if not can_transition(req.state, target):
            raise Conflict(
                f"{request_id} is {req.state.value.replace('_', ' ')}: "
                f"{action_label(action, req.execution_method)} cannot be asked for now."
            )
        round_ = req.round + 1
        expires = policy.expires_at(now, _scheduled_start(row, action)) if needed else None
        moved = repo.transition_request_round(
            session,
            request_id,
            req.state,
            req.round,
            target,
            pending_action=action if needed else None,
            approval_round=round_,
            approval_expires_at=expires,
            reminder_sent_at=None,
        )
        if not moved:
            raise Conflict(f"{request_id} changed meanwhile; look at its thread and try again.")
        if req.state is RequestState.AWAITING_APPROVAL and req.round >= 1:
            self._edit_card(session, request_id, req.channel_id, req.round)
        if needed:
            notifications.reply(
                session,
                key=approval_card_key(request_id, round_),
                event=Event.APPROVAL_CARD,
                channel_id=req.channel_id,
                thread_key=summary_key(request_id),
                request_id=request_id,
                data={"round": round_, "opened_at": now.isoformat()},
            )
        else:
            self._record_intent(session, request_id, round_, action)
        notifications.refresh_request_summary(session, request_id, req.channel_id)
        log.info(
            "approval round request_id=%s round=%s action=%s needed=%s actor=%s",
            request_id,
            round_,
            action.value,
            needed,
            actor,
        )

    def still_approved(self, session: Session, request_id: str, round_: int, params_hash: str) -> bool:
        """Right before a create/start call: this round was approved on these parameters and still stands."""
        row = repo.get_request(session, request_id)
        if row is None or row.approval_round != round_ or row.params_hash != params_hash:
            return False
        return row.state is not RequestState.AWAITING_APPROVAL and row.state not in CLOSED

    def edit_target(self, request_id: str, *, editor: str) -> RequestView:
        """The summary's Edit button: only the requester, only before a job exists (audited refusals).

        `RequestService.edit` applies the same rules again when the edited parameters are submitted.
        """
        with self._db.unit_of_work() as session:
            row = repo.get_request(session, request_id)
            if row is None:
                raise NotFound(f"Request {request_id}")
            problem: DomainError | None = None
            if row.requester != editor:
                problem = NotAllowed(f"Only <@{row.requester}>, who asked for {request_id}, can edit it.")
            elif row.state not in EDITABLE:
                state = row.state.value.replace("_", " ")
                problem = Conflict(
                    f"{request_id} can no longer be edited ({state}); ask again with `/smc migrate`."
                )
            if problem is not None:
                self._audit.record(
                    session,
                    actor=editor,
                    action=AuditAction.REQUEST_EDITED,
                    outcome=AuditOutcome.REFUSED,
                    request=row,
                    detail={"reason": problem.message},
                )
                view = None
            else:
                view = request_view(row, None)
        if problem is not None:
            raise problem
        assert view is not None
        return view

    def refresh_card(self, session: Session, request_id: str) -> None:
        """Re-render the current round's card after someone else changed the request (withdraw, cancel)."""
        row = repo.get_request(session, request_id)
        if row is not None and row.approval_round >= 1:
            self._edit_card(session, request_id, row.channel_id, row.approval_round)

    # --- votes ---------------------------------------------------------------------------------------

    def vote(
        self,
        request_id: str,
        round_: int,
        params_hash: str,
        *,
        voter: str,
        decision: VoteDecision,
        reason: str | None = None,
        click_id: str | None = None,
    ) -> VoteResult:
        """One approver's click, in its own unit of work; `voter` comes from the signed payload only.

        Refusals change nothing but the audit trail and an ephemeral reply; `click_id` (the action's
        `action_ts`, or the view id) makes a replayed click reply once.
        """
        click = _Click(
            round=round_,
            params_hash=params_hash,
            voter=voter,
            decision=decision,
            reason=(reason or "").strip()[:MAX_REASON_CHARS] or None,
            id=click_id or secrets.token_hex(6),
        )
        with self._db.unit_of_work() as session:
            found = repo.get_request(session, request_id)
            config = repo.get_channel_config(session, found.channel_id) if found is not None else None
        if found is None:
            return self._refuse_unknown(request_id, voter, decision)
        policy = Policy.from_config(config)
        try:
            pool = self._pool(policy, config, voter)
        except DirectoryUnavailable:
            log.warning("directory unavailable for a vote request_id=%s", request_id)
            pool = None
        with self._db.unit_of_work() as session:
            row = repo.lock_request(session, request_id)
            if row is None:
                return self._refuse_unknown(request_id, voter, decision)
            req = _Snapshot.of(row)
            now = self._clock()
            refusal, message = self._refusal(session, req, click, pool=pool, policy=policy, now=now)
            if refusal is None:
                inserted = repo.record_vote(
                    session,
                    Vote(
                        request_id=request_id,
                        round=round_,
                        voter=voter,
                        params_hash=params_hash,
                        decision=decision,
                        reason=click.reason,
                        created_at=now,
                    ),
                )
                if not inserted:
                    refusal, message = self._refusal(session, req, click, pool=pool, policy=policy, now=now)
            if refusal is not None:
                self._record_refusal(session, req, click, refusal, message)
                result = VoteResult(False, message, refusal)
            else:
                result = self._count(session, req, click, policy)
        self._kick()
        return result

    def check_voter(
        self, request_id: str, round_: int, params_hash: str, *, voter: str, click_id: str
    ) -> VoteResult:
        """Before the reject-reason modal opens: would this person's vote count? Refusals are recorded."""
        with self._db.unit_of_work() as session:
            found = repo.get_request(session, request_id)
            config = repo.get_channel_config(session, found.channel_id) if found is not None else None
        if found is None:
            return self._refuse_unknown(request_id, voter, VoteDecision.REJECT)
        policy = Policy.from_config(config)
        try:
            pool = self._pool(policy, config, voter)
        except DirectoryUnavailable:
            pool = None
        with self._db.unit_of_work() as session:
            row = repo.get_request(session, request_id)
            if row is None:
                return self._refuse_unknown(request_id, voter, VoteDecision.REJECT)
            req = _Snapshot.of(row)
            click = _Click(round_, params_hash, voter, VoteDecision.REJECT, None, click_id)
            refusal, message = self._refusal(session, req, click, pool=pool, policy=policy, now=self._clock())
            if refusal is None:
                return VoteResult(True, "")
            self._record_refusal(session, req, click, refusal, message)
        self._kick()
        return VoteResult(False, message, refusal)

    # --- expiry and reminders ------------------------------------------------------------------------

    def sweep(self, now: datetime | None = None) -> None:
        """Housekeeping: remind approvers once at 80 % of the window, escalate once at 95 %, then expire
        what nobody decided. Safe in every replica at once: each step is a compare-and-set or an outbox key.
        """
        now = now or self._clock()
        changed = False
        with self._db.unit_of_work() as session:
            rows = [_Snapshot.of(r) for r in repo.awaiting_approval(session)]
            configs: dict[str, ChannelConfig | None] = {}
            for req in rows:
                if req.expires_at is None:
                    continue
                if req.expires_at <= now:
                    changed |= self._expire(session, req, now)
                    continue
                if req.reminded and repo.get_outbox(session, _escalation_key(req)) is not None:
                    continue
                if req.channel_id not in configs:
                    configs[req.channel_id] = repo.get_channel_config(session, req.channel_id)
                opened = self._opened_at(session, req, Policy.from_config(configs[req.channel_id]))
                if now >= escalation_at(opened, req.expires_at):
                    changed |= self._escalate(session, req, now)
                elif not req.reminded and now >= reminder_at(opened, req.expires_at):
                    changed |= self._remind(session, req, now)
        if changed:
            self._kick()

    # --- reads ---------------------------------------------------------------------------------------

    def card(self, request_id: str, round_: int) -> ApprovalCard | None:
        """The approval card of a round as it stands now (for the renderer and the request modal)."""
        with self._db.unit_of_work() as session:
            row = repo.get_request(session, request_id)
            if row is None:
                return None
            config = repo.get_channel_config(session, row.channel_id)
            votes = repo.votes_in_round(session, request_id, round_)
            policy = Policy.from_config(config)
            params = _params(row)
            digest: tuple[tuple[str, str], ...] = tuple(params.digest()) if params is not None else ()
            api_request: tuple[tuple[str, str], ...] = ()
            problem: str | None = None
            if params is None:
                problem = "The stored parameters could not be read back."
            else:
                try:
                    api_request = tuple(
                        describe_request(create_replication_job_request(params, client_token=row.id))
                    )
                except (DomainError, ValueError) as exc:
                    problem = f"The request cannot be built from these parameters: {exc}"
            hash_of_round = row.params_hash
            return ApprovalCard(
                request_id=row.id,
                channel_id=row.channel_id,
                requester=row.requester,
                round=round_,
                current_round=row.approval_round,
                state=row.state,
                action=row.pending_action or ApprovalAction.EXECUTE,
                action_label=action_label(row.pending_action or ApprovalAction.EXECUTE, row.execution_method),
                execution_method=row.execution_method,
                target_type=row.target_type,
                instance_id=params.instance_id if params is not None else None,
                params_hash=hash_of_round,
                digest=digest,
                api_request=api_request,
                api_problem=problem,
                votes=tuple(
                    VoteLine(v.voter, v.decision, v.reason, v.created_at)
                    for v in votes
                    if v.params_hash == hash_of_round
                ),
                decision=outcome(votes, policy, row.requester, hash_of_round),
                approver_groups=policy.approver_usergroups,
                approver_users=policy.approver_users,
                admin_users=tuple(config.admin_users) if config is not None else (),
                self_approval=policy.self_approval,
                expires_at=row.approval_expires_at,
                reminded=row.reminder_sent_at is not None,
            )

    def waiting_for(self, user_id: str) -> list[WaitingApproval]:
        """`/smc approvals`: open rounds this person may decide and has not voted on yet."""
        now = self._clock()
        with self._db.unit_of_work() as session:
            rows = [
                r
                for r in repo.awaiting_approval(session)
                if r.approval_expires_at is None or r.approval_expires_at > now
            ]
            configs = {r.channel_id: repo.get_channel_config(session, r.channel_id) for r in rows}
            mine = {
                (v.request_id, v.round, v.params_hash)
                for v in repo.votes_by_voter(session, user_id, [r.id for r in rows])
            }
            candidates = []
            for row in rows:
                if (row.id, row.approval_round, row.params_hash) in mine:
                    continue
                policy = Policy.from_config(configs[row.channel_id])
                votes = repo.votes_for(session, row.id, row.approval_round, row.params_hash)
                summary = repo.get_outbox(session, notifications.summary_key(row.id))
                candidates.append(
                    (
                        _Snapshot.of(row),
                        policy,
                        outcome(votes, policy, row.requester, row.params_hash).tally,
                        summary.result_ts if summary is not None else None,
                    )
                )
        waiting = []
        for req, policy, tally, thread_ts in candidates:
            try:
                pool = self._pool(policy, configs[req.channel_id], user_id)
            except DirectoryUnavailable:
                continue
            if eligible(user_id, approvers=pool, requester=req.requester, policy=policy) is not None:
                continue
            waiting.append(
                WaitingApproval(
                    request_id=req.id,
                    channel_id=req.channel_id,
                    requester=req.requester,
                    action_label=action_label(req.action, req.execution_method),
                    tally=tally,
                    expires_at=req.expires_at,
                    thread_ts=thread_ts,
                )
            )
        return waiting

    # --- internals -----------------------------------------------------------------------------------

    def _pool(self, policy: Policy, config: ChannelConfig | None, voter: str) -> frozenset[str]:
        """Who may vote now; live group membership (cached briefly by the directory)."""
        directory = self._directory()
        if not policy.has_approvers:
            admins = tuple(config.admin_users) if config is not None else ()
            if admins:
                return approver_pool(policy, (), admins=admins)
            return frozenset({voter}) if directory.is_workspace_admin(voter) else frozenset()
        return approver_pool(policy, [directory.members_of(g) for g in policy.approver_usergroups])

    def _refusal(
        self,
        session: Session,
        req: _Snapshot,
        click: _Click,
        *,
        pool: frozenset[str] | None,
        policy: Policy,
        now: datetime,
    ) -> tuple[RefusalCode | None, str]:
        """Why this click must change nothing (checked under the row lock); (None, "") when it counts."""
        voter = click.voter
        earlier = repo.vote_of(session, req.id, click.round, voter, click.params_hash)
        if earlier is not None:
            verb = "approved" if earlier.decision is VoteDecision.APPROVE else "rejected"
            return RefusalCode.ALREADY_VOTED, (
                f"You already {verb} {req.id} at {_hhmm(earlier.created_at)}; a second click changes nothing."
            )
        if click.round != req.round or click.params_hash != req.params_hash:
            return RefusalCode.CHANGED, (
                f"This approval card is out of date: {req.id} was edited or asked again since, so votes on "
                "it no longer count. Use the newest approval card in the request's thread."
            )
        if req.state is RequestState.EXPIRED or (
            req.state is RequestState.AWAITING_APPROVAL
            and req.expires_at is not None
            and now >= req.expires_at
        ):
            return RefusalCode.EXPIRED, (
                f"The approval of {req.id} expired"
                + (f" at {_when(req.expires_at)}" if req.expires_at else "")
                + "; nothing will run. The requester can ask again with `/smc migrate`."
            )
        if req.state is not RequestState.AWAITING_APPROVAL:
            state = req.state.value.replace("_", " ")
            return RefusalCode.DECIDED, f"{req.id} is already decided ({state}); your click changed nothing."
        if pool is None:
            return RefusalCode.DIRECTORY, (
                "I could not check the approver group with Slack just now, so nothing was recorded. "
                "Try again in a minute."
            )
        code = eligible(voter, approvers=pool, requester=req.requester, policy=policy)
        if code is RefusalCode.NOT_APPROVER:
            return code, (
                f"You are not an approver in this channel, so your click changed nothing. "
                f"Approvers: {_who(policy)}. A channel admin can change this with `/smc config`."
            )
        if code is RefusalCode.REQUESTER:
            return code, (
                f"You asked for {req.id}, and this channel does not allow self-approval: another approver "
                "has to decide. (Withdraw it from the summary message if you changed your mind.)"
            )
        return None, ""

    def _count(self, session: Session, req: _Snapshot, click: _Click, policy: Policy) -> VoteResult:
        """The vote landed: count the round, and decide it by compare-and-set when it is complete."""
        round_, voter, decision, reason = click.round, click.voter, click.decision, click.reason
        votes = repo.votes_for(session, req.id, round_, req.params_hash)
        result = outcome(votes, policy, req.requester, req.params_hash)
        action = AuditAction.VOTE_APPROVE if decision is VoteDecision.APPROVE else AuditAction.VOTE_REJECT
        self._audit.record(
            session,
            actor=voter,
            action=action,
            request_id=req.id,
            team_id=req.team_id,
            channel_id=req.channel_id,
            params_hash=req.params_hash,
            detail={"round": round_, "reason": reason, "tally": result.tally},
        )
        if result.status is DecisionStatus.PENDING:
            message = f"Your approval of {req.id} is recorded: {result.tally} approvals so far."
        else:
            new = RequestState.APPROVED if result.status is DecisionStatus.APPROVED else RequestState.REJECTED
            won = repo.transition_request_round(
                session, req.id, RequestState.AWAITING_APPROVAL, round_, new, params_hash=req.params_hash
            )
            if not won:  # cannot happen under the row lock; never record a decision that did not land
                raise Conflict(f"{req.id} changed while your vote was counted; nothing was recorded.")
            if result.status is DecisionStatus.APPROVED:
                self._record_intent(session, req.id, round_, req.action)
                message = f"Your approval of {req.id} completed the quorum ({result.tally}): it is approved."
            else:
                message = f"You rejected {req.id}; the request is closed."
            self._audit.record(
                session,
                actor=voter,
                action=AuditAction.APPROVED
                if result.status is DecisionStatus.APPROVED
                else AuditAction.REJECTED,
                request_id=req.id,
                team_id=req.team_id,
                channel_id=req.channel_id,
                params_hash=req.params_hash,
                detail={
                    "round": round_,
                    "action": req.action.value,
                    "approvers": list(result.approvals),
                    "rejected_by": result.rejected_by,
                    "reason": result.reason,
                },
            )
            notifications.request_reply(
                session,
                req.id,
                req.channel_id,
                name=f"approval:{round_}:decision",
                event=Event.DECISION,
                data={"round": round_},
            )
            log.info("approval decided request_id=%s round=%s status=%s", req.id, round_, result.status.value)
        self._edit_card(session, req.id, req.channel_id, round_)
        notifications.refresh_request_summary(session, req.id, req.channel_id)
        notifications.ephemeral(
            session,
            key=f"eph:vote:{req.id}:{round_}:{voter}:{click.id}",
            channel_id=req.channel_id,
            user_id=voter,
            event=Event.VOTE,
            data={"request_id": req.id, "accepted": True, "message": message},
        )
        return VoteResult(True, message, None, result)

    def _record_intent(self, session: Session, request_id: str, round_: int, action: ApprovalAction) -> None:
        repo.enqueue(
            session,
            intent_key(request_id, round_, action),
            OutboxKind.WORK,
            {"task": EXECUTE_TASK, "request_id": request_id, "round": round_, "action": action.value},
            request_id=request_id,
        )

    def _record_refusal(
        self, session: Session, req: _Snapshot, click: _Click, refusal: RefusalCode, message: str
    ) -> None:
        """A refusal changes nothing but the audit trail, and tells the voter why (once per click)."""
        voter, decision, round_ = click.voter, click.decision, click.round
        self._audit.record(
            session,
            actor=voter,
            action=AuditAction.VOTE_APPROVE if decision is VoteDecision.APPROVE else AuditAction.VOTE_REJECT,
            outcome=AuditOutcome.REFUSED,
            request_id=req.id,
            team_id=req.team_id,
            channel_id=req.channel_id,
            params_hash=req.params_hash,
            detail={"round": round_, "refusal": refusal.value},
        )
        notifications.ephemeral(
            session,
            key=f"eph:vote:{req.id}:{round_}:{voter}:{click.id}",
            channel_id=req.channel_id,
            user_id=voter,
            event=Event.VOTE,
            data={"request_id": req.id, "accepted": False, "refusal": refusal.value, "message": message},
        )
        log.info("vote refused request_id=%s voter=%s refusal=%s", req.id, voter, refusal.value)

    def _refuse_unknown(self, request_id: str, voter: str, decision: VoteDecision) -> VoteResult:
        self._audit.record_now(
            actor=voter,
            action=AuditAction.VOTE_APPROVE if decision is VoteDecision.APPROVE else AuditAction.VOTE_REJECT,
            outcome=AuditOutcome.REFUSED,
            request_id=request_id,
            detail={"refusal": RefusalCode.NOT_FOUND.value},
        )
        return VoteResult(
            False, f"Request {request_id} does not exist (any more).", RefusalCode.NOT_FOUND, notified=False
        )

    def _edit_card(self, session: Session, request_id: str, channel_id: str, round_: int) -> None:
        repo.mark_dirty(
            session,
            approval_card_edit_key(request_id, round_),
            OutboxKind.SLACK_UPDATE,
            {"event": Event.APPROVAL_CARD.value, "request_id": request_id, "round": round_},
            request_id=request_id,
            channel_id=channel_id,
            target_key=approval_card_key(request_id, round_),
        )

    def _expire(self, session: Session, req: _Snapshot, now: datetime) -> bool:
        won = repo.transition_request_round(
            session, req.id, RequestState.AWAITING_APPROVAL, req.round, RequestState.EXPIRED, expired_by=now
        )
        if not won:
            return False
        notifications.request_reply(
            session,
            req.id,
            req.channel_id,
            name=f"approval:{req.round}:expired",
            event=Event.APPROVAL_EXPIRED,
            data={"round": req.round},
        )
        self._edit_card(session, req.id, req.channel_id, req.round)
        notifications.refresh_request_summary(session, req.id, req.channel_id)
        self._sweep_audit(session, req, AuditAction.EXPIRED, "expired_at")
        log.info("approval expired request_id=%s round=%s", req.id, req.round)
        return True

    def _remind(self, session: Session, req: _Snapshot, now: datetime) -> bool:
        if not repo.mark_reminder_sent(session, req.id, req.round, now):
            return False
        notifications.request_reply(
            session,
            req.id,
            req.channel_id,
            name=f"approval:{req.round}:reminder",
            event=Event.APPROVAL_REMINDER,
            data={"round": req.round},
        )
        self._sweep_audit(session, req, AuditAction.REMINDED, "expires_at")
        return True

    def _sweep_audit(self, session: Session, req: _Snapshot, action: AuditAction, time_key: str) -> None:
        """The sweep's audit line for a round: expired, reminded or escalated, with the round's expiry."""
        self._audit.record(
            session,
            actor=SYSTEM_ACTOR,
            action=action,
            request_id=req.id,
            team_id=req.team_id,
            channel_id=req.channel_id,
            params_hash=req.params_hash,
            detail={"round": req.round, time_key: req.expires_at},
        )

    def _escalate(self, session: Session, req: _Snapshot, now: datetime) -> bool:
        """Tell the whole channel, once per round, that the request expires soon without a decision.

        A reminder that never went out (the sweep did not run between 80 % and 95 %) is claimed too:
        the escalation says more than it would, and it must not follow after.
        """
        if not req.reminded:
            repo.mark_reminder_sent(session, req.id, req.round, now)
        posted = notifications.request_reply(
            session,
            req.id,
            req.channel_id,
            name=_escalation_name(req.round),
            event=Event.APPROVAL_ESCALATION,
            data={"round": req.round},
            broadcast=True,
        )
        if not posted:
            return False
        self._sweep_audit(session, req, AuditAction.ESCALATED, "expires_at")
        log.info("approval escalated request_id=%s round=%s", req.id, req.round)
        return True

    @staticmethod
    def _opened_at(session: Session, req: _Snapshot, policy: Policy) -> datetime:
        """When the round opened: recorded on its card; else assume the full window (a card-less round)."""
        assert req.expires_at is not None
        card = repo.get_outbox(session, approval_card_key(req.id, req.round))
        opened = card.payload.get("opened_at") if card is not None else None
        if isinstance(opened, str):
            try:
                return datetime.fromisoformat(opened).astimezone(UTC)
            except ValueError:
                pass
        return req.expires_at - timedelta(hours=policy.expiry_hours)


@dataclass(frozen=True)
class _Snapshot:
    """The request fields the engine decides on, read once (CAS expires the ORM object)."""

    id: str
    team_id: str
    channel_id: str
    requester: str
    state: RequestState
    round: int
    params_hash: str
    action: ApprovalAction
    execution_method: ExecutionMethod
    target_type: TargetType
    expires_at: datetime | None
    reminded: bool

    @classmethod
    def of(cls, row: MigrationRequest) -> _Snapshot:
        return cls(
            id=row.id,
            team_id=row.team_id,
            channel_id=row.channel_id,
            requester=row.requester,
            state=row.state,
            round=row.approval_round,
            params_hash=row.params_hash,
            action=row.pending_action or ApprovalAction.EXECUTE,
            execution_method=row.execution_method,
            target_type=row.target_type,
            expires_at=row.approval_expires_at,
            reminded=row.reminder_sent_at is not None,
        )


def _escalation_name(round_: int) -> str:
    return f"approval:{round_}:escalation"


def _escalation_key(req: _Snapshot) -> str:
    """The outbox key of a round's escalation: its existence is the "escalated once" record."""
    return notifications.request_reply_key(req.id, _escalation_name(req.round))


def _params(row: MigrationRequest) -> MigrationParams | None:
    try:
        return params_from_row(row)
    except (ValidationError, ValueError):
        return None


def _scheduled_start(row: MigrationRequest, action: ApprovalAction) -> datetime | None:
    """Migrate Later's start time bounds the first round's expiry; later rounds have no schedule."""
    if action is not ApprovalAction.EXECUTE or row.execution_method is not ExecutionMethod.MIGRATE_LATER:
        return None
    params = _params(row)
    return params.scheduled_start if params is not None else None


def _who(policy: Policy) -> str:
    mentions = [f"<!subteam^{g}>" for g in policy.approver_usergroups]
    mentions += [f"<@{u}>" for u in policy.approver_users]
    return ", ".join(mentions) if mentions else "this channel's admins (no approvers are configured yet)"


def _hhmm(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M UTC")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
