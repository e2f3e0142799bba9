"""View state <-> parameters: what Slack sends back becomes the same typed parameters the form showed."""

from __future__ import annotations

import random
import string
from typing import Any

import pytest

from bot.domain.errors import FieldError
from bot.domain.params import GIB, Field, MigrationParams, NetworkType, PrivateIpMode, Tag
from handlers import forms
from handlers.forms import Step, WizardState
from handlers.render import migrate_modal as modal
from sandbox.slack import elements
from sandbox.slack.blockkit import iter_elements
from storage.enums import ExecutionMethod, TargetType
from tests.handlers.samples import (
    NOW,
    everything_params,
    image_params,
    linux_source,
    windows_source,
)


def state_as_slack_sends_it(view: dict[str, Any], typed: dict[str, Any] | None = None) -> dict[str, Any]:
    """`view.state.values` of an untouched view (its initial values), plus what the user typed by block."""
    values: dict[str, Any] = {}
    for block, element in iter_elements(view["blocks"]):
        if elements.is_stateful(element):
            entry = elements.initial_state(element)
            if typed and block["block_id"] in typed:
                entry = elements.state_from_value(element, typed[block["block_id"]])
            values.setdefault(block["block_id"], {})[element["action_id"]] = entry
    return values


def round_trip(params: MigrationParams) -> MigrationParams:
    """Show every page with `params` and read each back as Slack would send it."""
    draft = params
    for step, page in modal.sequence(params):
        view = modal.wizard_view(
            WizardState(draft=draft, channel_id="C", step=step, page=page), modal.ModalFacts()
        )
        parsed = forms.parse_state(state_as_slack_sends_it(view.view.to_dict()), draft)
        assert parsed.errors == ()
        draft = parsed.draft
    return draft


@pytest.mark.parametrize(
    "params",
    [
        image_params(),
        image_params(
            incremental=True, sync_interval_hours=12, max_reserved_images=3, instance_type="ecs.c6.large"
        ),
        image_params(
            migration_test=False, execution_method=ExecutionMethod.MIGRATE_LATER, scheduled_start=NOW
        ),
        everything_params(),
        everything_params(data_disks=16, partitions=6, tags=20),
    ],
    ids=["image", "image incremental", "migrate later", "everything", "16 disks"],
)
def test_what_the_form_shows_reads_back_as_the_same_parameters(params: MigrationParams) -> None:
    assert round_trip(params) == params
    assert round_trip(params).params_hash() == params.params_hash()


def test_a_partition_size_left_alone_keeps_its_exact_bytes() -> None:
    odd = image_params().model_copy(
        update={
            "system_disk": image_params().system_disk.model_copy(
                update={"partitions": everything_params().system_disk.partitions}
            )
        }
    )
    exact = odd.system_disk.partitions[1].model_copy(update={"size_bytes": 50 * GIB + 12_345})
    draft = odd.model_copy(
        update={
            "system_disk": odd.system_disk.model_copy(
                update={"partitions": (odd.system_disk.partitions[0], exact)}
            )
        }
    )
    assert forms.gib_text(exact.size_bytes) == "50"
    parsed = forms.parse_state({"partition_size.0.2": {"f": {"type": "number_input", "value": "50"}}}, draft)
    assert parsed.draft.system_disk.partitions[1].size_bytes == 50 * GIB + 12_345
    resized = forms.parse_state(
        {"partition_size.0.2": {"f": {"type": "number_input", "value": "45.5"}}}, draft
    )
    assert resized.draft.system_disk.partitions[1].size_bytes == round(45.5 * GIB)


def test_unreadable_numbers_become_field_errors_that_say_what_to_type() -> None:
    values = {
        "system_disk_size": {"f": {"type": "number_input", "value": "forty"}},
        "data_disk_size.1": {"f": {"type": "number_input", "value": "12.5"}},
    }
    parsed = forms.parse_state(values, image_params())
    assert [(e.key, e.message) for e in parsed.errors] == [
        ("system_disk_size", "Enter the system disk size in GiB as a whole number, such as 40."),
        ("data_disk_size.1", "Enter the size of data disk 1 in GiB as a whole number, such as 40."),
    ]
    assert all(isinstance(e, FieldError) for e in parsed.errors)


def test_tags_are_read_one_per_line_or_comma() -> None:
    values = {"tags": {"f": {"type": "plain_text_input", "value": "env=prod, team = platform\nowner\n\n"}}}
    draft = forms.parse_state(values, image_params()).draft
    assert draft.tags == (
        Tag(key="env", value="prod"),
        Tag(key="owner", value=""),
        Tag(key="team", value="platform"),
    )


def test_the_loading_placeholder_is_never_taken_for_a_choice() -> None:
    loading = {"selected_option": {"value": forms.LOADING_VALUE, "text": {"type": "plain_text", "text": "…"}}}
    values = {"vpc_id~cn-hangzhou": {"f": {"type": "external_select", **loading}}}
    assert (
        forms.parse_state(values, image_params(vpc_id="vpc-old", vswitch_id="vsw-old")).draft.vpc_id is None
    )


def test_one_checkbox_group_carries_skip_and_lvm_of_a_data_disk() -> None:
    both = [{"value": forms.SKIP}, {"value": forms.LVM}]
    values = {"data_disk_lvm.1": {"f": {"type": "checkboxes", "selected_options": both}}}
    [disk] = forms.parse_state(values, image_params()).draft.data_disks
    assert disk.skip and disk.lvm


