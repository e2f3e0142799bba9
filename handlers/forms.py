"""Wizard form <-> typed parameters: view state -> `MigrationParams` (+ errors for unparsable input),
parameters -> initial values, and the wizard's state carried in `private_metadata`.

Block ids are field keys (`data_disk_size.2`), optionally followed by `~<revision>`: a new revision makes
Slack drop what the user entered in that block (it keeps input only while block_id and action_id stay the
same), which is how a template, a new region or a new VPC replaces values instead of mixing with them.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from pydantic import ValidationError

from bot.cloud.ports import SourceServer
from bot.domain.errors import FieldError
from bot.domain.params import (
    GIB,
    DataDisk,
    Field,
    LicenseType,
    MigrationParams,
    NetworkType,
    OsType,
    Partition,
    PrivateIpMode,
    SystemDisk,
    Tag,
    allowed_execution_methods,
    default_execution_method,
    parse_field_key,
)
from bot.domain.validation import name_problem
from handlers.ids import BlockId
from storage.enums import ExecutionMethod, TargetType

REVISION_MARK = "~"
METADATA_LIMIT = 3000
"""Slack refuses a view whose `private_metadata` is longer."""
_METADATA_PREFIX = "z1:"

LOADING_VALUE = "__loading__"
"""The single option an options request answers while the data is still being fetched."""
NONE_VALUE = "__none__"
"""An option that stands for "nothing to choose" (e.g. no VPC chosen yet)."""
PLACEHOLDER_VALUES = frozenset({LOADING_VALUE, NONE_VALUE})

ON = "on"
OFF = "off"
LVM = "lvm"
SKIP = "skip"
LAYOUT_ON = "modify"
"""The value of the "Modify disk partitions" checkbox."""
CHECKBOX_GROUP = 10
"""Slack allows 10 options in a checkboxes element: block replication is asked per 10 partitions."""


class Step(IntEnum):
    """The wizard's pages, in order; PARTITIONS appears only with "Modify disk partitions", maybe paged."""

    TARGET = 1
    DISKS = 2
    PARTITIONS = 3
    DETAILS = 4


@dataclass(frozen=True)
class WizardState:
    """What the wizard remembers between views; Slack echoes it back in every payload of the view."""

    draft: MigrationParams
    channel_id: str
    step: Step = Step.TARGET
    page: int = 0
    revision: int = 0
    """Bumped when values are replaced wholesale (a template): every block id changes with it."""
    request_id: str | None = None
    """Set when the wizard edits an existing request instead of creating one."""

    def at(self, step: Step, page: int = 0) -> WizardState:
        return replace(self, step=step, page=page)


class MetadataTooLarge(ValueError):  # noqa: N818 -- reads as what happened
    """The wizard's state does not fit Slack's 3,000 characters of private_metadata."""


def encode_state(state: WizardState) -> str:
    """Compact JSON of the state, deflated and base64-encoded; raises MetadataTooLarge beyond 3,000 chars."""
    data: dict[str, Any] = {
        "c": state.channel_id,
        "s": int(state.step),
        "d": state.draft.model_dump(mode="json", exclude_defaults=True),
    }
    if state.page:
        data["p"] = state.page
    if state.revision:
        data["g"] = state.revision
    if state.request_id:
        data["r"] = state.request_id
    raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text = _METADATA_PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode("ascii")
    if len(text) > METADATA_LIMIT:
        raise MetadataTooLarge(f"the wizard state needs {len(text)} characters of private_metadata")
    return text


