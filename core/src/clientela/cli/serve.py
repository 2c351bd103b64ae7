"""`clientela serve`: receive store-platform webhooks and apply them to the store, and serve
the metrics report at `/` (clientela.report.live)."""

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
    report_token: Annotated[str | None, typer.Option(
        envvar="CLIENTELA_REPORT_TOKEN", help="Token the report at / asks for when bound "
        "beyond 127.0.0.1 (?token=...).")] = None,
    report_lang: Annotated[str, typer.Option(help="The report's language: en or pt-BR.")] = "en",
) -> None:
    """Receive order and customer webhooks (Shopify, WooCommerce, Nuvemshop) at
    POST /webhooks/<platform>; secrets come from webhook_secret in each
    \\[sources.<platform>] section. GET / serves the metrics report (read-only)."""
    import uvicorn

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

    settings = workspace.settings
    secrets = secrets_from(settings.sources)
    from clientela.report import live
    page = live.for_store(workspace.store_path, host=host, token=report_token, lang=report_lang,
                          timezone=settings.workspace.timezone, currency=settings.workspace.currency,
                          title=workspace.store_path.name, memory_limit=settings.workspace.memory_limit)
    if not secrets:  # no webhook configured: the report alone
        console.print(f"no webhook secret configured; serving the report on http://{host}:{port}/")
        uvicorn.run(live.report_app(page), host=host, port=port, access_log=False, log_level="info")
        return
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
    live.mount(app, page)
    uvicorn.run(app, host=host, port=port, access_log=False,
                log_level="info")


def register(app: typer.Typer) -> None:
    app.command()(serve)
