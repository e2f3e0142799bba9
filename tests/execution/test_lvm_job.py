"""An LVM migration end to end: the request the bot builds is accepted by the simulator through the real SDK,
and the job runs to Finished."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.domain.params import DataDisk, SystemDisk
from sandbox.cloud import CloudSimulator, load_world
from sandbox.cloud.loader import default_world_data
from storage.enums import RequestState
from tests.execution.helpers import (
    ShiftClock,
    cloud_jobs,
    insert_request,
    job_row,
    replies,
    request_row,
    web_params,
)
from tests.harness import BotUnderTest

MYSQL_SOURCE = "s-bp1lvmmysql01src0"
"""db-mysql-01 (Ubuntu 22.04): /boot and / on the system disk, data disk 1 of 500 GiB on LVM."""
MYSQL_INSTANCE = "i-bp1gtknvw8ki285bwt2b"


@pytest.fixture
def cloud() -> Iterator[CloudSimulator]:
    """The default world with db-mysql-01 already imported, as `/smc import` would leave it."""
    data: dict[str, Any] = default_world_data()
    [destination] = [a for a in data["accounts"] if a["uid"] == "1000000000000001"]
    destination["source_servers"].append(
        {
            "id": MYSQL_SOURCE,
            "name": "db-mysql-01",
            "instance": {"account": "2000000000000002", "id": MYSQL_INSTANCE},
        }
    )
    with CloudSimulator(load_world(data)) as simulator:
        yield simulator


def test_an_lvm_job_is_accepted_by_smc_and_runs_to_finished(bot: BotUnderTest, clock: ShiftClock) -> None:
    params = web_params(
        source_id=MYSQL_SOURCE,
        image_name="db-mysql-01-lvm",
        system_disk=SystemDisk(size_gib=40, lvm=True),
        data_disks=(DataDisk(index=1, size_gib=500, lvm=True),),
    )
    request_id = insert_request(bot, params)
    bot.settle()

    row = request_row(bot, request_id)
    assert row.state is RequestState.IN_PROGRESS, row.last_error
    [create] = bot.cloud.calls("CreateReplicationJob")
    assert create.status == 200, create.code
    sent = create.params
    assert (sent["Disks.System.LVM"], sent["Disks.System.Size"]) == ("True", "40")
    assert (sent["Disks.Data.1.LVM"], sent["Disks.Data.1.Size"]) == ("True", "500")
    assert not any(name.startswith(("DataDisk", "SystemDisk")) for name in sent)

    [job] = cloud_jobs(bot, MYSQL_SOURCE)
    assert job.status.value == "Running"
    assert job.system_lvm is True
    assert [(d.index, d.size_gib, d.lvm) for d in job.data_disks] == [(1, 500, True)]

    bot.cloud.advance(12 * 3600)
    clock.advance(60)
    bot.poll()
    bot.settle()

    assert job.status.value == "Finished"
    assert request_row(bot, request_id).state is RequestState.COMPLETED
    stored = job_row(bot, request_id)
    assert stored is not None and stored.job_id == job.job_id
    assert len(replies(bot, request_id, "job-created")) == 1
