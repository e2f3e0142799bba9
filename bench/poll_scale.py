"""Poll cost at scale: 5,000 active SMC jobs across 5 accounts x 2 regions, polled by the bot's tracker.

    python bench/poll_scale.py [--jobs 5000] [--accounts 5] [--ticks 5] [--window 30] [--naive-sample 500]
                               [--profile poll.prof]

The sandbox cloud and the Slack stand-in (enforcing Slack's limits) run in a helper process, so the CPU
and memory figures are the bot's alone. The bot process polls with the real SDK adapters and delivers
with its real pacing. Each tick advances the simulated clock by one poll interval (30 s) and runs one
tick; the Slack figures cover the real-time window that follows a tick (`--window` seconds).

Prints, per tick: SMC calls next to the minimum sum(ceil(n/50)) over (credentials, region), the tick's
CPU seconds, Slack calls and 429s in the window, summary edits (and the most any one message got), and
at the end peak RSS and the ratio against a naive one-DescribeReplicationJobs-per-job loop run on the
same world in the same run. It asserts nothing. CPU per tick is the CPU time of the thread that runs the
tick (`time.thread_time`); the tracker uses one describe worker, so that is the whole tick's work.

`--profile FILE` runs every tick under cProfile, timed in thread CPU time, and writes the stats of the
ticks after the first (steady state) to FILE and the first tick's to FILE.first (read them with
`python -m pstats FILE`). The profiler inflates the CPU figures of that run several times over.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import logging
import math
import multiprocessing as mp
import resource
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

GIB = 1024**3
BOT_UID = "1000000000000001"
BOT_KEY = "LTAI5tBenchBot0000001"
BOT_SECRET = "bench-bot-secret-not-real"
ROLE = "smc-bot-role"
REGIONS = ("cn-hangzhou", "cn-shanghai")
TICK_SECONDS = 30.0


def account_uid(index: int) -> str:
    return BOT_UID if index == 0 else f"{index + 1}{index + 1:015d}"


def credential_ref(index: int) -> str:
    return "default" if index == 0 else f"role/{account_uid(index)}/{ROLE}"


def world(accounts: int, per_account: int) -> dict[str, Any]:
    """The bot's own account plus accounts it reaches by AssumeRole; each has `per_account` sources."""
    rows = []
    for index in range(accounts):
        keys = (
            [{"id": BOT_KEY, "secret": BOT_SECRET}]
            if index == 0
            else [{"id": f"LTAI5tBenchAcct{index:06d}", "secret": f"bench-account-{index}-secret"}]
        )
        rows.append(
            {
                "uid": account_uid(index),
                "name": f"bench-{index}",
                "access_keys": keys,
                "roles": [{"name": ROLE, "trusted_accounts": [BOT_UID]}] if index else [],
                "quotas": {"max_jobs": 1000, "max_running_jobs": 1000},
                "source_servers": [
                    {
                        "id": f"s-bench{index:02d}{n:06d}",
                        "name": f"bench-{index}-{n:05d}",
                        "os": "centos-7.9",
                        "disks": [{"size_gib": 100, "used_gib": 20 + (n % 7) * 5}],
                    }
                    for n in range(per_account)
                ],
            }
        )
    return {
        "seed": "poll-scale-bench",
        "speeds": {"public_mb_per_s": 30, "vpc_mb_per_s": 120},
        "regions": [{"id": r, "zones": [{"id": f"{r}-h"}]} for r in REGIONS],
        "instance_types": [{"id": "ecs.g6.large", "family": "ecs.g6"}],
        "accounts": rows,
    }


# --- the helper process: sandbox cloud + Slack stand-in --------------------------------------------------


