"""The exact CreateReplicationJob request, field by field, proven against the real SMC SDK."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from alibabacloud_openapi_util.client import Client as OpenApiUtil
from alibabacloud_smc20190601 import models as smc_models
from alibabacloud_smc20190601.client import Client as SmcClient
from alibabacloud_tea_openapi.models import Config
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.errors import InvalidParams
from bot.domain.params import (
    GIB,
    DataDisk,
    LicenseType,
    MigrationParams,
    NetworkType,
    Partition,
    PrivateIpMode,
    SystemDisk,
    Tag,
)
from bot.domain.smc_request import (
    create_replication_job_request,
    describe_request,
    flatten,
    replication_parameters,
    uses_lvm,
)
from storage.enums import ExecutionMethod, TargetType

TOKEN = "mr-3f1c2a9e"


def image_params(**changes: Any) -> MigrationParams:
    values: dict[str, Any] = {
        "source_id": "s-bp1e2fsl57knvuug",
        "target_type": TargetType.IMAGE,
        "region_id": "cn-hangzhou",
        "image_name": "web-prod",
        "system_disk": SystemDisk(size_gib=40),
        "data_disks": (DataDisk(index=1, size_gib=100),),
    }
    values.update(changes)
    return MigrationParams(**values)


def instance_params(**changes: Any) -> MigrationParams:
    base: dict[str, Any] = {
        "target_type": TargetType.TARGET_INSTANCE,
        "image_name": None,
        "instance_id": "i-bp1target",
    }
    return image_params(**{**base, **changes})


def request_of(params: MigrationParams) -> dict[str, Any]:
    return create_replication_job_request(params, client_token=TOKEN)


def sdk_round_trip(request: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = smc_models.CreateReplicationJobRequest().from_map(request).to_map()
    return result


# -- identity and destination ---------------------------------------------------------------


def test_identity_fields() -> None:
    request = request_of(image_params())
    assert request["RegionId"] == "cn-hangzhou"
    assert request["ClientToken"] == TOKEN
    assert request["SourceId"] == "s-bp1e2fsl57knvuug"
    assert request["JobType"] == 0


def test_image_destination_fields() -> None:
    request = request_of(image_params(instance_type="ecs.c6.large"))
    assert request["TargetType"] == "Image"
    assert request["ImageName"] == "web-prod"
    assert request["InstanceType"] == "ecs.c6.large"
    assert "InstanceId" not in request


def test_intermediate_instance_type_is_omitted_when_smc_may_choose() -> None:
    assert "InstanceType" not in request_of(image_params())


def test_instance_destination_fields() -> None:
    request = request_of(instance_params())
    assert request["TargetType"] == "TargetInstance"
    assert request["InstanceId"] == "i-bp1target"
    assert "ImageName" not in request
    assert "InstanceType" not in request


def test_name_and_description_only_when_given() -> None:
    assert "Name" not in request_of(image_params())
    assert "Description" not in request_of(image_params())
    request = request_of(image_params(job_name="web-job", description="Nightly_copy"))
    assert request["Name"] == "web-job"
    assert request["Description"] == "Nightly_copy"


# -- network --------------------------------------------------------------------------------


def test_public_network_without_a_vpc() -> None:
    request = request_of(image_params())
    assert request["NetMode"] == 0
    assert "VpcId" not in request
    assert "VSwitchId" not in request


def test_public_network_in_a_chosen_vpc() -> None:
    request = request_of(image_params(vpc_id="vpc-1", vswitch_id="vsw-a"))
    assert request["NetMode"] == 0
    assert request["VpcId"] == "vpc-1"
    assert request["VSwitchId"] == "vsw-a"


def test_vpc_network() -> None:
    request = request_of(image_params(network_type=NetworkType.VPC, vpc_id="vpc-1", vswitch_id="vsw-a"))
    assert request["NetMode"] == 2
    assert request["VpcId"] == "vpc-1"
    assert request["VSwitchId"] == "vsw-a"


def test_private_ip_is_recorded_but_never_sent() -> None:
    request = request_of(instance_params(private_ip_mode=PrivateIpMode.MANUAL, private_ip="192.168.1.10"))
    assert "192.168.1.10" not in json.dumps(request)


# -- execution method, schedule, incremental ------------------------------------------------


@pytest.mark.parametrize(
    ("test", "method"),
    [
        (True, ExecutionMethod.TEST_ONLY),
        (True, ExecutionMethod.TEST_AND_MIGRATE),
        (False, ExecutionMethod.MIGRATE_NOW),
        (False, ExecutionMethod.CREATE_ONLY),
    ],
)
def test_only_migrate_later_sends_a_start_time(test: bool, method: ExecutionMethod) -> None:
    request = request_of(image_params(migration_test=test, execution_method=method))
    assert "ScheduledStartTime" not in request
    assert sdk_round_trip(request) == request


def test_migrate_later_sends_the_start_time_in_utc() -> None:
    start = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    request = request_of(
        image_params(
            migration_test=False, execution_method=ExecutionMethod.MIGRATE_LATER, scheduled_start=start
        )
    )
    assert request["ScheduledStartTime"] == "2030-01-02T03:04:05Z"


def test_the_migration_test_has_no_api_field() -> None:
    with_test = request_of(image_params(migration_test=True))
    without = request_of(image_params(migration_test=False))
    assert with_test == without


def test_a_one_off_job_runs_once() -> None:
    request = request_of(image_params())
    assert request["RunOnce"] is True
    assert "Frequency" not in request
    assert "MaxNumberOfImageToKeep" not in request


def test_an_incremental_job_sends_interval_and_images_to_keep() -> None:
    request = request_of(image_params(incremental=True, sync_interval_hours=12, max_reserved_images=3))
    assert request["RunOnce"] is False
    assert request["Frequency"] == 12
    assert request["MaxNumberOfImageToKeep"] == 3


# -- disks ----------------------------------------------------------------------------------


def test_default_layout_sends_flat_sizes_only() -> None:
    request = request_of(
        image_params(data_disks=(DataDisk(index=1, size_gib=100), DataDisk(index=2, size_gib=300)))
    )
    assert request["SystemDiskSize"] == 40
    assert request["DataDisk"] == [
        {"Index": 1, "Part": [], "Size": 100},
        {"Index": 2, "Part": [], "Size": 300},
    ]
    assert request["SystemDiskPart"] == []
    assert "Disks" not in request


def test_skipped_data_disks_are_not_sent() -> None:
    request = request_of(
        image_params(data_disks=(DataDisk(index=1, skip=True), DataDisk(index=2, size_gib=300)))
    )
    assert request["DataDisk"] == [{"Index": 2, "Part": [], "Size": 300}]


def test_partitions_travel_by_device_with_block_flag_and_size() -> None:
    params = image_params(
        system_disk=SystemDisk(
            size_gib=40,
            partitions=(
                Partition(device="0_0", path="/boot", block=True, size_bytes=GIB),
                Partition(device="0_1", path="/", block=False, size_bytes=30 * GIB),
            ),
        ),
        data_disks=(
            DataDisk(
                index=1,
                size_gib=100,
                partitions=(Partition(device="1_0", path="/data", block=False, size_bytes=80 * GIB),),
            ),
        ),
    )
    request = request_of(params)
    assert request["SystemDiskPart"] == [
        {"Block": True, "Device": "0_0", "SizeBytes": GIB},
        {"Block": False, "Device": "0_1", "SizeBytes": 30 * GIB},
    ]
    assert request["DataDisk"] == [
        {"Index": 1, "Part": [{"Block": False, "Device": "1_0", "SizeBytes": 80 * GIB}], "Size": 100}
    ]
    assert "Disks" not in request


def test_lvm_sends_the_disks_structure_alone() -> None:
    params = image_params(
        system_disk=SystemDisk(size_gib=40, lvm=True),
        data_disks=(
            DataDisk(index=1, size_gib=100),
            DataDisk(index=2, size_gib=50, lvm=True),
            DataDisk(index=3, skip=True),
        ),
    )
    request = request_of(params)
    assert uses_lvm(params)
    assert request["Disks"] == {
        "System": {"LVM": True, "Part": [], "Size": 40},
        "Data": [{"LVM": False, "Part": [], "Size": 100}, {"LVM": True, "Part": [], "Size": 50}],
    }
    assert "SystemDiskSize" not in request
    assert request["DataDisk"] == [] and request["SystemDiskPart"] == []
    sent = {name for name, _ in flatten(request)}
    assert not {n for n in sent if n.startswith(("DataDisk", "SystemDisk"))}


def test_lvm_on_a_data_disk_alone_also_sends_the_system_disk_in_the_structure() -> None:
    params = image_params(data_disks=(DataDisk(index=1, size_gib=100, lvm=True),))
    assert request_of(params)["Disks"] == {
        "System": {"LVM": False, "Part": [], "Size": 40},
        "Data": [{"LVM": True, "Part": [], "Size": 100}],
    }


def test_with_lvm_partitions_travel_by_mount_path() -> None:
    params = image_params(
        system_disk=SystemDisk(
            size_gib=40,
            lvm=True,
            partitions=(
                Partition(device="0_0", path="/boot", block=True, size_bytes=GIB),
                Partition(device="0_1", path="/", block=False, size_bytes=30 * GIB),
            ),
        ),
        data_disks=(
            DataDisk(
                index=1,
                size_gib=500,
                lvm=True,
                partitions=(
                    Partition(device="1_0", path="/var/lib/mysql", block=False, size_bytes=400 * GIB),
                ),
            ),
        ),
    )
    disks = request_of(params)["Disks"]
    assert disks["System"]["Part"] == [
        {"Block": True, "Path": "/boot", "SizeBytes": GIB},
        {"Block": False, "Path": "/", "SizeBytes": 30 * GIB},
    ]
    assert disks["Data"] == [
        {
            "LVM": True,
            "Part": [{"Block": False, "Path": "/var/lib/mysql", "SizeBytes": 400 * GIB}],
            "Size": 500,
        }
    ]


def test_lvm_with_a_skipped_disk_before_a_migrated_one_is_refused() -> None:
    # Disks.Data.N has no index: entry 1 would be read as source data disk 1, the skipped one.
    params = image_params(
        data_disks=(DataDisk(index=1, skip=True), DataDisk(index=2, size_gib=300, lvm=True)),
    )
    with pytest.raises(InvalidParams) as raised:
        request_of(params)
    [(key, message)] = raised.value.by_key().items()
    assert key == "data_disk_skip.1"
    assert "migrate data disk 1 too, or turn LVM off" in message


def test_lvm_with_an_unlisted_disk_before_a_migrated_one_is_refused_on_the_migrated_disk() -> None:
    params = image_params(data_disks=(DataDisk(index=2, size_gib=300, lvm=True),))
    with pytest.raises(InvalidParams) as raised:
        request_of(params)
    assert list(raised.value.by_key()) == ["data_disk_lvm.2"]


def test_lvm_with_a_partition_without_mount_path_is_refused() -> None:
    params = image_params(
        system_disk=SystemDisk(
            size_gib=40, lvm=True, partitions=(Partition(device="0_2", path="", size_bytes=GIB),)
        )
    )
    with pytest.raises(InvalidParams) as raised:
        request_of(params)
    assert list(raised.value.by_key()) == ["partition_size.0.1"]


def test_without_lvm_a_skipped_disk_before_a_migrated_one_is_fine() -> None:
    params = image_params(data_disks=(DataDisk(index=1, skip=True), DataDisk(index=2, size_gib=300)))
    assert request_of(params)["DataDisk"] == [{"Index": 2, "Part": [], "Size": 300}]


def test_lvm_on_a_skipped_disk_is_not_sent() -> None:
    params = image_params(data_disks=(DataDisk(index=1, skip=True, lvm=True),))
    assert not uses_lvm(params)
    assert "Disks" not in request_of(params)


# -- transfer, licence, tags ----------------------------------------------------------------


def test_replication_parameters_carry_speed_compression_and_checksum() -> None:
    request = request_of(image_params(speed_limit_mbps=100, compression_level=3, checksum=True))
    assert request["ReplicationParameters"] == '{"bandwidth_limit":12500,"compress_level":3,"checksum":true}'


def test_default_replication_parameters() -> None:
    request = request_of(image_params())
    assert json.loads(request["ReplicationParameters"]) == {
        "bandwidth_limit": 0,
        "compress_level": 7,
        "checksum": False,
    }


@given(st.integers(0, 100_000), st.integers(0, 10), st.booleans())
def test_replication_parameters_are_json_within_2048_characters(
    mbps: int, level: int, checksum: bool
) -> None:
    text = replication_parameters(mbps, level, checksum)
    assert len(text) <= 2048
    assert json.loads(text) == {"bandwidth_limit": mbps * 125, "compress_level": level, "checksum": checksum}


def test_alibaba_cloud_licence_is_the_default_and_not_sent() -> None:
    assert "LicenseType" not in request_of(image_params())
    assert request_of(image_params(license_type=LicenseType.BYOL))["LicenseType"] == "BYOL"


def test_tags_are_sent_as_key_value_pairs_in_key_order() -> None:
    request = request_of(image_params(tags=(Tag(key="team", value="web"), Tag(key="env", value=""))))
    assert request["Tag"] == [{"Key": "env", "Value": ""}, {"Key": "team", "Value": "web"}]


def test_no_tags_is_an_empty_list() -> None:
    assert request_of(image_params())["Tag"] == []


def test_console_only_and_bot_only_settings_are_never_sent() -> None:
    request = request_of(image_params(template_name="standard"))
    sent = {name for name, _ in flatten(request)}
    assert "standard" not in json.dumps(request)
    assert not {"ValidTime", "ResourceGroupId", "LaunchTemplateId", "InstanceRamRole"} & sent


# -- contract with the SDK ------------------------------------------------------------------


SCENARIOS: dict[str, MigrationParams] = {
    "image, defaults": image_params(),
    "instance, manual ip": instance_params(private_ip_mode=PrivateIpMode.MANUAL, private_ip="192.168.1.10"),
    "image, everything": image_params(
        migration_test=False,
        execution_method=ExecutionMethod.MIGRATE_LATER,
        scheduled_start=datetime(2030, 1, 1, tzinfo=UTC),
        incremental=True,
        sync_interval_hours=24,
        max_reserved_images=5,
        network_type=NetworkType.VPC,
        vpc_id="vpc-1",
        vswitch_id="vsw-a",
        job_name="web-job",
        description="Nightly_copy",
        speed_limit_mbps=50,
        compression_level=9,
        checksum=True,
        license_type=LicenseType.BYOL,
        tags=(Tag(key="team", value="web"), Tag(key="cost", value="42")),
        instance_type="ecs.g7.large",
        system_disk=SystemDisk(
            size_gib=60,
            partitions=(Partition(device="0_1", path="/", block=False, size_bytes=50 * GIB),),
        ),
        data_disks=(
            DataDisk(
                index=1, size_gib=200, partitions=(Partition(device="1_0", path="/data", size_bytes=GIB),)
            ),
            DataDisk(index=2, skip=True),
            DataDisk(index=3, size_gib=50),
        ),
    ),
    "image, lvm": image_params(
        system_disk=SystemDisk(
            size_gib=60,
            lvm=True,
            partitions=(Partition(device="0_1", path="/", block=False, size_bytes=50 * GIB),),
        ),
        data_disks=(
            DataDisk(
                index=1, size_gib=200, partitions=(Partition(device="1_0", path="/data", size_bytes=GIB),)
            ),
            DataDisk(index=2, size_gib=50, lvm=True),
            DataDisk(index=3, skip=True),
        ),
    ),
    "instance, create only, public vpc": instance_params(
        migration_test=False,
        execution_method=ExecutionMethod.CREATE_ONLY,
        vpc_id="vpc-1",
        vswitch_id="vsw-a",
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_sdk_model_reads_and_writes_the_request_unchanged(name: str) -> None:
    request = request_of(SCENARIOS[name])
    assert sdk_round_trip(request) == request


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_described_line_is_a_parameter_on_the_wire(name: str) -> None:
    request = request_of(SCENARIOS[name])
    wire = OpenApiUtil.query(smc_models.CreateReplicationJobRequest().from_map(request).to_map())
    assert [key for key, _ in describe_request(request)] == [key for key, _ in flatten(request)]
    assert {key for key, _ in describe_request(request)} == set(wire)


class _RecordingSmc(BaseHTTPRequestHandler):
    """Answers CreateReplicationJob like SMC and remembers the query it received."""

    received: list[dict[str, str]] = []

    def do_POST(self) -> None:
        self.received.append(dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True)))
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps({"RequestId": "C8B26B44", "JobId": "j-bp17bclvg344"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test asserts on what was received."""