@functools.lru_cache(maxsize=256)
def decode_state(text: str) -> WizardState:
    """Inverse of `encode_state`; ValueError for anything it did not produce.

    Cached (the state is immutable): one view's metadata comes back with every options request while the
    user types, every choice that re-renders the page and every submission, and decoding it (validating
    the draft) costs more than anything else a submission does before its ack."""
    if not text.startswith(_METADATA_PREFIX):
        raise ValueError("not the migration wizard's metadata")
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(text[len(_METADATA_PREFIX) :].encode("ascii")))
        data = json.loads(raw)
        return WizardState(
            draft=MigrationParams.model_validate(data["d"]),
            channel_id=str(data["c"]),
            step=Step(int(data["s"])),
            page=int(data.get("p", 0)),
            revision=int(data.get("g", 0)),
            request_id=data.get("r"),
        )
    except (binascii.Error, zlib.error, json.JSONDecodeError, KeyError, TypeError, ValidationError) as exc:
        raise ValueError(f"unreadable wizard metadata: {type(exc).__name__}") from None


# ---- block ids ---------------------------------------------------------------------------------


def block_id(key: str, *revision: object) -> str:
    """`key` or `key~rev`; parts that are empty or zero are left out."""
    parts = [str(p) for p in revision if p not in (None, "", 0)]
    return key + (REVISION_MARK + "-".join(parts) if parts else "")


def key_of(block: str) -> str:
    """The field key of a block id (what `block_id` was given)."""
    return block.split(REVISION_MARK, 1)[0]


# ---- initial values ------------------------------------------------------------------------------


def gib_text(size_bytes: int) -> str:
    """A partition size in GiB as the form shows it: whole numbers bare, else up to 3 decimals."""
    value = size_bytes / GIB
    if value.is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def tags_text(tags: Sequence[Tag]) -> str:
    return "\n".join(f"{t.key}={t.value}" if t.value else t.key for t in tags)


def initial_values(params: MigrationParams) -> dict[str, Any]:
    """Field key -> what the form element shows first: text for inputs, option values for selects,
    True/False for single checkboxes, a Unix time for the date-time picker, None when empty."""
    values: dict[str, Any] = {
        Field.SOURCE.value: params.source_id or None,
        Field.TARGET_TYPE.value: params.target_type.value,
        Field.REGION.value: params.region_id or None,
        Field.IMAGE_NAME.value: params.image_name,
        Field.INSTANCE.value: params.instance_id,
        Field.MIGRATION_TEST.value: ON if params.migration_test else OFF,
        Field.EXECUTION_METHOD.value: params.execution_method.value,
        Field.SCHEDULED_START.value: (
            int(params.scheduled_start.timestamp()) if params.scheduled_start is not None else None
        ),
        Field.INCREMENTAL.value: params.incremental,
        Field.SYNC_INTERVAL.value: _number_text(params.sync_interval_hours),
        Field.MAX_IMAGES.value: _number_text(params.max_reserved_images),
        Field.TEMPLATE.value: params.template_name,
        Field.NETWORK_TYPE.value: str(int(params.network_type)),
        Field.VPC.value: params.vpc_id,
        Field.VSWITCH.value: params.vswitch_id,
        Field.PRIVATE_IP_MODE.value: params.private_ip_mode.value,
        Field.PRIVATE_IP.value: params.private_ip,
        Field.SYSTEM_DISK_SIZE.value: _number_text(params.system_disk.size_gib),
        Field.SYSTEM_DISK_LVM.value: params.system_disk.lvm,
        Field.JOB_NAME.value: params.job_name,
        Field.DESCRIPTION.value: params.description,
        Field.SPEED_LIMIT.value: str(params.speed_limit_mbps),
        Field.COMPRESSION.value: str(params.compression_level),
        Field.CHECKSUM.value: params.checksum,
        Field.LICENSE_TYPE.value: params.license_type.value,
        Field.TAGS.value: tags_text(params.tags) or None,
        Field.INSTANCE_TYPE.value: params.instance_type,
    }
    for data_disk in params.data_disks:
        values[f"{Field.DATA_DISK_SIZE.value}.{data_disk.index}"] = _number_text(data_disk.size_gib)
        values[f"{Field.DATA_DISK_SKIP.value}.{data_disk.index}"] = data_disk.skip
        values[f"{Field.DATA_DISK_LVM.value}.{data_disk.index}"] = data_disk.lvm
    for index, disk in _disks_by_index(params):
        for position, part in enumerate(disk.partitions, start=1):
            values[f"{Field.PARTITION_SIZE.value}.{index}.{position}"] = gib_text(part.size_bytes)
            values[f"{Field.PARTITION_BLOCK.value}.{index}.{position}"] = part.block
    return values


