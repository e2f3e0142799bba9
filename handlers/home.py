"""App Home: `app_home_opened` publishes the tab from the database, every time it is opened."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.services import Services
from handlers.after_ack import later
from handlers.ids import ActionId
from handlers.render import home as render

log = logging.getLogger(__name__)


def workspace_url(client: WebClient) -> str | None:
    """`https://<workspace>.slack.com/` from auth.test: thread links are built from it, one call per open."""
    try:
        url = client.auth_test().get("url")
    except SlackApiError as err:
        log.info("no workspace url for home links error=%s", err.response.get("error"))
        return None
    return url if isinstance(url, str) and url else None


def on_home_opened(
    event: dict[str, Any], body: dict[str, Any], client: WebClient, services: Services
) -> None:
    """Slack's answer goes when this returns (an event is acked for us); the reads and the publish follow."""
    user = event.get("user")
    if event.get("tab") != "home" or not isinstance(user, str) or not user:
        return
    team = str(body.get("team_id") or "")

    def publish() -> None:
        home = services.home.home(team_id=team, user_id=user)
        view = render.home_view(home, services.clock(), workspace_url(client))
        client.views_publish(user_id=user, view=view)
        log.info(
            "home published user=%s waiting=%s mine=%s active=%s",
            user,
            len(home.waiting.rows),
            len(home.mine.rows),
            len(home.active.rows),
        )

    # Nobody can be told in a channel if this fails: the event names no channel; the log keeps the error.
    later(services, client, body, publish, name="home", urgent=True)


def on_open_thread(ack: Ack) -> None:
    """A link button: Slack opens the URL and still sends the click, which only needs its ack."""
    ack()


def register(app: App) -> None:
    app.event("app_home_opened")(on_home_opened)
    app.action(ActionId.HOME_OPEN_THREAD.value)(on_open_thread)