@pytest.fixture
def recording_smc() -> Iterator[tuple[SmcClient, list[dict[str, str]]]]:
    """The real SMC client, pointed at a server that keeps the query of every request it gets."""
    received: list[dict[str, str]] = []
    handler = type("Handler", (_RecordingSmc,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    config = Config(
        access_key_id="AKIDEXAMPLE",
        access_key_secret="example-secret",
        endpoint=f"127.0.0.1:{server.server_port}",
        protocol="http",
    )
    try:
        yield SmcClient(config), received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_real_sdk_puts_exactly_the_described_parameters_on_the_wire(
    recording_smc: tuple[SmcClient, list[dict[str, str]]],
) -> None:
    client, received = recording_smc
    request = request_of(SCENARIOS["image, everything"])
    response = client.create_replication_job(smc_models.CreateReplicationJobRequest().from_map(request))
    assert response.body.job_id == "j-bp17bclvg344"
    (query,) = received
    sent = query
    expected = {key: str(value) for key, value in flatten(request)}
    assert sent == expected
    assert sent["SystemDiskPart.1.Device"] == "0_1"
    assert sent["SystemDiskPart.1.Block"] == "False"
    assert sent["DataDisk.2.Index"] == "3"
    assert sent["Tag.1.Key"] == "cost"
    assert not any(name.startswith("Disks") for name in sent)


def test_with_lvm_the_real_sdk_puts_only_the_disks_structure_on_the_wire(
    recording_smc: tuple[SmcClient, list[dict[str, str]]],
) -> None:
    client, received = recording_smc
    request = request_of(SCENARIOS["image, lvm"])
    client.create_replication_job(smc_models.CreateReplicationJobRequest().from_map(request))
    (sent,) = received
    assert sent == {key: str(value) for key, value in flatten(request)}
    assert sent["Disks.System.LVM"] == "True"
    assert sent["Disks.System.Size"] == "60"
    assert sent["Disks.System.Part.1.Path"] == "/"
    assert sent["Disks.Data.1.Part.1.Path"] == "/data"
    assert (sent["Disks.Data.2.LVM"], sent["Disks.Data.2.Size"]) == ("True", "50")
    assert not any(name.startswith(("DataDisk", "SystemDisk")) for name in sent)


# -- describe -------------------------------------------------------------------------------


def test_described_request_explains_units_and_meanings() -> None:
    lines = dict(describe_request(request_of(SCENARIOS["image, everything"])))
    assert lines["ReplicationParameters"] == (
        '{"bandwidth_limit":6250,"compress_level":9,"checksum":true}: bandwidth_limit 6250 '
        "(KB/s — 50 Mbit/s as entered; the API does not document the unit, the SMC client uses KB/s); "
        "compress_level 9; checksum on"
    )
    assert lines["NetMode"] == "2 (VPC)"
    assert lines["TargetType"] == "Image (ECS image)"
    assert lines["RunOnce"] == "false (incremental job)"
    assert lines["Frequency"] == "24 (hours between incremental syncs)"
    assert lines["SystemDiskSize"] == "60 (GiB)"
    assert lines["SystemDiskPart.1.Block"] == "false (file-level replication)"
    assert lines["DataDisk.1.Part.1.SizeBytes"] == f"{GIB} (bytes, 1 GiB)"
    assert lines["ScheduledStartTime"] == "2030-01-01T00:00:00Z (UTC; SMC starts the job then)"
    assert lines["LicenseType"] == "BYOL (bring your own licence)"
    assert lines["JobType"] == "0 (server migration)"


def test_described_lvm_request_says_which_source_disk_each_entry_is() -> None:
    lines = dict(describe_request(request_of(SCENARIOS["image, lvm"])))
    assert lines["Disks.System.LVM"] == "true (rebuilt as LVM)"
    assert lines["Disks.System.Size"] == "60 (GiB)"
    assert lines["Disks.System.Part.1.Path"] == "/ (partition mount path)"
    assert lines["Disks.Data.1.LVM"] == "false (no LVM)"
    assert lines["Disks.Data.2.Size"] == "50 (GiB, source data disk 2)"
    assert lines["Disks.Data.1.Part.1.SizeBytes"] == f"{GIB} (bytes, 1 GiB)"
    assert "SystemDiskSize" not in lines


def test_unlimited_speed_is_described_as_such() -> None:
    lines = dict(describe_request(request_of(image_params())))
    assert "bandwidth_limit 0: unlimited" in lines["ReplicationParameters"]
    assert lines["NetMode"] == "0 (public network)"


# -- refusals -------------------------------------------------------------------------------


def test_parameters_that_break_a_rule_are_refused() -> None:
    with pytest.raises(InvalidParams) as raised:
        request_of(image_params(image_name=None))
    assert list(raised.value.by_key()) == ["image_name"]


@pytest.mark.parametrize("token", ["", "x" * 65, "é-token"])
def test_client_token_must_be_1_to_64_ascii_characters(token: str) -> None:
    with pytest.raises(ValueError, match="ClientToken"):
        create_replication_job_request(image_params(), client_token=token)
