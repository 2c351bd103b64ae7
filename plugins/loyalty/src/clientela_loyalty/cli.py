"""`clientela loyalty ...`: run the programme, read a member's statement, adjust by hand.

Thin layers over the Python API (`engine.run`, `statement.statement`,
`adjust.write_adjustments`, `audiences`); dates are local days in the
workspace's time zone, as everywhere in the CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from clientela.cli.common import UserError, console, workspace

if TYPE_CHECKING:
    from clientela_loyalty.rules import LoyaltyRules

loyalty_app = typer.Typer(help="The loyalty programme: points ledger, statements, audiences.",
                          no_args_is_help=True)


def _instant(text: str | None, option: str) -> datetime:
    """A date means the start of that local day; default: the end of today (local)."""
    from clientela.kpi.periods import parse_bound, to_utc, zone

    tz = zone(workspace.settings.workspace.timezone)
    if text is None:
        today = datetime.now(UTC).astimezone(tz).replace(tzinfo=None)
        local = datetime(today.year, today.month, today.day) + timedelta(days=1)
        return to_utc(local, tz).replace(tzinfo=UTC)
    try:
        return to_utc(parse_bound(text), tz).replace(tzinfo=UTC)
    except ValueError as error:
        raise UserError(f"{option}: {error}") from None


def _rules() -> LoyaltyRules:
    from clientela.config import config_path
    from clientela_loyalty.rules import rules_from_settings

    return rules_from_settings(workspace.settings, str(config_path(workspace.config_file)))


@loyalty_app.command("run")
def run_command(
    until: Annotated[str | None, typer.Option(
        "--until", help="Bring the ledger up to the start of this local day (default: the end "
        "of today).")] = None,
    rebuild: Annotated[bool, typer.Option(
        "--rebuild", help="Replay every customer, not only those whose ledger changed.")] = False,
) -> None:
    """Write the points ledger from the store's orders, then print what changed."""
    from clientela import formatting
    from clientela_loyalty.engine import LedgerConflict, run

    rules = _rules()
    settings = workspace.settings.workspace
    instant = _instant(until, "--until")
    with workspace.store() as store:
        try:
            summary = run(store, rules, until=instant, timezone=settings.timezone,
                          rebuild=rebuild)
        except LedgerConflict as error:
            raise UserError(str(error)) from None
    span = "the whole history" if summary.since is None else \
        f"since {summary.since:%Y-%m-%d %H:%M} UTC"
    table = Table(title=f"Loyalty ledger up to {instant:%Y-%m-%d %H:%M} UTC ({span}, "
                  f"{formatting.number(summary.customers_replayed)} customers replayed)")
    table.add_column("what")
    table.add_column("points", justify="right")
    for kind, label in (("earn", "earned"), ("redeem", "redeemed"), ("expire", "expired"),
                        ("reverse", "reversed"), ("adjust", "adjusted")):
        table.add_row(label, formatting.number(summary.points.get(kind, 0)))
    table.add_row("members with points", formatting.number(summary.members))
    table.add_row("outstanding points", formatting.number(summary.outstanding_points))
    table.add_row("liability", formatting.money(summary.liability, settings.currency))
    console.print(table)
    if summary.capped_redemptions:
        console.print(f"{summary.capped_redemptions} redemption(s) asked for more points than "
                      "the member held; recorded for what the balance covered")