def helper(conn: Connection, accounts: int, per_account: int, channels: int) -> None:
    """Builds the world, creates and starts the jobs in-process, posts the summaries, then serves."""
    from sandbox.cloud import CloudSimulator, smc
    from sandbox.cloud.api import Context
    from sandbox.cloud.protocol import Params
    from sandbox.cloud.signature import Caller
    from sandbox.slack import Channel, SlackStandIn

    sim = CloudSimulator(world(accounts, per_account), time_scale=0).start()
    slack = SlackStandIn().start()
    names = [f"C0BENCH{n:04d}" for n in range(channels)]
    for name in names:
        slack.add_channel(Channel(name, name.lower()))
    # Jobs start in waves a minute apart, so that during the measured ticks they are spread over every
    # phase (as in a real fleet) instead of all changing state at the same moment.
    jobs = []
    waves = 20
    for wave in range(waves):
        with sim.lock:
            now = sim.sync()
            for index in range(accounts):
                uid = account_uid(index)
                ctx = Context(sim.world, Caller(uid, "bench"), now, sim.ids, sim.faults, sim.engine, "")
                for n in range(wave, per_account, waves):
                    region = REGIONS[n % len(REGIONS)]
                    source = f"s-bench{index:02d}{n:06d}"
                    created = smc.create_replication_job(
                        ctx,
                        Params(
                            {
                                "RegionId": region,
                                "SourceId": source,
                                "TargetType": "Image",
                                "ImageName": f"bench-{index}-{n:05d}",
                                "SystemDiskSize": "100",
                                "ClientToken": f"r-bench{index:02d}{n:05d}",
                            }
                        ),
                    )
                    smc.start_replication_job(ctx, Params({"JobId": created["JobId"]}))
                    used = (20 + (n % 7) * 5) * GIB
                    jobs.append((created["JobId"], index, region, source, used))
        sim.advance(60)
    seen = []
    world_now = sim.world
    for job_id, *_rest in jobs:
        job = world_now.jobs[job_id]
        phase, started = job.phase, job.start_time
        seen.append(
            (
                job.status.value,
                phase.value if phase is not None else None,
                job.progress,
                started.isoformat() if started is not None else None,
            )
        )
    summaries = []
    for position, (job_id, *_rest) in enumerate(jobs):
        channel = names[position % channels]
        message = slack.state.post_message(channel, text=f"summary of {job_id}", blocks=[])
        summaries.append((channel, message.ts))
    slack.enable_rate_limits(post_message_per_second=1.0, post_message_burst=3, slack_tiers=True)
    sim.reset_calls()
    slack.reset_calls()
    conn.send(
        {
            "cloud_url": sim.url,
            "slack_api_url": slack.api_url,
            "bot_token": slack.bot_token,
            "signing_secret": slack.signing_secret,
            "now": sim.clock.now().isoformat(),
            "jobs": [
                (*job, *summary, *observed)
                for job, summary, observed in zip(jobs, summaries, seen, strict=True)
            ],
        }
    )
    while True:
        command, argument = conn.recv()
        if command == "advance":
            conn.send(sim.advance(float(argument)).isoformat())
        elif command == "smc_calls":
            calls = sim.calls("DescribeReplicationJobs")
            sim.reset_calls()
            conn.send(
                [
                    (c.status, c.sim_time, sum(1 for key in c.params if key.startswith("JobId.")))
                    for c in calls
                ]
            )
        elif command == "slack_calls":
            start, end = argument
            rows = []
            for call in slack.calls():
                if start <= call.at < end:
                    rows.append((call.method, call.status, str(call.params.get("ts") or "")))
            conn.send(rows)
        elif command == "stop":
            sim.stop()
            slack.stop()
            conn.send("stopped")
            return


# --- the bot process ------------------------------------------------------------------------------------


@dataclass
class TickFigures:
    smc_calls: int
    minimum: int
    tick_cpu: float
    window_cpu: float
    tick_wall: float
    slack_calls: int
    slack_429: int
    edits: int
    max_edits_per_message: int
    changed_jobs: int
    replies: int


