"""`/smc import`: open the modal, answer its options, react to scope and role input, take the submission."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.imports import (
    DEFAULT_ROLE_NAME,
    NOT_CHOSEN_PREFIX,
    ImportDraft,
    ImportField,
    Outcome,
    SubmitResult,
    validate,
)
from bot.domain.source_catalog import Access, AccessCheck
from bot.services import Services
from handlers.after_ack import later
from handlers.commands import Invocation
from handlers.ids import ActionId, BlockId, CallbackId
from handlers.render import import_modal as render
from handlers.render.import_modal import ImportModal

log = logging.getLogger(__name__)

Json = Mapping[str, Any]
CHECK_TIMEOUT_S = 20.0


# ---- reading what Slack sent (any shape: payloads are untrusted) -----------------------------------


def _dict(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _entry(view: Json, block: BlockId, action: ActionId) -> Json:
    values = _dict(_dict(view.get("state")).get("values"))
    return _dict(_dict(values.get(block.value)).get(action.value))


def _picked(view: Json) -> tuple[tuple[str, str], ...]:
    """(value, label) of the chosen instances, as Slack echoes them."""
    chosen = _entry(view, BlockId.IMPORT_INSTANCES, ActionId.IMPORT_INSTANCES).get("selected_options")
    picked = []
    for option in chosen if isinstance(chosen, list) else []:
        value = _text(_dict(option).get("value"))
        if value is not None:
            label = _text(_dict(_dict(option).get("text")).get("text")) or value
            picked.append((value.strip(), label))
    return tuple(picked)


def read_draft(body: Json, view: Json) -> ImportDraft | None:
    """The modal's values and who/where from the signed payload; None when the view lost its channel."""
    channel = render.channel_from_metadata(view.get("private_metadata"))
    if channel is None:
        return None
    user = _dict(body.get("user"))
    team = _text(_dict(body.get("team")).get("id")) or _text(user.get("team_id")) or ""
    scope = _dict(_entry(view, BlockId.IMPORT_SCOPE, ActionId.IMPORT_SCOPE).get("selected_option"))
    region = _dict(_entry(view, BlockId.IMPORT_REGION, ActionId.IMPORT_REGION).get("selected_option"))
    return ImportDraft(
        team_id=team,
        channel_id=channel,
        requester=_text(user.get("id")) or "",
        cross_account=scope.get("value") != render.SCOPE_SAME,
        account_id=_text(_entry(view, BlockId.IMPORT_ACCOUNT, ActionId.IMPORT_ACCOUNT).get("value")),
        role_name=_text(_entry(view, BlockId.IMPORT_ROLE, ActionId.IMPORT_ROLE).get("value")),
        region_id=_text(region.get("value")),
        instance_ids=tuple(value for value, _ in _picked(view)),
        submission_key=_text(view.get("id")),
    )


def _modal(draft: ImportDraft, view: Json, *, access: AccessCheck | None = None) -> ImportModal:
    return ImportModal(
        channel_id=draft.channel_id,
        cross_account=draft.cross_account,
        account_id=draft.account_id,
        role_name=draft.role_name if draft.role_name is not None else DEFAULT_ROLE_NAME,
        region_id=draft.region_id,
        picked=_picked(view),
        access=access,
    )


def _access_problem(draft: ImportDraft) -> str | None:
    """Format problems of the account or role, which no cloud call could get past."""
    errors = validate(draft)
    found = [errors[f] for f in (ImportField.ACCOUNT, ImportField.ROLE) if f in errors]
    return " ".join(found) or None


# ---- listeners -----------------------------------------------------------------------------------


def open_import_modal(call: Invocation) -> None:
    """`/smc import`: the trigger_id dies after 3 s, so the form opens at once; options load live."""
    call.ack()

    def open_modal() -> None:
        defaults = call.services.imports.defaults(call.channel_id)
        modal = ImportModal(
            channel_id=call.channel_id,
            account_id=defaults.account_id,
            role_name=defaults.role_name,
            region_id=defaults.region_id,
        )
        trigger_id = str(call.command.get("trigger_id") or "")
        try:
            call.client.views_open(trigger_id=trigger_id, view=render.import_modal(modal))
        except SlackApiError as err:
            log.info("import modal did not open error=%s", err.response.get("error"))
            try:
                call.respond(
                    response_type="ephemeral",
                    text="The import form could not open (Slack took too long): type `/smc import` again.",
                )
            except (OSError, ValueError) as gone:
                log.warning("could not say the import form failed error=%s", type(gone).__name__)

    call.later(open_modal, name="import-open", urgent=True)


def change_scope(ack: Ack, body: dict[str, Any], client: WebClient, services: Services) -> None:
    """Cross-account ↔ same-account: show or hide the account and role inputs."""
    ack()
    view = _dict(body.get("view"))
    draft = read_draft(body, view)
    if draft is None:
        return

    def show() -> None:
        access = services.source_catalog.access(draft.source) if draft.cross_account else None
        shown = access if access is not None and access.access is not Access.UNKNOWN else None
        _update(client, view, render.import_modal(_modal(draft, view, access=shown)).to_dict())

    later(services, client, body, show, name="import-scope", urgent=True)


