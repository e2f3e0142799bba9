"""`/smc migrate [s-…]` and the Start migration wizard: listeners ack first, then parse the view state
(forms), call one service, render (render.migrate_modal).

Slack's 3-second rule: nothing here calls the cloud before `ack()`. Options requests answer from the
catalog within its deadline; submissions validate against cached facts only, and when facts are missing
the modal turns into a "checking…" view while they are fetched after the ack.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Option
from slack_sdk.models.views import View

from bot.cloud.ports import SourceServer
from bot.domain.catalog import Lookup, LookupState
from bot.domain.errors import DomainError, FieldError, InvalidParams, NotFound
from bot.domain.params import Field, MigrationParams
from bot.domain.requests import STATE_WORDS
from bot.domain.validation import ValidationContext, validate
from bot.domain.views import RequestView
from bot.services import Services
from bot.slack_views import CONFLICT, Conflict
from handlers import forms
from handlers.after_ack import later
from handlers.commands import Invocation
from handlers.ids import ActionId, CallbackId
from handlers.render import migrate_modal as modal
from storage.enums import TargetType

log = logging.getLogger(__name__)

FILL_WAIT_S = 8.0
"""After the ack, how long the form waits for a preselected source before showing without its details."""
FACTS_WAIT_S = 20.0
"""After a submission's ack, how long the "checking…" view waits for missing facts."""
ACK_GRACE_S = 1.0
"""Slack shows the ack's "checking…" view when it gets the HTTP answer; a views.update sent sooner could
land first and be overwritten by it, so the update after a check waits at least this long after the ack."""
SOURCE_ID = re.compile(r"s-[A-Za-z0-9]{4,64}")
EXPIRED = "This form is out of date: close it and run /smc migrate again."
TOO_LARGE = (
    "There is too much in this form to carry between pages (Slack keeps 3,000 characters): shorten the "
    "tags or the description, then continue."
)


def register(app: App) -> None:
    """The wizard's action, options and submission listeners (the `migrate` route is `open_migrate_modal`)."""
    app.view(CallbackId.MIGRATE)(on_submit)
    app.action(ActionId.MIGRATE_FIELD)(on_field_change)
    app.action(ActionId.MIGRATE_BACK)(on_back)
    app.options(ActionId.MIGRATE_FIELD)(on_options)


# ---- listeners -----------------------------------------------------------------------------------


def open_migrate_modal(call: Invocation) -> None:
    """`/smc migrate [s-…]`: ack, open a loading modal with the trigger_id (it dies after 3 s), fill it."""
    call.ack()
    words = call.rest.split()
    wizard = Wizard(call.services, call.client, user_id=call.user_id, team_id=call.team_id)
    trigger_id = str(call.command.get("trigger_id", ""))
    channel_id = call.channel_id
    call.later(
        lambda: wizard.open(trigger_id, channel_id, source_arg=words[0] if words else None),
        name="migrate-open",
        urgent=True,
    )


def on_field_change(ack: Ack, body: dict[str, Any], client: WebClient, services: Services) -> None:
    """A choice that shows or hides fields: re-render the page after the ack, keeping what was typed."""
    ack()
    wizard = Wizard.for_body(services, client, body)
    view = dict(body.get("view") or {})
    acted_at = services.view_updates.acted_at(_first_action(body))
    later(services, client, body, lambda: wizard.refresh(view, acted_at), name="migrate-refresh", urgent=True)


def _first_action(body: dict[str, Any]) -> dict[str, Any]:
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else None
    return first if isinstance(first, dict) else {}


def on_back(ack: Ack, body: dict[str, Any], client: WebClient, services: Services) -> None:
    """The previous page, keeping what this page holds."""
    ack()
    wizard = Wizard.for_body(services, client, body)
    view = dict(body.get("view") or {})
    acted_at = services.view_updates.acted_at(_first_action(body))
    later(services, client, body, lambda: wizard.back(view, acted_at), name="migrate-back", urgent=True)


def on_options(ack: Ack, body: dict[str, Any], services: Services) -> None:
    """Live option lists: cached, else fetched within the catalog's deadline, else one "Loading…" option."""
    view = body.get("view") or {}
    try:
        state = forms.decode_state(str(view.get("private_metadata") or ""))
    except ValueError:
        ack(options=[])
        return
    draft = forms.parse_state(_values(view), state.draft).draft
    key = forms.key_of(str(body.get("block_id") or ""))
    options = options_for(services, key, draft, str(body.get("value") or ""))
    ack(options=[o.to_dict() for o in options])