@pytest.mark.parametrize(
    ("change", "cleared"),
    [
        ({"region_id": "cn-shanghai"}, {"instance_id": None, "vpc_id": None, "vswitch_id": None}),
        ({"vpc_id": "vpc-other"}, {"vswitch_id": None}),
        ({"target_type": TargetType.IMAGE}, {"instance_id": None, "private_ip": None}),
        (
            {"migration_test": True},
            {"execution_method": ExecutionMethod.TEST_AND_MIGRATE, "scheduled_start": None},
        ),
        ({"incremental": False}, {"sync_interval_hours": None, "max_reserved_images": None}),
        ({"private_ip_mode": PrivateIpMode.UNCHANGED}, {"private_ip": None}),
        ({"source_id": "s-bp1other0000001"}, {"data_disks": ()}),
    ],
)
def test_fields_that_no_longer_apply_are_dropped(change: dict[str, Any], cleared: dict[str, Any]) -> None:
    before = everything_params()
    after = forms.normalise(before.model_copy(update=change), before)
    assert {key: getattr(after, key) for key in cleared} == cleared


def test_a_new_source_fills_in_its_disks_and_an_image_name() -> None:
    draft = forms.new_draft("s-bp1dtyvdak02x846kq4p", region_id="cn-hangzhou", network="VPC")
    assert (
        draft.network_type is NetworkType.VPC and draft.execution_method is ExecutionMethod.TEST_AND_MIGRATE
    )
    filled = forms.with_source(draft, linux_source(data_disks=2))
    assert filled.system_disk.size_gib == 40 and [d.size_gib for d in filled.data_disks] == [100, 100]
    assert filled.image_name == "web-prod-02"
    assert (
        forms.with_source(filled.model_copy(update={"image_name": "mine"}), linux_source()).image_name
        == "mine"
    )


def test_the_partition_layout_lists_every_partition_at_its_source_size() -> None:
    draft = forms.with_source(forms.new_draft("s-bp1dtyvdak02x846kq4p"), linux_source(partitions=2))
    on = forms.with_partition_layout(draft, linux_source(partitions=2), True)
    assert [(p.device, p.block) for p in on.data_disks[0].partitions] == [("1_0", True), ("1_1", False)]
    assert on.system_disk.partitions[0].size_bytes == GIB
    assert forms.with_partition_layout(on, linux_source(), False).data_disks[0].partitions == ()
    windows = forms.with_source(forms.new_draft(windows_source().id), windows_source())
    assert all(
        p.block for p in forms.with_partition_layout(windows, windows_source(), True).system_disk.partitions
    )


def test_a_template_fills_what_it_knows_and_never_the_disks_or_the_source() -> None:
    draft = image_params()
    preset = {
        "source_id": "s-other",
        "system_disk": {"size_gib": 999},
        "speed_limit_mbps": 200,
        "compression_level": "not a number",
        "network_type": 2,
        "canonical_version": 1,
        "unknown_key": True,
    }
    applied = forms.apply_template(draft, "fast-vpc", preset)
    assert applied.source_id == draft.source_id and applied.system_disk == draft.system_disk
    assert (applied.speed_limit_mbps, applied.network_type, applied.template_name) == (
        200,
        NetworkType.VPC,
        "fast-vpc",
    )
    assert applied.compression_level == draft.compression_level


def test_the_state_survives_private_metadata_and_rejects_anything_else() -> None:
    state = WizardState(
        draft=everything_params(),
        channel_id="C0MIGRATE",
        step=Step.PARTITIONS,
        page=1,
        revision=2,
        request_id="r-7k2q9m4x",
    )
    assert forms.decode_state(forms.encode_state(state)) == state
    for garbage in ("", "{}", "z1:not-base64!", "z1:" + "A" * 40):
        with pytest.raises(ValueError, match="metadata"):
            forms.decode_state(garbage)


def test_the_worst_case_fits_in_3000_characters() -> None:
    """16 data disks with 6 resized partitions each, every option set, 20 tags of random text."""
    rng = random.Random(7)

    def words(n: int) -> str:
        return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(n))

    params = everything_params(data_disks=16, partitions=6).model_copy(
        update={
            "tags": tuple(Tag(key=f"{words(10)}-{i}", value=words(24)) for i in range(20)),
            "description": "D" + words(120),
            "job_name": "J" + words(100),
        }
    )
    text = forms.encode_state(WizardState(draft=params, channel_id="C0MIGRATE", request_id="r-7k2q9m4x"))
    assert len(text) <= forms.METADATA_LIMIT


def test_a_state_that_cannot_fit_is_refused_loudly() -> None:
    rng = random.Random(3)
    huge = tuple(
        Tag(
            key="".join(rng.choice(string.ascii_letters) for _ in range(128)),
            value="".join(rng.choice(string.ascii_letters) for _ in range(128)),
        )
        for _ in range(20)
    )
    with pytest.raises(forms.MetadataTooLarge):
        forms.encode_state(WizardState(draft=image_params(tags=huge), channel_id="C"))


def test_initial_values_name_every_field_the_form_can_show() -> None:
    values = forms.initial_values(everything_params(partitions=2))
    for field in Field:
        if field.arity == 0:
            assert field.value in values
    assert values["partition_size.1.2"] == "90" and values["partition_block.0.1"] is True
    assert values[Field.SCHEDULED_START.value] == int(NOW.timestamp()) + 86_400