def _number_text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _disks_by_index(params: MigrationParams) -> list[tuple[int, SystemDisk | DataDisk]]:
    """(0, system disk), then (index, data disk) for each data disk."""
    system: list[tuple[int, SystemDisk | DataDisk]] = [(0, params.system_disk)]
    return system + [(d.index, d) for d in params.data_disks]


# ---- drafts --------------------------------------------------------------------------------------


def new_draft(
    source_id: str | None, *, region_id: str | None = None, network: str | None = None
) -> MigrationParams:
    """The wizard's starting point: console defaults, plus the channel's default region and network."""
    network_type = NetworkType.VPC if (network or "").strip().lower() == "vpc" else NetworkType.PUBLIC
    return MigrationParams(
        source_id=source_id or "",
        target_type=TargetType.IMAGE,
        region_id=region_id or "",
        network_type=network_type,
        execution_method=default_execution_method(True),
    )


def disks_chosen(draft: MigrationParams) -> bool:
    """False until the disks were filled in from a source (a new source starts them over)."""
    return draft.system_disk.size_gib is not None or bool(draft.data_disks)


def with_source(draft: MigrationParams, source: SourceServer | None) -> MigrationParams:
    """Disk sizes default to the source's disks (no partition changes); an image name to its name."""
    if source is None or source.id != draft.source_id:
        return draft
    update: dict[str, Any] = {}
    if not disks_chosen(draft):
        system = source.system_disk
        update["system_disk"] = SystemDisk(size_gib=system.size_gib if system is not None else None)
        update["data_disks"] = tuple(DataDisk(index=d.index, size_gib=d.size_gib) for d in source.data_disks)
    named = bool(source.name) and name_problem(source.name, extra_chars=":_-.") is None
    if named and draft.image_name is None and draft.target_type is TargetType.IMAGE:
        update["image_name"] = source.name
    return draft.model_copy(update=update) if update else draft


def with_partition_layout(draft: MigrationParams, source: SourceServer | None, on: bool) -> MigrationParams:
    """'Modify Disk Partition' on: every partition of every migrated disk listed at its source size,
    block-replicated where the source allows it (always on Windows); off: SMC's automatic layout."""
    if not on:
        return draft.model_copy(
            update={
                "system_disk": draft.system_disk.model_copy(update={"partitions": ()}),
                "data_disks": tuple(d.model_copy(update={"partitions": ()}) for d in draft.data_disks),
            }
        )
    if source is None or has_partition_layout(draft):
        return draft
    windows = source.os_type.value == OsType.WINDOWS.value

    def parts(disk_index: int) -> tuple[Partition, ...]:
        found = next((d for d in source.disks if d.index == disk_index), None)
        if found is None:
            return ()
        return tuple(
            Partition(device=p.device, size_bytes=p.size_bytes, path=p.path, block=windows or p.can_block)
            for p in found.partitions
        )

    return MigrationParams.model_validate(
        {
            **draft.model_dump(),
            "system_disk": draft.system_disk.model_copy(update={"partitions": parts(0)}),
            "data_disks": tuple(
                d if d.skip else d.model_copy(update={"partitions": parts(d.index)}) for d in draft.data_disks
            ),
        }
    )


def has_partition_layout(params: MigrationParams) -> bool:
    return bool(params.system_disk.partitions) or any(d.partitions for d in params.data_disks)


TEMPLATE_EXCLUDED = frozenset({"source_id", "system_disk", "data_disks", "canonical_version"})
"""A template describes a kind of migration, not one server: its disk layout and source never apply."""