def on_submit(ack: Ack, body: dict[str, Any], client: WebClient, services: Services) -> None:
    """Next / Submit: validate against cached facts before the ack, or answer "checking…" and go on after."""
    view = body.get("view") or {}
    wizard = Wizard.for_body(services, client, body)
    try:
        came_with = forms.decode_state(str(view.get("private_metadata") or ""))
    except ValueError:
        ack(response_action="update", view=modal.loading_view(EXPIRED).to_dict())
        return
    parsed = forms.parse_state(_values(view), came_with.draft)
    state = wizard.apply(came_with, parsed)
    check = services.catalog.validation_context(state.draft, services.clock())
    if check.context is None:
        ack(response_action="update", view=modal.checking_view(came_with, check.missing).to_dict())
        view_id = str(view.get("id") or "")
        acked_at = time.monotonic()
        later(
            services,
            client,
            body,
            lambda: wizard.check_then_continue(
                view_id, state, parsed.errors, fallback=came_with, not_before=acked_at + ACK_GRACE_S
            ),
            name="migrate-check",
            urgent=True,
        )
        return
    on_view = modal.submitted_routes(view.get("blocks"))
    outcome = wizard.decide(state, parsed.errors, check.context, fallback=came_with, on_view=on_view)
    if outcome.errors:
        ack(response_action="errors", errors=outcome.errors)
    else:
        ack(response_action="update", view=outcome.view.to_dict())
    if check.stale:
        # Refreshing what validation used past its TTL waits its turn: nobody is waiting on it.
        services.background.queue(lambda: services.catalog.prefetch(state.draft), name="migrate-prefetch")


def _values(view: dict[str, Any]) -> dict[str, Any]:
    state = view.get("state") or {}
    values = state.get("values") if isinstance(state, dict) else None
    return values if isinstance(values, dict) else {}


# ---- options -------------------------------------------------------------------------------------


def options_for(services: Services, key: str, draft: MigrationParams, query: str) -> list[Option]:
    """The answer to one options request of the wizard, by the field of the select."""
    catalog = services.catalog
    region, vpc = draft.region_id, draft.vpc_id
    if key == Field.SOURCE:
        return _answer(catalog.source_servers(), lambda found: modal.source_options(found, query))
    if key == Field.REGION:
        return _answer(catalog.regions(), lambda found: modal.region_options(found, query))
    if key in (Field.INSTANCE, Field.VPC, Field.VSWITCH, Field.INSTANCE_TYPE) and not region:
        return modal.message_options("Choose a destination region first")
    if key == Field.INSTANCE:
        return _answer(catalog.instances(region), lambda found: modal.instance_options(found, query))
    if key == Field.VPC:
        return _answer(catalog.vpcs(region), lambda found: modal.vpc_options(found, query))
    if key == Field.VSWITCH:
        if not vpc:
            return modal.message_options("Choose a VPC first")
        return _answer(catalog.vswitches(region, vpc), lambda found: modal.vswitch_options(found, query))
    if key == Field.INSTANCE_TYPE:
        return _answer(
            catalog.instance_types(region), lambda found: modal.instance_type_options(found, query)
        )
    return []


def _answer(lookup: Lookup[Any], build: Callable[[Any], list[Option]]) -> list[Option]:
    if lookup.state is LookupState.LOADING:
        return modal.loading_options()
    if lookup.state is LookupState.FAILED:
        return modal.message_options(f"{lookup.message} Type a letter to try again.")
    return build(lookup.value or ())


