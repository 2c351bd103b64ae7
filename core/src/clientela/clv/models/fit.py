"""What a fitted model is, and the maximum-likelihood driver the three models share.

Each model only supplies its negative log-likelihood (per customer, in
log-parameter space) and starting values; optimising, checking convergence
and deriving standard errors are done once, here, the same way for all.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from clientela.clv.models.errors import ClvFitError

FloatArray = NDArray[np.float64]
ModelName = Literal["bgnbd", "paretonbd", "gammagamma"]
# Returns the mean negative log-likelihood per customer and, when known, its
# gradient with respect to the log-parameters.
Objective = Callable[[FloatArray], tuple[float, FloatArray | None]]

# Parameters live on a log scale during optimisation; this box keeps exp() finite
# and marks a parameter that runs off to 0 or infinity as not identified.
_LOG_BOUND = 18.0
_GRADIENT_TOLERANCE = 1e-5
# L-BFGS-B only has to get close: Newton steps with the Hessian the standard
# errors need anyway finish the job in one or two passes where L-BFGS-B takes
# four or five.
_OPTIMISER_GRADIENT = 1e-6


@dataclass(frozen=True)
class ModelFit:
    """A maximum-likelihood fit, with what a report needs to judge it.

    ``params`` and ``standard_errors`` are keyed by the papers' parameter names
    (r, alpha, a, b; r, alpha, s, beta; p, q, gamma) so results can be compared
    with the literature directly. Standard errors come from the inverse Hessian
    of the log-likelihood (delta method from the log-parameters).
    ``converged`` is only False for a fit made with ``strict=False``.
    """

    model: ModelName
    params: dict[str, float]
    standard_errors: dict[str, float]
    log_likelihood: float
    n_customers: int
    n_rows: int
    converged: bool
    iterations: int
    message: str = field(default="")

    def to_dict(self) -> dict[str, object]:
        """Plain types only, so the fit can be reported with the metric as JSON."""
        return {
            "model": self.model,
            "params": dict(self.params),
            "standard_errors": dict(self.standard_errors),
            "log_likelihood": self.log_likelihood,
            "n_customers": self.n_customers,
            "n_rows": self.n_rows,
            "converged": self.converged,
            "iterations": self.iterations,
            "message": self.message,
        }


def _numerical_gradient(fun: Objective, theta: FloatArray, step: float = 1e-6) -> FloatArray:
    grad = np.empty_like(theta)
    for j in range(theta.shape[0]):
        up = theta.copy()
        down = theta.copy()
        up[j] += step
        down[j] -= step
        grad[j] = (fun(up)[0] - fun(down)[0]) / (2 * step)
    return grad


def _value_and_gradient(fun: Objective, theta: FloatArray) -> tuple[float, FloatArray]:
    value, grad = fun(theta)
    if grad is None:
        grad = _numerical_gradient(fun, theta)
    if not np.isfinite(value):
        # L-BFGS-B backtracks on a large finite value; infinity would stop it.
        return 1e100, np.zeros_like(theta)
    return value, grad


def _hessian(fun: Objective, theta: FloatArray, analytic_gradient: bool) -> FloatArray:
    """Differences of the gradient around the optimum.

    An analytic gradient is exact to rounding, so one-sided steps of 1e-6 are
    accurate to about a millionth and cost one pass over the customers per
    parameter instead of two; a numerical gradient is itself a difference and
    needs central steps of 1e-3 to stay clear of its rounding.
    """
    k = theta.shape[0]
    hessian = np.empty((k, k))
    if analytic_gradient:
        step = 1e-6
        at_optimum = _value_and_gradient(fun, theta)[1]
        for j in range(k):
            up = theta.copy()
            up[j] += step
            hessian[:, j] = (_value_and_gradient(fun, up)[1] - at_optimum) / step
        return 0.5 * (hessian + hessian.T)
    step = 1e-3
    for j in range(k):
        up = theta.copy()
        down = theta.copy()
        up[j] += step
        down[j] -= step
        hessian[:, j] = (_value_and_gradient(fun, up)[1] - _value_and_gradient(fun, down)[1]) / (
            2 * step
        )
    return 0.5 * (hessian + hessian.T)


def _remembered(objective: Objective) -> Objective:
    """The objective, answering again from memory at points already evaluated.

    The optimiser's answer is a point it has evaluated, and the convergence
    check and the final value ask for it again; each repeat is a full pass
    over the customers.
    """
    seen: dict[bytes, tuple[float, FloatArray | None]] = {}

    def evaluate(theta: FloatArray) -> tuple[float, FloatArray | None]:
        key = np.asarray(theta, dtype=np.float64).tobytes()
        if key not in seen:
            value, grad = objective(theta)
            seen[key] = (value, None if grad is None else grad.copy())
        value, grad = seen[key]
        return value, None if grad is None else grad.copy()

    return evaluate


def _newton_polish(
    fun: Objective, theta: FloatArray, hessian: FloatArray, max_steps: int = 4
) -> tuple[FloatArray, float]:
    """Newton steps from where L-BFGS-B stopped, until rounding stops them.

    L-BFGS-B ends on a relative change of the value near machine precision,
    so where it stops depends on the rounding of the sums, hence on the order
    of the customers; the Newton steps land on the same maximum whatever the
    order, to about 1e-13.
    """
    value, grad = _value_and_gradient(fun, theta)
    for _ in range(max_steps):
        if np.max(np.abs(grad)) < 1e-12:
            break  # within a few roundings of the maximum
        candidate = np.clip(theta - np.linalg.solve(hessian, grad), -_LOG_BOUND, _LOG_BOUND)
        new_value, new_grad = _value_and_gradient(fun, candidate)
        if not np.max(np.abs(new_grad)) < 0.5 * np.max(np.abs(grad)) or new_value > value + 1e-12:
            break
        theta, value, grad = candidate, new_value, new_grad
    return theta, value


def _looks_converged(fun: Objective, theta: FloatArray) -> bool:
    value, grad = _value_and_gradient(fun, theta)
    inside = bool(np.all(np.abs(theta) < _LOG_BOUND - 1e-3))
    return value < 1e99 and inside and bool(np.max(np.abs(grad)) < _GRADIENT_TOLERANCE)


@functools.cache
def _blas_thread_setting() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """Getter and setter of the thread count of the OpenBLAS that scipy's L-BFGS-B calls.

    Found through scipy's own BLAS module, whose library exports them; None
    for a BLAS without them (then nothing is changed).
    """
    try:
        from scipy.linalg import cython_blas

        library = ctypes.CDLL(cython_blas.__file__)
    except (ImportError, OSError):
        return None
    for prefix in ("scipy_openblas", "openblas"):
        get = getattr(library, f"{prefix}_get_num_threads", None)
        put = getattr(library, f"{prefix}_set_num_threads", None)
        if get is not None and put is not None:
            get.restype, get.argtypes = ctypes.c_int, []
            put.restype, put.argtypes = None, [ctypes.c_int]
            return get, put
    return None


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run L-BFGS-B's BLAS calls on the calling thread only.

    Its vectors have three or four entries, yet OpenBLAS wakes its worker
    threads for them: that cost 2 ms per iteration on two idle cores (60x the
    work itself) and more on a busy machine, a sixth of a fit at a million
    customers. The previous setting is put back afterwards.
    """
    setting = _blas_thread_setting()
    if setting is None:
        yield
        return
    get, put = setting
    before = get()
    put(1)
    try:
        yield
    finally:
        put(before)


