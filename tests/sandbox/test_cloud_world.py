"""World files: the default world's contract, compact `generate:` blocks, clear errors, and isolation."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from sandbox.cloud import WorldError, default_world, load_world
from sandbox.cloud.loader import default_world_data
from sandbox.cloud.world import SourceState
from tests.sandbox.test_cloud_support import (
    DEST,
    KEYS,
    OTHER,
    SOURCE,
    SOURCE_LINUX,
    SOURCE_WINDOWS,
    TARGET_LINUX,
    TARGET_WINDOWS,
    WEB_PROD_01,
)

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"


def _minimal(**extra: Any) -> dict[str, Any]:
    world: dict[str, Any] = {
        "seed": "tiny",
        "regions": [{"id": "cn-hangzhou", "zones": [{"id": "cn-hangzhou-h"}]}],
        "instance_types": [{"id": "ecs.g6.large", "cpu": 2, "memory_gib": 8}],
        "accounts": [
            {
                "uid": "42",
                "access_keys": [{"id": "LTAI5tTiny", "secret": "tiny-secret"}],
                "vpcs": [
                    {
                        "id": "vpc-1",
                        "region": "cn-hangzhou",
                        "cidr": "10.0.0.0/16",
                        "vswitches": [{"id": "vsw-1", "zone": "cn-hangzhou-h", "cidr": "10.0.1.0/24"}],
                    }
                ],
            }
        ],
    }
    world["accounts"][0].update(extra)
    return world


def test_default_world_accounts_keys_and_roles() -> None:
    world = default_world()
    assert sorted(world.accounts) == [DEST, SOURCE, OTHER]
    for uid, (key_id, secret) in KEYS.items():
        [key] = world.accounts[uid].access_keys
        assert (key.key_id, key.secret) == (key_id, secret)
    assert world.accounts[SOURCE].roles["ram-role-smc"].trusted_accounts == [DEST]
    assert DEST not in world.accounts[OTHER].roles["ram-role-smc"].trusted_accounts


def test_default_world_resources() -> None:
    world = default_world()
    shanghai = world.account_instances(SOURCE, "cn-shanghai")
    assert len(shanghai) >= 120
    hangzhou = {item.name: item for item in world.account_instances(SOURCE, "cn-hangzhou")}
    assert hangzhou["win-ad-01"].os.is_windows
    assert not hangzhou["legacy-erp-01"].cloud_assistant
    assert hangzhou["db-mysql-01"].disks[1].lvm
    assert hangzhou["web-prod-01"].instance_id == WEB_PROD_01
    assert {world.instances[TARGET_LINUX].os.os_type, world.instances[TARGET_WINDOWS].os.os_type} == {
        "linux",
        "windows",
    }
    sources = {source.source_id: source for source in world.source_servers.values()}
    assert {sources[SOURCE_LINUX].os.os_type, sources[SOURCE_WINDOWS].os.os_type} == {"linux", "windows"}
    assert all(source.state == SourceState.AVAILABLE for source in sources.values())
    assert {vpc.region_id for vpc in world.vpcs.values() if vpc.account_uid == DEST} == {
        "cn-hangzhou",
        "cn-shanghai",
    }


def test_worlds_are_reproducible() -> None:
    first, second = default_world(), default_world()
    assert sorted(first.instances) == sorted(second.instances)
    assert [disk.disk_id for disk in first.instances[WEB_PROD_01].disks] == [
        disk.disk_id for disk in second.instances[WEB_PROD_01].disks
    ]


def test_generate_block_expands_to_numbered_instances() -> None:
    world = load_world(
        _minimal(
            generate=[
                {
                    "count": 3,
                    "name": "node-{n:02d}",
                    "vswitch": "vsw-1",
                    "first_ip": "10.0.1.50",
                    "instance_type": "ecs.g6.large",
                    "os": "ubuntu-22.04",
                    "system_disk": {"size_gib": 30, "used_gib": 5},
                    "data_disk": {"size_gib": 50, "used_gib": 10},
                }
            ]
        )
    )
    instances = sorted(world.instances.values(), key=lambda item: item.name)
    assert [(item.name, item.private_ip) for item in instances] == [
        ("node-01", "10.0.1.50"),
        ("node-02", "10.0.1.51"),
        ("node-03", "10.0.1.52"),
    ]
    assert [disk.size_gib for disk in instances[0].disks] == [30, 50]
    assert instances[0].disks[1].used_bytes == 10 * 1024**3
    assert world.vswitches["vsw-1"].available_ip_count == 252 - 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {
                "instances": [
                    {
                        "id": "i-1",
                        "name": "a",
                        "vswitch": "vsw-9",
                        "os": "centos-7.9",
                        "private_ip": "10.0.1.5",
                    }
                ]
            },
            "vsw-9",
        ),
        (
            {
                "instances": [
                    {"id": "i-1", "name": "a", "vswitch": "vsw-1", "os": "beos", "private_ip": "10.0.1.5"}
                ]
            },
            "beos",
        ),
        (
            {
                "instances": [
                    {
                        "id": "i-1",
                        "name": "a",
                        "vswitch": "vsw-1",
                        "os": "centos-7.9",
                        "private_ip": "10.9.9.9",
                    }
                ]
            },
            "10.9.9.9",
        ),
        (
            {
                "instances": [
                    {
                        "id": "i-1",
                        "name": "a",
                        "vswitch": "vsw-1",
                        "os": "centos-7.9",
                        "private_ip": "10.0.1.5",
                        "disks": [
                            {"size_gib": 10, "partitions": [{"path": "/", "size_gib": 10, "used_gib": 11}]}
                        ],
                    }
                ]
            },
            "uses more than its size",
        ),
        ({"access_keys": []}, "access key"),
    ],
)
def test_malformed_worlds_say_what_is_wrong(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(WorldError, match=message.replace(".", r"\.")):
        load_world(_minimal(**extra))


def test_world_files_load_from_yaml_and_json(tmp_path: Path) -> None:
    import json

    import yaml

    data = default_world_data()
    (tmp_path / "world.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    (tmp_path / "world.json").write_text(json.dumps(data, default=str), encoding="utf-8")
    for name in ("world.yaml", "world.json"):
        assert sorted(load_world(tmp_path / name).accounts) == [DEST, SOURCE, OTHER]
    (tmp_path / "broken.yaml").write_text("accounts: [", encoding="utf-8")
    with pytest.raises(WorldError):
        load_world(tmp_path / "broken.yaml")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_sandbox_cloud_imports_nothing_from_the_bot() -> None:
    files = [SANDBOX / "__init__.py", *sorted((SANDBOX / "cloud").glob("*.py"))]
    assert len(files) > 10
    offending = {
        str(path.relative_to(SANDBOX)): module
        for path in files
        for module in _imported_modules(path)
        if module.split(".")[0] in {"bot", "handlers", "storage"}
    }
    assert offending == {}
