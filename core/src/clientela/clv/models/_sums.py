"""Weighted sums that never go through BLAS.

``w @ v`` on long vectors calls OpenBLAS, whose worker threads spin for a
core each: on a busy or small machine that made one likelihood evaluation
five to eight times slower and its rounding depend on the thread count.
``einsum`` without optimisation runs numpy's own single-threaded SIMD loop,
which is as fast on one core and always adds in the same order.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def wsum(weights: NDArray[np.float64], values: NDArray[np.float64]) -> float:
    """Sum of weights * values, deterministic and single-threaded."""
    return float(np.einsum("i,i->", weights, values))
