"""log 2F1(A, B; C; z) by its power series, for positive A, B, C and 0 <= z < 1.

scipy's `hyp2f1` gives up (inf or NaN) when the parameters are large: a BG/NBD fit whose
beta prior is nearly a point mass (a and b in the millions, which the optimiser reaches
on small or very regular data) made every conditional-purchases prediction NaN. With
positive parameters and z in [0, 1) every term of the series is positive, so summing it
cannot cancel; it is summed in logs so that large parameters cannot overflow it either.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

MAX_TERMS = 1_000_000
"""A bound no sum in range reaches: terms fall at least geometrically by about z once n
passes A and B, and z stays below 1 (a horizon t over alpha + T + t)."""

_NEGLIGIBLE = -40.0
"""Stop once what is left is below e^-40 (about 4e-18) of the sum: beyond a double's
precision."""


def log_hyp2f1(a: FloatArray, b: FloatArray, c: FloatArray, z: FloatArray) -> FloatArray:
    """log 2F1(a, b; c; z) elementwise (arrays of one shape), every a, b, c > 0 and
    0 <= z < 1.

    Term n+1 is term n times rho_n = (a + n)(b + n) / ((c + n)(n + 1)) z. Past the largest
    term (rho_n < 1), rho tends to z, from above or below; the terms still to come are
    then at most term_n * q / (1 - q) with q = max(rho_n, z), which is the stopping rule."""
    a, b, c, z = (np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(a, b, c, z))
    if np.any((a <= 0) | (b <= 0) | (c <= 0) | (z < 0) | (z >= 1)):
        raise ValueError("log_hyp2f1 needs a, b, c > 0 and 0 <= z < 1")
    log_z = np.log(np.where(z > 0, z, 1.0))
    log_term = np.zeros(a.shape)
    log_sum = np.zeros(a.shape)
    active = z > 0
    n = 0
    while active.any():
        if n >= MAX_TERMS:
            raise ArithmeticError("log_hyp2f1: the series did not converge")
        rho_log = (np.log(a + n) + np.log(b + n) - np.log(c + n) - np.log(n + 1.0) + log_z)
        log_term = np.where(active, log_term + rho_log, log_term)
        log_sum = np.where(active, np.logaddexp(log_sum, log_term), log_sum)
        n += 1
        q = np.maximum(np.exp(rho_log), z)
        past_peak = rho_log < 0
        rest = log_term + np.log(q) - np.log1p(-np.minimum(q, 1 - 1e-16))
        active &= ~(past_peak & (rest < log_sum + _NEGLIGIBLE))
    return log_sum
