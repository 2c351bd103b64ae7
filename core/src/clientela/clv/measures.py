"""The names of the measures a fit reports, known before any fit.

A module without numpy or scipy: the catalogue declares `clv_predicted`'s and
`p_alive`'s columns from these when it loads, and loading the catalogue must not
import scipy (a `kpi` call that asks for no CLV metric would pay about a quarter
of a second for it).
"""

from __future__ import annotations


def measure_names(model: str) -> tuple[str, ...]:
    """The parameter measures `Fits.measures` produces, known before any fit (for the metric)."""
    purchase = ("r", "alpha", "a", "b") if model == "bgnbd" else ("r", "alpha", "s", "beta")
    names: list[str] = []
    for prefix, params in ((model, purchase), ("gammagamma", ("p", "q", "gamma"))):
        for name in params:
            names += [f"{prefix}_{name}", f"{prefix}_{name}_se"]
        names.append(f"{prefix}_log_likelihood")
    return tuple(names)
