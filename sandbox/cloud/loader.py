"""Build a World from a YAML/JSON world file (schema in docs/SANDBOX.md), including `generate:` blocks."""

from __future__ import annotations

import copy
import functools
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import yaml

from sandbox.cloud.faults import parse_fault_config
from sandbox.cloud.ids import IdFactory
from sandbox.cloud.protocol import parse_time
from sandbox.cloud.resources import source_from_instance
from sandbox.cloud.world import (
    GIB,
    AccessKey,
    AccessToken,
    Account,
    Disk,
    Image,
    Instance,
    InstanceType,
    OsInfo,
    Partition,
    Quotas,
    Region,
    Role,
    SecurityGroup,
    SourceServer,
    SourceState,
    Speeds,
    Timings,
    Vpc,
    VSwitch,
    World,
    Zone,
)

DEFAULT_CREATED = datetime(2024, 1, 15, 8, 0, tzinfo=UTC)

OS_PRESETS: dict[str, OsInfo] = {
    "alinux-3": OsInfo(
        "linux", "Alibaba Cloud Linux  3.2104 LTS 64位", "Alibaba Cloud Linux  3.2104 LTS 64 bit", "Aliyun"
    ),
    "centos-7.9": OsInfo("linux", "CentOS  7.9 64位", "CentOS  7.9 64 bit", "CentOS"),
    "centos-6.10": OsInfo("linux", "CentOS  6.10 64位", "CentOS  6.10 64 bit", "CentOS"),
    "ubuntu-22.04": OsInfo("linux", "Ubuntu  22.04 64位", "Ubuntu  22.04 64 bit", "Ubuntu"),
    "ubuntu-20.04": OsInfo("linux", "Ubuntu  20.04 64位", "Ubuntu  20.04 64 bit", "Ubuntu"),
    "debian-12": OsInfo("linux", "Debian  12.5 64位", "Debian  12.5 64 bit", "Debian"),
    "rhel-8.8": OsInfo(
        "linux", "Red Hat Enterprise Linux 8.8 64位", "Red Hat Enterprise Linux 8.8 64 bit", "Red Hat"
    ),
    "windows-2019": OsInfo(
        "windows",
        "Windows Server  2019 数据中心版 64位英文版",
        "Windows Server  2019 Data Center Edition 64bit English Edition",
        "Windows Server 2019",
    ),
    "windows-2022": OsInfo(
        "windows",
        "Windows Server  2022 数据中心版 64位英文版",
        "Windows Server  2022 Data Center Edition 64bit English Edition",
        "Windows Server 2022",
    ),
}


class WorldError(ValueError):
    """The world file is malformed; the message says where."""


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data or data[key] in (None, ""):
        raise WorldError(f"{where}: `{key}` is required")
    return data[key]


