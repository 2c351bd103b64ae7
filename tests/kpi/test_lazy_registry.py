"""A `kpi` call imports only the plugins it uses: built-in metrics (and the built-in RFM
segmenter behind the `segment` slice) are found without discovering any plugin, and a
name that is not built in still finds the plugin that registers it."""

from __future__ import annotations

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
