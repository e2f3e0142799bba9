"""Every page of the migration wizard renders through slack_sdk, within Slack's limits, and the stand-in
(Slack's rules over real HTTP) accepts it; every parameter of PRODUCT §3.2 has a block."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.domain.errors import FieldError
from bot.domain.params import Field, MigrationParams, PrivateIpMode, field_key, parse_field_key
from handlers import forms
from handlers.forms import Step, WizardState
from handlers.render import migrate_modal as modal
from sandbox.slack import REQUESTER, SlackStandIn
from sandbox.slack.blockkit import MAX_PRIVATE_METADATA, MAX_VIEW_BLOCKS, view_problems
from storage.enums import ExecutionMethod, TargetType
from tests.handlers.samples import (
    NOW,
    everything_params,
    image_params,
    linux_source,
    target_instance,
    windows_source,
)

FACTS = modal.ModalFacts(
    source=linux_source(), instance=target_instance(), templates=("vpc-hangzhou", "public-default")
)


@pytest.fixture(scope="module")
def stand_in() -> Iterator[SlackStandIn]:
    with SlackStandIn() as slack:
        yield slack


def opened_by_slack(slack: SlackStandIn, view: dict[str, Any]) -> None:
    """views.open over HTTP: Slack's own checks of a modal (the stand-in answers invalid_arguments)."""
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    result = client.views_open(trigger_id=slack.issue_trigger(REQUESTER), view=view)
    assert result["ok"]


def every_page(params: MigrationParams, facts: modal.ModalFacts = FACTS) -> list[modal.Rendered]:
    state = WizardState(draft=params, channel_id="C0MIGRATE")
    return [modal.wizard_view(state.at(step, page), facts) for step, page in modal.sequence(params)]


def check(rendered: modal.Rendered, slack: SlackStandIn) -> dict[str, Any]:
    view = rendered.view.to_dict()
    assert len(view["blocks"]) <= MAX_VIEW_BLOCKS
    assert len(str(view.get("private_metadata", ""))) <= MAX_PRIVATE_METADATA
    assert view_problems(view, allowed_types=("modal",)) == []
    opened_by_slack(slack, view)
    return view


