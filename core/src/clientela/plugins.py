"""The plugin manager: discovery, lazy loading and the registry of what plugins add.

Plugins are found through the `clientela` entry-point group and imported
only when something first asks for the registry, so `import clientela`
stays cheap. `CLIENTELA_LOAD_PLUGINS` (comma-separated distribution names)
limits which third-party plugins load; set but empty, none do. The core's
own built-ins always load: they are the product, registered through the
same hooks. A plugin that fails to import, or whose hook raises, is
recorded with its error and the others keep working.
"""

from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from clientela import hookspecs
from clientela.registry import KINDS, Kind, Problem, Registry

ENTRY_POINT_GROUP = "clientela"
CORE_DISTRIBUTION = "clientela"
LOAD_ENV = "CLIENTELA_LOAD_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    """The entry-point name, or the module path for a local plugin."""
    distribution: str | None
    version: str | None
    module: str


@dataclass
class PluginSet:
    manager: pluggy.PluginManager
    plugins: list[PluginInfo] = field(default_factory=list)
    failures: list[Problem] = field(default_factory=list)
    registry: Registry = field(default_factory=Registry)


_current: PluginSet | None = None
_local_modules: list[str] = []


def _allowed() -> set[str] | None:
    value = os.environ.get(LOAD_ENV)
    if value is None:
        return None
    return {name.strip().lower() for name in value.split(",") if name.strip()}


def _entry_points() -> list[tuple[metadata.EntryPoint, metadata.Distribution]]:
    found: list[tuple[metadata.EntryPoint, metadata.Distribution]] = []
    for dist in metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                found.append((ep, dist))
    seen: set[str] = set()
    unique: list[tuple[metadata.EntryPoint, metadata.Distribution]] = []
    for ep, dist in found:  # a distribution visible on two sys.path entries counts once
        if ep.name not in seen:
            seen.add(ep.name)
            unique.append((ep, dist))
    # the core first, so built-in names win any clash
    unique.sort(key=lambda pair: (pair[1].name != CORE_DISTRIBUTION, pair[0].name))
    return unique


def _error_text(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(error), error)).strip()


def _register(pset: PluginSet, module: ModuleType, info: PluginInfo) -> None:
    if pset.manager.is_registered(module):
        return
    try:
        pset.manager.register(module, name=info.name)
    except Exception as error:  # pluggy validates hook signatures here
        pset.failures.append(Problem(info.name, _error_text(error)))
        return
    pset.plugins.append(info)


def _load() -> PluginSet:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    pset = PluginSet(manager=manager)
    allowed = _allowed()
    for ep, dist in _entry_points():
        is_core = dist.name == CORE_DISTRIBUTION
        if not is_core and allowed is not None and dist.name.lower() not in allowed:
            continue
        info = PluginInfo(ep.name, dist.name, dist.version, ep.value)
        try:
            module = ep.load()
        except Exception as error:
            pset.failures.append(Problem(ep.name, _error_text(error)))
            continue
        _register(pset, module, info)
    for path in _local_modules:
        info = PluginInfo(path, None, None, path)
        try:
            module = importlib.import_module(path)
        except Exception as error:
            pset.failures.append(Problem(path, _error_text(error)))
            continue
        _register(pset, module, info)
    _collect(pset)
    return pset


def _collect(pset: PluginSet, kinds: Sequence[Kind[Any]] = KINDS) -> None:
    names = {id(plugin): name for name, plugin in pset.manager.list_name_plugin()}
    for kind in kinds:
        caller = getattr(pset.manager.hook, kind.hook)
        # call implementations one by one so each registration is attributed to its plugin
        for impl in caller.get_hookimpls():
            plugin_name = names.get(id(impl.plugin), impl.plugin_name)
            try:
                impl.function(register=pset.registry.register_callback(kind, plugin_name))
            except Exception as error:
                message = f"{kind.hook} failed: {_error_text(error)}"
                pset.failures.append(Problem(plugin_name, message))
    pset.failures.extend(pset.registry.problems)


def plugin_set() -> PluginSet:
    """The loaded plugins; discovery happens on the first call."""
    global _current
    if _current is None:
        _current = _load()
    return _current


def registry() -> Registry:
    return plugin_set().registry


_builtins: dict[str, Registry] = {}


def builtin_registry(label: str) -> Registry:
    """What the core itself registers of one kind ("metric", "segmenter", ...), found
    without discovering or importing any plugin: a `kpi` call that names only built-in
    metrics (and the built-in RFM segmenter) needs nothing else, and importing every
    installed plugin, connectors and their SDKs included, costs about a second."""
    if label not in _builtins:
        manager = pluggy.PluginManager(hookspecs.PROJECT)
        manager.add_hookspecs(hookspecs)
        # the core's own entry points, loaded as the full registry loads them (reading
        # the installed metadata imports nothing)
        for ep, dist in _entry_points():
            if dist.name == CORE_DISTRIBUTION:
                manager.register(ep.load(), name=ep.name)
        pset = PluginSet(manager=manager)
        _collect(pset, [k for k in KINDS if k.label == label])
        _builtins[label] = pset.registry
    return _builtins[label]


def lookup(label: str, name: str) -> Any:
    """The `label` named `name`: a built-in one without loading any plugin (built-in names
    win any clash, so the answer is the one the full registry would give), otherwise from
    the full registry, which loads the plugins; LookupError names the known ones."""
    if _current is None:
        found = builtin_registry(label).items[label].get(name)
        if found is not None:
            return found
    return registry().get(label, name)


def add_local_plugin(module_path: str) -> None:
    """Load a plugin module that is not installed (`--plugin module.path`)."""
    if module_path not in _local_modules:
        _local_modules.append(module_path)
    reset()


def reset(*, forget_local: bool = False) -> None:
    """Forget what was loaded so the next call discovers again (tests, --plugin)."""
    global _current
    _current = None
    _builtins.clear()
    if forget_local:
        _local_modules.clear()


_commands_added: set[tuple[int, str]] = set()


def add_plugin_commands(cli: Any) -> None:
    """Let every plugin's `register_commands` add to `cli`, once per plugin and app.

    A plugin whose hook raises is recorded against it, like a failing
    registration, and the other commands still work.
    """
    pset = plugin_set()
    names = {id(plugin): name for name, plugin in pset.manager.list_name_plugin()}
    for impl in pset.manager.hook.register_commands.get_hookimpls():
        plugin_name = names.get(id(impl.plugin), impl.plugin_name)
        key = (id(cli), plugin_name)
        if key in _commands_added:
            continue
        _commands_added.add(key)
        try:
            impl.function(cli=cli)
        except Exception as error:
            pset.failures.append(Problem(plugin_name, f"register_commands failed: {_error_text(error)}"))
