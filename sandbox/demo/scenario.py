"""The demo's people: an admin, a requester and an approver run one migration over Slack, as people would.

They talk to the bot only through signed requests (`SlackDriver`) and read only what the Slack stand-in
shows: labels, option texts, buttons and message texts, never the bot's ids or database. So this module
imports nothing from `bot/`, `handlers/` or `storage/`. The caller owns time: `advance(seconds)` lets that
much cloud time pass (the bot polls on the way) and `catch_up()` lets the bot finish what it started.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sandbox.slack import (
    ADMIN,
    APPROVER_1,
    MIGRATIONS_CHANNEL,
    REQUESTER,
    BotResponse,
    PostedMessage,
    SlackDriver,
    SlackStandIn,
    ViewSnapshot,
)

Json = dict[str, Any]
T = TypeVar("T")

POLL_STEP_S = 30.0
"""Cloud seconds between two looks at the channel while waiting (people glance, they do not stare)."""
OPTIONAL = " (optional)"


class ScenarioError(Exception):
    """A step did not go as a person would expect; the message names the step and what was seen instead."""


@dataclass(frozen=True)
class Plan:
    """What the people do, in the default sandbox world's terms (docs/SANDBOX.md)."""

    channel: str = MIGRATIONS_CHANNEL
    admin: str = ADMIN
    requester: str = REQUESTER
    approver: str = APPROVER_1
    approvers_group: str = "smc-approvers"
    source_account: str = "2000000000000002"
    role: str = "ram-role-smc"
    region: str = "cn-hangzhou"
    instances: tuple[str, ...] = ("web-prod-01", "app-java-01")
    migrate: str = "web-prod-01"
    vpc: str = "vpc-bp1e4rhn51r4wgor8b81"
    vswitch: str = "vsw-bp1yg0cajhfcobh1gcyd"
    speed_limit_mbps: int = 800
    verify: bool = True
    import_limit_s: float = 20 * 60
    """Cloud time the import may take (the console says 3 to 10 minutes a server)."""
    migration_limit_s: float = 3 * 3600
    verify_limit_s: float = 20 * 60

    def synopsis(self, name: Callable[[str], str]) -> str:
        """The story in two sentences, with the workspace's names (`name(user_id)`) for the people."""
        servers = " and ".join(self.instances)
        verify = ", then checks the image by launching an instance from it" if self.verify else ""
        admin, requester, approver = name(self.admin), name(self.requester), name(self.approver)
        return (
            f"{admin} names the channel's approvers; {requester} imports {servers} from the Alibaba Cloud "
            f"account {self.source_account} and asks to migrate {self.migrate} to an image; {approver} "
            "approves. The bot runs its migration test, creates the SMC job and keeps the request's thread "
            f"current until the migration is finished{verify}."
        )


@dataclass(frozen=True)
class Outcome:
    """What the people saw at the end."""

    source_id: str
    request_id: str
    job_id: str
    image_id: str
    verified: bool


