"""ECS 2014-05-26: regions, zones, instances, network, images, disks, instance types, launch and release."""

from __future__ import annotations

import hashlib
from typing import Any

from sandbox.cloud import assistant
from sandbox.cloud.api import Context, Handler
from sandbox.cloud.protocol import (
    ApiError,
    Page,
    Params,
    iso,
    iso_minutes,
    page_by_number,
    page_by_token,
    slice_page,
    uses_token_paging,
    wildcard_match,
)
from sandbox.cloud.resources import clone_disks, launch_instance, release_instance
from sandbox.cloud.world import GIB, Disk, Image, Instance, Partition, Vpc, VSwitch


def describe_regions(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeRegions: every region of the world."""
    regions = [
        {
            "RegionId": region.region_id,
            "LocalName": region.local_name,
            "RegionEndpoint": region.endpoint,
            "Status": "available",
        }
        for region in ctx.world.regions.values()
    ]
    return {"Regions": {"Region": regions}}


def describe_zones(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeZones: zones of a region with the instance types and disk categories on sale."""
    region_id = ctx.require_region(params.text("RegionId"))
    verbose = params.bool_or("Verbose", True)
    types = sorted(ctx.world.instance_types)
    zones = []
    for zone in ctx.world.regions[region_id].zones:
        row: dict[str, Any] = {
            "ZoneId": zone.zone_id,
            "LocalName": zone.local_name,
            "ZoneType": "AvailabilityZone",
        }
        if verbose:
            row["AvailableResourceCreation"] = {
                "ResourceTypes": ["VSwitch", "IoOptimized", "Instance", "Disk"]
            }
            row["AvailableInstanceTypes"] = {"InstanceTypes": types}
            row["AvailableDiskCategories"] = {
                "DiskCategories": ["cloud_efficiency", "cloud_ssd", "cloud_essd"]
            }
            row["AvailableVolumeCategories"] = {"VolumeCategories": []}
            row["AvailableDedicatedHostTypes"] = {"DedicatedHostType": []}
            row["DedicatedHostGenerations"] = {"DedicatedHostGeneration": []}
            row["AvailableResources"] = {
                "ResourcesInfo": [
                    {
                        "IoOptimized": True,
                        "SystemDiskCategories": {"supportedSystemDiskCategory": ["cloud_essd", "cloud_ssd"]},
                        "DataDiskCategories": {"supportedDataDiskCategory": ["cloud_essd", "cloud_ssd"]},
                        "InstanceGenerations": {"supportedInstanceGeneration": ["ecs-6", "ecs-7"]},
                        "InstanceTypes": {"supportedInstanceType": types},
                        "InstanceTypeFamilies": {
                            "supportedInstanceTypeFamily": sorted(
                                {item.family for item in ctx.world.instance_types.values()}
                            )
                        },
                        "NetworkTypes": {"supportedNetworkCategory": ["vpc"]},
                    }
                ]
            }
        zones.append(row)
    return {"Zones": {"Zone": zones}}


def _paged(params: Params, rows: list[dict[str, Any]], *, default: int, maximum: int) -> dict[str, Any]:
    """Answer either PageNumber/PageSize or MaxResults/NextToken paging."""
    page: Page
    if uses_token_paging(params):
        page = page_by_token(params, default_size=default, max_size=maximum)
        chunk, next_token = slice_page(rows, page)
        return {"chunk": chunk, "NextToken": next_token, "PageNumber": 1, "PageSize": page.size}
    page = page_by_number(params, default_size=default, max_size=maximum, code="InvalidParameter.PageSize")
    chunk, _ = slice_page(rows, page)
    return {"chunk": chunk, "NextToken": "", "PageNumber": page.number, "PageSize": page.size}


def instance_view(ctx: Context, instance: Instance) -> dict[str, Any]:
    """An instance in DescribeInstances' nesting."""
    instance_type = ctx.world.instance_types.get(instance.instance_type)
    serial = hashlib.md5(instance.instance_id.encode(), usedforsecurity=False).hexdigest()
    mac = ":".join(["00", "16", "3e", serial[0:2], serial[2:4], serial[4:6]])
    return {
        "InstanceId": instance.instance_id,
        "InstanceName": instance.name,
        "HostName": instance.hostname or instance.name,
        "Description": instance.description,
        "RegionId": instance.region_id,
        "ZoneId": instance.zone_id,
        "Status": instance.status,
        "InstanceType": instance.instance_type,
        "InstanceTypeFamily": instance_type.family if instance_type else "",
        "Cpu": instance_type.cpu if instance_type else 2,
        "Memory": int((instance_type.memory_gib if instance_type else 8) * 1024),
        "OSType": instance.os.os_type,
        "OSName": instance.os.name,
        "OSNameEn": instance.os.name_en,
        "ImageId": instance.image_id,
        "CreationTime": iso_minutes(instance.created),
        "StartTime": iso_minutes(instance.running_at or instance.created),
        "ExpiredTime": "2099-12-31T15:59Z",
        "InstanceNetworkType": "vpc",
        "InstanceChargeType": "PostPaid",
        "InternetChargeType": "PayByTraffic",
        "InternetMaxBandwidthIn": 0,
        "InternetMaxBandwidthOut": 0,
        "IoOptimized": True,
        "DeletionProtection": False,
        "DeviceAvailable": True,
        "Recyclable": False,
        "SerialNumber": f"{serial[:8]}-{serial[8:12]}-{serial[12:16]}-{serial[16:20]}-{serial[20:32]}",
        "StoppedMode": "Not-applicable",
        "SpotStrategy": "NoSpot",
        "CreditSpecification": "",
        "GPUAmount": 0,
        "GPUSpec": "",
        "LocalStorageAmount": 0,
        "LocalStorageCapacity": 0,
        "ResourceGroupId": "",
        "KeyPairName": "",
        "VlanId": "",
        "HpcClusterId": "",
        "DeploymentSetId": "",
        "VpcAttributes": {
            "VpcId": instance.vpc_id,
            "VSwitchId": instance.vswitch_id,
            "NatIpAddress": "",
            "PrivateIpAddress": {"IpAddress": [instance.private_ip] if instance.private_ip else []},
        },
        "NetworkInterfaces": {
            "NetworkInterface": [
                {
                    "NetworkInterfaceId": f"eni-{instance.instance_id[2:]}",
                    "Type": "Primary",
                    "MacAddress": mac,
                    "PrimaryIpAddress": instance.private_ip,
                    "PrivateIpSets": {
                        "PrivateIpSet": [{"PrivateIpAddress": instance.private_ip, "Primary": True}]
                    },
                }
            ]
        },
        "PublicIpAddress": {"IpAddress": []},
        "InnerIpAddress": {"IpAddress": []},
        "RdmaIpAddress": {"IpAddress": []},
        "EipAddress": {"IpAddress": "", "AllocationId": "", "InternetChargeType": "", "Bandwidth": 0},
        "SecurityGroupIds": {"SecurityGroupId": list(instance.security_group_ids)},
        "OperationLocks": {"LockReason": []},
        "Tags": {"Tag": [{"TagKey": key, "TagValue": value} for key, value in instance.tags.items()]},
        "MetadataOptions": {"HttpEndpoint": "enabled", "HttpTokens": "optional"},
        "CpuOptions": {
            "CoreCount": max((instance_type.cpu if instance_type else 2) // 2, 1),
            "ThreadsPerCore": 2,
            "Numa": "",
        },
    }


def describe_instances(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeInstances: filters (InstanceIds ≤ 100 as a JSON array string, wildcard names, IPs, VPC)."""
    region_id = ctx.require_region(params.text("RegionId"))
    instance_ids = params.json_list("InstanceIds", max_items=100, code="InvalidInstanceIds.Malformed")
    private_ips = params.json_list(
        "PrivateIpAddresses", max_items=100, code="InvalidParameter.PrivateIpAddresses"
    )
    name = params.text("InstanceName")
    filters = {
        "vpc_id": params.text("VpcId"),
        "vswitch_id": params.text("VSwitchId"),
        "zone_id": params.text("ZoneId"),
        "status": params.text("Status"),
        "image_id": params.text("ImageId"),
        "instance_type": params.text("InstanceType"),
    }
    security_group = params.text("SecurityGroupId")
    tags = params.objects("Tag", max_items=20, code="InvalidTagCount")
    selected = []
    for instance in ctx.world.account_instances(ctx.caller.account_uid, region_id):
        if instance_ids is not None and instance.instance_id not in instance_ids:
            continue
        if private_ips is not None and instance.private_ip not in private_ips:
            continue
        if name is not None and not wildcard_match(name, instance.name):
            continue
        if any(value is not None and getattr(instance, key) != value for key, value in filters.items()):
            continue
        if security_group and security_group not in instance.security_group_ids:
            continue
        if not all(_tag_matches(instance.tags, tag) for tag in tags):
            continue
        selected.append(instance)
    selected.sort(key=lambda item: (item.created, item.instance_id), reverse=True)
    rows = [instance_view(ctx, instance) for instance in selected]
    paged = _paged(params, rows, default=10, maximum=100)
    return {
        "TotalCount": len(rows),
        "PageNumber": paged["PageNumber"],
        "PageSize": paged["PageSize"],
        "NextToken": paged["NextToken"],
        "Instances": {"Instance": paged["chunk"]},
    }


def _tag_matches(tags: dict[str, str], wanted: Any) -> bool:
    if not isinstance(wanted, dict):
        return True
    key = wanted.get("Key") or wanted.get("key")
    if not key:
        return True
    value = wanted.get("Value", wanted.get("value"))
    return key in tags and (value is None or tags[key] == value)


def _vpc_view(ctx: Context, vpc: Vpc) -> dict[str, Any]:
    vswitch_ids = [item.vswitch_id for item in ctx.world.vswitches.values() if item.vpc_id == vpc.vpc_id]
    return {
        "VpcId": vpc.vpc_id,
        "VpcName": vpc.name,
        "CidrBlock": vpc.cidr,
        "Status": "Available",
        "VRouterId": vpc.vrouter_id,
        "IsDefault": vpc.is_default,
        "RegionId": vpc.region_id,
        "CreationTime": iso(vpc.created),
        "Description": vpc.description,
        "VSwitchIds": {"VSwitchId": vswitch_ids},
        "UserCidrs": {"UserCidr": []},
    }


def describe_vpcs(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeVpcs: PageSize ≤ 50; VpcId may list several ids separated by commas."""
    region_id = ctx.require_region(params.text("RegionId"))
    wanted = params.text("VpcId")
    ids = {item.strip() for item in wanted.split(",")} if wanted else None
    if ids is not None and len(ids) > 20:
        raise ApiError(400, "InvalidVpcIdNumber.NotSupported", "The number of vpcIds exceeds the limit.")
    is_default = params.boolean("IsDefault")
    page = page_by_number(params, default_size=10, max_size=50, code="InvalidParameter.PageSize")
    vpcs = [
        vpc
        for vpc in ctx.world.vpcs.values()
        if vpc.account_uid == ctx.caller.account_uid
        and vpc.region_id == region_id
        and (ids is None or vpc.vpc_id in ids)
        and (is_default is None or vpc.is_default == is_default)
    ]
    vpcs.sort(key=lambda item: item.created)
    chunk, _ = slice_page(vpcs, page)
    return {
        "TotalCount": len(vpcs),
        "PageNumber": page.number,
        "PageSize": page.size,
        "Vpcs": {"Vpc": [_vpc_view(ctx, vpc) for vpc in chunk]},
    }


def _vswitch_view(vswitch: VSwitch) -> dict[str, Any]:
    return {
        "VSwitchId": vswitch.vswitch_id,
        "VpcId": vswitch.vpc_id,
        "ZoneId": vswitch.zone_id,
        "VSwitchName": vswitch.name,
        "CidrBlock": vswitch.cidr,
        "AvailableIpAddressCount": vswitch.available_ip_count,
        "Status": "Available",
        "IsDefault": vswitch.is_default,
        "CreationTime": iso(vswitch.created),
        "Description": vswitch.description,
        "ResourceGroupId": "",
    }


def describe_vswitches(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeVSwitches: by VPC, zone or id; PageSize ≤ 50; free addresses per vSwitch."""
    region_id = params.text("RegionId")
    if region_id is not None:
        ctx.require_region(region_id)
    vpc_id = params.text("VpcId")
    vswitch_id = params.text("VSwitchId")
    zone_id = params.text("ZoneId")
    is_default = params.boolean("IsDefault")
    page = page_by_number(params, default_size=10, max_size=50, code="InvalidParameter.PageSize")
    if vpc_id is not None:
        vpc = ctx.world.vpcs.get(vpc_id)
        if vpc is None or vpc.account_uid != ctx.caller.account_uid:
            raise ApiError(400, "Forbidden.VpcNotFound", "Specified VPC can not found.")
    vswitches = [
        item
        for item in ctx.world.vswitches.values()
        if item.account_uid == ctx.caller.account_uid
        and (region_id is None or item.region_id == region_id)
        and (vpc_id is None or item.vpc_id == vpc_id)
        and (vswitch_id is None or item.vswitch_id == vswitch_id)
        and (zone_id is None or item.zone_id == zone_id)
        and (is_default is None or item.is_default == is_default)
    ]
    vswitches.sort(key=lambda item: item.created)
    chunk, _ = slice_page(vswitches, page)
    return {
        "TotalCount": len(vswitches),
        "PageNumber": page.number,
        "PageSize": page.size,
        "VSwitches": {"VSwitch": [_vswitch_view(item) for item in chunk]},
    }


def describe_security_groups(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeSecurityGroups: by VPC or id."""
    region_id = ctx.require_region(params.text("RegionId"))
    vpc_id = params.text("VpcId")
    group_id = params.text("SecurityGroupId")
    group_ids = params.json_list("SecurityGroupIds", max_items=100, code="InvalidParameter.SecurityGroupIds")
    rows = [
        {
            "SecurityGroupId": group.group_id,
            "SecurityGroupName": group.name,
            "Description": group.description,
            "VpcId": group.vpc_id,
            "SecurityGroupType": "normal",
            "CreationTime": iso(group.created),
            "EcsCount": sum(
                1 for item in ctx.world.instances.values() if group.group_id in item.security_group_ids
            ),
            "ResourceGroupId": "",
            "ServiceManaged": False,
            "Tags": {"Tag": []},
        }
        for group in sorted(ctx.world.security_groups.values(), key=lambda item: item.created)
        if group.account_uid == ctx.caller.account_uid
        and group.region_id == region_id
        and (vpc_id is None or group.vpc_id == vpc_id)
        and (group_id is None or group.group_id == group_id)
        and (group_ids is None or group.group_id in group_ids)
    ]
    paged = _paged(params, rows, default=10, maximum=100)
    return {
        "RegionId": region_id,
        "TotalCount": len(rows),
        "PageNumber": paged["PageNumber"],
        "PageSize": paged["PageSize"],
        "NextToken": paged["NextToken"],
        "SecurityGroups": {"SecurityGroup": paged["chunk"]},
    }


def _image_view(ctx: Context, image: Image) -> dict[str, Any]:
    in_use = any(
        item.image_id == image.image_id and item.region_id == image.region_id
        for item in ctx.world.instances.values()
    )
    mappings = []
    disks = [image.system_disk, *image.data_disks] if image.system_disk else []
    for disk in disks:
        mappings.append(
            {
                "Type": "system" if disk.is_system else "data",
                "Device": disk.device,
                "Size": str(disk.size_gib),
                "SnapshotId": f"s-{image.image_id[2:]}{disk.index}",
                "Format": "",
                "Progress": "100%",
                "RemainTime": 0,
                "ImportOSSBucket": "",
                "ImportOSSObject": "",
            }
        )
    return {
        "ImageId": image.image_id,
        "ImageName": image.name,
        "ImageOwnerAlias": image.owner_alias,
        "ImageOwnerId": int(image.account_uid) if image.account_uid else 0,
        "OSType": image.os.os_type,
        "OSName": image.os.name,
        "OSNameEn": image.os.name_en,
        "Platform": image.os.platform,
        "Architecture": image.os.architecture,
        "Size": image.size_gib,
        "Status": image.status,
        "Progress": "100%",
        "CreationTime": iso(image.created),
        "Description": image.description,
        "ImageFamily": "",
        "ImageVersion": "",
        "ProductCode": "",
        "Usage": "instance" if in_use else "none",
        "IsCopied": False,
        "IsSelfShared": "",
        "IsSubscribed": False,
        "IsSupportCloudinit": not image.os.is_windows,
        "IsSupportIoOptimized": True,
        "IsPublic": image.account_uid is None,
        "LoginAsNonRootSupported": False,
        "BootMode": "BIOS",
        "DiskDeviceMappings": {"DiskDeviceMapping": mappings},
        "Tags": {"Tag": []},
        "Features": {"NvmeSupport": "supported"},
    }


def visible_image(ctx: Context, region_id: str, image_id: str) -> Image | None:
    """An image the caller may use in a region: public, or its own."""
    image = ctx.world.images.get((region_id, image_id))
    if image is None or (image.account_uid is not None and image.account_uid != ctx.caller.account_uid):
        return None
    return image


def describe_images(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeImages: public and own images; SMC image targets appear here with ImageOwnerAlias=self."""
    region_id = ctx.require_region(params.text("RegionId"))
    status = params.text("Status") or "Available"
    statuses = {item.strip() for item in status.split(",")}
    image_ids = params.text("ImageId")
    wanted_ids = {item.strip() for item in image_ids.split(",")} if image_ids else None
    name = params.text("ImageName")
    owner_alias = params.text("ImageOwnerAlias")
    if owner_alias is not None and owner_alias not in ("system", "self", "others", "marketplace"):
        raise ApiError(
            400,
            "InvalidImageOwnerAlias.ValueNotSupported",
            "The specified ImageOwnerAlias value is not supported.",
        )
    os_type = params.text("OSType")
    if os_type is not None and os_type not in ("linux", "windows"):
        raise ApiError(404, "InvalidOSType", "The specified OSType is not valid.")
    page = page_by_number(params, default_size=10, max_size=100, code="InvalidParameter.PageSize")
    images = [
        image
        for image in ctx.world.images.values()
        if image.region_id == region_id
        and (image.account_uid is None or image.account_uid == ctx.caller.account_uid)
        and image.status in statuses
        and (wanted_ids is None or image.image_id in wanted_ids)
        and (name is None or wildcard_match(name, image.name))
        and (owner_alias is None or image.owner_alias == owner_alias)
        and (os_type is None or image.os.os_type == os_type)
    ]
    images.sort(key=lambda item: (item.created, item.image_id), reverse=True)
    chunk, _ = slice_page(images, page)
    return {
        "RegionId": region_id,
        "TotalCount": len(images),
        "PageNumber": page.number,
        "PageSize": page.size,
        "Images": {"Image": [_image_view(ctx, image) for image in chunk]},
    }


def delete_image(ctx: Context, params: Params) -> dict[str, Any]:
    """DeleteImage: own images only; refused while instances use it unless Force."""
    region_id = ctx.require_region(params.text("RegionId"))
    image_id = params.require_text("ImageId")
    force = params.bool_or("Force", False)
    image = ctx.world.images.get((region_id, image_id))
    if image is None or (image.account_uid is not None and image.account_uid != ctx.caller.account_uid):
        raise ApiError(404, "InvalidImageId.NotFound", "The specified ImageId does not exist.")
    if image.account_uid is None:
        raise ApiError(403, "ImageIsPublic", "You can not delete public image, please modify it to private.")
    in_use = any(
        item.image_id == image_id and item.region_id == region_id for item in ctx.world.instances.values()
    )
    if in_use and not force:
        raise ApiError(403, "ImageUsingByInstance", "The specified image has been used to create instances.")
    del ctx.world.images[image.key]
    return {}


def _disk_view(instance: Instance, disk: Disk) -> dict[str, Any]:
    return {
        "DiskId": disk.disk_id,
        "DiskName": disk.name,
        "Description": "",
        "Type": "system" if disk.is_system else "data",
        "Category": disk.category,
        "Size": disk.size_gib,
        "Device": disk.device,
        "Status": "In_use",
        "InstanceId": instance.instance_id,
        "RegionId": instance.region_id,
        "ZoneId": instance.zone_id,
        "ImageId": instance.image_id if disk.is_system else "",
        "CreationTime": iso(instance.created),
        "AttachedTime": iso(instance.created),
        "DetachedTime": "",
        "ExpiredTime": "2099-12-31T15:59Z",
        "DiskChargeType": "PostPaid",
        "PerformanceLevel": "PL0" if disk.category == "cloud_essd" else "",
        "Portable": not disk.is_system,
        "DeleteWithInstance": True,
        "DeleteAutoSnapshot": True,
        "EnableAutoSnapshot": False,
        "EnableAutomatedSnapshotPolicy": False,
        "Encrypted": False,
        "KMSKeyId": "",
        "SerialNumber": disk.disk_id.replace("d-", ""),
        "SourceSnapshotId": "",
        "AutoSnapshotPolicyId": "",
        "MultiAttach": "Disabled",
        "IOPS": 1800 + 50 * disk.size_gib,
        "ResourceGroupId": "",
        "OperationLocks": {"OperationLock": []},
        "MountInstances": {"MountInstance": []},
        "Tags": {"Tag": []},
        "Attachments": {
            "Attachment": [
                {
                    "InstanceId": instance.instance_id,
                    "Device": disk.device,
                    "AttachedTime": iso(instance.created),
                }
            ]
        },
    }


def describe_disks(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeDisks: the disks of the caller's instances (DiskIds is a JSON array string ≤ 100)."""
    region_id = ctx.require_region(params.text("RegionId"))
    disk_ids = params.json_list("DiskIds", max_items=100, code="InvalidDiskIds.Malformed")
    instance_id = params.text("InstanceId")
    disk_type = params.text("DiskType") or "all"
    if disk_type not in ("all", "system", "data"):
        raise ApiError(400, "InvalidDiskType.ValueNotSupported", "The specified disk type is not supported.")
    zone_id = params.text("ZoneId")
    rows = []
    for instance in sorted(
        ctx.world.account_instances(ctx.caller.account_uid, region_id), key=lambda item: item.instance_id
    ):
        if instance_id is not None and instance.instance_id != instance_id:
            continue
        if zone_id is not None and instance.zone_id != zone_id:
            continue
        for disk in instance.disks:
            if disk_ids is not None and disk.disk_id not in disk_ids:
                continue
            if disk_type != "all" and (disk_type == "system") != disk.is_system:
                continue
            rows.append(_disk_view(instance, disk))
    if uses_token_paging(params):
        page = page_by_token(params, default_size=10, max_size=500)
        chunk, next_token = slice_page(rows, page)
        number = 1
    else:
        page = page_by_number(params, default_size=10, max_size=100, code="InvalidParameter.PageSize")
        chunk, _ = slice_page(rows, page)
        next_token, number = "", page.number
    return {
        "TotalCount": len(rows),
        "PageNumber": number,
        "PageSize": page.size,
        "NextToken": next_token,
        "Disks": {"Disk": chunk},
    }


def describe_instance_types(ctx: Context, params: Params) -> dict[str, Any]:
    """DescribeInstanceTypes: the world's (small) list, filterable by id or family."""
    wanted = params.repeat("InstanceTypes", max_items=10)
    family = params.text("InstanceTypeFamily")
    families = params.repeat("InstanceTypeFamilies", max_items=10)
    rows = []
    for item in sorted(ctx.world.instance_types.values(), key=lambda entry: entry.type_id):
        if wanted and item.type_id not in wanted:
            continue
        if family and item.family != family:
            continue
        if families and item.family not in families:
            continue
        rows.append(
            {
                "InstanceTypeId": item.type_id,
                "InstanceTypeFamily": item.family,
                "CpuCoreCount": item.cpu,
                "MemorySize": float(item.memory_gib),
                "InstanceCategory": item.category,
                "InstanceFamilyLevel": "EnterpriseLevel",
                "CpuArchitecture": "X86",
                "GPUAmount": 0,
                "GPUSpec": "",
                "LocalStorageAmount": 0,
                "LocalStorageCapacity": 0,
                "EniQuantity": 3,
                "DiskQuantity": 17,
                "NvmeSupport": "unsupported",
                "PhysicalProcessorModel": "Intel Xeon(Cascade Lake) Platinum 8269CY",
                "SupportedBootModes": {"SupportedBootMode": ["BIOS", "UEFI"]},
            }
        )
    return {"InstanceTypes": {"InstanceType": rows}, "NextToken": ""}


def run_instances(ctx: Context, params: Params) -> dict[str, Any]:
    """RunInstances: launch from an image into a vSwitch; instances boot, then their agent comes online."""
    region_id = ctx.require_region(params.text("RegionId"))
    image_id = params.require_text("ImageId")
    instance_type = params.require_text("InstanceType")
    image = visible_image(ctx, region_id, image_id)
    if image is None:
        raise ApiError(404, "InvalidImageId.NotFound", "The specified ImageId does not exist.")
    if instance_type not in ctx.world.instance_types:
        raise ApiError(
            400,
            "InvalidInstanceType.ValueNotSupported",
            "The specified InstanceType beyond the permitted range.",
        )
    vswitch_id = params.text("VSwitchId")
    if vswitch_id is None:
        raise ApiError(
            400,
            "MissingParameter",
            'The input parameter "VSwitchId" that is mandatory for processing this request is not supplied.',
        )
    vswitch = ctx.world.vswitches.get(vswitch_id)
    if vswitch is None or vswitch.account_uid != ctx.caller.account_uid or vswitch.region_id != region_id:
        raise ApiError(404, "InvalidVSwitchId.NotFound", "The specified VSwitchId does not exist.")
    zone_id = params.text("ZoneId") or vswitch.zone_id
    if zone_id != vswitch.zone_id:
        raise ApiError(
            400, "InvalidParameter.Mismatch", "The specified ZoneId and VSwitch zone do not match."
        )
    single = params.text("SecurityGroupId")
    several = [item for item in params.repeat("SecurityGroupIds") if item]
    if single and several:
        raise ApiError(
            400,
            "InvalidSecurityGroupId.SingleIdAndMultiIdConflict",
            "SecurityGroupId and SecurityGroupIds.N cannot be set at the same time.",
        )
    groups = [single] if single else several
    if not groups:
        # Without a launch template (not simulated) ECS needs the security group of the new instance.
        raise ApiError(
            400,
            "MissingParameter",
            'The input parameter "SecurityGroupId" that is mandatory for processing this request '
            "is not supplied.",
        )
    for group_id in groups:
        group = ctx.world.security_groups.get(group_id)
        if group is None or group.account_uid != ctx.caller.account_uid:
            raise ApiError(
                400,
                "InvalidSecurityGroupId.NotFound",
                "The SecurityGroupId provided does not exist in our records.",
            )
        if group.vpc_id != vswitch.vpc_id:
            raise ApiError(
                400,
                "InvalidParameter.Mismatch",
                "Specified security group and virtual switch are not in the same VPC.",
            )
    amount = params.int_or("Amount", 1, minimum=1, maximum=100, code="InvalidParameter.Amount")
    minimum_size = max(image.size_gib, 20)
    system_size = params.int_or(
        "SystemDisk.Size",
        minimum_size,
        minimum=minimum_size,
        maximum=2048,
        code="InvalidSystemDiskSize.ValueNotSupported",
    )
    data_specs = params.objects("DataDisk", max_items=16, code="InstanceDiskNumber.LimitExceed")
    if params.bool_or("DryRun", False):
        raise ApiError(400, "DryRunOperation", "Request validation has been passed with DryRun flag set.")
    if vswitch.available_ip_count < amount:
        raise ApiError(400, "QuotaExceeded.PrivateIpAddress", "Don't have enough private IPs in this switch.")
    base_name = params.text("InstanceName") or f"launch-advisor-{ctx.now:%Y%m%d}"
    created = []
    for number in range(amount):
        disks = _launch_disks(
            image, system_size, data_specs, params.text("SystemDisk.Category") or "cloud_essd"
        )
        name = base_name if amount == 1 else f"{base_name}{number + 1:03d}"
        instance = launch_instance(
            ctx.world,
            ctx.ids,
            account_uid=ctx.caller.account_uid,
            region_id=region_id,
            zone_id=zone_id,
            name=name,
            instance_type=instance_type,
            os=image.os,
            image_id=image.image_id,
            disks=disks,
            vswitch_id=vswitch.vswitch_id,
            now=ctx.now,
            security_group_ids=groups,
            description=params.text("Description") or "",
        )
        for tag in params.objects("Tag", max_items=20, code="InvalidTagCount"):
            if isinstance(tag, dict) and tag.get("Key"):
                instance.tags[str(tag["Key"])] = str(tag.get("Value", ""))
        created.append(instance.instance_id)
    return {"InstanceIdSets": {"InstanceIdSet": created}, "OrderId": "", "TradePrice": 0.0}


def _launch_disks(image: Image, system_size: int, data_specs: list[Any], category: str) -> list[Disk]:
    if image.system_disk is not None:
        system = clone_disks([image.system_disk])[0]
        system.disk_id = ""
        system.size_gib = system_size
    else:
        used = 2 * GIB if not image.os.is_windows else 14 * GIB
        path = "C:\\" if image.os.is_windows else "/"
        system = Disk("", 0, system_size, [Partition(path, system_size * GIB, used)])
    system.category = category
    disks = [system]
    for index, spec in enumerate(data_specs, start=1):
        size = int(spec.get("Size", 20)) if isinstance(spec, dict) else 20
        path = f"{chr(ord('D') + index - 1)}:\\" if image.os.is_windows else f"/data{index}"
        disks.append(Disk("", index, size, [Partition(path, size * GIB, 0)]))
    return disks


def delete_instance(ctx: Context, params: Params) -> dict[str, Any]:
    """DeleteInstance: a running instance needs Force=true; SMC intermediate instances are refused."""
    instance_id = params.require_text("InstanceId")
    instance = ctx.world.instances.get(instance_id)
    if instance is None or instance.account_uid != ctx.caller.account_uid:
        raise ApiError(404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist.")
    force = params.bool_or("Force", False)
    if instance.status not in ("Stopped",) and not force:
        raise ApiError(
            403,
            "IncorrectInstanceStatus",
            "The current status of the resource does not support this operation.",
        )
    if instance.purpose == "smc-intermediate":
        raise ApiError(403, "Operation.Forbidden", "The instance is managed by Server Migration Center.")
    release_instance(ctx.world, instance_id)
    return {}


def stop_instance(ctx: Context, params: Params) -> dict[str, Any]:
    """StopInstance: Running → Stopped (immediately in the sandbox)."""
    instance = _own_instance(ctx, params.require_text("InstanceId"))
    if instance.status != "Running":
        raise ApiError(
            403,
            "IncorrectInstanceStatus",
            "The current status of the resource does not support this operation.",
        )
    instance.status = "Stopped"
    return {}


def start_instance(ctx: Context, params: Params) -> dict[str, Any]:
    """StartInstance: Stopped → Running (immediately in the sandbox)."""
    instance = _own_instance(ctx, params.require_text("InstanceId"))
    if instance.status != "Stopped":
        raise ApiError(
            403,
            "IncorrectInstanceStatus",
            "The current status of the resource does not support this operation.",
        )
    instance.status = "Running"
    return {}


def _own_instance(ctx: Context, instance_id: str) -> Instance:
    instance = ctx.world.instances.get(instance_id)
    if instance is None or instance.account_uid != ctx.caller.account_uid:
        raise ApiError(404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist.")
    return instance


ACTIONS: dict[str, Handler] = {
    "DescribeRegions": describe_regions,
    "DescribeZones": describe_zones,
    "DescribeInstances": describe_instances,
    "DescribeVpcs": describe_vpcs,
    "DescribeVSwitches": describe_vswitches,
    "DescribeSecurityGroups": describe_security_groups,
    "DescribeImages": describe_images,
    "DeleteImage": delete_image,
    "DescribeDisks": describe_disks,
    "DescribeInstanceTypes": describe_instance_types,
    "RunInstances": run_instances,
    "DeleteInstance": delete_instance,
    "StopInstance": stop_instance,
    "StartInstance": start_instance,
    **assistant.ACTIONS,
}
