"""Outbox items -> Slack messages: one renderer per domain event, looked up at delivery time."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.delivery import OutboxItem, Renderer, SlackMessage
from bot.domain.notifications import Event
from bot.services import Services

log = logging.getLogger(__name__)

EventRenderer = Callable[[OutboxItem, Services], SlackMessage | None]
"""Renders one event; may read current state through services (summaries are re-rendered on edit)."""

_RENDERERS: dict[Event, EventRenderer] = {}


def renders(event: Event) -> Callable[[EventRenderer], EventRenderer]:
    """Decorator: the renderer of `event` (each event has exactly one)."""

    def register(fn: EventRenderer) -> EventRenderer:
        if event in _RENDERERS and _RENDERERS[event] is not fn:
            raise RuntimeError(f"two renderers for {event.value}")
        _RENDERERS[event] = fn
        return fn

    return register


def _load_renderers() -> None:
    """Import the modules that hold renderers so their decorators run."""
    import handlers.render  # noqa: F401


def renderer(services: Services) -> Renderer:
    """The delivery's Renderer, bound to the services it may read state through."""
    _load_renderers()

    def render(item: OutboxItem) -> SlackMessage | None:
        try:
            event = Event(str(item.payload.get("event")))
        except ValueError:
            log.error("outbox item has no known event key=%s", item.key)
            return None
        fn = _RENDERERS.get(event)
        if fn is None:
            log.error("no renderer for event=%s key=%s", event.value, item.key)
            return None
        return fn(item, services)

    return render