class Scenario:
    """One migration from `/smc import` to Finished (and Verify), each step checked as a person would."""

    def __init__(
        self,
        slack: SlackStandIn,
        driver: SlackDriver,
        *,
        advance: Callable[[float], None],
        catch_up: Callable[[], None],
        plan: Plan | None = None,
        deadline: float | None = None,
    ) -> None:
        self.slack = slack
        self.driver = driver
        self.plan = plan or Plan()
        self._advance = advance
        self._catch_up = catch_up
        self._deadline = deadline
        """`time.monotonic()` after which every wait gives up."""
        self._step = "starting"

    # -- the story --------------------------------------------------------------------------------------

    def run(self) -> Outcome:
        """Play every step in order; raises ScenarioError naming the step that went wrong."""
        try:
            return self._play()
        except ScenarioError as error:
            raise ScenarioError(f"step “{self._step}” failed: {error}") from None

    def _play(self) -> Outcome:
        plan = self.plan
        self._begin(f"@{plan.approvers_group} become this channel's approvers")
        self.configure_approvers()
        self._begin(f"import {', '.join(plan.instances)} from account {plan.source_account}")
        self.request_import()
        self._begin("wait for the imported servers to come online")
        source_id = self.wait_for_import()
        self._begin(f"ask to migrate {plan.migrate} ({source_id}) to an image")
        summary = self.request_migration(source_id)
        request_id = self._request_id(summary)
        self._begin("an approver approves the request")
        self.approve(summary)
        self._begin("the migration test (drill) reports and the job starts")
        job_id = self.wait_for_job(summary)
        self._begin("follow the migration to Finished")
        image_id = self.wait_for_finish(summary)
        verified = False
        if plan.verify:
            self._begin("verify the image (launch, check, release)")
            self.verify(summary)
            verified = True
        return Outcome(source_id, request_id, job_id, image_id, verified)

    def configure_approvers(self) -> None:
        """The admin opens `/smc config` and names the approvers' user group, quorum 1."""
        admin = self.person(self.plan.admin)
        form = admin.command("config")
        form.choose("Approver user groups", [f"@{self.plan.approvers_group}"])
        form.fill("Quorum (approvals needed)", "1")
        form.submit()
        self._pause(40)

    def request_import(self) -> None:
        """The requester fills in the import modal: cross-account, the role, the region, the instances."""
        plan = self.plan
        form = self.person(plan.requester).command("import")
        form.fill("Source account ID", plan.source_account)
        form.fill("Source account RAM role", plan.role)
        form.choose("Region", plan.region)
        form.choose("Instances", list(plan.instances))
        self._pause(20)
        form.submit()
        self._expect("the import thread in the channel", self._import_summary)

    def wait_for_import(self) -> str:
        """Glance at the import thread until every server is online; the source id is in its last line."""

        def online() -> str | None:
            summary = self._import_summary()
            if summary is None:
                return None
            failed = [line for line in _lines(summary) if ":x:" in line and self.plan.migrate in line]
            if failed:
                raise ScenarioError(f"the import of {self.plan.migrate} failed: {_clip(failed[0])}")
            done = [r for r in summary.replies if "finished" in _text(r).lower()]
            if not done:
                return None
            for line in _lines(done[-1]) + _lines(summary):
                if self.plan.migrate in line and (found := re.search(r"/smc migrate (s-\w+)", line)):
                    return found.group(1)
            raise ScenarioError(f"the import finished without a source id for {self.plan.migrate}")

        return self._until(
            f"{', '.join(self.plan.instances)} to come online", online, self.plan.import_limit_s
        )

    def request_migration(self, source_id: str) -> PostedMessage:
        """`/smc migrate s-…` as the import thread suggests; three wizard pages, then the request's thread."""
        plan = self.plan
        before = {m.ts for m in self.slack.channel_messages(plan.channel)}
        form = self.person(plan.requester).command(f"migrate {source_id}")
        form.expect_text(plan.migrate)
        form.choose("Destination region", plan.region)
        form.expect_chosen("Execution method", "Test and Migrate")
        form.submit(expect_more=True)
        form.choose("Network type", "VPC")
        form.choose("VPC", plan.vpc)
        form.choose("vSwitch", plan.vswitch)
        form.submit(expect_more=True)
        form.fill("Transmission speed limit (Mbit/s)", str(plan.speed_limit_mbps))
        self._pause(30)
        form.submit()

        def summary() -> PostedMessage | None:
            for message in self.slack.channel_messages(plan.channel):
                if message.ts not in before and any(button_of(r, "Approve") for r in message.replies):
                    return message
            return None

        return self._expect("the request's summary with an approval card in its thread", summary)

    def approve(self, summary: PostedMessage) -> None:
        """The approver reads the card in the thread and clicks Approve."""
        card = self._latest(summary, lambda r: button_of(r, "Approve") is not None)
        if card is None:
            raise ScenarioError("no approval card with an Approve button in the request's thread")
        self._pause(60)
        self.person(self.plan.approver).click(card, "Approve")

    def wait_for_job(self, summary: PostedMessage) -> str:
        """The drill report comes first, then the job is created and started; its id is in the thread."""

        def started() -> str | None:
            thread = self._thread(summary)
            drilled = [r for r in thread if "migration test" in _text(r).lower()]
            if not drilled:
                return None
            for reply in thread:
                found = re.search(r"job `?(j-\w+)`? created", _text(reply))
                if found:
                    return found.group(1)
            return None

        return self._until("the drill report and the SMC job", started, 10 * 60)

    def wait_for_finish(self, summary: PostedMessage) -> str:
        """Watch the summary's progress bar until the finish reply is broadcast to the channel."""

        def finished() -> str | None:
            parent = self.current(summary)
            errors = [r for r in parent.replies if re.search(r":x: \*Job `j-\w+` failed", _text(r))]
            if errors:
                raise ScenarioError(f"the migration failed: {_clip(_text(errors[-1]))}")
            final = [r for r in parent.replies if r.reply_broadcast and "finished" in _text(r).lower()]
            if not final:
                return None
            found = re.search(r"\b(m-\w+)", _text(final[-1]))
            if found is None:
                raise ScenarioError(f"the finish reply names no image: {_clip(_text(final[-1]))}")
            return found.group(1)

        return self._until("the migration to finish", finished, self.plan.migration_limit_s)

    def verify(self, summary: PostedMessage) -> None:
        """The requester clicks Verify; the approver approves; the bot launches, checks and releases."""
        self._pause(120)
        before = len(self.current(summary).replies)
        self.person(self.plan.requester).click(self.current(summary), "Verify")
        card = self._expect(
            "an approval card for Verify",
            lambda: self._latest(summary, lambda r: button_of(r, "Approve") is not None, after=before),
        )
        self._pause(45)
        self.person(self.plan.approver).click(card, "Approve")

        def reported() -> bool | None:
            replies = self._thread(summary)[before:]
            for reply in replies:
                text = _text(reply).lower()
                if "verification passed" in text:
                    return True
                if "verification failed" in text:
                    raise ScenarioError(f"the verification failed: {_clip(_text(reply))}")
            return None

        self._until("the verification report", reported, self.plan.verify_limit_s)

    # -- people -----------------------------------------------------------------------------------------

    def person(self, user: str) -> Person:
        """Someone at the keyboard in the plan's channel."""
        return Person(self, user)

    # -- reading the channel ----------------------------------------------------------------------------

    def _import_summary(self) -> PostedMessage | None:
        found = [m for m in self.slack.channel_messages(self.plan.channel) if "Import of" in _text(m)]
        return found[-1] if found else None

    def current(self, message: PostedMessage) -> PostedMessage:
        for found in self.slack.channel_messages(message.channel):
            if found.ts == message.ts:
                return found
        raise ScenarioError(f"the message {message.ts} disappeared from the channel")

    def _thread(self, message: PostedMessage) -> list[PostedMessage]:
        return list(self.current(message).replies)

    def _latest(
        self, parent: PostedMessage, match: Callable[[PostedMessage], bool], *, after: int = 0
    ) -> PostedMessage | None:
        found = [r for r in self._thread(parent)[after:] if match(r)]
        return found[-1] if found else None

    def _request_id(self, summary: PostedMessage) -> str:
        found = re.search(r"\b(r-\w+)", _text(summary))
        if found is None:
            raise ScenarioError(f"the summary names no request id: {_clip(_text(summary))}")
        return found.group(1)

    # -- time -------------------------------------------------------------------------------------------

    def _begin(self, step: str) -> None:
        self._step = step

    def catch_up(self) -> None:
        """Let the bot finish what the last interaction started (no cloud time passes)."""
        self._catch_up()

    def _pause(self, seconds: float) -> None:
        """People take a moment between steps; cloud time passes meanwhile (and the bot polls)."""
        self._check_deadline("a pause")
        self._advance(seconds)

    def _expect(self, what: str, check: Callable[[], T | None]) -> T:
        """Something the bot should show once it caught up, without any cloud time passing."""
        self.catch_up()
        found = check()
        if found is None:
            raise ScenarioError(f"expected {what}, but the bot did not show it")
        return found

    def _until(self, what: str, check: Callable[[], T | None], limit_s: float) -> T:
        """Let cloud time pass in steps until `check` finds something, for at most `limit_s` cloud seconds."""
        waited = 0.0
        while True:
            self.catch_up()
            found = check()
            if found is not None:
                return found
            if waited >= limit_s:
                raise ScenarioError(
                    f"waited {_duration(waited)} of cloud time for {what}; the channel's last words: "
                    f"{self._last_words()}"
                )
            self._check_deadline(what)
            self._advance(POLL_STEP_S)
            waited += POLL_STEP_S

    def _check_deadline(self, what: str) -> None:
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise ScenarioError(f"ran out of real time while waiting for {what}")

    def _last_words(self) -> str:
        messages = self.slack.channel_messages(self.plan.channel)
        if not messages:
            return "(nothing posted)"
        last = messages[-1]
        latest = last.replies[-1] if last.replies else last
        return _clip(_text(latest))

    @property
    def step(self) -> str:
        """The step under way (for error messages)."""
        return self._step


