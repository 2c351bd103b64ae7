"""What the plugins registered, checked and indexed by name.

The core owns validation: a registration of the wrong type or with a bad
name, or a name already taken, is refused and reported against the plugin
that made it, and everything else keeps working.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from clientela.channels.api import Channel
from clientela.destinations.api import DestinationSpec
from clientela.errors import NotFound
from clientela.metrics.api import Metric
from clientela.segments.api import Segmenter
from clientela.sources.api import SourceSpec

T = TypeVar("T")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Kind(Generic[T]):
    hook: str
    label: str
    type: type[T]


KINDS: tuple[Kind[Any], ...] = (
    Kind("register_metrics", "metric", Metric),
    Kind("register_sources", "source", SourceSpec),
    Kind("register_destinations", "destination", DestinationSpec),
    Kind("register_channels", "channel", Channel),
    Kind("register_segmenters", "segmenter", Segmenter),
)


@dataclass(frozen=True)
class Problem:
    plugin: str
    message: str


@dataclass
class Registry:
    items: dict[str, dict[str, Any]] = field(default_factory=lambda: {k.label: {} for k in KINDS})
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    """(kind label, name) -> plugin that registered it."""
    problems: list[Problem] = field(default_factory=list)

    def register_callback(self, kind: Kind[Any], plugin: str) -> Callable[[Any], None]:
        def register(item: Any) -> None:
            if not isinstance(item, kind.type):
                self.problems.append(Problem(
                    plugin, f"{kind.hook} got {type(item).__name__}, expected {kind.type.__name__}"
                ))
                return
            name = getattr(item, "name", "")
            if not isinstance(name, str) or not NAME.match(name):
                self.problems.append(Problem(
                    plugin, f"{kind.label} name {name!r} is not valid: expected lowercase letters, "
                    "digits and underscores, starting with a letter"
                ))
                return
            owner = self.owners.get((kind.label, name))
            if owner is not None:
                self.problems.append(Problem(
                    plugin, f"{kind.label} {name!r} is already registered by {owner!r}; ignored"
                ))
                return
            self.items[kind.label][name] = item
            self.owners[(kind.label, name)] = plugin

        return register

    @property
    def metrics(self) -> dict[str, Metric]:
        return self.items["metric"]

    @property
    def sources(self) -> dict[str, SourceSpec]:
        return self.items["source"]

    @property
    def destinations(self) -> dict[str, DestinationSpec]:
        return self.items["destination"]

    @property
    def channels(self) -> dict[str, Channel]:
        return self.items["channel"]

    @property
    def segmenters(self) -> dict[str, Segmenter]:
        return self.items["segmenter"]

    def by_plugin(self, plugin: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for (label, name), owner in self.owners.items():
            if owner == plugin:
                found.setdefault(label, []).append(name)
        return found

    def get(self, label: str, name: str) -> Any:
        """Look one up, or fail with the names that do exist (for CLI errors)."""
        table = self.items[label]
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise NotFound(f"unknown {label} {name!r}; known: {known}")
        return table[name]
