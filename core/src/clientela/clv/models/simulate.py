"""Seeded, vectorised simulation of customers who follow BG/NBD and Gamma-Gamma exactly.

Data drawn from known parameters let the tests check that fits recover them,
let the benchmark scale to millions of customers, and give the demo store
realistic orders. Every draw is done for all customers at once: no Python
loop over customers or orders.

The process: customer i buys at Poisson rate lambda_i ~ gamma(r, scale 1/alpha)
from a first purchase at time 0; after each repeat purchase they leave for good
with probability p_i ~ beta(a, b). Order values are gamma(shape p, rate nu_i)
with nu_i ~ gamma(q, rate gamma).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from clientela.clv.models.inputs import RfmSummary

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class SimulatedOrders:
    """Every order of every simulated customer, first purchases included.

    ``time`` is measured from the customer's own first purchase (0 for it), in
    the unit of the parameters; a caller turns it into dates by adding each
    customer's acquisition date. Orders are sorted by customer, then time.
    """

    customer: IntArray
    time: FloatArray
    amount: FloatArray
    age: FloatArray


@dataclass(frozen=True)
class _Latent:
    age: FloatArray
    repeat: NDArray[np.int64]
    poisson_count: NDArray[np.int64]
    spend_rate: FloatArray


def _draw_latent(
    rng: np.random.Generator,
    n_customers: int,
    age: ArrayLike,
    r: float,
    alpha: float,
    a: float,
    b: float,
    q: float,
    gamma: float,
) -> _Latent:
    ages = np.broadcast_to(np.asarray(age, dtype=np.float64), (n_customers,)).copy()
    if np.any(ages < 0):
        raise ValueError("simulated customers need a non-negative age")
    rate = rng.gamma(shape=r, scale=1.0 / alpha, size=n_customers)
    dropout = rng.beta(a, b, size=n_customers)
    # Repeat purchases made before leaving, and those that fit in (0, T]:
    # the customer is seen making the smaller number.
    purchases_before_leaving = rng.geometric(dropout)
    poisson_count = rng.poisson(rate * ages)
    repeat = np.minimum(purchases_before_leaving, poisson_count)
    spend_rate = rng.gamma(shape=q, scale=1.0 / gamma, size=n_customers)
    return _Latent(ages, repeat, poisson_count, spend_rate)


def simulate_summary(
    n_customers: int,
    *,
    age: ArrayLike,
    r: float,
    alpha: float,
    a: float,
    b: float,
    p: float = 6.0,
    q: float = 4.0,
    gamma: float = 15.0,
    seed: int = 0,
    whole_periods: bool = False,
) -> RfmSummary:
    """Summary of ``n_customers`` BG/NBD customers with Gamma-Gamma spend, without orders.

    Cheaper than ``simulate_orders`` (memory grows with customers, not orders),
    which is what a benchmark at millions of customers needs. The last purchase
    time is drawn directly: given n Poisson events in (0, T] their times are
    uniform order statistics, and the x-th of n is T * beta(x, n - x + 1).
    ``whole_periods`` rounds recency and age down to whole time units, as a
    summary computed from dates in days or weeks is.
    """
    rng = np.random.default_rng(seed)
    latent = _draw_latent(rng, n_customers, age, r, alpha, a, b, q, gamma)
    x = latent.repeat
    recency = np.zeros(n_customers)
    bought = x > 0
    recency[bought] = latent.age[bought] * rng.beta(
        x[bought], latent.poisson_count[bought] - x[bought] + 1
    )
    monetary = np.zeros(n_customers)
    # The sum of x gamma(p, nu) orders is gamma(p x, nu).
    monetary[bought] = (
        rng.gamma(shape=p * x[bought], scale=1.0 / latent.spend_rate[bought]) / x[bought]
    )
    age_out = latent.age
    if whole_periods:
        recency = np.floor(recency)
        age_out = np.floor(age_out)
    return RfmSummary(
        frequency=x.astype(np.float64), recency=recency, age=age_out, monetary=monetary
    )


def simulate_orders(
    n_customers: int,
    *,
    age: ArrayLike,
    r: float,
    alpha: float,
    a: float,
    b: float,
    p: float = 6.0,
    q: float = 4.0,
    gamma: float = 15.0,
    seed: int = 0,
) -> SimulatedOrders:
    """Every order of ``n_customers`` BG/NBD customers with Gamma-Gamma order values.

    The repeat purchase times are the first x of the n uniform order statistics
    on (0, T]; by the Renyi representation they are T * S_k / (S_x + G), with
    S_k the cumulative sums of x unit exponentials and G a gamma(n - x + 1)
    draw standing for the rest, so only the observed orders are ever drawn.
    """
    rng = np.random.default_rng(seed)
    latent = _draw_latent(rng, n_customers, age, r, alpha, a, b, q, gamma)
    x = latent.repeat
    owner = np.repeat(np.arange(n_customers, dtype=np.intp), x)
    # Per-customer cumulative sums from one global cumsum, restarted at each
    # customer's first repeat order.
    cumulative = np.cumsum(rng.standard_exponential(int(x.sum())))
    before = np.concatenate(([0.0], cumulative))[np.cumsum(x) - x]
    within = cumulative - np.repeat(before, x)
    last = np.zeros(n_customers)
    bought = x > 0
    last[bought] = within[(np.cumsum(x) - 1)[bought]]
    rest = rng.gamma(shape=latent.poisson_count - x + 1.0)
    repeat_time = np.repeat(latent.age / (last + rest), x) * within

    customer = np.concatenate((np.arange(n_customers, dtype=np.intp), owner))
    time = np.concatenate((np.zeros(n_customers), repeat_time))
    order = np.lexsort((time, customer))
    amount = rng.gamma(shape=p, scale=1.0 / latent.spend_rate[customer])
    return SimulatedOrders(
        customer=customer[order], time=time[order], amount=amount[order], age=latent.age
    )
