"""Reference implementation, for tests only: an RfmSummary from raw orders in plain numpy.

The product computes the summary in the engine (Ibis); this slow-but-obvious
version exists so the tests can rebuild the published CDNOW summary from its
orders and check that simulated orders and simulated summaries agree. It is
also an oracle for the engine's implementation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from clientela.clv import RfmSummary


def summary_from_orders(
    customer: NDArray[np.int64],
    period: NDArray[np.float64],
    amount: NDArray[np.float64],
    calibration_end: float,
    *,
    unit: float = 1.0,
) -> tuple[NDArray[np.int64], RfmSummary]:
    """Customers' (x, t_x, T, m), with purchases in the same ``period`` counted once.

    ``period`` is an integer day number (or any time); orders after
    ``calibration_end`` are ignored; times are divided by ``unit`` (7 for weeks).
    Same-period orders are merged into one purchase whose value is their sum,
    and m is the mean value of the repeat purchases (the first one excluded).
    """
    keep = period <= calibration_end
    customer, period, amount = customer[keep], period[keep], amount[keep]
    keys, inverse = np.unique(np.stack([customer, period]), axis=1, return_inverse=True)
    day_amount = np.bincount(inverse.reshape(-1), weights=amount)
    day_customer, day_period = keys[0], keys[1]
    ids, first_index, counts = np.unique(day_customer, return_index=True, return_counts=True)
    first = day_period[first_index]
    last = day_period[first_index + counts - 1]
    total = np.bincount(np.searchsorted(ids, day_customer), weights=day_amount)
    repeat = counts - 1
    repeat_total = total - day_amount[first_index]
    monetary = np.divide(repeat_total, repeat, out=np.zeros(ids.shape[0]), where=repeat > 0)
    return ids, RfmSummary(
        frequency=repeat.astype(np.float64),
        recency=(last - first) / unit,
        age=(calibration_end - first) / unit,
        monetary=monetary,
    )
