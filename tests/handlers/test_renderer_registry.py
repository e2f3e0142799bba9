"""Every event the domain can record has exactly one renderer, so nothing is silently dropped at delivery."""

from __future__ import annotations

import handlers.notify as notify
from bot.domain.notifications import Event


def test_every_event_kind_has_a_renderer() -> None:
    notify._load_renderers()
    assert set(notify._RENDERERS) == set(Event)