CASES: dict[str, MigrationParams] = {
    "image, test and migrate": image_params(),
    "image, incremental": image_params(incremental=True, sync_interval_hours=12, max_reserved_images=3),
    "image, vpc": image_params(network_type=2, vpc_id="vpc-bp1e4rhn51r4wgor8b81", vswitch_id="vsw-x"),
    "image, public with a vswitch": image_params(vpc_id="vpc-bp1e4rhn51r4wgor8b81", vswitch_id="vsw-x"),
    "image, intermediate type": image_params(instance_type="ecs.c6.large"),
    "instance, manual ip, everything": everything_params(),
    "instance, unchanged ip": everything_params().model_copy(
        update={"private_ip_mode": PrivateIpMode.UNCHANGED, "private_ip": None}
    ),
    "16 data disks, 6 partitions each": everything_params(data_disks=16, partitions=6, tags=20),
    **{
        f"method {method.value}": image_params(
            migration_test=method in (ExecutionMethod.TEST_ONLY, ExecutionMethod.TEST_AND_MIGRATE),
            execution_method=method,
            scheduled_start=NOW if method is ExecutionMethod.MIGRATE_LATER else None,
        )
        for method in ExecutionMethod
    },
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_page_fits_slacks_limits_and_slack_accepts_it(name: str, stand_in: SlackStandIn) -> None:
    for rendered in every_page(CASES[name]):
        check(rendered, stand_in)


def test_pages_follow_the_choices() -> None:
    image = every_page(image_params())
    assert [set(r.routes) & {"image_name", "instance_id", "instance_type"} for r in image] == [
        {"image_name"},
        set(),
        {"instance_type"},
    ]
    instance = [set(r.routes) for r in every_page(everything_params())]
    assert (
        "instance_id" in instance[0] and "private_ip" in instance[1] and "instance_type" not in instance[-1]
    )
    assert "scheduled_start" in instance[0] and "sync_interval_hours" in instance[0]
    assert "scheduled_start" not in every_page(image_params())[0].routes
    assert "sync_interval_hours" not in every_page(image_params())[0].routes


def test_every_parameter_of_the_console_has_a_block_on_some_page() -> None:
    covered = set()
    for params in (everything_params(), image_params(instance_type="ecs.c6.large")):
        for rendered in every_page(params):
            covered |= set(rendered.routes)
    expected = {f.value for f in Field if f.arity == 0}
    expected |= {field_key(f, 1) for f in (Field.DATA_DISK_SIZE, Field.DATA_DISK_SKIP, Field.DATA_DISK_LVM)}
    expected |= {field_key(f, d, 1) for f in (Field.PARTITION_SIZE, Field.PARTITION_BLOCK) for d in (0, 1)}
    assert expected - covered == set()


def test_the_help_says_what_is_sent_and_what_has_no_api_field(stand_in: SlackStandIn) -> None:
    details = every_page(image_params(speed_limit_mbps=100))[-1].view.to_dict()
    text = str(details)
    assert "bandwidth_limit 12500 (KB/s" in text
    assert "SSL encrypted transmission, image check and diagnostic log upload are console-only" in text
    instance = str(every_page(everything_params())[0].view.to_dict())
    assert "automatic snapshots" in instance and "operating system" in instance


def test_many_partitions_are_split_over_pages_under_100_blocks() -> None:
    params = everything_params(data_disks=16, partitions=6)
    pages = modal.sequence(params)
    partition_pages = [p for p in pages if p[0] is Step.PARTITIONS]
    assert len(partition_pages) > 1
    shown = set()
    for rendered in every_page(params):
        shown |= {k for k in rendered.routes if k.startswith("partition_size.")}
    assert len(shown) == 2 + 16 * 6


def test_windows_sources_get_no_partition_layout_switch() -> None:
    facts = modal.ModalFacts(source=windows_source())
    params = image_params(source_id="s-bp1knv31zn9d3jznb5y3")
    disks = every_page(params, facts)[1].view.to_dict()
    assert "migrate_partition_layout" not in str(disks)
    assert "always block-replicated" in str(disks)


def test_errors_show_inline_and_an_overflow_joins_the_notice(stand_in: SlackStandIn) -> None:
    params = everything_params(data_disks=16, partitions=6)
    state = WizardState(draft=params, channel_id="C0MIGRATE", step=Step.PARTITIONS)
    routes = modal.wizard_view(state, FACTS).routes
    errors = [
        FieldError(field, f"Problem with {key}: enter something else.", index)
        for key in routes
        if not key.startswith("data_disk_skip")
        for field, index in [parse_field_key(key)]
    ]
    rendered = modal.wizard_view(state, FACTS, errors=errors, notice="Look at the fields below.")
    view = check(rendered, stand_in)
    assert "Problem with partition_size.0.1" in str(view) and "Look at the fields below." in str(view)
    assert len(view["blocks"]) == MAX_VIEW_BLOCKS


def test_route_maps_errors_to_the_block_that_carries_them() -> None:
    rendered = every_page(image_params())[1]
    shown, rest = rendered.route(
        [
            FieldError(Field.DATA_DISK_SKIP, "Skip or size it.", (1,)),
            FieldError(Field.DATA_DISK_LVM, "Turn LVM off.", (1,)),
            FieldError(Field.JOB_NAME, "Another name."),
        ]
    )
    assert shown == {rendered.routes["data_disk_lvm.1"]: "Skip or size it. Turn LVM off."}
    assert [e.field for e in rest] == [Field.JOB_NAME]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_submitted_view_routes_errors_as_the_page_that_rendered_it(name: str) -> None:
    for rendered in every_page(CASES[name]):
        state = forms.decode_state(str(rendered.view.private_metadata))
        with_error = modal.wizard_view(state, FACTS, errors=[FieldError(Field.JOB_NAME, "Another name.")])
        for view in (rendered.view, with_error.view):
            # What Slack sends back: the blocks as shown, inline warnings included.
            assert modal.submitted_routes(view.to_dict()["blocks"]) == rendered.routes


def test_a_partition_group_and_a_disks_options_carry_the_errors_of_their_options() -> None:
    params = everything_params(data_disks=1, partitions=12)
    disks, partitions = every_page(params)[1], every_page(params)[2]
    assert disks.routes["data_disk_skip.1"] == disks.routes["data_disk_lvm.1"]
    first = {partitions.routes[field_key(Field.PARTITION_BLOCK, 1, p)] for p in range(1, 11)}
    second = {partitions.routes[field_key(Field.PARTITION_BLOCK, 1, p)] for p in (11, 12)}
    assert first == {partitions.routes["partition_block.1.1"]} and second != first and len(second) == 1
    assert "migrate_partition_layout" not in disks.routes


def test_template_revisions_and_dependent_selects_get_new_block_ids() -> None:
    params = everything_params()
    first = modal.wizard_view(WizardState(draft=params, channel_id="C"), FACTS).routes
    again = modal.wizard_view(WizardState(draft=params, channel_id="C", revision=1), FACTS).routes
    assert first["region"] == "region" and again["region"] == "region~1"
    assert first["instance_id"] == "instance_id~cn-hangzhou"
    assert first["execution_method"] == "execution_method~n"


def test_wait_views_and_the_confirmation_fit(stand_in: SlackStandIn) -> None:
    state = WizardState(draft=image_params(), channel_id="C0MIGRATE")
    for view in (
        modal.loading_view(),
        modal.checking_view(state, ["source s-bp1dtyvdak02x846kq4p", "regions"]),
        modal.submitted_view("r-7k2q9m4x", "waiting for approval", "C0MIGRATE", image_params().digest()),
    ):
        as_dict = view.to_dict()
        assert view_problems(as_dict, allowed_types=("modal",)) == []
        opened_by_slack(stand_in, as_dict)


def test_edit_mode_titles_and_submit_label() -> None:
    state = WizardState(
        draft=image_params(), channel_id="C0MIGRATE", step=Step.DETAILS, request_id="r-7k2q9m4x"
    )
    view = modal.wizard_view(state, FACTS).view.to_dict()
    assert view["title"]["text"] == "Edit r-7k2q9m4x" and view["submit"]["text"] == "Save changes"


def test_option_lists_are_short_and_loading_is_one_option() -> None:
    source = linux_source()
    [option] = modal.source_options([source], "web")
    shown = option.to_dict()
    assert shown["value"] == source.id and len(shown["text"]["text"]) <= modal.OPTION_TEXT_MAX
    assert modal.source_options([source], "nothing-like-it") == []
    [loading] = modal.loading_options()
    assert loading.to_dict()["value"] == forms.LOADING_VALUE
    assert "Loading" in loading.to_dict()["text"]["text"]


@pytest.mark.parametrize("target", list(TargetType))
def test_the_first_page_offers_the_methods_that_fit_the_migration_test(target: TargetType) -> None:
    params = (
        image_params(target_type=target, image_name=None, instance_id="i-bp14kzy194uiygtm79ma")
        if target is TargetType.TARGET_INSTANCE
        else image_params()
    )
    on = every_page(params)[0].view.to_dict()
    assert "Test and Migrate" in str(on) and "Migrate Now" not in str(on)
    off = every_page(image_params(migration_test=False, execution_method=ExecutionMethod.MIGRATE_NOW))[0]
    assert "Migrate Now" in str(off.view.to_dict()) and "Test and Migrate" not in str(off.view.to_dict())