class Person:
    """One workspace member: types slash commands, fills modals, clicks buttons."""

    def __init__(self, scenario: Scenario, user: str) -> None:
        self.scenario = scenario
        self.user = user

    def command(self, text: str) -> Form:
        """`/smc <text>` in the plan's channel; the modal the bot opens."""
        s = self.scenario
        _acked(s.driver.slash_command(self.user, s.plan.channel, text=text), f"/smc {text}")
        s.catch_up()
        view = s.slack.open_view(self.user)
        if view is None:
            raise ScenarioError(
                f"/smc {text} opened no modal for {self.user}; {_ephemeral(s.slack, self.user)}"
            )
        return Form(self, view.id)

    def click(self, message: PostedMessage, label: str) -> None:
        """Click the button labelled `label` on a message (as it is now)."""
        s = self.scenario
        current = s.current(message) if not message.is_reply else message
        found = button_of(current, label)
        if found is None:
            raise ScenarioError(f"no {label} button on “{_clip(_text(current), 80)}”")
        block_id, button = found
        response = s.driver.block_action(
            self.user, str(button["action_id"]), button.get("value"), message=current, block_id=block_id
        )
        _acked(response, f"the {label} click")
        s.catch_up()


class Form:
    """The modal on top of a person's stack, read and filled by its labels."""

    def __init__(self, person: Person, view_id: str) -> None:
        self.person = person
        self.view_id = view_id

    @property
    def _s(self) -> Scenario:
        return self.person.scenario

    @property
    def view(self) -> ViewSnapshot:
        return self._s.slack.view(self.view_id)

    def fill(self, label: str, value: str) -> None:
        """Type into the input labelled `label` (nothing is sent until submit)."""
        block, element = self._input(label)
        self._s.driver.fill(self.person.user, self.view_id, {block: {str(element["action_id"]): value}})

    def choose(self, label: str, wanted: str | Sequence[str], *, search: str = "") -> None:
        """Open the select or radio group labelled `label`; pick the option(s) whose text or value match."""
        block, element = self._input(label)
        action_id = str(element["action_id"])
        kind = str(element.get("type"))
        if kind in ("external_select", "multi_external_select"):
            response = self._s.driver.options(
                self.person.user, self.view_id, action_id, block_id=block, value=search
            )
            _acked(response, f"the options of {label}")
            data = response.data if isinstance(response.data, dict) else {}
            options = list(data.get("options") or [])
            for group in data.get("option_groups") or []:
                options += list(group.get("options") or [])
        else:
            options = _static_options(element)
        picks = [_pick(options, w, label) for w in ([wanted] if isinstance(wanted, str) else wanted)]
        value: object = picks[0] if isinstance(wanted, str) else picks
        if self._dispatches(block):
            response = self._s.driver.block_action(
                self.person.user, action_id, value, view_id=self.view_id, block_id=block
            )
            _acked(response, f"picking {wanted} for {label}")
            self._s.catch_up()
        else:
            self._s.driver.fill(self.person.user, self.view_id, {block: {action_id: value}})

    def submit(self, *, expect_more: bool = False) -> None:
        """Press the modal's submit button; field errors end the scenario with the bot's messages."""
        title = self.view.title
        response = self._s.driver.submit_view(self.person.user, self.view_id)
        if not response.sent:
            raise ScenarioError(f"Slack would not send “{title}”: {response.client_errors}")
        _acked(response, f"submitting “{title}”")
        data = response.data if isinstance(response.data, dict) else {}
        if data.get("response_action") == "errors":
            raise ScenarioError(f"the bot refused “{title}”: {data.get('errors')}")
        self._s.catch_up()
        if expect_more and not self._inputs():
            raise ScenarioError(f"“{title}” showed no next page: {_clip(_blocks_text(self.view.blocks))}")

    def expect_text(self, text: str) -> None:
        """The modal shows `text` somewhere (e.g. the preselected source's name)."""
        if text not in _blocks_text(self.view.blocks):
            raise ScenarioError(f"“{self.view.title}” does not mention {text}")

    def expect_chosen(self, label: str, option_text: str) -> None:
        """The input labelled `label` has `option_text` selected (a default the person keeps)."""
        block, element = self._input(label)
        state = self.view.state_values.get(block, {}).get(str(element["action_id"]), {})
        chosen = ((state.get("selected_option") or {}).get("text") or {}).get("text")
        if chosen != option_text:
            raise ScenarioError(f"{label} shows {chosen!r}, not {option_text!r}")

    def _inputs(self) -> list[Json]:
        return [b for b in self.view.blocks if b.get("type") == "input"]

    def _input(self, label: str) -> tuple[str, Json]:
        shown = []
        for block in self._inputs():
            text = str((block.get("label") or {}).get("text", ""))
            shown.append(text)
            if text == label or text.removesuffix(OPTIONAL) == label:
                return str(block["block_id"]), dict(block["element"])
        raise ScenarioError(f"“{self.view.title}” has no field “{label}” (it shows: {', '.join(shown)})")

    def _dispatches(self, block_id: str) -> bool:
        return any(b.get("block_id") == block_id and b.get("dispatch_action") for b in self._inputs())


