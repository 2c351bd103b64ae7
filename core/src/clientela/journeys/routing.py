"""Opening the channels that `[messaging] send` names, each with its config and pacer."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from clientela.channels.api import Channel
from clientela.channels.sending import Pacer
from clientela.config import ConfigError, plugin_config
from clientela.journeys.dispatch import Route
from clientela.journeys.settings import MessagingConfig
from clientela.registry import Registry


def channel_config(channel: Channel, raw: Mapping[str, Any]) -> BaseModel | None:
    if channel.config is None:
        return None
    data = dict(raw.get(channel.name) or {})
    return plugin_config(channel.config, data, f"[channels.{channel.name}]")


def sending_channel(registry: Registry, name: str) -> Channel:
    channel: Channel = registry.get("channel", name)
    if not channel.can_send:
        senders = sorted(n for n, c in registry.channels.items() if c.can_send)
        raise ConfigError(f"channel {name!r} cannot send messages; channels that can: "
                          f"{', '.join(senders) or 'none (install a channel plugin)'}")
    return channel


def open_routes(registry: Registry, messaging: MessagingConfig, raw_channels: Mapping[str, Any],
                *, sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic) -> dict[str, Route]:
    routes: dict[str, Route] = {}
    for medium, name in messaging.send.items():
        channel = sending_channel(registry, name)
        if channel.contact_medium != medium:
            raise ConfigError(f"[messaging] send.{medium} = {name!r}, but that channel sends "
                              f"{channel.contact_medium}")
        config = channel_config(channel, raw_channels)
        assert channel.open is not None
        try:
            sender = channel.open(config)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        limits = channel.limits
        per_second = getattr(config, "per_second", None)
        if per_second:
            limits = replace(limits, per_second=float(per_second))
        routes[name] = Route(name, medium, sender, Pacer(limits, clock=clock, sleep=sleep))
    return routes


def close_routes(routes: Mapping[str, Route]) -> None:
    for route in routes.values():
        route.sender.close()
