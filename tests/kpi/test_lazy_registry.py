"""A `kpi` call imports only the plugins it uses: built-in metrics (and the built-in RFM
segmenter behind the `segment` slice) are found without discovering any plugin, and a
name that is not built in still finds the plugin that registers it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from clientela import plugins
from clientela.kpi import KpiError
from clientela.kpi.engine import resolve

EXAMPLE = "clientela-metric-example"
"""The one third-party plugin these tests let load (the suite loads none by default)."""
PROBE = """
import sys
from clientela import plugins
from clientela.kpi.engine import resolve
found = resolve({names!r})
loaded = sorted(m for m in sys.modules if m.startswith("clientela_"))
print([m.name for m in found], plugins._current is not None, loaded)
"""


def probe(names: list[str]) -> str:
    """In a fresh interpreter: what resolve found, whether the plugins were discovered and
    which plugin packages got imported."""
    env = {**os.environ, plugins.LOAD_ENV: EXAMPLE}
    done = subprocess.run([sys.executable, "-c", PROBE.format(names=names)], env=env,
                          capture_output=True, text=True, check=True, timeout=120)
    return done.stdout.strip()


def test_built_in_metrics_load_no_plugin() -> None:
    assert probe(["revenue", "rfm_segments"]) == "['revenue', 'rfm_segments'] False []"


def test_a_plugin_metric_discovers_the_plugins() -> None:
    found = probe(["revenue", "big_ticket_share"])
    assert found.startswith("['revenue', 'big_ticket_share'] True [")
    assert "'clientela_metric_example'" in found


@pytest.fixture
def fresh_plugins(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(plugins.LOAD_ENV, EXAMPLE)
    plugins.reset()
    yield
    plugins.reset()


def test_lookup_prefers_the_built_in_and_names_the_known_ones(fresh_plugins) -> None:
    assert plugins.lookup("segmenter", "rfm").name == "rfm"
    assert plugins._current is None
    with pytest.raises(LookupError, match=r"unknown segmenter 'nope'; known: .*rfm"):
        plugins.lookup("segmenter", "nope")
    assert plugins._current is not None  # an unknown name asks every plugin first


def test_unknown_metric_still_lists_every_known_one(fresh_plugins) -> None:
    with pytest.raises(KpiError, match=r"unknown metric 'nope'; known metrics: .*big_ticket"):
        resolve(["nope"])


CLI_PROBE = """
import json, sys
from clientela.cli.app import main
code = main({args!r})
print(json.dumps({{"code": code, "modules": sorted(sys.modules)}}))
"""


def plugin_packages() -> set[str]:
    """The top-level packages of every installed plugin distribution (connectors,
    destinations, channels, the loyalty and cluster plugins, the examples)."""
    return {entry_point.value.split(":")[0].split(".")[0]
            for entry_point, dist in plugins._entry_points()
            if dist.name != plugins.CORE_DISTRIBUTION}


def cli_modules(tmp_path, *args: str) -> tuple[int, set[str]]:
    """Run `clientela ARGS` in a fresh interpreter with every installed plugin allowed to
    load: its exit code and every module it imported."""
    from _kpi_fixtures import basic_records, build_store

    path = tmp_path / "probe.duckdb"
    build_store(path, *basic_records()).close()
    env = {k: v for k, v in os.environ.items() if k != plugins.LOAD_ENV}
    argv = ["--store", str(path), *args]
    done = subprocess.run([sys.executable, "-c", CLI_PROBE.format(args=argv)], env=env,
                          cwd=tmp_path, capture_output=True, text=True, check=True, timeout=120)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["code"], set(found["modules"])


def test_kpi_revenue_imports_no_connector_destination_or_channel(tmp_path) -> None:
    code, modules = cli_modules(tmp_path, "kpi", "revenue", "--from", "2025-01",
                                "--to", "2025-03", "--format", "json")
    assert code == 0
    packages = plugin_packages()
    assert {"clientela_shopify", "clientela_hubspot", "clientela_channel_twilio"} <= packages
    assert sorted(m for m in modules if m.split(".")[0] in packages) == []
    # nor the core's HTTP connector toolkit and channel providers
    assert sorted(m for m in modules if m.startswith(("clientela.connectors",
                                                       "clientela.channels.providers"))) == []


def test_a_plugin_command_still_loads_the_plugins(tmp_path) -> None:
    code, modules = cli_modules(tmp_path, "loyalty", "--help")
    assert code == 0
    assert "clientela_loyalty.cli" in modules
