"""What every command shares: the console, the workspace, errors without tracebacks.

A user mistake (bad flag, bad config, missing file) ends with one red line
naming what is wrong and exit code 2; a failure of the work ends with exit
code 1; `--debug` adds the traceback for either.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from clientela.config import Settings, check_section_names, load_settings
from clientela.errors import EXIT_USAGE as EXIT_USAGE
from clientela.errors import UserError as UserError
from clientela.privacy import mask_text
from clientela.store import Store
from clientela.store.store import IncompleteStoreWarning

EXIT_OK = 0
EXIT_FAILURE = 1
# EXIT_USAGE and UserError come from clientela.errors, re-exported for the commands and plugins

console = Console()
err_console = Console(stderr=True)


class Failure(Exception):
    """The work could not be done (network, locked store); exit code 1."""

    exit_code = EXIT_FAILURE


@dataclass
class Workspace:
    """The options every command shares, resolved once per invocation."""

    config_file: Path | None = None
    store_override: Path | None = None
    debug: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            settings = load_settings(self.config_file)
            if not _named_after_installed_plugins(settings):
                sources, destinations, not_loaded = _section_readers()
                check_section_names(settings, sources, destinations, also=not_loaded)
            self._settings = settings
        return self._settings

    @property
    def store_path(self) -> Path:
        return self.store_override or self.settings.workspace.store

    @property
    def store_target(self) -> Path | str:
        """What the store opens: `--store`, else `[store] url` (PostgreSQL), else the
        workspace's DuckDB file."""
        return self.store_override or self.settings.store.url or self.store_path

    @contextmanager
    def store(self, *, read_only: bool = False, shows_figures: bool = False) -> Iterator[Store]:
        """The workspace's store; an incomplete one (an interrupted demo) is said in one plain
        `warning:` line, not as Python's `file:line: Category: text`. The store says so itself
        when opened read-only; `shows_figures` says it too for a command that opens it
        writable only to keep its answers (the warm KPI cache), whose figures are just as
        partial."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IncompleteStoreWarning)
            opened = Store(self.store_target, read_only=read_only,
                           memory_limit=self.settings.workspace.memory_limit)
        if shows_figures and not read_only and (note := opened.incomplete_load()):
            err_console.print(f"warning: {note}", highlight=False, markup=False)
        for warning in caught:
            if issubclass(warning.category, IncompleteStoreWarning):
                err_console.print(f"warning: {warning.message}", highlight=False, markup=False)
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                       warning.lineno)
        from clientela.identity.analytics import identity_resolution

        # `[identity] enabled` reaches everything that reads this store (KPIs, consent, push)
        with opened as store, identity_resolution(self.settings.identity.enabled):
            if not read_only:
                from clientela.cli.identity import bind_identity

                bind_identity(store)
            yield store


workspace = Workspace()


def _installed_names() -> set[str]:
    """`shopify` for the installed distribution `clientela-shopify`: read from the installed
    metadata, importing nothing."""
    from clientela.plugins import _entry_points

    return {entry_point.name.removeprefix("clientela-").replace("-", "_")
            for entry_point, _ in _entry_points()}


def _named_after_installed_plugins(settings: Settings) -> bool:
    """Every `[sources.X]` / `[destinations.X]` section is named after an installed plugin
    distribution, which `check_section_names` accepts anyway: then the sections are checked
    without importing every plugin (a `kpi` call imports only the plugins it uses)."""
    names = [*dict.keys(settings.sources), *dict.keys(settings.destinations)]
    return not names or set(names) <= _installed_names()


def _section_readers() -> tuple[set[str], set[str], set[str]]:
    """Names a `[sources.X]` / `[destinations.X]` section may have: what the loaded plugins
    registered, and (accepted, never suggested) installed plugin distributions not loaded in
    this run (CLIENTELA_LOAD_PLUGINS), whose entry points are named `clientela-<name>`."""
    from clientela.plugins import registry

    found = registry()
    not_loaded = _installed_names()
    return set(found.items["source"]), set(found.items["destination"]), not_loaded


def progress_bar(*, transient: bool = False) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=transient,
        disable=not err_console.is_terminal,
    )


def report_error(error: BaseException) -> None:
    err_console.print(f"[bold red]error:[/] {escape(mask_text(str(error)))}", highlight=False)


def kpi_problem(error: Exception) -> Exception:
    """A KPI engine error as the CLI reports it.

    A bad request (unknown metric, empty period) is the user's to fix: exit 2.
    A store that lacks the data a metric needs is not a usage mistake: exit 1.
    """
    from clientela.kpi.errors import MissingDataError

    text = " ".join(str(error).split())
    return Failure(text) if isinstance(error, MissingDataError) else UserError(text)


class _NoticeHandler(logging.Handler):
    """Prints connector notices (a long wait on a rate limit, a retry) on stderr, one line each."""

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(f"[yellow]{escape(mask_text(record.getMessage()))}[/]", highlight=False)


_notices = _NoticeHandler(level=logging.WARNING)


def show_connector_notices() -> None:
    """Let a person see why a sync or push is waiting: `Mailchimp answered 503; retrying in 8 s,
    attempt 3 of 10`. The connectors log these at WARNING (see `clientela.http.retry`)."""
    from clientela.http.retry import NOTICE_LOGGER

    logger = logging.getLogger(NOTICE_LOGGER)
    if _notices not in logger.handlers:
        logger.addHandler(_notices)



def plain_metavars(command: Any) -> None:
    """Give every option and argument of a built click command, without a metavar of its own,
    click's plain one: PATH, INTEGER, TEXT; nothing after a flag.

    typer shows the Python type otherwise (`<bool>` after a flag, `<list[str]>`, `{path}` in
    the usage line), which reads like a bug to a person at a terminal.
    """
    for param in getattr(command, "params", []):
        if param.param_type_name == "argument":
            shown = (param.metavar or (param.name or "value").upper().rstrip("_")).rstrip(".")
            param.metavar = shown
            # the usage line writes a required argument as {PATH}; the name alone reads better,
            # and the type column would only repeat it
            usage = shown + ("..." if param.nargs != 1 else "")
            param._usage_display_name = lambda usage=usage, required=param.required: \
                usage if required else f"[{usage}]"
            param.display_type_rich = lambda ctx: None
        elif param.metavar is not None:
            continue
        elif getattr(param, "is_flag", False) or getattr(param, "is_bool_flag", False):
            param.metavar = ""
        else:
            bare = param.bare_type() if hasattr(param, "bare_type") else "str"
            element = bare.removeprefix("list[").removesuffix("]")
            param.metavar = {"int": "INTEGER", "float": "NUMBER", "Path": "PATH",
                             "bool": ""}.get(element, "TEXT")
    if hasattr(command, "get_help_option"):
        from typer._click.core import Context

        help_option = command.get_help_option(Context(command))
        if help_option is not None:
            help_option.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        plain_metavars(sub)
