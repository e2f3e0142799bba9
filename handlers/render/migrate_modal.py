"""The Start migration wizard (PRODUCT §3.2) as pure Block Kit builders.

Steps: source and destination; network and disks; partitions (only with "Modify disk partitions", paged
to stay under 100 blocks); job details. Every input block's id is its field key (plus a revision, see
`handlers.forms`), so `response_action: errors` lands on the block of the field a rule names.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DateTimePickerElement,
    DividerBlock,
    ExternalDataSelectElement,
    InputBlock,
    InputInteractiveElement,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.cloud.ports import Instance, InstanceType, Region, SourceDisk, SourceServer
from bot.domain.errors import FieldError
from bot.domain.params import (
    EXECUTION_METHOD_LABELS,
    GIB,
    DataDisk,
    Field,
    LicenseType,
    MigrationParams,
    NetworkType,
    PrivateIpMode,
    SystemDisk,
    allowed_execution_methods,
    describe_bandwidth_limit,
    field_key,
    format_gib,
    parse_field_key,
)
from bot.domain.validation import (
    COMPRESSION_LEVEL,
    DATA_DISK_GIB,
    MAX_RESERVED_IMAGES,
    MAX_TAGS,
    SPEED_LIMIT_MBPS,
    SYNC_INTERVAL_HOURS,
    SYSTEM_DISK_GIB,
    InstanceFacts,
    VpcFacts,
    VSwitchFacts,
    usable_range,
)
from handlers import forms
from handlers.forms import CHECKBOX_GROUP, LAYOUT_ON, LOADING_VALUE, LVM, NONE_VALUE, OFF, ON, SKIP, Step
from handlers.ids import ActionId, BlockId, CallbackId
from storage.enums import ExecutionMethod, TargetType

MAX_VIEW_BLOCKS = 100
PARTITION_PAGE_BLOCKS = 80
"""Blocks of partition inputs per partitions page; the rest of the 100 is headers, errors and navigation."""
OPTION_TEXT_MAX = 75
MAX_OPTIONS = 100
TITLE = "Start migration"
LOADING_TEXT = "Loading… type a letter again"

STEP_TITLES: Mapping[Step, str] = {
    Step.TARGET: "Source and destination",
    Step.DISKS: "Network and disks",
    Step.PARTITIONS: "Partitions",
    Step.DETAILS: "Job details",
}

DATA_LOSS_WARNING = (
    ":warning: *The destination instance loses its data.* SMC replaces its operating system and deletes "
    "the automatic snapshots of its system disk; they cannot be restored. To keep them, set the automatic "
    "snapshots to be kept when the disk is released, before you submit."
)
CONSOLE_ONLY_NOTE = (
    "SSL encrypted transmission, image check and diagnostic log upload are console-only settings: SMC's API "
    "has no field for them, so the job uses SMC's defaults (SSL auto-selected, logs uploaded)."
)
MIGRATION_TEST_HINT = (
    "The console's migration drill has no API. With the test on, the bot first runs its own free "
    "assessment (source online, quotas, disks, network, names) and estimates the time."
)
SPEED_HINT = (
    "0 = unlimited. Mbit/s, as the console asks; the API does not document its unit, so the bot sends "
    "Mbit/s x 125 as ReplicationParameters.bandwidth_limit (KB/s, the SMC client's unit). Now: "
)


@dataclass(frozen=True)
class ModalFacts:
    """What the wizard shows besides the draft, from the catalog cache (never fetched while rendering)."""

    source: SourceServer | None = None
    instance: InstanceFacts | None = None
    vpcs: tuple[VpcFacts, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    """Option text for ids the draft holds (source, region, instance, VPC, vSwitch, instance type)."""
    templates: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rendered:
    """A wizard view and, per field key, the block that carries it (where errors go)."""

    view: View
    routes: Mapping[str, str]

    def route(self, errors: Iterable[FieldError]) -> tuple[dict[str, str], list[FieldError]]:
        """`{block_id: message}` for the errors this view can show, and the errors it cannot."""
        return route(self.routes, errors)


@functools.lru_cache(maxsize=4096)
def carried_keys(block: str) -> tuple[str, ...]:
    """The field keys whose errors the input block `block` shows: its own key, what shares its element (a
    data disk's Skip option sits in its options checkboxes, a partition's block replication in its group of
    ten), nothing for blocks that are not fields."""
    key = forms.key_of(block)
    try:
        field_, index = parse_field_key(key)
    except ValueError:
        return ()
    if field_ is Field.DATA_DISK_LVM:
        return (key, field_key(Field.DATA_DISK_SKIP, *index))
    if field_ is Field.PARTITION_BLOCK:
        disk, first = index
        return tuple(field_key(field_, disk, p) for p in range(first, first + CHECKBOX_GROUP))
    return (key,)


def submitted_routes(blocks: object) -> dict[str, str]:
    """The routes of a view as Slack sent it back in a submission: errors in the ack may only name its input
    blocks, and reading them costs nothing next to rendering the page again."""
    routes: dict[str, str] = {}
    for block in blocks if isinstance(blocks, list) else ():
        if isinstance(block, dict) and block.get("type") == "input":
            block_id = str(block.get("block_id") or "")
            routes.update(dict.fromkeys(carried_keys(block_id), block_id))
    return routes


def route(routes: Mapping[str, str], errors: Iterable[FieldError]) -> tuple[dict[str, str], list[FieldError]]:
    """`{block_id: message}` for the errors a page with these routes can show, and the errors it cannot."""
    shown: dict[str, list[str]] = {}
    rest: list[FieldError] = []
    for error in errors:
        block = routes.get(error.key)
        if block is None:
            rest.append(error)
        elif error.message not in shown.setdefault(block, []):
            shown[block].append(error.message)
    return {block: " ".join(messages) for block, messages in shown.items()}, rest


# ---- navigation ----------------------------------------------------------------------------------


def partition_pages(draft: MigrationParams) -> list[list[int]]:
    """Disk indexes per partitions page, so no page needs more than PARTITION_PAGE_BLOCKS blocks."""
    pages: list[list[int]] = []
    used = 0
    for index, disk in _disks(draft):
        if not disk.partitions or (isinstance(disk, DataDisk) and disk.skip):
            continue
        cost = 1 + math.ceil(len(disk.partitions) / CHECKBOX_GROUP) + len(disk.partitions)
        if not pages or used + cost > PARTITION_PAGE_BLOCKS:
            pages.append([])
            used = 0
        pages[-1].append(index)
        used += cost
    return pages


def sequence(draft: MigrationParams) -> list[tuple[Step, int]]:
    """The wizard's pages for this draft, in order."""
    pages = [(Step.TARGET, 0), (Step.DISKS, 0)]
    pages += [(Step.PARTITIONS, n) for n in range(len(partition_pages(draft)))]
    return [*pages, (Step.DETAILS, 0)]


