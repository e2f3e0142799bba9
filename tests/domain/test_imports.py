"""Import rules: what the modal may submit, in messages that say what to type; one batch per submission."""

from __future__ import annotations

from dataclasses import replace

from bot.cloud.ports import Instance, OsType
from bot.domain.imports import (
    ImportDraft,
    ImportField,
    account_id_problem,
    batch_id_for,
    region_problems,
    role_name_problem,
    validate,
)

DRAFT = ImportDraft(
    team_id="T0SANDBOX",
    channel_id="C0MIGRATE",
    requester="U0REQUESTER",
    cross_account=True,
    account_id="2000000000000002",
    role_name="ram-role-smc",
    region_id="cn-hangzhou",
    instance_ids=("i-bp1g89ubw2sb4krcndqk",),
)


def instance(instance_id: str, region: str) -> Instance:
    return Instance(
        id=instance_id,
        name="web-prod-01",
        region=region,
        zone=f"{region}-h",
        os_type=OsType.LINUX,
        os_name="CentOS 7.9",
        status="Running",
        private_ip="172.16.10.11",
        vpc_id=None,
        vswitch_id=None,
        instance_type="ecs.g6.large",
    )


def test_a_complete_cross_account_draft_is_valid() -> None:
    assert validate(DRAFT) == {}


def test_account_ids_are_sixteen_digits_and_the_message_says_where_to_find_them() -> None:
    assert account_id_problem("2000000000000002") is None
    assert "Enter the source account ID: the 16-digit ID shown under the profile icon" in (
        account_id_problem("") or ""
    )
    assert (account_id_problem("2000 0000") or "").startswith("2000 0000 is not an account ID: type only")
    assert (account_id_problem("123456789012345") or "").startswith(
        "123456789012345 has 15 digits; an Alibaba Cloud account ID has 16"
    )


def test_role_names_follow_rams_rule() -> None:
    for good in ("ram-role-smc", "a", "Role.v2", "x" * 64):
        assert role_name_problem(good) is None
    assert (role_name_problem("ram_role") or "").startswith(
        "ram_role contains '_': a RAM role name has 1 to 64"
    )
    assert "65 characters long" in (role_name_problem("x" * 65) or "")
    assert "e.g. ram-role-smc" in (role_name_problem("") or "")


def test_same_account_needs_neither_account_nor_role() -> None:
    same = replace(DRAFT, cross_account=False, account_id=None, role_name=None)
    assert validate(same) == {}
    assert same.source.cross_account is False


def test_region_and_instances_must_be_picked_not_placeholders() -> None:
    errors = validate(replace(DRAFT, region_id="!loading", instance_ids=()))
    assert errors[ImportField.REGION] == "Choose the region of the source instances from the list."
    assert errors[ImportField.INSTANCES].startswith("Choose at least one instance")
    mixed = validate(replace(DRAFT, instance_ids=("i-bp1g89ubw2sb4krcndqk", "!loading")))
    assert mixed == {
        ImportField.INSTANCES: "The list was still loading: open it again and pick the instances."
    }
    assert validate(replace(DRAFT, instance_ids=("web-prod-01",)))[ImportField.INSTANCES].startswith(
        "web-prod-01 is not an instance ID"
    )


def test_a_batch_is_at_most_one_cloud_assistant_command() -> None:
    many = tuple(f"i-bp1{n:017d}" for n in range(101))
    assert (
        "at most 100 instances per import"
        in validate(replace(DRAFT, instance_ids=many))[ImportField.INSTANCES]
    )
    assert validate(replace(DRAFT, instance_ids=many[:100])) == {}


def test_instances_from_another_region_or_unknown_are_named() -> None:
    here = {"i-bp1g89ubw2sb4krcndqk": instance("i-bp1g89ubw2sb4krcndqk", "cn-shanghai")}
    assert region_problems(DRAFT, here, "cn-hangzhou") == {
        ImportField.INSTANCES: "i-bp1g89ubw2sb4krcndqk (web-prod-01) is in cn-shanghai, not cn-hangzhou: "
        "remove it or choose its region."
    }
    assert region_problems(DRAFT, {}, "cn-hangzhou")[ImportField.INSTANCES].startswith(
        "i-bp1g89ubw2sb4krcndqk was not found in cn-hangzhou"
    )


def test_the_same_submission_always_names_the_same_batch() -> None:
    assert batch_id_for("V0123") == batch_id_for("V0123")
    assert batch_id_for("V0123") != batch_id_for("V0124")
    assert batch_id_for(None) != batch_id_for(None)
    assert all(len(batch_id_for(k)) <= 32 for k in ("V0123", None))