def check_access_input(ack: Ack, body: dict[str, Any], client: WebClient, services: Services) -> None:
    """Enter in the account or role input: assume the role after the ack and say what was found."""
    ack()
    view = _dict(body.get("view"))
    draft = read_draft(body, view)
    if draft is None or not draft.cross_account:
        return
    problem = _access_problem(draft)

    def check() -> None:
        if problem is not None:
            found = AccessCheck(Access.REFUSED, problem)
        else:
            found = services.source_catalog.check_access(draft.source, CHECK_TIMEOUT_S)
        _update(client, view, render.import_modal(_modal(draft, view, access=found)).to_dict())

    later(services, client, body, check, name="import-access-check", urgent=True)


def region_options(ack: Ack, body: dict[str, Any], services: Services) -> None:
    """Regions through the assumed role; answered within about 2 s, whatever the cloud does."""
    draft = read_draft(body, _dict(body.get("view")))
    if draft is None:
        ack(options=[])
        return
    problem = _access_problem(draft) if draft.cross_account else None
    if problem is not None:
        ack(**render.enter_account_first())
        return
    lookup = services.source_catalog.regions(draft.source, str(body.get("value") or ""))
    ack(**render.region_options(lookup))


def instance_options(ack: Ack, body: dict[str, Any], services: Services) -> None:
    """Instances of the chosen region, searchable by id, name or private IP."""
    draft = read_draft(body, _dict(body.get("view")))
    if draft is None:
        ack(options=[])
        return
    problem = _access_problem(draft) if draft.cross_account else None
    if problem is not None:
        ack(**render.enter_account_first())
        return
    region = draft.region_id
    if region is None or region.startswith(NOT_CHOSEN_PREFIX):
        ack(**render.choose_region_first())
        return
    lookup = services.source_catalog.instances(draft.source, region, str(body.get("value") or ""))
    ack(**render.instance_options(lookup))


def submit_import(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, services: Services
) -> None:
    """Field errors in the ack; a known role submits at once; an unknown one is checked after the ack."""
    draft = read_draft(body, _dict(view))
    if draft is None:
        ack(response_action="errors", errors={BlockId.IMPORT_REGION.value: render.LOST_CHANNEL})
        return
    result = services.imports.try_submit(draft)
    if result.outcome is Outcome.INVALID:
        ack(response_action="errors", errors=_errors(result, draft))
        return
    if result.outcome is Outcome.SUBMITTED and result.batch is not None:
        ack(response_action="update", view=render.started_view(result.batch))
        return
    ack(response_action="update", view=render.checking_view(draft))
    picked = _picked(_dict(view))
    view_id = str(view.get("id") or "")

    def finish() -> None:
        outcome = services.imports.submit_after_check(draft)
        if outcome.outcome is Outcome.SUBMITTED and outcome.batch is not None:
            shown = render.started_view(outcome.batch).to_dict()
            fallback = f"Import `{outcome.batch.id}` started; its thread is in <#{draft.channel_id}>."
        else:
            problem = "Not imported yet: " + " ".join((outcome.errors or {}).values())
            shown = render.import_modal(render.modal_from_draft(draft, picked, problem=problem)).to_dict()
            fallback = f"{problem} Run `/smc import` again."
        try:
            client.views_update(view_id=view_id, view=shown)
        except SlackApiError as err:
            log.info("import modal gone before the check finished error=%s", err.response.get("error"))
            client.chat_postEphemeral(channel=draft.channel_id, user=draft.requester, text=fallback)

    later(services, client, body, finish, name="import-submit", urgent=True)


def _errors(result: SubmitResult, draft: ImportDraft) -> dict[str, str]:
    errors = render.error_blocks(result.errors or {}, cross_account=draft.cross_account)
    return errors or {BlockId.IMPORT_INSTANCES.value: " ".join((result.errors or {}).values())}


def _update(client: WebClient, view: Json, new_view: dict[str, Any]) -> None:
    """views.update guarded by the hash Slack sent: a newer update (another click) wins."""
    try:
        client.views_update(view_id=str(view.get("id") or ""), hash=_text(view.get("hash")), view=new_view)
    except SlackApiError as err:
        log.info("import modal not updated error=%s", err.response.get("error"))


def register(app: App) -> None:
    app.view(CallbackId.IMPORT.value)(submit_import)
    app.action(ActionId.IMPORT_SCOPE.value)(change_scope)
    app.action(ActionId.IMPORT_ACCOUNT.value)(check_access_input)
    app.action(ActionId.IMPORT_ROLE.value)(check_access_input)
    app.options(ActionId.IMPORT_REGION.value)(region_options)
    app.options(ActionId.IMPORT_INSTANCES.value)(instance_options)
