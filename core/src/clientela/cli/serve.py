"""`clientela serve`: receive store-platform webhooks and apply them to the store."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

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
) -> None:
    """Receive order and customer webhooks (Shopify, WooCommerce, Nuvemshop) at
    POST /webhooks/<platform>; secrets come from webhook_secret in each
    \\[sources.<platform>] section."""
    import uvicorn
    from pydantic import ValidationError

    from clientela.config import ConfigError, describe_validation_error
    from clientela.webhooks import (
        Applier,
        Receiver,
        Spool,
        build_mappers,
        create_app,
        default_spool_path,
        secrets_from,
    )

    settings = workspace.settings
    secrets = secrets_from(settings.sources)
    if not secrets:
        raise UserError("no webhook secret configured: add webhook_secret to "
                        "[sources.shopify], [sources.woocommerce] or [sources.nuvemshop]")
    try:
        mappers = build_mappers(settings.sources)
    except ValidationError as error:
        # never str(error): pydantic's text repeats the section's values, access token included
        raise UserError("cannot build the webhook mappers:\n" + describe_validation_error(
            error, _section_of(error.title, settings.sources))) from None
    except (ConfigError, ValueError) as error:
        raise UserError(f"cannot build the webhook mappers: {error}") from None
    _check_port_free(host, port)
    store_path = workspace.store_path
    spool_file = spool or default_spool_path(store_path)
    queue = Spool(spool_file)
    context = {"timezone": settings.workspace.timezone,
               "reporting_currency": settings.workspace.currency}
    applier = Applier(queue, store_path, mappers, context=context, batch_size=batch_size) \
        if apply else None
    receiver = Receiver(queue, secrets, applier=applier)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    console.print(f"receiving webhooks for {', '.join(sorted(secrets))} on "
                  f"http://{host}:{port}/webhooks/<platform>; spool {spool_file}")
    uvicorn.run(create_app(receiver), host=host, port=port, access_log=False,
                log_level="info")


def register(app: typer.Typer) -> None:
    app.command()(serve)
