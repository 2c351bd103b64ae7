"""The live page: `GET /` of `clientela serve`, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import uvicorn
from report_support import Built
from starlette.applications import Starlette

from clientela.report import live
from clientela.webhooks import Receiver, Spool, create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: Starlette) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def page(built_for: list[str], clock: Callable[[], float], **kwargs: object) -> live.LivePage:
    def build(lang: str) -> str:
        built_for.append(lang)
        return f"<html>report {lang} #{len(built_for)}</html>"

    return live.LivePage(build, clock=clock, ttl=30, **kwargs)  # type: ignore[arg-type]


def test_loopback_page_is_open_cached_and_rebuilt_when_stale() -> None:
    built_for: list[str] = []
    clock = Clock()
    with serving(live.report_app(page(built_for, clock))) as url:
        first = requests.get(f"{url}/", timeout=10)
        assert first.status_code == 200
        assert first.text == "<html>report en #1</html>"
        assert first.headers["cache-control"] == "private, max-age=30"
        assert "default-src 'none'" in first.headers["content-security-policy"]
        clock.now += 29
        assert requests.get(f"{url}/", timeout=10).text == "<html>report en #1</html>"
        clock.now += 2
        assert requests.get(f"{url}/", timeout=10).text == "<html>report en #2</html>"
        assert requests.get(f"{url}/?lang=pt-BR", timeout=10).text == "<html>report pt-BR #3</html>"
        bad = requests.get(f"{url}/?lang=fr", timeout=10)
        assert (bad.status_code, bad.text) == (400, "lang 'fr': expected one of en, pt-BR")
        assert requests.post(f"{url}/", timeout=10).status_code == 405  # read-only
    assert built_for == ["en", "en", "pt-BR"]


def test_beyond_loopback_a_token_is_required() -> None:
    built_for: list[str] = []
    with serving(live.report_app(page(built_for, Clock(), token="s3cret-token",
                                      require_token=True))) as url:
        missing = requests.get(f"{url}/", timeout=10)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert requests.get(f"{url}/?token=wrong", timeout=10).status_code == 401
        assert requests.get(f"{url}/", headers={"Authorization": "Bearer wrong"},
                            timeout=10).status_code == 401
        assert requests.get(f"{url}/?token=s3cret-token", timeout=10).status_code == 200
        assert requests.get(f"{url}/", headers={"Authorization": "Bearer s3cret-token"},
                            timeout=10).status_code == 200
    assert built_for == ["en"]  # refusals cost no report


def test_beyond_loopback_without_a_configured_token_the_page_stays_shut() -> None:
    built_for: list[str] = []
    with serving(live.report_app(page(built_for, Clock(), require_token=True))) as url:
        shut = requests.get(f"{url}/?token=", timeout=10)
        assert shut.status_code == 403
        assert "--report-token" in shut.text
    assert built_for == []


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("192.168.0.10", False), ("::", False), ("example.org", False),
])
def test_which_addresses_are_loopback(host: str, loopback: bool) -> None:
    assert live.is_loopback(host) is loopback


def test_a_failing_build_answers_503_and_the_server_keeps_serving() -> None:
    calls: list[int] = []

    def build(lang: str) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("store busy")
        return "<html>ok</html>"

    with serving(live.report_app(live.LivePage(build))) as url:
        assert requests.get(f"{url}/", timeout=10).status_code == 503
        assert requests.get(f"{url}/", timeout=10).text == "<html>ok</html>"


def test_the_report_sits_beside_the_webhook_receiver(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from clientela import plugins
    from clientela.webhooks import declared_webhooks

    monkeypatch.setenv(plugins.LOAD_ENV, "clientela-shopify")
    plugins.reset()
    receiver = Receiver(Spool(tmp_path / "spool.sqlite"), {"shopify": ["secret"]},
                        webhooks=declared_webhooks())
    app = create_app(receiver, apply_in_background=False, drain_on_shutdown=False)
    live.mount(app, live.LivePage(lambda lang: "<html>the report</html>"))
    with serving(app) as url:
        assert requests.get(f"{url}/", timeout=10).text == "<html>the report</html>"
        assert requests.get(f"{url}/healthz", timeout=10).json()["platforms"] == ["shopify"]
        assert requests.post(f"{url}/webhooks/shopify", data=b"{}",
                             timeout=10).status_code == 401


@pytest.mark.slow
def test_clientela_serve_answers_the_report_and_refuses_a_missing_token(built: Built) -> None:
    """The real command, bound beyond loopback with a token: no token, 401; the token, the
    report of the store (built on request, read-only)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIENTELA_")}
    env["CLIENTELA_REPORT_TOKEN"] = "tok-123456"
    env["CLIENTELA_LOAD_PLUGINS"] = ""
    process = subprocess.Popen(
        [sys.executable, "-m", "clientela.cli.app", "--config", str(built.config), "serve",
         "--host", "0.0.0.0", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                refused = requests.get(url, timeout=5)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stdout.read()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert refused.status_code == 401
        answer = requests.get(url, params={"token": "tok-123456"}, timeout=300)
        assert answer.status_code == 200
        assert "<h1>Monthly metrics</h1>" in answer.text
        assert 'id="store">demo.duckdb<' in answer.text
        assert 'data-metric="revenue"' in answer.text
    finally:
        process.terminate()
        process.wait(timeout=30)