class _GcTimer:
    """Counts the collector's runs in this process and the wall time they took (any thread)."""

    def __init__(self) -> None:
        self.runs = [0, 0, 0]
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._observe)

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.runs[info["generation"]] += 1
            self.seconds += time.perf_counter() - self._started


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def seed_database(db: Any, jobs: list[tuple[Any, ...]], now: datetime) -> None:
    """The rows of a bot that has been following these jobs: request in progress, summary posted, and the
    job as the last poll saw it (its snapshot, so only what changes from now on makes a reply)."""
    from sqlalchemy import insert

    from bot.domain.notifications import Event, summary_key
    from bot.domain.params import MigrationParams, SystemDisk
    from bot.domain.progress import JobObservation, JobSnapshot, observe
    from storage.enums import (
        BusinessStatus,
        ExecutionMethod,
        JobStatus,
        OutboxKind,
        OutboxState,
        RequestState,
        TargetType,
    )
    from storage.models import MigrationRequest, Outbox, SmcJob

    requests, rows, outbox = [], [], []
    started = now
    for job_id, index, region, source, used, channel, ts, status, phase, progress, start_time in jobs:
        observation = JobObservation(
            status=JobStatus(status),
            business_status=BusinessStatus(phase) if phase else None,
            progress=progress,
        )
        snapshot = observe(JobSnapshot(), observation).snapshot
        request_id = f"r-{job_id[2:]}"
        params = MigrationParams(
            source_id=source,
            target_type=TargetType.IMAGE,
            region_id=region,
            image_name=f"bench-{job_id}",
            migration_test=False,
            execution_method=ExecutionMethod.MIGRATE_NOW,
            system_disk=SystemDisk(size_gib=100),
        )
        requests.append(
            {
                "id": request_id,
                "team_id": "T0SANDBOX",
                "channel_id": channel,
                "requester": "U0REQUEST",
                "source_id": source,
                "target_type": TargetType.IMAGE,
                "region_id": region,
                "execution_method": ExecutionMethod.MIGRATE_NOW,
                "params": json.loads(params.canonical_json()),
                "params_hash": params.params_hash(),
                "state": RequestState.IN_PROGRESS,
                "approval_round": 1,
                "credential_ref": credential_ref(index),
                "created_at": started,
                "updated_at": started,
            }
        )
        rows.append(
            {
                "job_id": job_id,
                "request_id": request_id,
                "region_id": region,
                "credential_ref": credential_ref(index),
                "status": observation.status,
                "business_status": observation.business_status,
                "progress": progress,
                "runs_seen": 0,
                "incremental": False,
                "total_bytes": used,
                "snapshot": snapshot.to_dict(),
                "event_seq": 0,
                "started_at": datetime.fromisoformat(start_time) if start_time else None,
                "status_since": now,
                "last_polled_at": now,
                "next_poll_at": now,
                "created_at": started,
                "updated_at": started,
            }
        )
        outbox.append(
            {
                "key": summary_key(request_id),
                "kind": OutboxKind.SLACK_POST,
                "state": OutboxState.SENT,
                "request_id": request_id,
                "channel_id": channel,
                "payload": {"event": Event.REQUEST_SUMMARY.value, "request_id": request_id},
                "attempts": 0,
                "result_ts": ts,
                "next_attempt_at": started,
                "created_at": started,
                "updated_at": started,
                "sent_at": started,
            }
        )
    with db.engine.begin() as conn:
        conn.execute(insert(MigrationRequest.__table__), requests)  # type: ignore[attr-defined]
        conn.execute(insert(SmcJob.__table__), rows)  # type: ignore[attr-defined]
        conn.execute(insert(Outbox.__table__), outbox)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--accounts", type=int, default=5)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=5)
    parser.add_argument(
        "--window",
        type=float,
        default=TICK_SECONDS,
        help="real seconds from one tick to the next (Slack figures)",
    )
    parser.add_argument(
        "--naive-sample", type=int, default=500, help="jobs the naive loop describes (0: all)"
    )
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument(
        "--profile", default=None, help="write cProfile stats of the ticks here (inflates CPU figures)"
    )
    args = parser.parse_args()
    # Delivery warns when an edit it was sending was re-dirtied meanwhile (it is then sent again, fresh).
    logging.basicConfig(level=logging.ERROR)

    per_account = math.ceil(args.jobs / args.accounts)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=helper, args=(child, args.accounts, per_account, args.channels), daemon=True)
    started = time.monotonic()
    process.start()
    setup = parent.recv()
    jobs = setup["jobs"][: args.jobs]
    print(
        f"world: {len(jobs)} jobs, {args.accounts} accounts x {len(REGIONS)} regions, "
        f"{args.channels} channels (setup {time.monotonic() - started:.1f} s)"
    )

    from slack_sdk import WebClient

    from bot.config import Settings
    from bot.domain.tracking import JobTracker, TrackingPolicy
    from bot.pacing import TIER_3_INTERVAL
    from bot.runtime import build_runtime
    from bot.services import Services, cloud_gateway
    from storage.db import Database

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    db = Database(url)
    db.upgrade()
    sim_now = datetime.fromisoformat(setup["now"])
    seed_database(db, jobs, sim_now)
    settings = Settings.model_validate(
        {
            "SLACK_BOT_TOKEN": setup["bot_token"],
            "SLACK_SIGNING_SECRET": setup["signing_secret"],
            "SLACK_API_URL": setup["slack_api_url"],
            "DATABASE_URL": url,
            "ALIBABA_CLOUD_ACCESS_KEY_ID": BOT_KEY,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": BOT_SECRET,
            "SMC_BOT_CLOUD_ENDPOINT": setup["cloud_url"],
        }
    )
    services = Services(settings=settings, db=db, cloud=cloud_gateway(settings), owner="bench")
    runtime = build_runtime(services, WebClient(token=setup["bot_token"], base_url=setup["slack_api_url"]))
    clock_box = {"now": sim_now}
    tracker = JobTracker(
        db,
        services.cloud,
        owner="bench",
        clock=lambda: clock_box["now"],
        # One describe worker: the tick's whole CPU then runs on the thread that measures it.
        policy=TrackingPolicy(
            poll_interval=timedelta(seconds=TICK_SECONDS),
            describe_workers=1,
            summary_spacing=timedelta(seconds=TIER_3_INTERVAL),
            summary_in_flight_delay=timedelta(seconds=args.window),
        ),
        kick=runtime.kick,
    )
    runtime.delivery.start(idle_seconds=0.2)
    # As `smc-bot serve` does once it is built (bot/transport.py): what lives as long as the process is
    # moved out of the collector's sight, so a full collection does not walk it during every tick.
    # Collection itself stays automatic here, unlike serve's `IdleCollector`, which would run it on its
    # own thread: the collector's work on the tick's garbage counts in the tick's CPU.
    gc.collect()
    gc.freeze()
    collections = _GcTimer()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    figures: list[TickFigures] = []
    steady = cProfile.Profile(time.thread_time) if args.profile else None
    try:
        for number in range(1, args.ticks + 1):
            parent.send(("advance", TICK_SECONDS))
            clock_box["now"] = datetime.fromisoformat(parent.recv())
            window_start_wall = time.time()
            window_start = time.monotonic()
            cpu_window = process_cpu()
            profiler = None
            if args.profile:
                profiler = cProfile.Profile(time.thread_time) if number == 1 else steady
            thread_cpu = time.thread_time()
            if profiler is not None:
                profiler.enable()
            report = tracker.tick()
            if profiler is not None:
                profiler.disable()
                if number == 1:
                    profiler.dump_stats(f"{args.profile}.first")
            tick_cpu = time.thread_time() - thread_cpu
            tick_wall = time.monotonic() - window_start
            time.sleep(max(0.0, args.window - tick_wall))
            window_cpu = process_cpu() - cpu_window
            parent.send(("smc_calls", None))
            smc_calls = [c for c in parent.recv() if c[0] == 200]
            parent.send(("slack_calls", (window_start_wall, time.time())))
            slack_calls = parent.recv()
            edits = Counter(
                ts for method, status, ts in slack_calls if method == "chat.update" and status == 200
            )
            figures.append(
                TickFigures(
                    smc_calls=len(smc_calls),
                    minimum=sum(math.ceil(n / 50) for n in report.groups.values()),
                    tick_cpu=tick_cpu,
                    window_cpu=window_cpu,
                    tick_wall=tick_wall,
                    slack_calls=len(slack_calls),
                    slack_429=sum(1 for _, status, _ in slack_calls if status == 429),
                    edits=sum(edits.values()),
                    max_edits_per_message=max(edits.values(), default=0),
                    changed_jobs=report.summaries,
                    replies=report.replies,
                )
            )
            f = figures[-1]
            print(
                f"tick {number}: SMC calls {f.smc_calls} (minimum {f.minimum}, ratio "
                f"{f.smc_calls / max(f.minimum, 1):.2f}) | tick CPU {f.tick_cpu:.2f} s, "
                f"wall {f.tick_wall:.1f} s | "
                f"window CPU {f.window_cpu:.2f} s | Slack calls {f.slack_calls}, 429s {f.slack_429} | "
                f"summary edits {f.edits} (max {f.max_edits_per_message} per message) for {f.changed_jobs} "
                f"changed jobs | replies recorded {f.replies}"
            )
    finally:
        runtime.delivery.stop(timeout=60)
    if steady is not None and args.profile:
        steady.dump_stats(args.profile)
        print(f"profile: steady-state ticks in {args.profile}, first tick in {args.profile}.first")

    # The naive loop: one DescribeReplicationJobs per job, on the same world, in the same run.
    sample = jobs if args.naive_sample <= 0 else jobs[: args.naive_sample]
    naive_started = time.monotonic()
    for job_id, index, region, *_rest in sample:
        services.cloud.destination(credential_ref(index)).describe_replication_jobs(region, [job_id])
    naive_wall = time.monotonic() - naive_started
    parent.send(("smc_calls", None))
    naive_calls = [c for c in parent.recv() if c[0] == 200]
    per_job = len(naive_calls) / max(len(sample), 1)
    naive_per_tick = per_job * len(jobs)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    parent.send(("stop", None))
    parent.recv()
    process.join(10)

    batched = sum(f.smc_calls for f in figures) / len(figures)
    minimum = sum(f.minimum for f in figures) / len(figures)
    print()
    print(
        f"SMC calls per tick: {batched:.1f} vs minimum sum(ceil(n/50)) {minimum:.1f} "
        f"-> ratio {batched / minimum:.2f}"
    )
    print(
        f"naive loop: {len(naive_calls)} calls for {len(sample)} jobs ({per_job:.2f} per job, "
        f"{naive_wall:.1f} s) -> {naive_per_tick:.0f} calls per tick for {len(jobs)} jobs; "
        f"batched uses {naive_per_tick / batched:.1f}x fewer"
    )
    cpu = [f.tick_cpu for f in figures]
    print(
        f"CPU per tick: max {max(cpu):.2f} s, mean {sum(cpu) / len(cpu):.2f} s; bot process CPU per "
        f"{args.window:.0f} s window (tick + delivery): max {max(f.window_cpu for f in figures):.2f} s"
    )
    print(
        f"garbage collections from the first tick on: {sum(collections.runs)} (generation 2: "
        f"{collections.runs[2]}), {collections.seconds:.2f} s in all"
    )
    print(f"peak RSS of the bot process: {peak_rss_mb:.0f} MB ({rss_before:.0f} MB before the first tick)")
    print(
        f"Slack calls per tick window: max {max(f.slack_calls for f in figures)}, "
        f"429s in total {sum(f.slack_429 for f in figures)}; summary edits per message per tick: max "
        f"{max(f.max_edits_per_message for f in figures)}"
    )
    tmp.cleanup()


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