# -- reading what Slack shows ---------------------------------------------------------------------------


def button_of(message: PostedMessage, label: str) -> tuple[str, Json] | None:
    """(block_id, button) of the button labelled `label`, if the message shows one."""
    for block in message.blocks:
        candidates = list(block.get("elements") or []) if block.get("type") == "actions" else []
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            candidates.append(accessory)
        for element in candidates:
            text = element.get("text") or {}
            if element.get("type") == "button" and text.get("text") == label:
                return str(block.get("block_id", "")), element
    return None


def _acked(response: BotResponse, what: str) -> None:
    if response.problems:
        raise ScenarioError(f"{what}: {'; '.join(response.problems)}")


def _ephemeral(slack: SlackStandIn, user: str) -> str:
    shown = slack.ephemerals(user)
    return f"the bot said: {_clip(shown[-1].text)}" if shown else "the bot said nothing"


def _static_options(element: Json) -> list[Json]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += list(group.get("options") or [])
    return options


def _pick(options: Iterable[Json], wanted: str, label: str) -> str:
    """The value of the option whose value is `wanted`, else whose text contains it (as a reader picks)."""
    listed = list(options)
    for option in listed:
        if option.get("value") == wanted:
            return str(option["value"])
    for option in listed:
        if wanted in str((option.get("text") or {}).get("text", "")):
            return str(option["value"])
    texts = ", ".join(str((o.get("text") or {}).get("text", "")) for o in listed) or "nothing"
    raise ScenarioError(f"{label} offers no {wanted!r} (it offers: {_clip(texts)})")


def _text(message: PostedMessage) -> str:
    return message.text + "\n" + _blocks_text(message.blocks)


def _lines(message: PostedMessage) -> list[str]:
    return [line for line in _text(message).splitlines() if line.strip()]


def _blocks_text(blocks: Sequence[Json] | Mapping[str, Any]) -> str:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            text = node.get("text")
            if isinstance(text, str):
                found.append(text)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return "\n".join(found)


def _clip(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes else f"{seconds:.0f} s"
