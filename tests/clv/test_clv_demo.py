"""On the demo store: parameter recovery, and `clientela clv` end to end.

The demo's repeat purchases are a BG/NBD process (in the generator's
seasonal operational time): campaigns only bring purchases of the process
forward and no customer buys twice on one local day, so every customer's
(x, t_x, T) in purchase days is the process's. The fit on the demo store must
then land on the generator's truth; the engine's recovery is also checked on
a store holding a pure BG/NBD process in calendar time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from clv_store_support import context

from clientela import clv
from clientela.cli.app import main
from clientela.clv.engine.summary import fetch_summary
from clientela.clv.engine.synthetic import simulated_orders_table, write_orders
from clientela.clv.engine.values import Fits, fit_models
from clientela.demo import Truth, generate, load
from clientela.store import Store

DEMO_END = datetime(2026, 1, 1, 3)  # local midnight after 31 Dec 2025 in Sao Paulo (UTC-3)
TZ = "America/Sao_Paulo"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Truth, Fits]]:
    data = generate(customers=3_000, orders=15_000, seed=7)
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    with Store(path) as store:
        load(store, data)
        customers = fetch_summary(context(store, DEMO_END, TZ), calibration_end=DEMO_END,
                                  unit="days")
        fits = fit_models(customers.summary)
    yield path, data.truth, fits


def _z(fits: Fits, truth: object, name: str) -> float:
    fitted = fits.purchases.params[name]
    return (fitted - float(getattr(truth, name))) / fits.purchases.standard_errors[name]


def test_demo_store_recovers_the_generators_parameters(demo: tuple[Path, Truth, Fits]) -> None:
    _, truth, fits = demo
    assert fits.purchases.n_customers == truth.buyers == 2_850
    for name in ("a", "b"):
        assert abs(_z(fits, truth, name)) < 2, (name, fits.purchases.params, truth)
    for name in ("r", "alpha"):
        assert abs(_z(fits, truth, name)) < 3, (name, fits.purchases.params, truth)


def test_engine_recovers_a_pure_bgnbd_process_from_a_store(tmp_path: Path) -> None:
    true = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
    n = 3_000
    ages = np.random.default_rng(11).integers(30, 731, n).astype(np.float64)
    simulated = clv.simulate_orders(n, age=ages, seed=11, p=6.25, q=3.74, gamma=15.44, **true)
    end = datetime(2025, 1, 1)
    with Store(tmp_path / "bgnbd.duckdb") as store:
        write_orders(store, simulated_orders_table(simulated, end=end))
        customers = fetch_summary(context(store, end), calibration_end=end, unit="days")
    fits = fit_models(customers.summary)
    assert fits.purchases.n_customers == n
    for name, value in true.items():
        z = (fits.purchases.params[name] - value) / fits.purchases.standard_errors[name]
        assert abs(z) < 3, (name, fits.purchases.params)
    for name, value in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        z = (fits.spend.params[name] - value) / fits.spend.standard_errors[name]
        assert abs(z) < 3, (name, fits.spend.params)


def test_clv_command_prints_parameters_segments_and_holdout(
        demo: tuple[Path, Truth, Fits], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, _ = demo
    (tmp_path / "clientela.toml").write_text(f'[workspace]\ntimezone = "{TZ}"\n')
    output = tmp_path / "clv.csv"
    code = main(["--config", str(tmp_path / "clientela.toml"), "--store", str(path), "clv",
                 "--horizon", "12", "--holdout", "6", "--output", str(output)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Parameters fitted on 01 Jan 2023 to 30 Jun 2025" in out
    for text in ("BG/NBD", "Gamma-Gamma", "log-likelihood", "alpha", "std. error"):
        assert text in out
    assert "12-month CLV (BRL) after 31 Dec 2025, by RFM segment" in out
    assert "Champions" in out and "All" in out  # the overall row (cells wrap at 80 columns)
    assert "Holdout check" in out and "7+" in out and "all (total)" in out
    header = output.read_text().splitlines()[0]
    assert header.replace('"', "").split(",")[:2] == ["customer_id", "frequency"]
    assert len(output.read_text().splitlines()) == 2_850 + 1


def test_clv_command_turns_a_failed_fit_into_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    simulated = clv.simulate_orders(5, age=200.0, r=0.243, alpha=30.9, a=0.793, b=2.426,
                                    seed=1)
    path = tmp_path / "tiny.duckdb"
    with Store(path) as store:
        write_orders(store, simulated_orders_table(simulated, end=datetime(2025, 1, 1)))
    code = main(["--store", str(path), "clv", "--holdout", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "needs at least 10 customers with a repeat purchase" in err
    assert "Traceback" not in err


def test_clv_command_refuses_an_unknown_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clv", "--model", "nbd"]) == 2
    assert "--model nbd: expected one of bgnbd, paretonbd" in capsys.readouterr().err
