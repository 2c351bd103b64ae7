"""`clientela serve`: receive the webhooks sources declare, apply them to the store, and
serve the metrics report at `/` (clientela.report.live).

Which sources can push changes is read from the registry: every installed
source whose `SourceSpec` carries a `WebhookSpec` is served at
`POST /webhooks/<source>` once its `[sources.<source>]` section has a
`webhook_secret`. The steps are small functions (`build_receiver`,
`extra_routes`) so a page or a route can be added without touching the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clientela.cli.common import Failure, UserError, console, workspace


def _section_of(model_title: str, sources: Mapping[str, object]) -> str:
    """'NuvemshopConfig' -> 'sources.nuvemshop', to name the section at fault."""
    title = model_title.lower()
    for name in sources:
        if title.startswith(name.lower()):
            return f"sources.{name}"
    return "sources"


def _check_port_free(host: str, port: int) -> None:
    """A busy port is a failure to start (exit 1) said plainly, not a server traceback."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise Failure(f"cannot listen on {host}:{port}: {error.strerror or error}; "
                          "stop what uses it or pick another --port") from None

if TYPE_CHECKING:
    from clientela.webhooks import Receiver




def build_receiver(spool: Path | None, batch_size: int, apply: bool,
                   exports: Path | None) -> Receiver:
    """The receiver (and its applier) for the sources with a declared webhook and a secret."""
    from pydantic import ValidationError

    from clientela.cli.destinations import configured_destinations
    from clientela.config import ConfigError, describe_validation_error
    from clientela.webhooks import (
        Applier,
        Receiver,
        Spool,
        build_mappers,
        declared_webhooks,
        default_exports_path,
        default_spool_path,
        secrets_from,
    )

    settings = workspace.settings
    webhooks = declared_webhooks()
    secrets = secrets_from(settings.sources, webhooks)
    if not secrets:
        names = ", ".join(f"[sources.{name}]" for name in webhooks) or \
            "none: install a source plugin that declares one"
        raise UserError("no webhook secret configured: add webhook_secret to the section of a "
                        f"source that declares a webhook ({names})")
    try:
        mappers = build_mappers(settings.sources, webhooks)
    except ValidationError as error:
        # never str(error): pydantic's text repeats the section's values, access token included
        raise UserError("cannot build the webhook mappers:\n" + describe_validation_error(
            error, _section_of(error.title, settings.sources))) from None
    except (ConfigError, ValueError) as error:
        raise UserError(f"cannot build the webhook mappers: {error}") from None
    store_path = workspace.store_path
    queue = Spool(spool or default_spool_path(store_path))
    context = {"timezone": settings.workspace.timezone,
               "reporting_currency": settings.workspace.currency}
    applier = Applier(queue, store_path, mappers, context=context, batch_size=batch_size,
                      destinations=configured_destinations,
                      exports=exports or default_exports_path(store_path)) if apply else None
    return Receiver(queue, secrets, applier=applier, webhooks=webhooks)


def extra_routes() -> list[Any]:
    """Routes served beside `/webhooks/<source>` and `/healthz`."""
    return []


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    spool: Annotated[Path | None, typer.Option(
        help="The durable spool file (default: beside the store, *.webhooks.sqlite).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Deliveries applied per batch.")] = 500,
    apply: Annotated[bool, typer.Option(
        "--apply/--no-apply",
        help="Apply deliveries to the store as they come (--no-apply: only receive and spool; "
             "a later `serve` applies them).")] = True,
    exports: Annotated[Path | None, typer.Option(
        help="Folder for the data exports privacy requests ask for (default: beside the "
             "store, *.exports).")] = None,
    report_token: Annotated[str | None, typer.Option(
        envvar="CLIENTELA_REPORT_TOKEN", help="Token the report at / asks for when bound "
        "beyond 127.0.0.1 (?token=...).")] = None,
    report_lang: Annotated[str, typer.Option(help="The report's language: en or pt-BR.")] = "en",
) -> None:
    """Receive order, customer and privacy webhooks at POST /webhooks/<source>, for every
    installed source that declares a webhook; secrets come from webhook_secret in each
    \\[sources.<source>] section. GET / serves the metrics report (read-only)."""
    import uvicorn

    from clientela.cli.journeys import channel_webhooks
    from clientela.report import live
    from clientela.webhooks import create_app, declared_webhooks, secrets_from


    channels = channel_webhooks()  # reads [messaging] and [channels.*] before the settings
    settings = workspace.settings
    page = live.for_store(workspace.store_path, host=host, token=report_token, lang=report_lang,
                          timezone=settings.workspace.timezone, currency=settings.workspace.currency,
                          title=workspace.store_path.name, memory_limit=settings.workspace.memory_limit)
    _check_port_free(host, port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if secrets_from(settings.sources, declared_webhooks()):
        receiver = build_receiver(spool, batch_size, apply, exports)
        console.print(f"receiving webhooks for {', '.join(receiver.serving())} on "
                      f"http://{host}:{port}/webhooks/<source>; spool {receiver.spool.path}")
        app = create_app(receiver, routes=extra_routes())
        live.mount(app, page)
    else:  # no source webhook configured: the report (and channel callbacks) alone
        console.print(f"no webhook secret configured; serving the report on http://{host}:{port}/")
        app = live.report_app(page)
    if channels is not None:  # POST /channels/<name>: delivery statuses and replies
        app.mount("/channels", channels)
        console.print(f"receiving channel statuses and replies on http://{host}:{port}"
                      "/channels/<channel>")
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")


def register(app: typer.Typer) -> None:
    app.command()(serve)
