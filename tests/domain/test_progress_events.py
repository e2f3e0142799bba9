"""The job-state diff: every change becomes one event, once, in order, with a key that survives a replay."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.progress import (
    JobEvent,
    JobEventKind,
    JobObservation,
    JobRun,
    JobSnapshot,
    diff,
    observe,
)
from storage.enums import BusinessStatus, JobStatus

RUNNING = JobStatus.RUNNING
PREPARING, SYNCING = BusinessStatus.PREPARING, BusinessStatus.SYNCING
PROCESSING, CLEANING = BusinessStatus.PROCESSING, BusinessStatus.CLEANING


def play(
    observations: Sequence[JobObservation], *, start: JobSnapshot | None = None, every_cycle: bool = False
) -> tuple[list[JobEvent], JobSnapshot]:
    """Poll every observation twice (a repeated describe must add nothing) and collect the events."""
    snapshot = start or JobSnapshot()
    events: list[JobEvent] = []
    for observation in observations:
        for _ in range(2):
            observed = observe(snapshot, observation, every_cycle=every_cycle)
            events += observed.events
            snapshot = observed.snapshot
    return events, snapshot


def running(
    sub: BusinessStatus, progress: float, *, runs: tuple[JobRun, ...] = (), incremental: bool = False
) -> JobObservation:
    return JobObservation(RUNNING, sub, progress, runs=runs, incremental=incremental)


def runs(*image_ids: str) -> tuple[JobRun, ...]:
    return tuple(JobRun(image_id=i) for i in image_ids)


def test_a_one_off_job_that_fails_twice_reports_each_change_once_in_order() -> None:
    events, snapshot = play(
        [
            running(PREPARING, 2.0),
            running(SYNCING, 30.0),
            JobObservation(JobStatus.IN_ERROR, SYNCING, 40.0, "InternalError", "disk read failed"),
            running(SYNCING, 40.0),
            running(SYNCING, 60.0),
            JobObservation(JobStatus.IN_ERROR, SYNCING, 60.0, "M199", "environment check failed"),
            running(SYNCING, 62.0),
            running(PROCESSING, 92.0),
            running(CLEANING, 99.0),
            JobObservation(JobStatus.FINISHED, None, 100.0, image_id="m-final", runs=runs("m-final")),
        ]
    )
    assert [e.key for e in events] == [
        "status:Running:1",
        "business:1:Preparing",
        "business:1:Syncing",
        "milestone:1:25",
        "error:InternalError:1",
        "status:Running:2",
        "milestone:1:50",
        "error:M199:2",
        "status:Running:3",
        "milestone:1:75",
        "business:1:Processing",
        "business:1:Cleaning",
        "finished:1",
    ]
    errors = [e for e in events if e.kind is JobEventKind.ERROR]
    assert [(e.error_code, e.message, e.previous_status) for e in errors] == [
        ("InternalError", "disk read failed", RUNNING),
        ("M199", "environment check failed", RUNNING),
    ]
    assert events[-1].kind is JobEventKind.FINISHED
    assert events[-1].image_id == "m-final"
    assert snapshot.entered(RUNNING) == 3
    assert snapshot.entered(JobStatus.IN_ERROR) == 2
    assert snapshot.runs_seen == 1


def test_an_incremental_job_reports_three_cycles_and_the_cutover_once_each() -> None:
    events, snapshot = play(
        [
            running(PREPARING, 1.0),
            running(SYNCING, 55.0),
            running(PROCESSING, 93.0),
            JobObservation(
                JobStatus.WAITING, None, 100.0, image_id="m-1", runs=runs("m-1"), incremental=True
            ),
            running(SYNCING, 40.0, runs=runs("m-1"), incremental=True),
            JobObservation(
                JobStatus.WAITING, None, 100.0, image_id="m-2", runs=runs("m-1", "m-2"), incremental=True
            ),
            running(PREPARING, 3.0, runs=runs("m-1", "m-2"), incremental=True),
            running(SYNCING, 80.0, runs=runs("m-1", "m-2"), incremental=True),
            JobObservation(
                JobStatus.WAITING,
                None,
                100.0,
                image_id="m-3",
                runs=runs("m-1", "m-2", "m-3"),
                incremental=True,
            ),
            running(SYNCING, 50.0, runs=runs("m-1", "m-2", "m-3"), incremental=True),
            JobObservation(
                JobStatus.FINISHED,
                None,
                100.0,
                image_id="m-4",
                runs=runs("m-1", "m-2", "m-3", "m-4"),
                incremental=True,
            ),
        ]
    )
    assert [e.key for e in events] == [
        "status:Running:1",
        "business:1:Preparing",
        "business:1:Syncing",
        "milestone:1:25",
        "milestone:1:50",
        "milestone:1:75",
        "business:1:Processing",
        "run:1",
        "status:Waiting:1",
        "run:2",
        "run:3",
        "run:4",
        "finished:1",
    ]
    cycles = [e for e in events if e.kind is JobEventKind.CYCLE_FINISHED]
    assert [(e.run, e.image_id) for e in cycles] == [(1, "m-1"), (2, "m-2"), (3, "m-3"), (4, "m-4")]
    assert snapshot.cycle == 4
    assert snapshot.entered(JobStatus.WAITING) == 3


def test_every_cycle_mode_reports_the_routine_of_later_cycles_too() -> None:
    first_cycle_done = observe(
        JobSnapshot(status=JobStatus.RUNNING, progress=93.0, entries={RUNNING: 1}),
        JobObservation(JobStatus.WAITING, None, 100.0, runs=runs("m-1"), incremental=True),
    ).snapshot
    events, _ = play(
        [running(SYNCING, 30.0, runs=runs("m-1"), incremental=True)], start=first_cycle_done, every_cycle=True
    )
    assert [e.key for e in events] == ["status:Running:2", "business:2:Syncing", "milestone:2:25"]
    assert all(e.cycle == 2 for e in events)


def test_a_new_cycle_is_recognised_when_waiting_was_missed_between_polls() -> None:
    cleaning = JobSnapshot(
        status=RUNNING,
        business_status=CLEANING,
        progress=99.0,
        peak=99.0,
        business_seen=frozenset({PREPARING, SYNCING, PROCESSING, CLEANING}),
        entries={RUNNING: 1},
    )
    next_cycle = running(SYNCING, 30.0, runs=runs("m-1"), incremental=True)
    observed = observe(cleaning, next_cycle, every_cycle=True)
    assert [e.key for e in observed.events] == ["run:1", "business:2:Syncing", "milestone:2:25"]
    assert observed.snapshot.cycle == 2
    assert [e.key for e in diff(cleaning, next_cycle)] == ["run:1"]


def test_a_one_off_jobs_run_is_reported_by_the_finish_not_as_a_cycle() -> None:
    events = diff(
        JobSnapshot(status=RUNNING, business_status=CLEANING, progress=99.0, entries={RUNNING: 1}),
        JobObservation(JobStatus.FINISHED, None, 100.0, image_id="m-1", runs=runs("m-1")),
    )
    assert [e.key for e in events] == ["finished:1"]


def test_a_changed_error_code_while_still_in_error_is_not_a_new_event() -> None:
    failed = observe(
        JobSnapshot(status=RUNNING), JobObservation(JobStatus.IN_ERROR, None, 10.0, "A")
    ).snapshot
    assert diff(failed, JobObservation(JobStatus.IN_ERROR, None, 10.0, "B")) == []


def test_an_error_without_a_code_still_gets_a_stable_key() -> None:
    events = diff(JobSnapshot(status=RUNNING), JobObservation(JobStatus.IN_ERROR, SYNCING, 10.0))
    assert [(e.key, e.error_code) for e in events] == [("error:unknown:1", None)]


def test_milestones_crossed_on_the_way_to_an_error_come_before_it() -> None:
    events = diff(
        JobSnapshot(status=RUNNING, business_status=SYNCING, progress=60.0, peak=60.0, entries={RUNNING: 1}),
        JobObservation(JobStatus.IN_ERROR, SYNCING, 80.0, "InternalError"),
    )
    assert [e.key for e in events] == ["milestone:1:75", "error:InternalError:1"]


def test_pause_and_deletion_are_status_events() -> None:
    syncing = JobSnapshot(status=RUNNING, business_status=SYNCING, progress=40.0, entries={RUNNING: 1})
    assert syncing.peak == 40.0
    paused = observe(syncing, JobObservation(JobStatus.STOPPED, SYNCING, 40.0))
    assert [(e.key, e.kind, e.previous_status) for e in paused.events] == [
        ("status:Stopped:1", JobEventKind.STATUS, RUNNING)
    ]
    deleted = diff(paused.snapshot, JobObservation(JobStatus.DELETED))
    assert [e.key for e in deleted] == ["status:Deleted:1"]


def test_the_same_change_seen_from_the_same_stored_state_gives_the_same_keys() -> None:
    """Two replicas (or a retry after a crash) that read the same snapshot record identical events."""
    stored = JobSnapshot(status=RUNNING, business_status=SYNCING, progress=20.0, entries={RUNNING: 2})
    seen = JobObservation(JobStatus.IN_ERROR, SYNCING, 55.0, "InternalError", "boom")
    assert diff(stored, seen) == diff(stored, seen)
    assert [e.key for e in diff(stored, seen)] == [
        "milestone:1:25",
        "milestone:1:50",
        "error:InternalError:1",
    ]


def test_an_event_becomes_a_json_payload() -> None:
    event = diff(JobSnapshot(status=RUNNING), JobObservation(JobStatus.IN_ERROR, SYNCING, 10.0, "M199", "x"))[
        0
    ]
    assert json.loads(json.dumps(event.to_dict())) == {
        "kind": "error",
        "key": "error:M199:1",
        "status": "InError",
        "previous_status": "Running",
        "error_code": "M199",
        "message": "x",
        "cycle": 1,
    }


def test_a_snapshot_survives_a_json_round_trip() -> None:
    _, snapshot = play(
        [
            running(SYNCING, 30.0),
            JobObservation(
                JobStatus.WAITING, None, 100.0, image_id="m-1", runs=runs("m-1"), incremental=True
            ),
            running(PREPARING, 2.0, runs=runs("m-1"), incremental=True),
        ]
    )
    stored = json.loads(json.dumps(snapshot.to_dict()))
    assert stored["entries"] == {"Running": 2, "Waiting": 1}
    assert JobSnapshot.from_dict(stored) == snapshot
    assert JobSnapshot.from_dict({"status": "Ready"}) == JobSnapshot()


def test_snapshot_counters_cannot_be_changed_from_outside() -> None:
    counts = {RUNNING: 1}
    snapshot = JobSnapshot(entries=counts)
    counts[RUNNING] = 5
    assert snapshot.entered(RUNNING) == 1
    assert replace(snapshot, entries={RUNNING: 2}).entered(RUNNING) == 2


observations = st.builds(
    JobObservation,
    status=st.sampled_from(list(JobStatus)),
    business_status=st.none() | st.sampled_from(list(BusinessStatus)),
    progress=st.floats(min_value=0, max_value=100),
    error_code=st.none() | st.sampled_from(["InternalError", "M199", ""]),
    runs=st.integers(min_value=0, max_value=6).map(lambda n: runs(*(f"m-{i}" for i in range(1, n + 1)))),
    incremental=st.booleans(),
)


@given(st.lists(observations, max_size=30), st.booleans())
def test_no_event_key_ever_repeats_whatever_the_job_does(
    sequence: list[JobObservation], every_cycle: bool
) -> None:
    events, snapshot = play(sequence, every_cycle=every_cycle)
    keys = [e.key for e in events]
    assert len(keys) == len(set(keys))
    assert snapshot.runs_seen == max((len(o.runs) for o in sequence), default=0)
    assert JobSnapshot.from_dict(json.loads(json.dumps(snapshot.to_dict()))) == snapshot
