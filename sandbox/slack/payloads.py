"""Pure builders for what Slack POSTs to an app: command forms, interaction payloads and event envelopes."""

from __future__ import annotations

from typing import Any

from sandbox.slack.workspace import TEAM_DOMAIN, Channel, User

Json = dict[str, Any]

VERIFICATION_TOKEN = "sandbox-verification-token"  # noqa: S105 - Slack's deprecated per-app token, faked


def user_ref(user: User, team_id: str) -> Json:
    """The `user` object of an interaction payload."""
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": team_id}


def team_ref(team_id: str) -> Json:
    """The `team` object of an interaction payload."""
    return {"id": team_id, "domain": TEAM_DOMAIN}


def slash_command_form(
    *,
    team_id: str,
    app_id: str,
    user: User,
    channel: Channel,
    command: str,
    text: str,
    trigger_id: str,
    response_url: str,
) -> dict[str, str]:
    """The form fields of a slash command request."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel.id,
        "channel_name": "directmessage" if channel.is_im else channel.name,
        "user_id": user.id,
        "user_name": user.name,
        "command": command,
        "text": text,
        "api_app_id": app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def interaction_base(kind: str, *, team_id: str, app_id: str, user: User) -> Json:
    """Fields every interactivity payload has."""
    return {
        "type": kind,
        "user": user_ref(user, team_id),
        "api_app_id": app_id,
        "token": VERIFICATION_TOKEN,
        "team": team_ref(team_id),
        "enterprise": None,
        "is_enterprise_install": False,
    }


def event_callback(
    event: Json, *, team_id: str, app_id: str, bot_user_id: str, event_id: str, event_time: int
) -> Json:
    """The Events API envelope around one event."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{event_id}",
    }


def url_verification(challenge: str) -> Json:
    """The handshake Slack sends when an Events request URL is saved."""
    return {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