def apply_template(draft: MigrationParams, name: str, preset: Mapping[str, Any]) -> MigrationParams:
    """The preset's values over the draft (keys that do not fit are skipped), named as its template."""
    merged = draft.model_dump()
    for key, value in preset.items():
        if key in TEMPLATE_EXCLUDED or key not in MigrationParams.model_fields:
            continue
        attempt = {**merged, key: value}
        try:
            MigrationParams.model_validate(attempt)
        except ValidationError:
            continue
        merged = attempt
    merged["template_name"] = name
    return normalise(MigrationParams.model_validate(merged), draft)


def normalise(draft: MigrationParams, previous: MigrationParams | None = None) -> MigrationParams:
    """Drop what no longer applies (hidden fields), and what a new region or VPC made stale."""
    update: dict[str, Any] = {}
    if previous is not None and previous.source_id != draft.source_id:
        update.update(system_disk=SystemDisk(), data_disks=())
    if previous is not None and previous.region_id != draft.region_id:
        update.update(instance_id=None, vpc_id=None, vswitch_id=None, instance_type=None)
    if previous is not None and previous.vpc_id != draft.vpc_id:
        update["vswitch_id"] = None
    if draft.target_type is TargetType.IMAGE:
        update.update(instance_id=None, private_ip_mode=PrivateIpMode.UNCHANGED, private_ip=None)
    else:
        update.update(image_name=None, instance_type=None)
    if draft.execution_method not in allowed_execution_methods(draft.migration_test):
        update["execution_method"] = allowed_execution_methods(draft.migration_test)[0]
    method = update.get("execution_method", draft.execution_method)
    if method is not ExecutionMethod.MIGRATE_LATER:
        update["scheduled_start"] = None
    if not draft.incremental:
        update.update(sync_interval_hours=None, max_reserved_images=None)
    mode = update.get("private_ip_mode", draft.private_ip_mode)
    if mode is PrivateIpMode.UNCHANGED:
        update["private_ip"] = None
    return draft.model_copy(update=update) if update else draft


# ---- parsing view state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedForm:
    """The draft with what the view held applied, and the inputs that could not be read."""

    draft: MigrationParams
    errors: tuple[FieldError, ...] = ()
    layout: bool | None = None
    """The "Modify disk partitions" checkbox, when the view had it."""
    template: str | None = None
    """The template picked in this view, when it had the template select."""
    seen: frozenset[str] = field(default_factory=frozenset)
    """Field keys the view held."""


def element_value(entry: Mapping[str, Any]) -> Any:
    """What one element of `view.state.values` holds: text, an option value, option values, or a time."""
    kind = entry.get("type")
    if kind in ("static_select", "external_select", "radio_buttons"):
        option = entry.get("selected_option")
        value = option.get("value") if isinstance(option, Mapping) else None
        return None if value in PLACEHOLDER_VALUES else value
    if kind in ("checkboxes", "multi_static_select", "multi_external_select"):
        options = entry.get("selected_options") or []
        return [str(o.get("value")) for o in options if isinstance(o, Mapping)]
    if kind == "datetimepicker":
        return entry.get("selected_date_time")
    value = entry.get("value")
    if isinstance(value, str):
        value = value.strip()
    return value or None


def state_entries(values: Mapping[str, Any]) -> dict[str, Any]:
    """`view.state.values` -> {block_id: value} (one element per block in this wizard)."""
    found: dict[str, Any] = {}
    for block, by_action in values.items():
        if isinstance(by_action, Mapping):
            for entry in by_action.values():
                if isinstance(entry, Mapping):
                    found[str(block)] = element_value(entry)
    return found


