"""`clientela campaign send`: a one-off campaign with an optional control group."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer

from clientela.cli.common import UserError, console, workspace
from clientela.cli.journeys import (
    NO_CHANNEL_ERROR,
    load_workspace,
    parse_moment,
    print_plan,
    send_due,
)
from clientela.hookspecs import reaches_people

campaign_app = typer.Typer(help="One-off campaigns by SMS, WhatsApp and e-mail.",
                           no_args_is_help=True)


def parse_share(text: str) -> float:
    value = text.strip()
    try:
        share = float(value.rstrip("%")) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise UserError(f"--control {text!r}: expected a share such as 10% or 0.1") from None
    if not 0 <= share < 1:
        raise UserError(f"--control {text!r}: expected a share from 0% to 99%")
    return share


@campaign_app.command("send")
@reaches_people
def send(
    name: Annotated[str, typer.Argument(help="The campaign's id (letters, digits, _ and -).")],
    audience: Annotated[str, typer.Option(help=(
        "Who: rule:<expression> (e.g. \"rule:total_spent > 500\"), <segmenter>:<segment> "
        "(e.g. rfm:Champions) or all."))],
    channel: Annotated[str, typer.Option(help="Channels in order of preference, e.g. "
                                              "whatsapp,sms.")],
    text: Annotated[str | None, typer.Option(help="SMS / e-mail text; variables {first_name}, "
                                                  "{points}, {store}.")] = None,
    subject: Annotated[str | None, typer.Option(help="E-mail subject.")] = None,
    whatsapp_template: Annotated[str | None, typer.Option(help="Approved WhatsApp template.")
                                 ] = None,
    whatsapp_variables: Annotated[str, typer.Option(help="The template's parameters in order, "
                                                         "e.g. first_name,points.")] = "",
    control: Annotated[str, typer.Option(help="Control group held out, e.g. 10%.")] = "0%",
    at: Annotated[str | None, typer.Option(help="When (ISO, workspace time zone if no offset; "
                                                "default now).")] = None,
    purpose: Annotated[str, typer.Option(help="marketing or relationship.")] = "marketing",
    cost: Annotated[str, typer.Option(help="What the campaign cost (for campaign_roi).")] = "0",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan only.")] = False,
    now: Annotated[str | None, typer.Option(help="Act as of this moment (ISO).")] = None,
) -> None:
    """Plan a campaign (every contacted and held-out customer is recorded) and send what is
    due; a campaign for later is sent by `clientela journeys run --due` when its time comes."""
    import re

    from clientela.journeys.audience import resolve
    from clientela.journeys.campaigns import CampaignSpec, plan_campaign
    from clientela.journeys.planner import Planner
    from clientela.journeys.templates import ChannelTemplate

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", name):
        raise UserError(f"campaign name {name!r}: use letters, digits, _ and - only")
    if purpose not in ("marketing", "relationship"):
        raise UserError(f"--purpose {purpose!r}: expected marketing or relationship")
    media = tuple(m.strip() for m in channel.split(",") if m.strip())
    unknown = [m for m in media if m not in ("sms", "whatsapp", "email")]
    if not media or unknown:
        raise UserError(f"--channel {channel!r}: expected sms, whatsapp and/or email")
    try:
        amount = Decimal(cost)
    except InvalidOperation:
        raise UserError(f"--cost {cost!r}: expected an amount such as 150.00") from None
    loaded = load_workspace()
    if not dry_run and not loaded.messaging.send:
        raise UserError(NO_CHANNEL_ERROR)
    language = loaded.messaging.language
    templates = {}
    for medium in media:
        if medium == "whatsapp":
            variables = [v.strip() for v in whatsapp_variables.split(",") if v.strip()]
            templates[medium] = ChannelTemplate(template=whatsapp_template, variables=variables)
        else:
            templates[medium] = ChannelTemplate(
                text={language: text} if text else {},
                subject={language: subject} if subject and medium == "email" else {})
    zone = loaded.settings.workspace.timezone
    moment = parse_moment(now, zone, "--now")
    spec = CampaignSpec(name, media, templates, parse_moment(at, zone, "--at") if at else moment,
                        purpose, parse_share(control), amount)
    try:
        spec.check(loaded.messaging.approved_whatsapp_templates)
    except ValueError as error:
        raise UserError(str(error)) from None
    with workspace.store(read_only=False) as store:
        try:
            members = resolve(store, audience, moment, zone, loaded.settings.workspace.currency)
        except ValueError as error:
            raise UserError(str(error)) from None
        planner = Planner(store, loaded.messaging, loaded.zone, moment)
        planned, written = plan_campaign(store, spec, sorted(members), loaded.messaging, planner,
                                         dry_run=dry_run)
        if dry_run:
            print_plan(planned, 5)
            return
        held = sum(1 for p in planned if p.reason == "control_group")
        console.print(f"campaign {name}: {len(members)} in the audience, {held} held out as "
                      f"control, {written} new message(s) planned for {spec.at.isoformat()}")
        if spec.at <= moment:
            send_due(store, loaded, moment if now is not None else None)


def register(app: typer.Typer) -> None:
    app.add_typer(campaign_app, name="campaign")