def _position(state: forms.WizardState) -> int:
    pages = sequence(state.draft)
    where = (state.step, state.page)
    if where in pages:
        return pages.index(where)
    return max(i for i, (step, _) in enumerate(pages) if step <= state.step)


def next_page(state: forms.WizardState) -> forms.WizardState | None:
    """The state one page on, or None on the last page (its submit creates the request)."""
    pages = sequence(state.draft)
    index = _position(state) + 1
    return state.at(*pages[index]) if index < len(pages) else None


def previous_page(state: forms.WizardState) -> forms.WizardState | None:
    pages = sequence(state.draft)
    index = _position(state) - 1
    return state.at(*pages[index]) if index >= 0 else None


def is_last(state: forms.WizardState) -> bool:
    return next_page(state) is None


def pages_before(state: forms.WizardState) -> list[forms.WizardState]:
    """Every page before this one, first page first."""
    pages = sequence(state.draft)
    return [state.at(*page) for page in pages[: _position(state)]]


# ---- views ---------------------------------------------------------------------------------------


def loading_view(text: str = "Loading source servers and regions…") -> View:
    """Opened right after the ack: `trigger_id` dies after 3 s, the real form follows by views.update."""
    return View(
        type="modal",
        callback_id=CallbackId.MIGRATE_WAIT,
        title=TITLE,
        close="Cancel",
        blocks=[SectionBlock(text=MarkdownTextObject(text=f":hourglass_flowing_sand: {text}"))],
    )


def checking_view(state: forms.WizardState, checking: Sequence[str]) -> View:
    """Shown while facts the validation needs are fetched after the ack; the form comes back after."""
    lines = "\n".join(f"• {what}" for what in checking) or "• the destination account"
    return View(
        type="modal",
        callback_id=CallbackId.MIGRATE_WAIT,
        title=TITLE,
        close="Cancel",
        private_metadata=forms.encode_state(state),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=":hourglass_flowing_sand: Checking your choices with Alibaba Cloud before anything "
                    f"is created:\n{lines}"
                )
            ),
            ContextBlock(elements=[MarkdownTextObject(text="The form comes back in a moment.")]),
        ],
    )


def submitted_view(
    request_id: str, state_words: str, channel_id: str, digest: Sequence[tuple[str, str]]
) -> View:
    """What the modal turns into after a valid submission."""
    lines = "\n".join(f"*{label}:* {value}" for label, value in digest[:8])
    return View(
        type="modal",
        callback_id=CallbackId.MIGRATE_DONE,
        title="Request submitted",
        close="Done",
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f":white_check_mark: *{request_id}* is {state_words}. Its thread in <#{channel_id}> "
                    "shows the exact SMC request and every step from here."
                )
            ),
            SectionBlock(text=MarkdownTextObject(text=_clip(lines, 3000))),
        ],
    )


