"""`clientela kpi`: the catalogue on the command line.

A thin layer over `clientela.kpi.compute`: flags are parsed and checked
here, and every mistake becomes a one-line `UserError` that names the flag
and what was expected.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from datetime import date
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from clientela.cli.common import UserError, console, kpi_problem, workspace
from clientela.cli.kpi_output import output_format, print_table, write_file


def parse_param_flags(values: list[str]) -> dict[str, dict[str, Any]]:
    """`--param metric.key=value` pairs, values read as JSON when they parse (numbers, lists)."""
    found: dict[str, dict[str, Any]] = {}
    for text in values:
        name, sep, raw = text.partition("=")
        metric, dot, key = name.partition(".")
        if not sep or not dot or not metric or not key:
            raise UserError(f"--param {text!r}: expected metric.key=value, e.g. "
                            "lapsed_customers.lapse_days=90")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        found.setdefault(metric.strip(), {})[key.strip()] = value
    return found


def parse_compare(text: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """`--compare 2025-01:2025-04,2025-04:2025-07` -> two half-open local ranges: each TO is
    the first period *not* counted, like --to, so the example compares Jan-Mar with Apr-Jun."""
    from clientela.kpi.periods import parse_bound

    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or any(p.count(":") != 1 for p in parts):
        raise UserError(f"--compare {text!r}: expected BEFORE_FROM:BEFORE_TO,AFTER_FROM:AFTER_TO "
                        "such as 2025-01:2025-04,2025-04:2025-07")
    pairs = []
    for part in parts:
        lo, hi = part.split(":")
        try:
            start, end = parse_bound(lo), parse_bound(hi)
        except ValueError as error:
            raise UserError(f"--compare: {error}") from None
        if end <= start:
            raise UserError(f"--compare {part!r}: the end must come after the start (the end "
                            "is not included: 2025-01:2025-04 is January to March)")
        pairs.append((start.isoformat(), end.isoformat()))
    return pairs[0], pairs[1]


def _bound(flag: str, text: str) -> str:
    from clientela.kpi.periods import parse_bound

    try:
        return parse_bound(text).isoformat()
    except ValueError as error:
        raise UserError(f"{flag}: {error}") from None


def _next_month(today: date) -> str:
    year, month = (today.year, today.month + 1) if today.month < 12 else (today.year + 1, 1)
    return f"{year:04d}-{month:02d}"


# -- names ------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    """'Ticket médio' -> 'ticket_medio'."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")


def metric_aliases() -> dict[str, str]:
    """PT-BR (and English) titles as names: `ticket_medio` -> `aov`, `evasao` -> `churn_rate`.
    A metric's own name always wins over another's alias."""
    from clientela.plugins import registry

    metrics = registry().metrics
    aliases: dict[str, str] = {}
    for metric in metrics.values():
        for title in (metric.title_pt, metric.title):
            alias = _slug(title)
            if alias and alias not in metrics:
                aliases.setdefault(alias, metric.name)
    return aliases