class _Reader:
    """Applies typed values to a draft dict, collecting an error per input it cannot read."""

    def __init__(self, draft: MigrationParams) -> None:
        self.data: dict[str, Any] = draft.model_dump()
        self.disks: dict[int, dict[str, Any]] = {d["index"]: d for d in self.data["data_disks"]}
        self.errors: list[FieldError] = []

    def result(self) -> dict[str, Any]:
        self.data["data_disks"] = [self.disks[i] for i in sorted(self.disks)]
        return self.data

    def whole(self, field_: Field, raw: Any, what: str, *index: int) -> int | None:
        if raw is None:
            return None
        try:
            number = float(str(raw))
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or not number.is_integer():
            self.errors.append(FieldError(field_, f"Enter {what} as a whole number, such as 40.", index))
            return None
        return int(number)

    def apply(self, field_: Field, index: tuple[int, ...], raw: Any) -> None:
        data = self.data
        if field_ in _REQUIRED_TEXT:
            data[_REQUIRED_TEXT[field_]] = raw or ""
        elif field_ in _OPTIONAL_TEXT:
            data[_OPTIONAL_TEXT[field_]] = raw
        elif field_ is Field.TARGET_TYPE:
            data["target_type"] = _enum(TargetType, raw, data["target_type"])
        elif field_ is Field.MIGRATION_TEST:
            data["migration_test"] = raw != OFF
        elif field_ is Field.EXECUTION_METHOD:
            data["execution_method"] = _enum(ExecutionMethod, raw, data["execution_method"])
        elif field_ is Field.SCHEDULED_START:
            data["scheduled_start"] = _moment(raw)
        elif field_ is Field.INCREMENTAL:
            data["incremental"] = ON in (raw or [])
        elif field_ is Field.SYNC_INTERVAL:
            data["sync_interval_hours"] = self.whole(field_, raw, "the sync interval in hours")
        elif field_ is Field.MAX_IMAGES:
            data["max_reserved_images"] = self.whole(field_, raw, "the number of images to keep")
        elif field_ is Field.NETWORK_TYPE:
            data["network_type"] = NetworkType.VPC if raw == str(int(NetworkType.VPC)) else NetworkType.PUBLIC
        elif field_ is Field.PRIVATE_IP_MODE:
            data["private_ip_mode"] = _enum(PrivateIpMode, raw, PrivateIpMode.UNCHANGED)
        elif field_ in (Field.SYSTEM_DISK_SIZE, Field.SYSTEM_DISK_LVM, Field.DATA_DISK_SIZE):
            self._disk_value(field_, index, raw)
        elif field_ in (Field.DATA_DISK_LVM, Field.DATA_DISK_SKIP):
            self._disk_options(index[0], raw)
        elif field_ is Field.PARTITION_BLOCK:
            self._block(index, raw)
        elif field_ is Field.PARTITION_SIZE:
            self._partition_size(index, raw)
        elif field_ is Field.SPEED_LIMIT:
            speed = self.whole(field_, raw, "the speed limit in Mbit/s")
            data["speed_limit_mbps"] = 0 if speed is None else speed
        elif field_ is Field.COMPRESSION:
            level = self.whole(field_, raw, "the compression level")
            data["compression_level"] = 7 if level is None else level
        elif field_ is Field.CHECKSUM:
            data["checksum"] = ON in (raw or [])
        elif field_ is Field.LICENSE_TYPE:
            data["license_type"] = _enum(LicenseType, raw, LicenseType.ALIYUN)
        elif field_ is Field.TAGS:
            data["tags"] = parse_tags(raw)

    def _disk(self, index: int) -> dict[str, Any] | None:
        disk: dict[str, Any] | None = self.data["system_disk"] if index == 0 else self.disks.get(index)
        return disk

    def _disk_value(self, field_: Field, index: tuple[int, ...], raw: Any) -> None:
        if field_ is Field.SYSTEM_DISK_LVM:
            self.data["system_disk"]["lvm"] = LVM in (raw or [])
        elif field_ is Field.SYSTEM_DISK_SIZE:
            self.data["system_disk"]["size_gib"] = self.whole(field_, raw, "the system disk size in GiB")
        elif index[0] in self.disks:
            what = f"the size of data disk {index[0]} in GiB"
            self.disks[index[0]]["size_gib"] = self.whole(field_, raw, what, *index)

    def _disk_options(self, disk_index: int, raw: Any) -> None:
        """One checkboxes element per data disk carries both choices: skip it, rebuild it as LVM."""
        disk = self.disks.get(disk_index)
        if disk is not None:
            disk["lvm"] = LVM in (raw or [])
            disk["skip"] = SKIP in (raw or [])

    def _block(self, index: tuple[int, ...], raw: Any) -> None:
        """One checkboxes element covers up to 10 partitions of a disk, from position `index[1]` on."""
        disk = self._disk(index[0])
        if disk is None:
            return
        chosen = {str(v) for v in raw or []}
        first = index[1]
        for position in range(first, min(first + CHECKBOX_GROUP, len(disk["partitions"]) + 1)):
            disk["partitions"][position - 1]["block"] = str(position) in chosen

    def _partition_size(self, index: tuple[int, ...], raw: Any) -> None:
        disk = self._disk(index[0])
        if disk is None or not 1 <= index[1] <= len(disk["partitions"]):
            return
        part = disk["partitions"][index[1] - 1]
        if raw is None or str(raw) == gib_text(part["size_bytes"]):
            return  # unchanged: keep the exact source size, which GiB text cannot always express
        try:
            gib = float(str(raw))
        except ValueError:
            gib = math.nan
        if not math.isfinite(gib) or gib <= 0:
            name = part.get("path") or part["device"]
            self.errors.append(
                FieldError(Field.PARTITION_SIZE, f"Enter the size of {name} in GiB, such as 39.5.", index)
            )
            return
        part["size_bytes"] = round(gib * GIB)