def _time(value: Any, where: str, default: datetime = DEFAULT_CREATED) -> datetime:
    if value is None:
        return default
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = parse_time(str(value))
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise WorldError(f"{where}: {value!r} is not a time like 2024-01-15T08:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _os(value: Any, where: str) -> tuple[OsInfo, str]:
    if isinstance(value, str):
        preset = OS_PRESETS.get(value)
        if preset is None:
            raise WorldError(f"{where}: unknown os preset {value!r} (known: {', '.join(sorted(OS_PRESETS))})")
        return OsInfo(
            preset.os_type, preset.name, preset.name_en, preset.platform, preset.architecture
        ), value
    if isinstance(value, Mapping):
        os_type = str(_require(value, "type", where)).lower()
        if os_type not in ("linux", "windows"):
            raise WorldError(f"{where}: os type must be linux or windows")
        name = str(_require(value, "name", where))
        return (
            OsInfo(
                os_type,
                name,
                str(value.get("name_en", name)),
                str(value.get("platform", "Windows Server" if os_type == "windows" else "Linux")),
                str(value.get("architecture", "x86_64")),
            ),
            "",
        )
    raise WorldError(f"{where}: `os` must be a preset name or a mapping")


def _gib(value: Any) -> int:
    return round(float(value) * GIB)


def _disks(items: Any, os: OsInfo, where: str, *, ids: IdFactory, region_id: str, owner: str) -> list[Disk]:
    if not isinstance(items, list) or not items:
        raise WorldError(f"{where}: `disks` must list at least the system disk")
    disks = []
    for index, item in enumerate(items):
        label = f"{where}.disks[{index}]"
        size = int(_require(item, "size_gib", label))
        raw_parts = item.get("partitions")
        if raw_parts:
            partitions = [
                Partition(
                    path=str(_require(part, "path", label)),
                    size_bytes=_gib(part.get("size_gib", size)),
                    used_bytes=_gib(part.get("used_gib", 0)),
                    can_block=bool(part.get("can_block", True)),
                    need=bool(part.get("need", False)),
                )
                for part in raw_parts
            ]
        else:
            if os.is_windows:
                path = "C:\\" if index == 0 else f"{chr(ord('D') + index - 1)}:\\"
            else:
                path = "/" if index == 0 else f"/data{index}"
            used = item.get("used_gib", size * 0.1)
            partitions = [Partition(path, size * GIB, _gib(used))]
        for part in partitions:
            if part.used_bytes > part.size_bytes:
                raise WorldError(f"{label}: partition {part.path} uses more than its size")
        disks.append(
            Disk(
                disk_id=str(item.get("id") or ids.stable("d", region_id, owner, str(index))),
                index=index,
                size_gib=size,
                partitions=partitions,
                category=str(item.get("category", "cloud_essd")),
                lvm=bool(item.get("lvm", False)),
                name=str(item.get("name", "")),
            )
        )
    return disks


class _Builder:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        seed = str(data.get("seed", "smc-sandbox"))
        self.ids = IdFactory(seed)
        regions = {}
        for item in data.get("regions") or []:
            region_id = str(_require(item, "id", "regions[]"))
            zones = [
                Zone(
                    str(_require(zone, "id", f"regions.{region_id}.zones[]")),
                    str(zone.get("name", zone["id"])),
                )
                for zone in item.get("zones") or []
            ]
            if not zones:
                raise WorldError(f"regions.{region_id}: at least one zone is required")
            regions[region_id] = Region(region_id, str(item.get("name", region_id)), zones)
        if not regions:
            raise WorldError("`regions` must list at least one region")
        types = {}
        for item in data.get("instance_types") or []:
            type_id = str(_require(item, "id", "instance_types[]"))
            types[type_id] = InstanceType(
                type_id,
                str(item.get("family", type_id.rsplit(".", 1)[0])),
                int(item.get("cpu", 2)),
                float(item.get("memory_gib", 8)),
                str(item.get("category", "General-purpose")),
            )
        clock = data.get("clock") or {}
        self.world = World(
            seed=seed,
            regions=regions,
            instance_types=types,
            accounts={},
            timings=Timings(**(data.get("timings") or {})),
            speeds=Speeds(**(data.get("speeds") or {})),
            clock_start=_time(clock.get("start"), "clock.start") if clock.get("start") else None,
            sts_real_clock=bool((data.get("sts") or {}).get("real_clock", False)),
            faults=parse_fault_config(data.get("faults")),
        )
        self.preset_images: dict[tuple[str, str], str] = {}

    def region(self, value: Any, where: str) -> str:
        region_id = str(value)
        if region_id not in self.world.regions:
            raise WorldError(f"{where}: unknown region {region_id!r}")
        return region_id

    def build(self) -> World:
        for index, item in enumerate(self.data.get("public_images") or []):
            self.public_image(item, f"public_images[{index}]")
        accounts = self.data.get("accounts") or []
        for item in accounts:
            self.account(item)
        for item in accounts:
            uid = str(item["uid"])
            for index, network in enumerate(item.get("vpcs") or []):
                self.vpc(uid, network, f"accounts.{uid}.vpcs[{index}]")
            for index, spec in enumerate(item.get("instances") or []):
                self.instance(uid, spec, f"accounts.{uid}.instances[{index}]")
            for index, spec in enumerate(item.get("generate") or []):
                self.generate(uid, spec, f"accounts.{uid}.generate[{index}]")
            for index, spec in enumerate(item.get("images") or []):
                self.own_image(uid, spec, f"accounts.{uid}.images[{index}]")
            for index, spec in enumerate(item.get("access_tokens") or []):
                self.token(uid, spec, f"accounts.{uid}.access_tokens[{index}]")
        for item in accounts:
            uid = str(item["uid"])
            for index, spec in enumerate(item.get("source_servers") or []):
                self.source(uid, spec, f"accounts.{uid}.source_servers[{index}]")
        return self.world

    def account(self, item: Mapping[str, Any]) -> None:
        uid = str(_require(item, "uid", "accounts[]"))
        if uid in self.world.accounts:
            raise WorldError(f"accounts: duplicate uid {uid}")
        keys = [
            AccessKey(
                str(_require(key, "id", f"accounts.{uid}.access_keys[]")), str(_require(key, "secret", uid))
            )
            for key in item.get("access_keys") or []
        ]
        if not keys:
            raise WorldError(f"accounts.{uid}: at least one access key is required")
        roles = {}
        for role in item.get("roles") or []:
            name = str(_require(role, "name", f"accounts.{uid}.roles[]"))
            digest = int(hashlib.sha256(f"{uid}|{name}".encode()).hexdigest(), 16)
            roles[name.lower()] = Role(
                account_uid=uid,
                name=name,
                role_id=str(role.get("role_id", f"3{digest % 10**16:016d}")),
                trusted_accounts=[str(value) for value in role.get("trusted_accounts") or []],
                max_session_duration=int(role.get("max_session_duration", 3600)),
                external_id=role.get("external_id"),
                description=str(role.get("description", "")),
            )
        self.world.accounts[uid] = Account(
            uid=uid,
            name=str(item.get("name", uid)),
            access_keys=keys,
            roles=roles,
            smc_service_role=bool(item.get("smc_service_role", True)),
            quotas=Quotas(**(item.get("quotas") or {})),
        )

    def public_image(self, item: Mapping[str, Any], where: str) -> None:
        os, preset = _os(_require(item, "os", where), where)
        regions = item.get("regions") or list(self.world.regions)
        for region in regions:
            region_id = self.region(region, where)
            image = Image(
                image_id=str(_require(item, "id", where)),
                region_id=region_id,
                name=str(item.get("name", item["id"])),
                os=os,
                size_gib=int(item.get("size_gib", 40 if os.is_windows else 20)),
                created=_time(item.get("created"), where),
                description=str(item.get("description", "")),
            )
            self.world.images[image.key] = image
            if preset:
                self.preset_images.setdefault((region_id, preset), image.image_id)

    def vpc(self, uid: str, item: Mapping[str, Any], where: str) -> None:
        region_id = self.region(_require(item, "region", where), where)
        vpc_id = str(_require(item, "id", where))
        created = _time(item.get("created"), where)
        self.world.vpcs[vpc_id] = Vpc(
            vpc_id=vpc_id,
            account_uid=uid,
            region_id=region_id,
            name=str(item.get("name", "")),
            cidr=str(_require(item, "cidr", where)),
            created=created,
            description=str(item.get("description", "")),
            is_default=bool(item.get("is_default", False)),
            vrouter_id=str(item.get("vrouter_id") or self.ids.stable("vrt", region_id, vpc_id)),
        )
        zones = {zone.zone_id for zone in self.world.regions[region_id].zones}
        for index, switch in enumerate(item.get("vswitches") or []):
            label = f"{where}.vswitches[{index}]"
            zone_id = str(_require(switch, "zone", label))
            if zone_id not in zones:
                raise WorldError(f"{label}: zone {zone_id} is not in {region_id}")
            vswitch_id = str(_require(switch, "id", label))
            self.world.vswitches[vswitch_id] = VSwitch(
                vswitch_id=vswitch_id,
                vpc_id=vpc_id,
                account_uid=uid,
                region_id=region_id,
                zone_id=zone_id,
                name=str(switch.get("name", "")),
                cidr=str(_require(switch, "cidr", label)),
                created=_time(switch.get("created"), label, created),
                description=str(switch.get("description", "")),
                is_default=bool(switch.get("is_default", False)),
                reserved_count=int(switch.get("reserved", 0)),
            )
        for index, group in enumerate(item.get("security_groups") or []):
            label = f"{where}.security_groups[{index}]"
            group_id = str(_require(group, "id", label))
            self.world.security_groups[group_id] = SecurityGroup(
                group_id=group_id,
                account_uid=uid,
                region_id=region_id,
                vpc_id=vpc_id,
                name=str(group.get("name", "")),
                created=_time(group.get("created"), label, created),
                description=str(group.get("description", "")),
            )

    def _vswitch(self, uid: str, value: Any, where: str) -> VSwitch:
        vswitch = self.world.vswitches.get(str(value))
        if vswitch is None or vswitch.account_uid != uid:
            raise WorldError(f"{where}: vswitch {value!r} is not defined for account {uid}")
        return vswitch

    def instance(self, uid: str, item: Mapping[str, Any], where: str, *, ip: str | None = None) -> Instance:
        vswitch = self._vswitch(uid, _require(item, "vswitch", where), where)
        region_id = vswitch.region_id
        if "region" in item and str(item["region"]) != region_id:
            raise WorldError(f"{where}: region {item['region']} differs from its vswitch's {region_id}")
        os, preset = _os(_require(item, "os", where), where)
        instance_id = str(_require(item, "id", where))
        if instance_id in self.world.instances:
            raise WorldError(f"{where}: duplicate instance id {instance_id}")
        instance_type = str(item.get("instance_type", "ecs.g6.large"))
        if instance_type not in self.world.instance_types:
            raise WorldError(f"{where}: unknown instance type {instance_type}")
        address = ip or str(_require(item, "private_ip", where))
        try:
            vswitch.allocate(address)
        except ValueError as error:
            raise WorldError(f"{where}: {error}") from None
        name = str(_require(item, "name", where))
        instance = Instance(
            instance_id=instance_id,
            account_uid=uid,
            region_id=region_id,
            zone_id=str(item.get("zone", vswitch.zone_id)),
            name=name,
            instance_type=instance_type,
            os=os,
            image_id=str(item.get("image_id") or self.preset_images.get((region_id, preset), "")),
            disks=_disks(item.get("disks"), os, where, ids=self.ids, region_id=region_id, owner=instance_id),
            vpc_id=vswitch.vpc_id,
            vswitch_id=vswitch.vswitch_id,
            private_ip=address,
            created=_time(item.get("created"), where),
            security_group_ids=[str(value) for value in item.get("security_groups") or []],
            hostname=str(item.get("hostname", name)),
            description=str(item.get("description", "")),
            status=str(item.get("status", "Running")),
            cloud_assistant=bool(item.get("cloud_assistant", True)),
            tags={str(key): str(value) for key, value in (item.get("tags") or {}).items()},
        )
        self.world.instances[instance_id] = instance
        return instance

    def generate(self, uid: str, item: Mapping[str, Any], where: str) -> None:
        count = int(_require(item, "count", where))
        pattern = str(_require(item, "name", where))
        vswitch = self._vswitch(uid, _require(item, "vswitch", where), where)
        first_ip = IPv4Address(str(_require(item, "first_ip", where)))
        start = int(item.get("start", 1))
        system = item.get("system_disk") or {"size_gib": 20, "used_gib": 4}
        data_disk = item.get("data_disk")
        for offset in range(count):
            number = start + offset
            name = pattern.format(n=number)
            spec: dict[str, Any] = {
                "id": self.ids.stable("i", vswitch.region_id, uid, name),
                "name": name,
                "vswitch": vswitch.vswitch_id,
                "os": item.get("os", "centos-7.9"),
                "instance_type": item.get("instance_type", "ecs.t6-c1m1.large"),
                "security_groups": item.get("security_groups") or [],
                "cloud_assistant": item.get("cloud_assistant", True),
                "created": item.get("created"),
                "tags": item.get("tags") or {},
                "disks": [dict(system), *([dict(data_disk)] if data_disk else [])],
            }
            self.instance(uid, spec, f"{where}[{number}]", ip=str(first_ip + offset))

    def own_image(self, uid: str, item: Mapping[str, Any], where: str) -> None:
        os, _ = _os(_require(item, "os", where), where)
        region_id = self.region(_require(item, "region", where), where)
        image = Image(
            image_id=str(_require(item, "id", where)),
            region_id=region_id,
            name=str(_require(item, "name", where)),
            os=os,
            size_gib=int(item.get("size_gib", 40)),
            created=_time(item.get("created"), where),
            account_uid=uid,
            owner_alias="self",
            description=str(item.get("description", "")),
        )
        self.world.images[image.key] = image

    def token(self, uid: str, item: Mapping[str, Any], where: str) -> None:
        token = AccessToken(
            token_id=str(_require(item, "id", where)),
            account_uid=uid,
            code=str(_require(item, "code", where)),
            count=int(item.get("count", 100)),
            ttl_days=int(item.get("ttl_days", 30)),
            created=_time(item.get("created"), where),
            name=str(item.get("name", "")),
            description=str(item.get("description", "")),
            registered_count=int(item.get("registered_count", 0)),
        )
        self.world.access_tokens[token.token_id] = token

    def source(self, uid: str, item: Mapping[str, Any], where: str) -> None:
        source_id = str(_require(item, "id", where))
        state = SourceState(str(item.get("state", "Available")))
        created = _time(item.get("created"), where)
        reference = item.get("instance")
        source: SourceServer
        if reference:
            account = str(_require(reference, "account", where))
            instance = self.world.instances.get(str(_require(reference, "id", where)))
            if instance is None or instance.account_uid != account:
                raise WorldError(f"{where}: instance {reference} is not defined")
            source = source_from_instance(
                self.world,
                self.ids,
                account_uid=uid,
                instance=instance,
                now=created,
                source_id=source_id,
                name=item.get("name"),
                state=state,
            )
        else:
            os, _ = _os(_require(item, "os", where), where)
            disks = _disks(
                item.get("disks"), os, where, ids=self.ids, region_id="cn-hangzhou", owner=source_id
            )
            source = SourceServer(
                source_id=source_id,
                account_uid=uid,
                name=str(_require(item, "name", where)),
                os=os,
                system_disk=disks[0],
                data_disks=disks[1:],
                created=created,
                state=state,
                hostname=str(item.get("hostname", item["name"])),
                private_ip=str(item.get("private_ip", "")),
            )
            self.world.source_servers[source_id] = source
        source.description = str(item.get("description", source.description))
        source.error_code = str(item.get("error_code", ""))
        source.status_info = str(item.get("status_info", ""))


def load_world(source: str | Path | Mapping[str, Any]) -> World:
    """A World from a YAML/JSON file path or an already parsed mapping."""
    if isinstance(source, Mapping):
        data: Any = source
    else:
        try:
            data = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise WorldError(f"{source}: not valid YAML/JSON: {error}") from None
    if not isinstance(data, Mapping):
        raise WorldError("a world file must be a mapping at the top level")
    try:
        return _Builder(data).build()
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, WorldError):
            raise
        raise WorldError(f"malformed world: {error}") from error


@functools.cache
def _default_world_parsed() -> dict[str, Any]:
    text = resources.files("sandbox.cloud").joinpath("default_world.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise WorldError("default_world.yaml must be a mapping")
    return data


def default_world_data() -> dict[str, Any]:
    """The parsed default world file shipped with the package (a fresh copy to edit freely)."""
    return copy.deepcopy(_default_world_parsed())


def default_world() -> World:
    """A fresh World built from `sandbox/cloud/default_world.yaml`."""
    return load_world(default_world_data())
