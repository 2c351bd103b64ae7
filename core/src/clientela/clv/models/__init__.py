"""The CLV models themselves: BG/NBD, Pareto/NBD, Gamma-Gamma, plain numpy/scipy.

Nothing here knows about a store or a backend: every model takes the
per-customer inputs of `inputs.RfmSummary` (repeat purchases x, time of the
last purchase t_x, age T, mean repeat spend m) and is checked against the
published CDNOW results. `fit` is the maximum-likelihood driver the three
share, `predict` and `holdout` use a fitted model, `simulate` draws customers
from known parameters. The public names are exported by `clientela.clv`.
"""