_REQUIRED_TEXT = {Field.SOURCE: "source_id", Field.REGION: "region_id"}
_OPTIONAL_TEXT = {
    Field.IMAGE_NAME: "image_name",
    Field.INSTANCE: "instance_id",
    Field.VPC: "vpc_id",
    Field.VSWITCH: "vswitch_id",
    Field.PRIVATE_IP: "private_ip",
    Field.JOB_NAME: "job_name",
    Field.DESCRIPTION: "description",
    Field.INSTANCE_TYPE: "instance_type",
}


def parse_state(values: Mapping[str, Any], previous: MigrationParams) -> ParsedForm:
    """Apply what a wizard view holds to the previous draft; unreadable inputs become field errors."""
    reader = _Reader(previous)
    layout: bool | None = None
    template: str | None = None
    seen: set[str] = set()
    for block, raw in state_entries(values).items():
        key = key_of(block)
        if key == BlockId.MIGRATE_PARTITION_LAYOUT:
            layout = LAYOUT_ON in (raw or [])
            continue
        try:
            field_, index = parse_field_key(key)
        except ValueError:
            continue
        seen.add(key)
        if field_ is Field.TEMPLATE:
            template = raw
            continue
        reader.apply(field_, index, raw)
    try:
        draft = MigrationParams.model_validate(reader.result())
    except ValidationError as exc:
        # The reader only hands over values of the right shape; this is a bug, not bad input.
        raise AssertionError(f"form produced invalid parameters: {exc}") from exc
    return ParsedForm(
        draft=normalise(draft, previous),
        errors=tuple(reader.errors),
        layout=layout,
        template=template,
        seen=frozenset(seen),
    )


def parse_tags(raw: Any) -> list[dict[str, str]]:
    """`key=value` per line (or separated by commas); a line without `=` is a key with an empty value."""
    if not raw:
        return []
    tags = []
    for line in str(raw).replace(",", "\n").splitlines():
        text = line.strip()
        if not text:
            continue
        key, _, value = text.partition("=")
        tags.append({"key": key.strip(), "value": value.strip()})
    return tags


def _enum(kind: Any, raw: Any, default: Any) -> Any:
    try:
        return kind(raw)
    except ValueError:
        return default


def _moment(raw: Any) -> datetime | None:
    if raw is None:
        return None
    try:
        return datetime.fromtimestamp(int(raw), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