@loyalty_app.command("balance")
def balance_command(
    who: Annotated[str, typer.Argument(help="The customer's id or e-mail address.")],
    at: Annotated[str | None, typer.Option(
        "--at", help="Balance at the start of this local day (default: the end of today).")]
    = None,
) -> None:
    """A member's statement: balance, the lots they hold with their expiry, every entry."""
    from clientela import formatting
    from clientela_loyalty.statement import UnknownMember, statement

    rules = _rules()
    currency = workspace.settings.workspace.currency
    instant = _instant(at, "--at")
    with workspace.store(read_only=True) as store:
        try:
            found = statement(store, who, instant)
        except UnknownMember as error:
            raise UserError(str(error)) from None
    worth = formatting.money(rules.point_value * found.balance, currency)
    whose = (f"customer {found.customer_id}" if len(found.records) == 1
             else f"customers {', '.join(found.records)}, one person")
    console.print(f"[bold]{found.who}[/] ({whose}): "
                  f"{formatting.number(found.balance)} points ({worth}) at "
                  f"{instant:%Y-%m-%d %H:%M} UTC", highlight=False)
    lots = Table(title="Points held")
    for name in ("earned", "expires", "points"):
        lots.add_column(name, justify="right" if name == "points" else "left")
    for row in found.lots.to_pylist():
        expires = row["expires_at"]
        lots.add_row(f"{row['earned_at']:%Y-%m-%d}",
                     f"{expires:%Y-%m-%d %H:%M} UTC" if expires else "never",
                     formatting.number(row["left"]))
    console.print(lots)
    entries = Table(title="Ledger")
    for name in ("when (UTC)", "kind", "points", "order", "expires"):
        entries.add_column(name, justify="right" if name == "points" else "left")
    for row in found.entries.to_pylist():
        expires = row["expires_at"]
        entries.add_row(f"{row['occurred_at']:%Y-%m-%d %H:%M}", row["kind"],
                        f"{row['points']:+,}", row["order_id"] or "",
                        f"{expires:%Y-%m-%d}" if expires else "")
    console.print(entries)


@loyalty_app.command("adjust")
def adjust_command(
    customer: Annotated[str | None, typer.Argument(help="The customer's id.")] = None,
    points: Annotated[int | None, typer.Option(
        "--points", help="Points to give (positive) or take (negative, e.g. --points -100).")]
    = None,
    at: Annotated[str | None, typer.Option(
        "--at", help="Effective at the start of this local day (default: now).")] = None,
    key: Annotated[str | None, typer.Option(
        "--id", help="The adjustment's own key: writing it again changes nothing.")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", help="A CSV of adjustments: customer_id, points[, at, id].")] = None,
) -> None:
    """Give or take points by hand (one, or a file of them); the next `run` applies them."""
    from clientela_loyalty.adjust import (
        Adjustment,
        AdjustmentError,
        read_adjustments_file,
        write_adjustments,
    )

    rules = _rules()
    moment = datetime.now(UTC) if at is None else _instant(at, "--at")
    try:
        if file is not None:
            if customer is not None or points is not None:
                raise UserError("give either --file or CUSTOMER --points N, not both")
            wanted = read_adjustments_file(file, moment)
        elif customer is None or points is None:
            raise UserError("expected CUSTOMER --points N (e.g. `clientela loyalty adjust 42 "
                            "--points 100`) or --file adjustments.csv")
        else:
            wanted = [Adjustment(customer, points, moment, key)]
        with workspace.store() as store:
            written = write_adjustments(store, rules, workspace.settings.workspace.timezone,
                                        wanted)
    except AdjustmentError as error:
        raise UserError(str(error)) from None
    console.print(f"wrote {written} adjustment(s); `clientela loyalty run` applies them")


@loyalty_app.command("audience")
def audience_command(
    name: Annotated[str, typer.Argument(
        help="redeemable, expiring, first-points or tier-changes.")],
    days: Annotated[int, typer.Option(min=1, help="expiring: within this many days; "
                                      "first-points and tier-changes: in the last N days.")] = 30,
    at: Annotated[str | None, typer.Option(
        "--at", help="As of the start of this local day (default: the end of today).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the members to this CSV file.")] = None,
) -> None:
    """Members a journey should reach: who can redeem, whose points expire soon, who earned
    their first points, whose tier changed."""
    from clientela import formatting
    from clientela_loyalty import audiences

    rules = _rules()
    instant = _instant(at, "--at")
    since = instant - timedelta(days=days)
    with workspace.store(read_only=True) as store:
        if name == "redeemable":
            found = audiences.redeemable_now(store, rules, instant)
        elif name == "expiring":
            found = audiences.expiring_within(store, instant, days)
        elif name == "first-points":
            found = audiences.first_points(store, since, instant)
        elif name == "tier-changes":
            found = audiences.tier_changes(store, rules,
                                           workspace.settings.workspace.timezone, since, instant)
        else:
            raise UserError(f"audience {name!r}: expected redeemable, expiring, first-points "
                            "or tier-changes")
    if output is not None:
        import pyarrow.csv as pcsv

        pcsv.write_csv(found, output)
    console.print(f"{name}: {formatting.number(found.num_rows)} member(s)"
                  + (f", written to {output}" if output else ""))