def resolve_metric(name: str) -> str:
    """A metric name or alias, or a UserError with the nearest names. A built-in name is
    found without discovering any plugin (built-in names win any clash)."""
    from clientela.plugins import builtin_registry, registry

    if name in builtin_registry("metric").metrics:
        return name
    metrics = registry().metrics
    if name in metrics:
        return name
    aliases = metric_aliases()
    key = _slug(name)
    if key in metrics:
        return key
    if key in aliases:
        return aliases[key]
    close = difflib.get_close_matches(key, [*metrics, *aliases], n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UserError(f"unknown metric {name!r}{hint} (see `clientela kpi --list`)")


# -- the catalogue ----------------------------------------------------------------------------


def _catalogue() -> list[Any]:
    from clientela.plugins import registry

    found = list(registry().metrics.values())
    groups = list(dict.fromkeys(m.group for m in found))  # catalogue order, by section
    return sorted(found, key=lambda m: groups.index(m.group))


def _describe(metric: Any, aliases: dict[str, str]) -> dict[str, Any]:
    params = metric.params.model_json_schema().get("properties", {})
    return {
        "name": metric.name, "title": metric.title, "title_pt": metric.title_pt,
        "group": metric.group, "unit": metric.unit, "slices": list(metric.slices),
        "measures": list(metric.measures), "needs": list(metric.needs),
        "aliases": sorted(a for a, n in aliases.items() if n == metric.name),
        "params": {key: {"default": spec.get("default"), "description": spec.get("description")}
                   for key, spec in params.items()},
        "description": metric.description,
    }


def list_metrics(fmt: str) -> None:
    """Name and title (both languages), readable at 80 columns; --describe NAME for the rest."""
    aliases = metric_aliases()
    if fmt == "json":
        typer.echo(json.dumps([_describe(m, aliases) for m in _catalogue()], indent=2,
                              ensure_ascii=False))
        return
    if fmt != "table":
        raise UserError(f"--list --format {fmt}: expected table or json")
    table = Table(title="Metrics (clientela kpi --describe NAME for the details)",
                  title_justify="left", pad_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("title / título", overflow="fold")
    for metric in _catalogue():
        title = metric.title if metric.title == metric.title_pt \
            else f"{metric.title} / {metric.title_pt}"
        table.add_row(metric.name, title)
    console.print(table)


def describe_metric(name: str, fmt: str) -> None:
    from clientela.plugins import registry

    metric = registry().metrics[resolve_metric(name)]
    described = _describe(metric, metric_aliases())
    if fmt == "json":
        typer.echo(json.dumps(described, indent=2, ensure_ascii=False))
        return
    lines = [f"[bold]{metric.name}[/]: {escape(metric.title)} / {escape(metric.title_pt)}",
             escape(metric.description), ""]
    for key in ("group", "unit", "slices", "measures", "needs", "aliases"):
        value = described[key]
        text = ", ".join(value) if isinstance(value, list) else str(value)
        lines.append(f"{key}: {escape(text) or '—'}")
    for key, spec in described["params"].items():
        lines.append(f"--param {metric.name}.{key}={spec['default']}: "
                     f"{escape(spec['description'] or '')}")
    console.print("\n".join(lines), highlight=False)


def kpi(
    metrics: Annotated[list[str] | None, typer.Argument(
        metavar="METRIC",
        help="Metric names or their PT-BR titles (see --list), e.g. revenue aov "
        "ticket_medio.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the metrics and exit.")] = False,
    describe: Annotated[str | None, typer.Option(
        "--describe", metavar="NAME", help="Everything about one metric: unit, slices, "
        "params, description.")] = None,
    grain: Annotated[str | None, typer.Option(
        "--grain", metavar="GRAIN", help="day, week, month, quarter or year: a time series.")] = None,
    from_: Annotated[str | None, typer.Option(
        "--from", metavar="PERIOD", help="Start, included: 2025-01 or 2025-01-15 (workspace "
        "time zone).")] = None,
    to: Annotated[str | None, typer.Option(
        "--to", metavar="PERIOD", help="End, NOT included, like the Python API: --from 2025-01 "
        "--to 2026-01 is the year 2025 (default: the end of the current month).")] = None,
    by: Annotated[str | None, typer.Option(
        "--by", metavar="SLICE", help="Slice: channel, store_id, salesperson_id, "
        "acquisition_channel or segment.")] = None,
    segmenter: Annotated[str, typer.Option(
        "--segmenter", metavar="NAME", help="The segmenter behind --by segment (see "
        "`clientela segments`).")] = "rfm",
    compare: Annotated[str | None, typer.Option(
        "--compare", metavar="FROM:TO,FROM:TO", help="Before and after, each end not included: "
        "2025-01:2025-04,2025-04:2025-07 is Jan-Mar against Apr-Jun.")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", metavar="WHEN", help="Instant for point-in-time metrics (recency, RFM, "
        "LTV); a date means its start.")] = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", metavar="FORMAT", help="table, csv, json, parquet or xlsx (default: table, "
        "or the --output file's extension).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write to FILE (.csv, .json, .parquet, "
        ".xlsx).")] = None,
    lang: Annotated[str, typer.Option(
        "--lang", metavar="LANG", help="Numbers in the table: en (R$1,234.56) or pt-BR "
        "(R$ 1.234,56).")] = "en",
    param: Annotated[list[str] | None, typer.Option(
        "--param", metavar="METRIC.KEY=VALUE",
        help="e.g. lapsed_customers.lapse_days=90 (repeatable).")] = None,
    engine: Annotated[str | None, typer.Option(
        "--engine", metavar="ENGINE", help="duckdb, spark or postgres (default: [engine] kind, "
        "else duckdb).")] = None,
    cold: Annotated[bool, typer.Option(
        "--cold", help="Compute every period afresh instead of reusing the answers kept in "
        "the store for the periods no write has touched (see docs/warm.md).")] = False,
) -> None:
    """Compute KPIs over a period, as a time series, by slice, or before vs after.

    Periods are half-open, like the Python API: --from is included, --to is not.
    """
    from clientela.formatting import LANGUAGES
    from clientela.kpi import GRAINS, SLICES, KpiError, compute
    from clientela.kpi.engine import resolve

    if lang not in LANGUAGES:
        raise UserError(f"--lang {lang!r}: expected one of {', '.join(LANGUAGES)}")
    if list_:
        list_metrics(fmt or "table")
        return
    if describe is not None:
        describe_metric(describe, fmt or "table")
        return
    if not metrics:
        raise UserError("name at least one metric (see `clientela kpi --list`)")
    chosen = list(dict.fromkeys(resolve_metric(name) for name in metrics))
    shape = output_format(fmt, output)
    if grain is not None and grain not in GRAINS:
        raise UserError(f"--grain {grain!r}: expected one of {', '.join(GRAINS)}")
    if by is not None and by not in SLICES:
        raise UserError(f"--by {by!r}: expected one of {', '.join(SLICES)}")
    params = {resolve_metric(name): values
              for name, values in parse_param_flags(param or []).items()}
    pair = parse_compare(compare) if compare else None
    start = end = None
    if pair is None:
        if from_ is None:
            raise UserError("--from is required (e.g. --from 2025-01), unless --compare is given")
        start = _bound("--from", from_)
        end = _bound("--to", to) if to else _bound("--to", _next_month(date.today()))
        if end <= start:
            raise UserError(f"--from {from_} --to {to} is empty: --to is not included "
                            "(--from 2025-01 --to 2025-02 is January 2025)")
    settings = workspace.settings.workspace
    from clientela.agency.engines import engine_config, open_engine
    from clientela.identity.analytics import identity_resolution

    engine_choice = engine_config(workspace.settings.engine, engine)
    keeps = not cold and workspace.store_path.exists()  # warm runs write their answers
    opener = partial(workspace.store, read_only=not keeps, shows_figures=True)
    with open_engine(engine_choice, opener) as store, \
            identity_resolution(workspace.settings.identity.enabled):
        try:
            result = compute(store, chosen, start=start, end=end, grain=grain, by=by,
                             timezone=settings.timezone, currency=settings.currency,
                             params=params, as_of=as_of, compare=pair, segmenter=segmenter,
                             reuse=keeps)
        except KpiError as error:
            raise kpi_problem(error) from None
    units = {metric.name: metric.unit for metric in resolve(chosen)}
    if shape == "table":
        print_table(result.to_arrow(), units=units, currency=settings.currency, lang=lang)
    else:
        write_file(result.to_arrow(), shape, output, units)


def register(app: typer.Typer) -> None:
    app.command("kpi")(kpi)