def wizard_view(
    state: forms.WizardState,
    facts: ModalFacts,
    *,
    errors: Sequence[FieldError] = (),
    notice: str | None = None,
) -> Rendered:
    """One page of the wizard with the draft's values; `errors` are shown inline (after a views.update).

    Raises `forms.MetadataTooLarge` when the state does not fit in `private_metadata`.
    """
    return _built(state, facts).finish(errors, notice)


def page_routes(state: forms.WizardState, facts: ModalFacts) -> dict[str, str]:
    """Which block carries which field key on this page: its blocks without the view around them (where an
    earlier page's errors would go; a submitted view's own routes are `submitted_routes`)."""
    return _built(state, facts).routes


def _built(state: forms.WizardState, facts: ModalFacts) -> _Builder:
    builder = _Builder(state, facts)
    {
        Step.TARGET: builder.target_step,
        Step.DISKS: builder.disks_step,
        Step.PARTITIONS: builder.partitions_step,
        Step.DETAILS: builder.details_step,
    }[state.step]()
    return builder


# ---- option lists (answers to options requests) ------------------------------------------------


def loading_options() -> list[Option]:
    return [Option(value=LOADING_VALUE, text=LOADING_TEXT)]


def message_options(text: str) -> list[Option]:
    """A single option that only says something (nothing to pick yet)."""
    return [Option(value=NONE_VALUE, text=_clip(text, OPTION_TEXT_MAX))]


def _matches(query: str, *values: str | None) -> bool:
    needle = query.strip().lower()
    return not needle or any(needle in (v or "").lower() for v in values)


def source_label(source: SourceServer) -> str:
    return _clip(f"{source.name or source.id} · {source.id} · {source.state.value}", OPTION_TEXT_MAX)


def region_label(region: Region) -> str:
    return _clip(f"{region.name} · {region.id}", OPTION_TEXT_MAX)


def instance_label(instance: Instance) -> str:
    ip = f" · {instance.private_ip}" if instance.private_ip else ""
    return _clip(f"{instance.name or instance.id} · {instance.id}{ip}", OPTION_TEXT_MAX)


def vpc_label(vpc: VpcFacts) -> str:
    name = f"{vpc.name} · " if vpc.name else ""
    return _clip(f"{name}{vpc.vpc_id} · {vpc.cidr}", OPTION_TEXT_MAX)


def vswitch_label(vswitch: VSwitchFacts) -> str:
    return _clip(
        f"{vswitch.vswitch_id} · {vswitch.cidr} · {vswitch.zone_id} · {vswitch.free_ips} free",
        OPTION_TEXT_MAX,
    )


def instance_type_label(kind: InstanceType) -> str:
    size = []
    if kind.cpu_cores:
        size.append(f"{kind.cpu_cores} vCPU")
    if kind.memory_gib:
        size.append(f"{format_gib(kind.memory_gib)} GiB")
    return _clip(" · ".join([kind.id, *size]), OPTION_TEXT_MAX)


def source_options(sources: Iterable[SourceServer], query: str) -> list[Option]:
    """Available sources first (the catalog's order), filtered by id or name."""
    found = [s for s in sources if _matches(query, s.id, s.name)]
    return [Option(value=s.id, text=source_label(s)) for s in found[:MAX_OPTIONS]]


def region_options(regions: Iterable[Region], query: str) -> list[Option]:
    found = [r for r in regions if _matches(query, r.id, r.name)]
    return [Option(value=r.id, text=region_label(r)) for r in found[:MAX_OPTIONS]]


def instance_options(instances: Iterable[Instance], query: str) -> list[Option]:
    found = [i for i in instances if _matches(query, i.id, i.name, i.private_ip)]
    return [Option(value=i.id, text=instance_label(i)) for i in found[:MAX_OPTIONS]]


def vpc_options(vpcs: Iterable[VpcFacts], query: str) -> list[Option]:
    found = [v for v in vpcs if _matches(query, v.vpc_id, v.name, v.cidr)]
    return [Option(value=v.vpc_id, text=vpc_label(v)) for v in found[:MAX_OPTIONS]]


def vswitch_options(vswitches: Iterable[VSwitchFacts], query: str) -> list[Option]:
    found = [v for v in vswitches if _matches(query, v.vswitch_id, v.cidr, v.zone_id)]
    return [Option(value=v.vswitch_id, text=vswitch_label(v)) for v in found[:MAX_OPTIONS]]


def instance_type_options(kinds: Iterable[InstanceType], query: str) -> list[Option]:
    found = [k for k in kinds if _matches(query, k.id, k.family)]
    return [Option(value=k.id, text=instance_type_label(k)) for k in found[:MAX_OPTIONS]]


