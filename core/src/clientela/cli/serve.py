"""`clientela serve`: receive store-platform webhooks and apply them to the store."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from clientela.cli.common import UserError, console, workspace


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

    from clientela.cli.journeys import channel_webhooks
    from clientela.config import ConfigError
    from clientela.webhooks import (
        Applier,
        Receiver,
        Spool,
        build_mappers,
        create_app,
        default_spool_path,
        secrets_from,
    )

    channels = channel_webhooks()  # reads [messaging] and [channels.*] before the settings
    settings = workspace.settings
    secrets = secrets_from(settings.sources)
    if not secrets and channels is None:
        raise UserError("no webhook secret configured: add webhook_secret to "
                        "[sources.shopify], [sources.woocommerce] or [sources.nuvemshop]")
    try:
        mappers = build_mappers(settings.sources)
    except (ConfigError, ValueError) as error:
        raise UserError(f"cannot build the webhook mappers: {error}") from None
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
    app = create_app(receiver)
    if channels is not None:  # POST /channels/<name>: delivery statuses and replies
        app.mount("/channels", channels)
        console.print(f"receiving channel statuses and replies on http://{host}:{port}"
                      "/channels/<channel>")
    uvicorn.run(app, host=host, port=port, access_log=False,
                log_level="info")


def register(app: typer.Typer) -> None:
    app.command()(serve)