def maximise_likelihood(
    model: ModelName,
    names: Sequence[str],
    objective: Objective,
    starts: Sequence[Sequence[float]],
    n_customers: float,
    n_rows: int,
    *,
    analytic_gradient: bool,
    strict: bool,
    max_iterations: int = 2000,
    warm_start: Mapping[str, float] | None = None,
) -> ModelFit:
    """Minimise the mean negative log-likelihood over log-parameters.

    Later starts are tried only when the first does not reach a maximum inside
    the parameter box (a poor first guess near a flat region); the best wins.
    A `warm_start` (parameters by name) goes before `starts`, which remain the
    fallbacks. The objective is a per-customer mean so that tolerances mean the
    same at a thousand customers as at a million.
    """
    objective = _remembered(objective)
    best = None
    for start in [*_warm(names, warm_start), *starts]:
        theta0 = np.log(np.asarray(start, dtype=np.float64))
        with _one_blas_thread():
            result = minimize(
                lambda th: _value_and_gradient(objective, th),
                theta0,
                jac=True,
                method="L-BFGS-B",
                bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(names),
                options={
                    "maxiter": max_iterations,
                    "ftol": 1e-15,
                    "gtol": _OPTIMISER_GRADIENT,
                    "maxls": 50,
                },
            )
        if best is None or result.fun < best.fun:
            best = result
        if _looks_converged(objective, np.asarray(result.x, dtype=np.float64)):
            break  # later starts are fallbacks for when this one fails
    assert best is not None
    theta = np.asarray(best.x, dtype=np.float64)
    value, grad = _value_and_gradient(objective, theta)
    problems: list[str] = []
    if not np.isfinite(value) or value >= 1e99:
        problems.append("the log-likelihood is not finite at any parameter value tried")
    gradient_ok = bool(np.max(np.abs(grad)) < _GRADIENT_TOLERANCE)
    if not gradient_ok:
        problems.append(
            f"the optimiser stopped before the maximum ({best.message}; "
            f"largest gradient {np.max(np.abs(grad)):.2g})"
        )
    at_bound = [n for n, t in zip(names, theta, strict=True) if abs(t) > _LOG_BOUND - 1e-3]
    if at_bound:
        problems.append(
            f"parameter(s) {', '.join(at_bound)} ran off to 0 or infinity, so the data "
            "cannot identify them"
        )
    covariance_log = np.full((len(names), len(names)), np.nan)
    if not problems:
        hessian = _hessian(objective, theta, analytic_gradient) * n_customers
        eigenvalues = np.linalg.eigvalsh(hessian)
        if eigenvalues.min() <= 0 or not np.all(np.isfinite(eigenvalues)):
            problems.append(
                "the likelihood is flat or saddle-shaped at the optimum, so the data "
                "cannot identify all parameters"
            )
        else:
            covariance_log = np.linalg.inv(hessian)
            theta, value = _newton_polish(objective, theta, hessian / n_customers)
    params = np.exp(theta)
    if problems and strict:
        raise ClvFitError(
            f"{model} fit failed on {n_customers:.0f} customers: "
            + "; ".join(problems)
            + ". Try a longer calibration period, more customers with repeat purchases, "
            "or a coarser time unit."
        )
    standard_errors = params * np.sqrt(np.diag(covariance_log))
    return ModelFit(
        model=model,
        params={n: float(v) for n, v in zip(names, params, strict=True)},
        standard_errors={n: float(v) for n, v in zip(names, standard_errors, strict=True)},
        log_likelihood=float(-value * n_customers),
        n_customers=round(n_customers),
        n_rows=n_rows,
        converged=not problems,
        iterations=int(best.nit),
        message="; ".join(problems) if problems else str(best.message),
    )


def _warm(names: Sequence[str], params: Mapping[str, float] | None) -> list[list[float]]:
    """The warm start as a starting point, when it names every parameter with a usable
    value (positive, finite, inside the box); none otherwise."""
    if params is None:
        return []
    try:
        values = [float(params[name]) for name in names]
    except (KeyError, TypeError, ValueError):
        return []
    usable = all(np.isfinite(v) and v > 0 and abs(np.log(v)) < _LOG_BOUND for v in values)
    return [values] if usable else []


def require_repeat_buyers(model: ModelName, n_repeat: float, minimum: int = 10) -> None:
    """Refuse data whose repeat buyers are too few to tell buying rate from dropout."""
    if n_repeat < minimum:
        raise ClvFitError(
            f"{model} needs at least {minimum} customers with a repeat purchase to "
            f"separate how often customers buy from when they leave; the data have "
            f"{n_repeat:.0f}. Use a longer calibration period or more customers."
        )
