"""Errors that tell the truth: what failed, whose fault, and exit codes 0/1/2 only."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
import requests

from clientela.http import ApiClient, HttpError, RetryPolicy, make_session
from clientela.http.retry import announce_retry, retry_notice


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_host_names_it_and_exits_1(run, connectors, tmp_path: Path) -> None:
    port = _closed_port()
    (tmp_path / "clientela.toml").write_text(
        f'[sources.shopify]\nbase_url = "http://127.0.0.1:{port}"\naccess_token = "t0k"\n'
        "max_attempts = 1\n", encoding="utf-8")
    ran = run("sync", "shopify")
    assert ran.exit_code == 1
    assert f"127.0.0.1:{port}: connection refused" in ran.err
    assert "bug" not in ran.err


def test_dns_failure_is_named() -> None:
    client = ApiClient("Shop", "https://no-such-host.invalid/", make_session(),
                       retry=RetryPolicy(attempts=1))
    with pytest.raises(HttpError) as raised:
        client.get("orders")
    assert str(raised.value) == ("Shop: GET /orders could not be reached: "
                                 "no-such-host.invalid: DNS lookup failed (no such host)")


def test_outage_after_retries_is_a_failure_not_a_bug(run, connectors, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise HttpError("Mailchimp", "", "", 503, "us1.api.mailchimp.com", transient=True)

    from clientela.cli import push

    monkeypatch.setattr(push, "open_destination", down)
    ran = run("push", "mailchimp", "--dry-run")
    assert ran.exit_code == 1
    assert "Mailchimp answered 503" in ran.err and "bug" not in ran.err


def test_a_dry_run_push_to_an_unreachable_destination_names_the_host(
        run, connectors, demo_store: Path, tmp_path: Path) -> None:
    port = _closed_port()
    (tmp_path / "clientela.toml").write_text(
        f'[workspace]\nstore = "{demo_store}"\n[destinations.mailchimp]\n'
        f'api_key = "0123456789abcdef0123456789abcdef-us21"\nlist_id = "L1"\n'
        f'base_url = "http://127.0.0.1:{port}/3.0"\n', encoding="utf-8")
    ran = run("push", "mailchimp", "--dry-run")
    assert ran.exit_code == 1, ran.output
    assert f"127.0.0.1:{port}: connection refused (nothing listening)" in " ".join(ran.err.split())
    assert "retrying" not in ran.err and "bug" not in ran.err
    assert "0123456789abcdef" not in ran.output


@pytest.mark.parametrize(("name", "content", "args", "expected"), [
    ("orders.parquet", b"id,total\n1,2\n", ["import", "orders.parquet", "--entity", "orders"],
     "orders.parquet is not a readable Parquet file: "),
    ("clientes.csv", "customer_id,email\n1,josé@x.com\n".encode("latin-1"),
     ["import", "clientes.csv", "--entity", "customers"],
     "clientes.csv is not UTF-8 (1 of 2 lines are not); it looks like Latin-1: add --encoding latin-1"),
])
def test_bad_input_file_exits_2_naming_it(run, tmp_path: Path, name: str, content: bytes,
                                          args: list[str], expected: str) -> None:
    (tmp_path / name).write_bytes(content)
    ran = run("--store", str(tmp_path / "s.duckdb"), *args)
    assert ran.exit_code == 2, ran.output
    assert " ".join(ran.err.split()).startswith(f"error: {expected}")
    assert "bug" not in ran.err


def test_rule_comparing_money_with_text_exits_2_naming_the_rule(run, connectors, demo_store: Path,
                                                                tmp_path: Path) -> None:
    (tmp_path / "clientela.toml").write_text(
        f'[workspace]\nstore = "{demo_store}"\n[destinations.mailchimp]\napi_key = "k-us1"\n'
        'list_id = "L1"\nbase_url = "http://127.0.0.1:9/3.0"\nmax_attempts = 1\n',
        encoding="utf-8")
    ran = run("push", "mailchimp", "--dry-run", "--segment", "x", "--rule",
              "total_spent > 'abc'")
    assert ran.exit_code == 2, ran.output
    assert "--rule \"total_spent > 'abc'\"" in " ".join(ran.err.split())
    assert "bug" not in ran.err


def _empty_store(path: Path) -> Path:
    from clientela.store import Store

    Store(path).close()
    return path


def test_an_empty_period_says_to_is_not_included(run, tmp_path: Path) -> None:
    ran = run("--store", str(_empty_store(tmp_path / "x.duckdb")), "kpi", "revenue", "--from",
              "2025-01", "--to", "2025-01")
    assert ran.exit_code == 2
    assert " ".join(ran.err.split()) == (
        "error: --from 2025-01 --to 2025-01 is empty: --to is not included "
        "(--from 2025-01 --to 2025-02 is January 2025)")


def test_debug_is_accepted_after_the_command(run, tmp_path: Path) -> None:
    ran = run("--store", str(_empty_store(tmp_path / "x.duckdb")), "kpi", "revenue", "--from", "2025-02",
              "--to", "2025-01", "--debug")
    assert ran.exit_code == 2
    assert "No such option" not in ran.output
    assert "Traceback" in ran.err


def test_empty_table_is_a_failure_not_a_usage_error(run, tmp_path: Path) -> None:
    ran = run("--store", str(_empty_store(tmp_path / "empty.duckdb")), "kpi", "revenue", "--from", "2025-01",
              "--to", "2025-02")
    assert ran.exit_code == 1, ran.output
    assert "'orders' table" in ran.err


def test_exit_codes_are_only_0_1_2(run, monkeypatch: pytest.MonkeyPatch) -> None:
    from clientela.cli import plugin_commands

    def odd(*args: object, **kwargs: object) -> None:
        raise SystemExit(3)

    monkeypatch.setattr(plugin_commands, "plugin_set", odd)
    assert run("plugins").exit_code == 1


def test_busy_port_is_exit_1_with_a_plain_message(run, tmp_path: Path) -> None:
    (tmp_path / "clientela.toml").write_text(
        '[sources.shopify]\nwebhook_secret = "whsec"\nbase_url = "https://x.myshopify.com"\n'
        'access_token = "t"\n', encoding="utf-8")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        ran = run("serve", "--port", str(port))
    assert ran.exit_code == 1, ran.output
    assert f"cannot listen on 127.0.0.1:{port}" in " ".join(ran.err.split())
    assert "Traceback" not in ran.err


def test_serve_with_an_incomplete_section_names_the_fields_not_the_token(
        run, connectors, tmp_path: Path) -> None:
    (tmp_path / "clientela.toml").write_text(
        '[sources.nuvemshop]\nwebhook_secret = "whsec-1"\naccess_token = "NUVEMTOKEN123"\n',
        encoding="utf-8")
    ran = run("serve")
    assert ran.exit_code == 2
    assert "NUVEMTOKEN" not in ran.output
    assert "sources.nuvemshop: store_id: Field required" in ran.err


# -- waits a person can see --------------------------------------------------------------------


def test_retry_notice_wording() -> None:
    error = HttpError("Mailchimp", "POST", "/3.0/lists/L1", 503)
    assert retry_notice("", error, 8.0, 3, 10) == \
        "Mailchimp answered 503; retrying in 8 s, attempt 3 of 10"
    unreachable = HttpError("Shopify", "GET", "/", None, "127.0.0.1:9: connection refused")
    assert retry_notice("", unreachable, 0.5, 2, 6) == (
        "Shopify could not be reached (127.0.0.1:9: connection refused); "
        "retrying in 0.5 s, attempt 2 of 6")


def test_a_long_wait_on_a_rate_limit_is_announced(caplog: pytest.LogCaptureFixture) -> None:
    answers = iter([HttpError("Mailchimp", "GET", "/", 503), HttpError("Mailchimp", "GET", "/", 429,
                    retry_after=8.0), "ok"])
    waits: list[float] = []

    def attempt() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    policy = RetryPolicy(attempts=10, throttle_attempts=10, backoff_initial=0.01,
                         backoff_max=0.01, sleep=waits.append)
    with caplog.at_level(logging.INFO, logger="clientela.connectors"):
        assert policy.call(attempt) == "ok"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["Mailchimp answered 429; retrying in 8 s, attempt 3 of 10"]
    assert waits[1] == 8.0


def test_announce_retry_serves_any_tenacity_loop(caplog: pytest.LogCaptureFixture) -> None:
    from tenacity import Retrying, stop_after_attempt, wait_fixed

    class Busy(Exception):
        status_code = 503

    calls = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 2:
            raise Busy()

    with caplog.at_level(logging.WARNING, logger="clientela.connectors"):
        for attempt in Retrying(stop=stop_after_attempt(10), wait=wait_fixed(2),
                                sleep=lambda s: None,
                                before_sleep=announce_retry("SendGrid", 10)):
            with attempt:
                flaky()
    assert [r.getMessage() for r in caplog.records] == [
        "SendGrid answered 503; retrying in 2 s, attempt 2 of 10"]


def test_the_cli_shows_retry_notices_on_stderr(run, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from clientela.cli import plugin_commands

    def slow_plugins(*args: object, **kwargs: object) -> None:
        logging.getLogger("clientela.connectors").warning(
            "Mailchimp answered 503; retrying in 8 s, attempt 3 of 10")
        raise SystemExit(0)

    monkeypatch.setattr(plugin_commands, "plugin_set", slow_plugins)
    ran = run("plugins")
    assert "Mailchimp answered 503; retrying in 8 s, attempt 3 of 10" in ran.err


def test_a_dry_run_probe_gives_up_within_seconds() -> None:
    from clientela.http.retry import PROBE_TIMEOUT

    waited: list[float] = []
    policy = RetryPolicy.probe(sleep=waited.append)
    client = ApiClient("Mailchimp", f"http://127.0.0.1:{_closed_port()}/", make_session(),
                       retry=policy, timeout=PROBE_TIMEOUT)
    with pytest.raises(HttpError, match="could not be reached"):
        client.get("ping")
    assert client.requests_made == 2 and sum(waited) <= 1.0
    assert PROBE_TIMEOUT[0] <= 3.0


def test_requests_errors_outside_the_client_are_failures(run, monkeypatch: pytest.MonkeyPatch) -> None:
    from clientela.cli import plugin_commands

    def offline(*args: object, **kwargs: object) -> None:
        raise requests.ConnectionError("HTTPSConnectionPool(host='api.example.com', port=443)")

    monkeypatch.setattr(plugin_commands, "plugin_set", offline)
    ran = run("plugins")
    assert ran.exit_code == 1 and "api.example.com" in ran.err and "bug" not in ran.err


def test_probe_names_an_unreachable_host_at_once() -> None:
    from clientela.http.client import probe

    port = _closed_port()
    with pytest.raises(HttpError) as raised:
        probe("Mailchimp", f"http://127.0.0.1:{port}/3.0/ping")
    assert str(raised.value) == (f"Mailchimp: HEAD /3.0/ping could not be reached: "
                                 f"127.0.0.1:{port}: connection refused (nothing listening)")


def test_probe_accepts_a_host_that_answers() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from clientela.http.client import probe

    class Answer(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(401)  # any answer means the host is there
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        probe("Mailchimp", f"http://127.0.0.1:{server.server_port}/3.0/")
    finally:
        server.shutdown()


def test_to_polars_names_the_extra_when_polars_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import pyarrow as pa

    from clientela.kpi.result import KpiResult

    monkeypatch.setitem(sys.modules, "polars", None)  # as after `pip install ./core`
    with pytest.raises(ImportError, match=r"pip install 'clientela\[polars\]'"):
        KpiResult(pa.table({"value": [1.0]}), "series").to_polars()


def _plain_http_server(status: int):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"message": "down for maintenance"}')

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_tls_failure_is_named() -> None:
    server = _plain_http_server(200)
    try:
        client = ApiClient("Shop", f"https://127.0.0.1:{server.server_port}/", make_session(),
                           retry=RetryPolicy(attempts=1))
        with pytest.raises(HttpError) as raised:
            client.get("orders")
    finally:
        server.shutdown()
    assert str(raised.value) == (f"Shop: GET /orders could not be reached: "
                                 f"127.0.0.1:{server.server_port}: TLS failure")


def test_a_5xx_outage_after_retries_exits_1_naming_the_service(run, connectors,
                                                               tmp_path: Path) -> None:
    server = _plain_http_server(503)
    try:
        (tmp_path / "clientela.toml").write_text(
            f'[sources.woocommerce]\nbase_url = "http://127.0.0.1:{server.server_port}"\n'
            'consumer_key = "ck"\nconsumer_secret = "cs"\nmax_attempts = 2\n', encoding="utf-8")
        ran = run("sync", "woocommerce")
    finally:
        server.shutdown()
    assert ran.exit_code == 1, ran.output
    assert "WooCommerce: GET" in ran.err and "answered 503" in ran.err
    assert "down for maintenance" in " ".join(ran.err.split()) and "bug" not in ran.err


def test_a_validation_error_anywhere_never_prints_its_input(run, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import BaseModel, SecretStr

    from clientela.cli import plugin_commands

    class Section(BaseModel):
        token: SecretStr
        store_id: int

    def validate(*args: object, **kwargs: object) -> None:
        Section.model_validate({"token": "tok_SHOULD_NOT_PRINT", "store_id": "abc"})

    monkeypatch.setattr(plugin_commands, "plugin_set", validate)
    ran = run("plugins")
    assert ran.exit_code == 2
    assert "SHOULD_NOT_PRINT" not in ran.output
    assert "Section: store_id: Input should be a valid integer" in " ".join(ran.err.split())


@pytest.mark.parametrize("bug", [KeyError("segment"), IndexError("list index out of range")])
def test_a_key_or_index_error_from_a_bug_is_reported_as_a_bug(
        run, monkeypatch: pytest.MonkeyPatch, bug: LookupError) -> None:
    from clientela.cli import plugin_commands

    def broken(*args: object, **kwargs: object) -> None:
        raise bug

    monkeypatch.setattr(plugin_commands, "plugin_set", broken)
    ran = run("plugins")
    assert ran.exit_code == 1, ran.output
    assert "this looks like a bug in clientela" in ran.err


def test_what_the_user_named_and_does_not_exist_is_a_user_error_and_a_lookup_error() -> None:
    from clientela.channels.registered import UnknownChannel
    from clientela.errors import NotFound, UserError
    from clientela.formatting import UnknownLanguageError
    from clientela.segments.registered import UnknownSegmenter

    for raised in (NotFound, UnknownChannel, UnknownLanguageError, UnknownSegmenter):
        assert issubclass(raised, UserError) and issubclass(raised, LookupError)
    assert not issubclass(KeyError, UserError)


def test_an_unknown_follow_up_task_exits_2_naming_it(run, tmp_path: Path) -> None:
    ran = run("--store", str(_empty_store(tmp_path / "x.duckdb")), "journeys", "task", "nope")
    assert ran.exit_code == 2, ran.output
    assert " ".join(ran.err.split()) == "error: no follow-up task 'nope'"