# ---- the wizard ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a submission leads to: a view to show, or field errors on the current view. The view is
    rendered only when asked for: field errors answer the ack without it (Slack keeps the page)."""

    render: Callable[[], View]
    errors: dict[str, str] | None = None

    @property
    def view(self) -> View:
        return self.render()


@dataclass(frozen=True)
class Wizard:
    """One user's wizard: renders pages from the draft and the catalog's cache, and moves between them."""

    services: Services
    client: WebClient
    user_id: str
    team_id: str

    @classmethod
    def for_body(cls, services: Services, client: WebClient, body: dict[str, Any]) -> Wizard:
        """Identity from the signed payload only."""
        user = body.get("user") or {}
        team = body.get("team") or {}
        team_id = str(user.get("team_id") or team.get("id") or "")
        return cls(services, client, user_id=str(user.get("id") or ""), team_id=team_id)

    # -- opening ----------------------------------------------------------------------------------

    def open(self, trigger_id: str, channel_id: str, *, source_arg: str | None = None) -> None:
        """Open the loading modal, then fill it: the source preselected when given (and known)."""
        view_id, view_hash = self._open_loading(trigger_id)
        if view_id is None:
            return
        catalog = self.services.catalog
        catalog.regions(0.0)
        catalog.source_servers(0.0)
        source_id, notice = parse_source_arg(source_arg)
        defaults = self.services.requests.channel_defaults(channel_id)
        draft = forms.new_draft(source_id, region_id=defaults.region_id, network=defaults.network)
        catalog.prefetch(draft)
        if source_id is not None:
            found = catalog.source(source_id, FILL_WAIT_S)
            if found.ready and found.value is None:
                notice = (
                    f"`{source_id}` is not a source server of the destination account. Pick one below, or "
                    "import it first with /smc import."
                )
                draft = draft.model_copy(update={"source_id": ""})
            elif not found.ready:
                notice = f"{found.message} Its details appear once Alibaba Cloud answers; carry on meanwhile."
        state = forms.WizardState(draft=self._with_facts(draft), channel_id=channel_id)
        catalog.prefetch(state.draft)
        self._update(view_id, self.render(state, notice=notice).view, view_hash)

    def open_edit(self, trigger_id: str, request: RequestView) -> None:
        """The wizard pre-filled with a request's parameters; its submit edits the request."""
        view_id, view_hash = self._open_loading(trigger_id)
        if view_id is None:
            return
        state = forms.WizardState(draft=request.params, channel_id=request.channel_id, request_id=request.id)
        self.services.catalog.source(request.params.source_id, FILL_WAIT_S)
        self.services.catalog.prefetch(state.draft)
        self._update(view_id, self.render(state).view, view_hash)

    def _open_loading(self, trigger_id: str) -> tuple[str | None, str | None]:
        try:
            opened = self.client.views_open(trigger_id=trigger_id, view=modal.loading_view().to_dict())
        except SlackApiError as err:
            log.warning("could not open the migration modal error=%s", err.response.get("error"))
            return None, None
        view = opened.get("view") or {}
        return str(view.get("id")), str(view.get("hash"))

    # -- moving around ----------------------------------------------------------------------------

    def refresh(self, view: dict[str, Any], acted_at: float) -> None:
        """Re-render the current page after a choice; then, once slow details arrive, once more."""
        came_with = forms.decode_state(str(view.get("private_metadata") or ""))
        state = self.apply(came_with, forms.parse_state(_values(view), came_with.draft))
        view_id = str(view.get("id") or "")
        new_hash = self._latest(view_id, acted_at, self.view(state, came_with), view.get("hash"))
        self.services.catalog.prefetch(state.draft)
        if new_hash is not None:
            self._when_details_arrive(view_id, new_hash, state)

    def back(self, view: dict[str, Any], acted_at: float) -> None:
        came_with = forms.decode_state(str(view.get("private_metadata") or ""))
        state = self.apply(came_with, forms.parse_state(_values(view), came_with.draft))
        target = modal.previous_page(state) or state
        self._latest(str(view.get("id") or ""), acted_at, self.view(target, came_with), view.get("hash"))

    def apply(self, state: forms.WizardState, parsed: forms.ParsedForm) -> forms.WizardState:
        """The parsed view over the state: a newly picked template, the partition layout, source defaults."""
        draft, revision = parsed.draft, state.revision
        if parsed.template and parsed.template != state.draft.template_name:
            try:
                preset = self.services.requests.template(self.team_id, parsed.template)
            except NotFound:
                pass
            else:
                draft = forms.apply_template(draft, preset.name, preset.params)
                revision += 1
        draft = self._with_facts(draft)
        if parsed.layout is not None:
            draft = forms.with_partition_layout(draft, self._source(draft), parsed.layout)
        return replace(state, draft=draft, revision=revision)

    def check_then_continue(
        self,
        view_id: str,
        state: forms.WizardState,
        form_errors: Sequence[FieldError],
        *,
        fallback: forms.WizardState,
        not_before: float = 0.0,
    ) -> None:
        """After the "checking…" ack: fetch the missing facts, then the form with its errors, or on."""
        check = self.services.catalog.validation_context(
            state.draft, self.services.clock(), wait_s=FACTS_WAIT_S
        )
        state = replace(state, draft=self._with_facts(state.draft))
        if check.context is None:
            failed = "; ".join(check.failures or check.missing)
            notice = f"Alibaba Cloud did not answer in time ({failed}). Submit again in a moment."
            shown = self.view(state, fallback, notice=notice)
        else:
            shown = self.decide(state, form_errors, check.context, fallback=fallback).view
        time.sleep(max(0.0, not_before - time.monotonic()))
        self._update(view_id, shown)

    def decide(
        self,
        state: forms.WizardState,
        form_errors: Sequence[FieldError],
        ctx: ValidationContext,
        *,
        fallback: forms.WizardState,
        on_view: Mapping[str, str] | None = None,
    ) -> Outcome:
        """Errors on this page, else the earliest earlier page with errors, else the next page or submit.

        `fallback` is the state the view came with: shown (with a notice) if the new one cannot be carried.
        `on_view`: the routes of the view the user submitted (`modal.submitted_routes`), when there is one;
        errors in the ack may only name its blocks.
        """
        errors = [*form_errors, *validate(state.draft, ctx)]
        current = self.routes(state) if on_view is None else on_view
        shown, rest = modal.route(current, errors)
        if shown:
            mine = [e for e in errors if e.key in current]
            return Outcome(functools.partial(self.view, state, fallback, errors=mine), errors=shown)
        for earlier in modal.pages_before(state):
            mine = [e for e in rest if e.key in self.routes(earlier)]
            if mine:
                return Outcome(functools.partial(self.view, earlier, fallback, errors=mine))
        following = modal.next_page(state)
        if following is not None:
            return Outcome(functools.partial(self.view, following, fallback))
        if rest:
            return Outcome(functools.partial(self.view, state, fallback, errors=rest))
        return self._finish(state, ctx, fallback)

    def _finish(
        self, state: forms.WizardState, ctx: ValidationContext, fallback: forms.WizardState
    ) -> Outcome:
        requests = self.services.requests
        try:
            if state.request_id is not None:
                request = requests.edit(state.request_id, state.draft, ctx, editor=self.user_id)
            else:
                request = requests.submit(
                    state.draft,
                    ctx,
                    requester=self.user_id,
                    team_id=self.team_id,
                    channel_id=state.channel_id,
                )
        except InvalidParams as invalid:
            return Outcome(functools.partial(self.view, state, fallback, errors=invalid.errors))
        except DomainError as refused:
            return Outcome(functools.partial(self.view, state, fallback, notice=refused.message))
        view = modal.submitted_view(
            request.id, STATE_WORDS[request.state], request.channel_id, request.params.digest()
        )
        return Outcome(lambda: view)

    # -- rendering --------------------------------------------------------------------------------

    def render(
        self, state: forms.WizardState, *, errors: Sequence[FieldError] = (), notice: str | None = None
    ) -> modal.Rendered:
        """A page to show; raises forms.MetadataTooLarge when its state cannot be carried (see `view`)."""
        return modal.wizard_view(state, self.facts(state), errors=errors, notice=notice)

    def routes(self, state: forms.WizardState) -> dict[str, str]:
        """Which block carries which field on a page (where its errors go)."""
        return modal.page_routes(state, self.facts(state))

    def view(
        self,
        state: forms.WizardState,
        fallback: forms.WizardState,
        *,
        errors: Sequence[FieldError] = (),
        notice: str | None = None,
    ) -> View:
        """The page of `state`; the page the view came with, plus a notice, when `state` does not fit."""
        try:
            return self.render(state, errors=errors, notice=notice).view
        except forms.MetadataTooLarge:
            return self.render(fallback, notice=TOO_LARGE).view

    def facts(self, state: forms.WizardState) -> modal.ModalFacts:
        """What the page shows besides the draft, from the catalog's cache only (and the workspace's
        template names, read for the first step only: no other step shows them)."""
        draft = state.draft
        catalog = self.services.catalog
        labels: dict[str, str] = {}
        source = self._source(draft)
        if source is not None:
            labels[source.id] = modal.source_label(source)
        for region in catalog.cached_regions():
            labels[region.id] = modal.region_label(region)
        instance = None
        if draft.region_id:
            for found in catalog.cached_instances(draft.region_id):
                labels[found.id] = modal.instance_label(found)
            for vpc in catalog.cached_vpcs(draft.region_id):
                labels[vpc.vpc_id] = modal.vpc_label(vpc)
                labels.update({v.vswitch_id: modal.vswitch_label(v) for v in vpc.vswitches})
            if draft.instance_id:
                instance = catalog.cached_instance(draft.region_id, draft.instance_id)
        templates = self._template_names[:100] if state.step is forms.Step.TARGET else ()
        return modal.ModalFacts(source=source, instance=instance, labels=labels, templates=templates)

    @functools.cached_property
    def _template_names(self) -> tuple[str, ...]:
        """The workspace's template names, read once per interaction (a page is rendered twice per submit)."""
        return tuple(t.name for t in self.services.requests.templates(self.team_id))

    def _source(self, draft: MigrationParams) -> SourceServer | None:
        return self.services.catalog.cached_source(draft.source_id) if draft.source_id else None

    def _with_facts(self, draft: MigrationParams) -> MigrationParams:
        return forms.with_source(draft, self._source(draft))

    def _when_details_arrive(self, view_id: str, view_hash: str, state: forms.WizardState) -> None:
        """A newly chosen source or instance shows its disks and sizes once the catalog has them."""
        draft = state.draft
        catalog = self.services.catalog
        waiting: list[Lookup[Any]] = []
        if draft.source_id and catalog.cached_source(draft.source_id) is None:
            waiting.append(catalog.source(draft.source_id, FILL_WAIT_S))
        instance_target = draft.target_type is TargetType.TARGET_INSTANCE
        if (
            instance_target
            and draft.instance_id
            and not catalog.cached_instance(draft.region_id, draft.instance_id)
        ):
            waiting.append(catalog.target_instance(draft.region_id, draft.instance_id, FILL_WAIT_S))
        if waiting and all(w.ready for w in waiting):
            richer = replace(state, draft=self._with_facts(draft))
            self._update(view_id, self.view(richer, state), view_hash)

    def _update(self, view_id: str, view: View, view_hash: Any = None) -> str | None:
        """views.update; a stale hash means the user moved on and a newer update follows: drop this one."""
        result = self._send(view_id, view, view_hash)
        return result if isinstance(result, str) else None

    def _latest(self, view_id: str, acted_at: float, view: View, view_hash: Any) -> str | None:
        """`_update` for a user's choice: the newest choice is shown even when an older one's update
        landed after it was made (`bot.slack_views`)."""
        seen = str(view_hash) if view_hash else None
        return self.services.view_updates.update(
            view_id, acted_at, seen, lambda current: self._send(view_id, view, current)
        )

    def _send(self, view_id: str, view: View, view_hash: Any) -> str | Conflict | None:
        kwargs: dict[str, Any] = {"view_id": view_id, "view": view.to_dict()}
        if view_hash:
            kwargs["hash"] = str(view_hash)
        try:
            result = self.client.views_update(**kwargs)
        except SlackApiError as err:
            error = err.response.get("error")
            if error == "hash_conflict":
                log.debug("migration modal not updated view_id=%s error=%s", view_id, error)
                return CONFLICT
            log.warning("migration modal not updated view_id=%s error=%s", view_id, error)
            return None
        updated = result.get("view") or {}
        return str(updated.get("hash")) if updated.get("hash") else None


def parse_source_arg(text: str | None) -> tuple[str | None, str | None]:
    """`/smc migrate s-…`: the source id when it looks like one, else a notice saying what ids look like."""
    if not text:
        return None, None
    candidate = text.strip().strip("`<>")
    if SOURCE_ID.fullmatch(candidate):
        return candidate, None
    return (
        None,
        f"`{candidate[:40]}` is not a source server id; they look like s-bp1e2fsl57knvuug. Pick one below.",
    )


def open_edit_wizard(
    services: Services, client: WebClient, trigger_id: str, *, user_id: str, request: RequestView
) -> None:
    """For the summary's Edit button ([D]), in its after-ack work: the wizard pre-filled with the request."""
    Wizard(services, client, user_id=user_id, team_id=request.team_id).open_edit(trigger_id, request)