# ---- the builder ---------------------------------------------------------------------------------


class _Builder:
    """Collects the blocks of one page and which block carries which field key."""

    def __init__(self, state: forms.WizardState, facts: ModalFacts) -> None:
        self.state = state
        self.draft = state.draft
        self.facts = facts
        self.values = forms.initial_values(state.draft)
        self.blocks: list[Block] = []
        self.routes: dict[str, str] = {}
        self.inline_at: dict[str, int] = {}
        """block_id -> index in `blocks` after which an inline error goes."""

    # -- pages ------------------------------------------------------------------------------------

    def target_step(self) -> None:
        draft = self.draft
        self._select(
            Field.SOURCE,
            "Source server",
            hint="Imported source servers of the destination account, Available ones first. Not listed? "
            "Import it with /smc import.",
            placeholder="Search by name or id",
        )
        source_line = self._source_line()
        if source_line:
            self._context(source_line)
        if self.facts.templates:
            templates = [
                Option(value=name, text=_clip(name, OPTION_TEXT_MAX)) for name in self.facts.templates
            ]
            initial = next((o for o in templates if o.value == draft.template_name), None)
            self._input(
                Field.TEMPLATE,
                "Start from template",
                StaticSelectElement(
                    action_id=ActionId.MIGRATE_FIELD,
                    placeholder="Pick a saved template",
                    options=templates,
                    initial_option=initial,
                ),
                optional=True,
                dispatch=True,
                hint="Fills in the saved parameters (not the disks); change anything afterwards.",
            )
        self._radio(
            Field.TARGET_TYPE,
            "Destination type",
            [
                (TargetType.IMAGE.value, "ECS image", "SMC builds a custom image; create instances from it"),
                (TargetType.TARGET_INSTANCE.value, "ECS instance", "Migrate onto an existing instance"),
            ],
            dispatch=True,
        )
        self._select(Field.REGION, "Destination region", placeholder="Search regions")
        if draft.target_type is TargetType.IMAGE:
            self._input(
                Field.IMAGE_NAME,
                "Image name prefix",
                PlainTextInputElement(
                    action_id=ActionId.MIGRATE_FIELD,
                    initial_value=self.values[Field.IMAGE_NAME.value],
                    min_length=2,
                    max_length=128,
                    placeholder="web-prod-02",
                ),
                hint="2 to 128 characters, starting with a letter: letters, digits, '.', '_', '-' and ':'.",
            )
        else:
            self._select(
                Field.INSTANCE,
                "Destination instance",
                revision=(draft.region_id,),
                hint=f"Instances of the destination account in {draft.region_id or 'the region above'}.",
                placeholder="Search by name, id or private IP",
            )
            self.blocks.append(SectionBlock(text=MarkdownTextObject(text=DATA_LOSS_WARNING)))
            instance_line = self._instance_line()
            if instance_line:
                self._context(instance_line)
        self._radio(
            Field.MIGRATION_TEST,
            "Migration test",
            [(ON, "On (recommended)", "Assess first; nothing is created by the test"), (OFF, "Off", None)],
            dispatch=True,
            hint=MIGRATION_TEST_HINT,
        )
        methods = allowed_execution_methods(draft.migration_test)
        self._radio(
            Field.EXECUTION_METHOD,
            "Execution method",
            [(m.value, EXECUTION_METHOD_LABELS[m], _METHOD_HELP[m]) for m in methods],
            dispatch=True,
            revision=("t" if draft.migration_test else "n",),
        )
        if draft.execution_method is ExecutionMethod.MIGRATE_LATER:
            initial = self.values[Field.SCHEDULED_START.value]
            self._input(
                Field.SCHEDULED_START,
                "Start at",
                DateTimePickerElement(action_id=ActionId.MIGRATE_FIELD, initial_date_time=initial),
                hint="At least 10 minutes and at most 30 days from now. Shown in your time zone; SMC "
                "gets it in UTC.",
            )
        self._input(
            Field.INCREMENTAL,
            "Automatic incremental sync",
            self._checkbox(
                ON,
                "Sync changes periodically until cutover",
                "Off: the job runs once",
                checked=draft.incremental,
            ),
            optional=True,
            dispatch=True,
        )
        if draft.incremental:
            low, high = SYNC_INTERVAL_HOURS
            self._number(
                Field.SYNC_INTERVAL, "Sync interval (hours)", low, high, hint=f"{low} to {high} hours."
            )
            low, high = MAX_RESERVED_IMAGES
            self._number(
                Field.MAX_IMAGES, "Images to keep", low, high, hint=f"{low} to {high} images of the cycles."
            )

    def disks_step(self) -> None:
        draft = self.draft
        vpc_mode = draft.network_type is NetworkType.VPC
        self._radio(
            Field.NETWORK_TYPE,
            "Network type",
            [
                (
                    str(int(NetworkType.PUBLIC)),
                    "Public network",
                    "The source sends data over the internet",
                ),
                (
                    str(int(NetworkType.VPC)),
                    "VPC",
                    "The source reaches the VPC (VPN Gateway, Express Connect, CEN): faster",
                ),
            ],
            dispatch=True,
        )
        optional_hint = "" if vpc_mode else " Optional: without one, SMC creates a VPC and vSwitch."
        self._select(
            Field.VPC,
            "VPC" if vpc_mode else "VPC (optional)",
            revision=(draft.region_id,),
            optional=not vpc_mode,
            hint=f"The VPC in {draft.region_id} for the intermediate instance or disk.{optional_hint}",
            placeholder="Search VPCs",
        )
        self._select(
            Field.VSWITCH,
            "vSwitch" if vpc_mode else "vSwitch (optional)",
            revision=(draft.vpc_id or "none",),
            optional=not vpc_mode,
            dispatch=False,
            hint="A vSwitch of the VPC above; the intermediate instance needs a free address in it.",
            placeholder="Choose a VPC first" if not draft.vpc_id else "Search vSwitches",
        )
        if draft.target_type is TargetType.TARGET_INSTANCE:
            self._radio(
                Field.PRIVATE_IP_MODE,
                "Private IPv4 of the destination instance",
                [
                    (PrivateIpMode.UNCHANGED.value, "Unchanged", None),
                    (PrivateIpMode.MANUAL.value, "Manual", "Set it after cutover, e.g. to the source's IP"),
                ],
                dispatch=True,
            )
            if draft.private_ip_mode is PrivateIpMode.MANUAL:
                self._input(
                    Field.PRIVATE_IP,
                    "Private IPv4 address",
                    PlainTextInputElement(
                        action_id=ActionId.MIGRATE_FIELD,
                        initial_value=self.values[Field.PRIVATE_IP.value],
                        placeholder="10.10.1.20",
                    ),
                    hint=self._private_ip_hint(),
                )
        self.blocks.append(DividerBlock())
        self._context("*Disks* — sizes in GiB; each must be larger than the space used on the source disk.")
        source = self.facts.source
        windows = source is not None and source.os_type.value == "windows"
        low, high = SYSTEM_DISK_GIB
        self._number(
            Field.SYSTEM_DISK_SIZE,
            "System disk (GiB)",
            low,
            high,
            hint=f"{self._disk_hint(0)}{low} to {high} GiB.",
        )
        self._input(
            Field.SYSTEM_DISK_LVM,
            "System disk layout",
            self._checkbox(
                LVM,
                "Rebuild as LVM",
                "Not for Windows sources, nor without a boot partition",
                checked=draft.system_disk.lvm,
            ),
            optional=True,
        )
        low, high = DATA_DISK_GIB
        for disk in draft.data_disks:
            self._number(
                Field.DATA_DISK_SIZE,
                f"Data disk {disk.index} (GiB)",
                low,
                high,
                index=(disk.index,),
                optional=True,
                hint=f"{self._disk_hint(disk.index)}{low} to {high} GiB, or skip the disk below.",
            )
            options = [
                Option(value=SKIP, text="Skip this disk", description="It has no mount target to migrate"),
                Option(value=LVM, text="Rebuild as LVM", description="Not for Windows sources"),
            ]
            checked = [o for o in options if (o.value == SKIP and disk.skip) or (o.value == LVM and disk.lvm)]
            key = field_key(Field.DATA_DISK_LVM, disk.index)
            self._input_block(
                key,
                f"Data disk {disk.index} options",
                CheckboxesElement(
                    action_id=ActionId.MIGRATE_FIELD, options=options, initial_options=checked or None
                ),
                optional=True,
            )
        if not windows:
            on = forms.has_partition_layout(draft)
            option = Option(
                value=LAYOUT_ON,
                text="Modify disk partitions",
                description="Block replication and sizes per partition (SMC client 2.8.0 or later)",
            )
            self._input_block(
                BlockId.MIGRATE_PARTITION_LAYOUT,
                "Partitions",
                CheckboxesElement(
                    action_id=ActionId.MIGRATE_FIELD,
                    options=[option],
                    initial_options=[option] if on else None,
                ),
                optional=True,
                dispatch=True,
            )
        else:
            self._context("Windows partitions are always block-replicated at their source sizes.")

    def partitions_step(self) -> None:
        pages = partition_pages(self.draft)
        page = min(self.state.page, max(len(pages) - 1, 0))
        self._context(
            "Block replication keeps a partition's layout and size (steadier speed); turn it off to resize "
            "the partition. The partitions of a disk must fit in its destination size."
        )
        disks = dict(_disks(self.draft))
        for index in pages[page] if pages else []:
            self._partition_disk(index, disks[index])

    def details_step(self) -> None:
        draft = self.draft
        self._input(
            Field.JOB_NAME,
            "Job name",
            PlainTextInputElement(
                action_id=ActionId.MIGRATE_FIELD,
                initial_value=self.values[Field.JOB_NAME.value],
                max_length=128,
                placeholder="migrate-web-prod-02",
            ),
            optional=True,
            hint="2 to 128 characters starting with a letter, unique in the account. Empty: SMC names it.",
        )
        self._input(
            Field.DESCRIPTION,
            "Job description",
            PlainTextInputElement(
                action_id=ActionId.MIGRATE_FIELD,
                initial_value=self.values[Field.DESCRIPTION.value],
                max_length=128,
            ),
            optional=True,
            hint="2 to 128 characters starting with a letter: letters, digits, ':', '_' and '-'.",
        )
        low, high = SPEED_LIMIT_MBPS
        self._number(
            Field.SPEED_LIMIT,
            "Transmission speed limit (Mbit/s)",
            low,
            high,
            hint=SPEED_HINT + describe_bandwidth_limit(draft.speed_limit_mbps) + ".",
        )
        low, high = COMPRESSION_LEVEL
        levels = [
            Option(value=str(n), text=f"{n}" + _COMPRESSION_NOTES.get(n, "")) for n in range(low, high + 1)
        ]
        self._input(
            Field.COMPRESSION,
            "Compression ratio",
            StaticSelectElement(
                action_id=ActionId.MIGRATE_FIELD,
                options=levels,
                initial_option=next(o for o in levels if o.value == str(draft.compression_level)),
            )
            if low <= draft.compression_level <= high
            else StaticSelectElement(action_id=ActionId.MIGRATE_FIELD, options=levels),
            hint="Higher helps on slow links and costs CPU on the source; 0 on fast networks.",
        )
        self._input(
            Field.CHECKSUM,
            "Checksum verification",
            self._checkbox(
                ON,
                "Verify checksums",
                "Stronger consistency checks; may slow the transfer",
                checked=draft.checksum,
            ),
            optional=True,
        )
        self._radio(
            Field.LICENSE_TYPE,
            "License type",
            [
                (LicenseType.ALIYUN.value, "Alibaba Cloud", "Windows Server licence billed by Alibaba Cloud"),
                (LicenseType.BYOL.value, "BYOL", "Bring your own licence (Windows, RHEL, SLES)"),
            ],
        )
        self._input(
            Field.TAGS,
            "Tags",
            PlainTextInputElement(
                action_id=ActionId.MIGRATE_FIELD,
                initial_value=self.values[Field.TAGS.value],
                multiline=True,
                placeholder="env=prod",
            ),
            optional=True,
            hint=f"key=value, one per line; at most {MAX_TAGS}.",
        )
        if draft.target_type is TargetType.IMAGE:
            self._select(
                Field.INSTANCE_TYPE,
                "Intermediate instance type",
                revision=(draft.region_id,),
                optional=True,
                dispatch=False,
                hint="Empty: SMC tries its default sequence of types. A type out of stock fails the job.",
                placeholder="Search instance types",
            )
        self._context(CONSOLE_ONLY_NOTE)

    # -- one disk of the partitions page ---------------------------------------------------------

    def _partition_disk(self, index: int, disk: SystemDisk | DataDisk) -> None:
        name = "System disk" if index == 0 else f"Data disk {index}"
        size = "?" if disk.size_gib is None else f"{disk.size_gib} GiB"
        self._context(f"*{name}* — {size} at the destination, {len(disk.partitions)} partition(s)")
        source_disk = self._source_disk(index)
        facts = {p.device: p for p in source_disk.partitions} if source_disk is not None else {}
        for first in range(1, len(disk.partitions) + 1, CHECKBOX_GROUP):
            group = list(enumerate(disk.partitions, start=1))[first - 1 : first - 1 + CHECKBOX_GROUP]
            options = []
            for position, part in group:
                known = facts.get(part.device)
                note = f"source {forms.gib_text(known.size_bytes)} GiB" if known else "not on the source now"
                if known is not None and not known.can_block:
                    note += ", cannot be block-replicated"
                options.append(
                    Option(
                        value=str(position),
                        text=_clip(_part_name(part.path, part.device), 75),
                        description=note,
                    )
                )
            checked = [o for (position, part), o in zip(group, options, strict=True) if part.block]
            self._input_block(
                field_key(Field.PARTITION_BLOCK, index, first),
                "Block replication",
                CheckboxesElement(
                    action_id=ActionId.MIGRATE_FIELD, options=options, initial_options=checked or None
                ),
                optional=True,
            )
        for position, part in enumerate(disk.partitions, start=1):
            known = facts.get(part.device)
            used = (
                f"Source {forms.gib_text(known.size_bytes)} GiB"
                + (f", {format_gib((known.used_bytes or 0) / GIB)} GiB used." if known.used_bytes else ".")
                if known is not None
                else "Not on the source disk any more: reload the form."
            )
            key = field_key(Field.PARTITION_SIZE, index, position)
            self._input_block(
                key,
                _clip(f"{_part_name(part.path, part.device)} size (GiB)", 150),
                NumberInputElement(
                    action_id=ActionId.MIGRATE_FIELD,
                    is_decimal_allowed=True,
                    initial_value=self.values.get(key),
                    min_value=0,
                ),
                hint=used + " Block-replicated partitions keep their size.",
            )

    # -- helpers ----------------------------------------------------------------------------------

    def _source_disk(self, index: int) -> SourceDisk | None:
        source = self.facts.source
        if source is None:
            return None
        return next((d for d in source.disks if d.index == index), None)

    def _disk_hint(self, index: int) -> str:
        disk = self._source_disk(index)
        if disk is None:
            return ""
        used = "" if disk.used_gib is None else f", {format_gib(disk.used_gib)} GiB used"
        where = f" ({disk.path})" if disk.path else ""
        return f"Source{where}: {disk.size_gib} GiB{used}. "

    def _source_line(self) -> str | None:
        source = self.facts.source
        if source is None or source.id != self.draft.source_id:
            return None
        disks = [f"system {self._disk_summary(source.system_disk)}"] if source.system_disk else []
        disks += [f"data {d.index} {self._disk_summary(d)}" for d in source.data_disks]
        parts = [source.platform or source.os_type.value, source.state.value, *disks]
        return _clip(f"*{source.name or source.id}* · " + " · ".join(parts), 2900)

    @staticmethod
    def _disk_summary(disk: SourceDisk) -> str:
        used = "" if disk.used_gib is None else f" ({format_gib(disk.used_gib)} GiB used)"
        return f"{disk.size_gib} GiB{used}"

    def _instance_line(self) -> str | None:
        instance = self.facts.instance
        if instance is None or instance.instance_id != self.draft.instance_id:
            return None
        parts = [instance.os_type.value.capitalize() if instance.os_type else "OS unknown"]
        parts.append(f"system {instance.system_disk_gib} GiB")
        parts += [f"data {n} {size} GiB" for n, size in enumerate(instance.data_disk_gib, start=1)]
        if instance.vswitch is not None:
            parts.append(f"{instance.vswitch.vswitch_id} {instance.vswitch.cidr}")
        return f"*{instance.instance_id}* · " + " · ".join(parts)

    def _private_ip_hint(self) -> str:
        instance = self.facts.instance
        if instance is None or instance.vswitch is None or instance.instance_id != self.draft.instance_id:
            return "An address inside the CIDR of the destination instance's vSwitch; applied after cutover."
        first, last = usable_range(instance.vswitch.cidr)
        return (
            f"Inside vSwitch {instance.vswitch.vswitch_id} ({instance.vswitch.cidr}): {first} to {last}. "
            "Applied after cutover."
        )

    def _context(self, text: str) -> None:
        self.blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_clip(text, 2900))]))

    def _input(
        self,
        field_: Field,
        label: str,
        element: InputInteractiveElement,
        *,
        optional: bool = False,
        dispatch: bool = False,
        hint: str | None = None,
        revision: Sequence[object] = (),
    ) -> None:
        self._input_block(
            field_.value, label, element, optional=optional, dispatch=dispatch, hint=hint, revision=revision
        )

    def _input_block(
        self,
        key: str,
        label: str,
        element: InputInteractiveElement,
        *,
        optional: bool = False,
        dispatch: bool = False,
        hint: str | None = None,
        revision: Sequence[object] = (),
    ) -> None:
        block = forms.block_id(key, *revision, self.state.revision)
        self.blocks.append(
            InputBlock(
                block_id=block,
                label=label,
                element=element,
                optional=optional or None,
                dispatch_action=dispatch or None,
                hint=_clip(hint, 2000) if hint else None,
            )
        )
        self.routes.update(dict.fromkeys(carried_keys(block), block))
        self.inline_at[block] = len(self.blocks) - 1

    def _select(
        self,
        field_: Field,
        label: str,
        *,
        revision: Sequence[object] = (),
        optional: bool = False,
        dispatch: bool = True,
        hint: str | None = None,
        placeholder: str | None = None,
    ) -> None:
        """An external select (options come live from the catalog), pre-selected with the draft's value."""
        value = self.values.get(field_.value)
        initial = Option(value=value, text=self.facts.labels.get(value, value)) if value else None
        self._input(
            field_,
            label,
            ExternalDataSelectElement(
                action_id=ActionId.MIGRATE_FIELD,
                min_query_length=0,
                initial_option=initial,
                placeholder=placeholder,
            ),
            optional=optional,
            dispatch=dispatch,
            hint=hint,
            revision=revision,
        )

    def _radio(
        self,
        field_: Field,
        label: str,
        choices: Sequence[tuple[str, str, str | None]],
        *,
        dispatch: bool = False,
        hint: str | None = None,
        revision: Sequence[object] = (),
    ) -> None:
        options = [Option(value=value, text=text, description=note) for value, text, note in choices]
        current = self.values.get(field_.value)
        initial = next((o for o in options if o.value == current), options[0])
        self._input(
            field_,
            label,
            RadioButtonsElement(action_id=ActionId.MIGRATE_FIELD, options=options, initial_option=initial),
            dispatch=dispatch,
            hint=hint,
            revision=revision,
        )

    @staticmethod
    def _checkbox(value: str, text: str, note: str | None, *, checked: bool) -> CheckboxesElement:
        option = Option(value=value, text=text, description=note)
        return CheckboxesElement(
            action_id=ActionId.MIGRATE_FIELD, options=[option], initial_options=[option] if checked else None
        )

    def _number(
        self,
        field_: Field,
        label: str,
        low: int,
        high: int,
        *,
        index: tuple[int, ...] = (),
        optional: bool = False,
        hint: str | None = None,
    ) -> None:
        key = field_key(field_, *index)
        self._input_block(
            key,
            label,
            NumberInputElement(
                action_id=ActionId.MIGRATE_FIELD,
                is_decimal_allowed=False,
                initial_value=self.values.get(key),
                min_value=low,
                max_value=high,
            ),
            optional=optional,
            hint=hint,
        )

    # -- assembling -------------------------------------------------------------------------------

    def finish(self, errors: Sequence[FieldError], notice: str | None) -> Rendered:
        state = self.state
        pages = sequence(self.draft)
        position = _position(state)
        title = STEP_TITLES[state.step]
        if state.step is Step.PARTITIONS and len(partition_pages(self.draft)) > 1:
            title += f" ({state.page + 1} of {len(partition_pages(self.draft))})"
        header: list[Block] = [
            ContextBlock(
                elements=[MarkdownTextObject(text=f"*Step {position + 1} of {len(pages)}* · {title}")]
            )
        ]
        shown, rest = Rendered(View(type="modal"), self.routes).route(errors)
        notices = [notice] if notice else []
        notices += [e.message for e in rest]
        body = list(self.blocks)
        # Inline errors go under their inputs while 100 blocks leave room (header, notice, Back button);
        # the ones that do not fit join the notice at the top.
        room = max(0, MAX_VIEW_BLOCKS - len(header) - len(body) - 2)
        inline = sorted((self.inline_at[b], m) for b, m in shown.items())
        notices += [message for _, message in inline[room:]]
        for at, message in reversed(inline[:room]):
            warning = MarkdownTextObject(text=_clip(f":warning: {message}", 2900))
            body.insert(at + 1, ContextBlock(elements=[warning]))
        if notices:
            text = "\n".join(f":warning: {n}" for n in notices)
            header.append(SectionBlock(text=MarkdownTextObject(text=_clip(text, 2900))))
        if position > 0:
            body.append(
                ActionsBlock(
                    block_id=BlockId.MIGRATE_NAV,
                    elements=[ButtonElement(action_id=ActionId.MIGRATE_BACK, text="◀ Back", value="back")],
                )
            )
        last = position == len(pages) - 1
        title_text = TITLE if state.request_id is None else _clip(f"Edit {state.request_id}", 24)
        view = View(
            type="modal",
            callback_id=CallbackId.MIGRATE,
            title=title_text,
            submit=("Submit request" if state.request_id is None else "Save changes") if last else "Next",
            close="Cancel",
            private_metadata=forms.encode_state(state),
            blocks=header + body,
        )
        return Rendered(view, dict(self.routes))


_METHOD_HELP: Mapping[ExecutionMethod, str] = {
    ExecutionMethod.TEST_AND_MIGRATE: "Migrate automatically when the test finds nothing critical",
    ExecutionMethod.TEST_ONLY: "Only the test; start the migration later",
    ExecutionMethod.MIGRATE_NOW: "Create the job and start it right away",
    ExecutionMethod.MIGRATE_LATER: "SMC starts the job at the time you pick",
    ExecutionMethod.CREATE_ONLY: "Create the job; a Start button starts it",
}

_COMPRESSION_NOTES: Mapping[int, str] = {0: " (none)", 7: " (default)", 10: " (most)"}


def _disks(params: MigrationParams) -> list[tuple[int, SystemDisk | DataDisk]]:
    system: list[tuple[int, SystemDisk | DataDisk]] = [(0, params.system_disk)]
    return system + [(d.index, d) for d in params.data_disks]


def _part_name(path: str, device: str) -> str:
    return f"{path} ({device})" if path else device


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
