"""What a fitted model is, and the maximum-likelihood driver the three models share.

Each model only supplies its negative log-likelihood (per customer, in
log-parameter space) and starting values; optimising, checking convergence
and deriving standard errors are done once, here, the same way for all.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from clientela.clv.models.errors import ClvFitError

FloatArray = NDArray[np.float64]
ModelName = Literal["bgnbd", "paretonbd", "gammagamma"]
# Returns the mean negative log-likelihood per customer and, when known, its
# gradient with respect to the log-parameters.
Objective = Callable[[FloatArray], tuple[float, FloatArray | None]]
# The same with its Hessian in log-parameters, from one pass over the customers.
Curvature = Callable[[FloatArray], tuple[float, FloatArray, FloatArray]]

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
    ``curvature`` is the Hessian of the mean negative log-likelihood per
    customer in log-parameters at the optimum (None when the fit failed): what
    the standard errors come from, and what a warm start on similar data
    takes its Newton steps with. ``evaluations`` counts the likelihood
    evaluations the fit took (each a pass over the customers, but for the
    terms a model remembers between evaluations); ``iterations`` are
    L-BFGS-B's, 0 when a warm start made it unnecessary.
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
    curvature: tuple[tuple[float, ...], ...] | None = field(default=None, repr=False)
    evaluations: int = 0

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
            "evaluations": self.evaluations,
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
    """Central differences of the gradient around the optimum.

    The step balances the two errors of a difference: truncation, which grows
    with the step's square, and the rounding of the gradient (the per-customer
    mean of terms that cancel), which grows as the step shrinks. An analytic
    gradient is exact to rounding, so steps of 1e-4 keep both near 1e-8
    relative: the standard errors then do not move with the last digits of
    the optimum (a warm and a cold fit agree on them); a numerical gradient is
    itself a difference and needs steps of 1e-3 to stay clear of its rounding.
    """
    step = 1e-4 if analytic_gradient else 1e-3
    k = theta.shape[0]
    hessian = np.empty((k, k))
    for j in range(k):
        up = theta.copy()
        down = theta.copy()
        up[j] += step
        down[j] -= step
        hessian[:, j] = (_value_and_gradient(fun, up)[1] - _value_and_gradient(fun, down)[1]) / (
            2 * step
        )
    return 0.5 * (hessian + hessian.T)


class _Remembered:
    """The objective, answering again from memory at points already evaluated.

    The optimiser's answer is a point it has evaluated, and the convergence
    check and the final value ask for it again; each repeat is a full pass
    over the customers. `evaluations` counts the passes actually made (a pass
    that also made the Hessian counts once).
    """

    def __init__(self, objective: Objective, curvature: Curvature | None = None) -> None:
        self._objective = objective
        self._curvature = curvature
        self._seen: dict[bytes, tuple[float, FloatArray | None]] = {}
        self._hessians: dict[bytes, FloatArray] = {}
        self._passes = 0

    @property
    def evaluations(self) -> int:
        return self._passes

    @property
    def has_curvature(self) -> bool:
        return self._curvature is not None

    def __call__(self, theta: FloatArray) -> tuple[float, FloatArray | None]:
        key = np.asarray(theta, dtype=np.float64).tobytes()
        if key not in self._seen:
            value, grad = self._objective(theta)
            self._passes += 1
            self._seen[key] = (value, None if grad is None else grad.copy())
        value, grad = self._seen[key]
        return value, None if grad is None else grad.copy()

    def estimated(self, theta: FloatArray, value: float, grad: FloatArray) -> None:
        """Take `value` and `grad` as the objective's at `theta` without a pass: for the
        point of a Newton step so small that the quadratic model is exact to rounding
        there (`_exact_newton`)."""
        key = np.asarray(theta, dtype=np.float64).tobytes()
        self._seen.setdefault(key, (value, grad.copy()))

    def hessian(self, theta: FloatArray) -> FloatArray:
        """The analytic Hessian at `theta` (its pass also answers the value and gradient
        there); only for an objective that has one (`has_curvature`)."""
        assert self._curvature is not None
        key = np.asarray(theta, dtype=np.float64).tobytes()
        if key not in self._hessians:
            value, grad, hessian = self._curvature(theta)
            self._passes += 1
            self._seen[key] = (value, grad.copy())
            self._hessians[key] = 0.5 * (hessian + hessian.T)
        return self._hessians[key].copy()


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


_HANDED_OVER = 1e-8
"""Approximate steps stop once the step they would take is this small (in log-parameters):
the exact Hessian's Newton step then finishes in one pass and moves the point by less
than `_MOVED`, so the Hessian is not computed twice."""


def _approximate_newton(fun: Objective, theta: FloatArray, matrix: FloatArray,
                        max_steps: int = 40) -> FloatArray:
    """Newton steps with an approximate Hessian (a previous fit's), near to the maximum.

    Far from the maximum a step is halved until the value falls (a start a month of
    data away may overshoot); near it (gradient below L-BFGS-B's tolerance) a step
    must halve the gradient, and the first that does not marks the rounding floor.
    After each step the matrix takes the BFGS update of what the step showed of the
    curvature, so the steps converge faster than linearly (a previous fit's Hessian
    alone removes only a share of the gradient at each step). They stop when the next
    step would be below `_HANDED_OVER`: the exact Hessian the standard errors need
    anyway finishes from there (`_settle`).
    """
    value, grad = _value_and_gradient(fun, theta)
    step = 1.0
    for _ in range(max_steps):
        size = float(np.max(np.abs(grad)))
        if size < 1e-12:
            break
        direction = -np.linalg.solve(matrix, grad)
        slope = float(grad @ direction)
        if not slope < 0:
            break
        if size < _OPTIMISER_GRADIENT:  # near: a full step, kept only if it halves
            if float(np.max(np.abs(direction))) < _HANDED_OVER:
                break
            candidate = np.clip(theta + direction, -_LOG_BOUND, _LOG_BOUND)
            new_value, new_grad = _value_and_gradient(fun, candidate)
            if not np.max(np.abs(new_grad)) < 0.5 * size or new_value > value + 1e-12:
                break
        else:
            step = 1.0
            for _ in range(12):
                candidate = np.clip(theta + step * direction, -_LOG_BOUND, _LOG_BOUND)
                new_value, new_grad = _value_and_gradient(fun, candidate)
                if new_value <= value + 1e-4 * step * slope:
                    break
                step *= 0.5
            else:
                break
        if step == 1.0 or size < _OPTIMISER_GRADIENT:
            # a full step shows the curvature the matrix lacks along it; a step the line
            # search had to shorten says the matrix is far off (a start from another
            # region), and such a start should fail over to L-BFGS-B, not drift
            matrix = _bfgs_update(matrix, candidate - theta, new_grad - grad)
        theta, value, grad = candidate, new_value, new_grad
    return theta


def _bfgs_update(matrix: FloatArray, step: FloatArray, change: FloatArray) -> FloatArray:
    """The BFGS update of a Hessian approximation by a step and the gradient's change over
    it; the matrix unchanged when the pair shows no positive curvature (it would lose
    positive definiteness)."""
    curvature = float(change @ step)
    along = matrix @ step
    stretch = float(step @ along)
    if not (curvature > 1e-12 * float(np.linalg.norm(change)) * float(np.linalg.norm(step))
            and stretch > 0):
        return matrix
    return matrix + np.outer(change, change) / curvature - np.outer(along, along) / stretch


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


_blas_lock = threading.Lock()
_blas_users = [0, 0]
"""How many threads are inside `_one_blas_thread`, and the setting to put back when
the last one leaves (the setting is process-wide, so two fits on two threads share it)."""


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run L-BFGS-B's BLAS calls on the calling thread only.

    Its vectors have three or four entries, yet OpenBLAS wakes its worker
    threads for them: that cost 2 ms per iteration on two idle cores (60x the
    work itself) and more on a busy machine, a sixth of a fit at a million
    customers. The previous setting is put back when the last fit that asked
    for one thread is done (a CLV series fits on two threads at once).
    """
    setting = _blas_thread_setting()
    if setting is None:
        yield
        return
    get, put = setting
    with _blas_lock:
        if _blas_users[0] == 0:
            _blas_users[1] = get()
            put(1)
        _blas_users[0] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users[0] -= 1
            if _blas_users[0] == 0:
                put(_blas_users[1])


WarmStart = ModelFit | Mapping[str, float] | None
"""A previous fit (its parameters and curvature), or parameters by name, or nothing."""


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
    warm_start: WarmStart = None,
    with_hessian: Curvature | None = None,
) -> ModelFit:
    """Minimise the mean negative log-likelihood over log-parameters.

    Cold, L-BFGS-B runs from `starts`; later starts are tried only when the
    first does not reach a maximum inside the parameter box (a poor first
    guess near a flat region); the best wins. Whatever the path, the end is
    the same (`_settle`): Newton steps with the Hessian polish the point to
    rounding, and the standard errors come from the Hessian at that polished
    point, so the answer does not depend on where the optimiser started, up
    to rounding.

    A `warm_start` that is a fit of the same model on similar data (last
    month's customers) starts at its optimum and takes Newton steps with its
    Hessian (`_approximate_newton`): a few passes over the customers instead
    of the dozens L-BFGS-B needs without curvature. When they do not get
    close, or the warm start is only parameters, L-BFGS-B runs from those
    parameters, then from `starts`. The objective is a per-customer mean so that
    tolerances mean the same at a thousand customers as at a million.

    `with_hessian`, the objective with its analytic Hessian, makes every Newton step and
    the standard errors exact (`_exact_newton`): a warm fit then takes about three
    passes over the customers instead of fifteen.
    """
    objective = _Remembered(objective, with_hessian)
    settled = None
    if isinstance(warm_start, ModelFit) and warm_start.model == model \
            and warm_start.curvature is not None and _warm(names, warm_start):
        theta = np.log([warm_start.params[name] for name in names])
        settled = _settle(objective, theta, np.asarray(warm_start.curvature), analytic_gradient)
        if settled is not None:
            iterations, message = 0, "warm start: Newton steps from the previous fit"
    if settled is None:
        best = _lbfgsb(objective, names, [*_warm(names, warm_start), *starts], max_iterations)
        theta, iterations = np.asarray(best.x, dtype=np.float64), int(best.nit)
        message = str(best.message)
        settled = _settle(objective, theta, _lbfgsb_curvature(best), analytic_gradient,
                          require=False)
    theta, hessian = settled if settled is not None else (theta, None)
    value, grad = _value_and_gradient(objective, theta)
    problems: list[str] = []
    if not np.isfinite(value) or value >= 1e99:
        problems.append("the log-likelihood is not finite at any parameter value tried")
    gradient_ok = bool(np.max(np.abs(grad)) < _GRADIENT_TOLERANCE)
    if not gradient_ok:
        problems.append(
            f"the optimiser stopped before the maximum ({message}; "
            f"largest gradient {np.max(np.abs(grad)):.2g})"
        )
    at_bound = [n for n, t in zip(names, theta, strict=True) if abs(t) > _LOG_BOUND - 1e-3]
    if at_bound:
        problems.append(
            f"parameter(s) {', '.join(at_bound)} ran off to 0 or infinity, so the data "
            "cannot identify them"
        )
    covariance_log = np.full((len(names), len(names)), np.nan)
    curvature = None
    if not problems and hessian is None:
        problems.append("the likelihood is flat or saddle-shaped at the optimum, so the data "
                        "cannot identify all parameters")
    if not problems and hessian is not None:
        covariance_log = np.linalg.inv(hessian * n_customers)
        curvature = tuple(tuple(float(v) for v in row) for row in hessian)
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
        iterations=iterations,
        message="; ".join(problems) if problems else message,
        curvature=curvature,
        evaluations=objective.evaluations,
    )


def _lbfgsb(objective: Objective, names: Sequence[str], starts: Sequence[Sequence[float]],
            max_iterations: int) -> Any:
    """L-BFGS-B from each start in turn until one reaches a maximum inside the box; the
    best result found (scipy's OptimizeResult)."""
    best = None
    for start in starts:
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
    return best


def _lbfgsb_curvature(result: Any) -> FloatArray | None:
    """L-BFGS-B's own estimate of the Hessian (the inverse of its inverse-Hessian
    approximation): close enough for Newton steps that finish its work."""
    try:
        matrix = np.linalg.inv(np.asarray(result.hess_inv.todense(), dtype=np.float64))
    except (AttributeError, np.linalg.LinAlgError):
        return None
    return matrix if bool(np.all(np.isfinite(matrix))) else None


_MOVED = 1e-7
"""A polish that moves the point by more than this (in log-parameters) recomputes the
Hessian where it ended, so the standard errors belong to the answer's point."""


def _settle(fun: Objective, theta: FloatArray, matrix: FloatArray | None,
            analytic_gradient: bool, *, require: bool = True
            ) -> tuple[FloatArray, FloatArray | None] | None:
    """From a point near the maximum to the maximum itself, and the Hessian there.

    Newton steps with an approximate Hessian (`matrix`, a previous fit's, when there is
    one) remove most of the gradient at each pass; the exact Hessian then polishes the
    point to rounding, and is recomputed if that moved it noticeably. The result does
    not depend on the point or matrix it started from, up to rounding. With
    `require`, returns None unless the approximate steps reach L-BFGS-B's gradient
    tolerance (a warm start too far away: the caller falls back to L-BFGS-B); the
    Hessian is None where the likelihood is not strictly concave (flat or saddle).
    A model with an analytic Hessian takes exact Newton steps instead
    (`_exact_newton`), and `matrix` is not needed.
    """
    if isinstance(fun, _Remembered) and fun.has_curvature:
        return _exact_newton(fun, theta, require=require)
    if matrix is not None and bool(np.all(np.isfinite(matrix))) \
            and bool(np.all(np.linalg.eigvalsh(0.5 * (matrix + matrix.T)) > 0)):
        theta = _approximate_newton(fun, theta, matrix)
    if require:
        value, grad = _value_and_gradient(fun, theta)
        inside = bool(np.all(np.abs(theta) < _LOG_BOUND - 1e-3))
        if not (value < 1e99 and inside and np.max(np.abs(grad)) < _OPTIMISER_GRADIENT):
            return None
    hessian = _hessian(fun, theta, analytic_gradient)
    if not bool(np.all(np.isfinite(hessian))) or np.linalg.eigvalsh(hessian).min() <= 0:
        return theta, None
    polished, _ = _newton_polish(fun, theta, hessian)
    if np.max(np.abs(polished - theta)) > _MOVED:
        hessian = _hessian(fun, polished, analytic_gradient)
    return polished, hessian


_NEWTON_DECREMENT = 1e-10
"""A Newton step that promises to lower the mean negative log-likelihood by less than
about this (g.H^-1.g, the squared Newton decrement) is near the maximum whatever the
gradient's size, and is judged by the gradient: the value's own rounding, a mean over a
million customers, is of that order, and a line search on it halved such a step twelve
times and gave up, leaving a cold fit with a gradient of 1e-6 (1e-6 relative from the
maximum) where a warm one reached 1e-13."""


def _positive_definite(matrix: FloatArray) -> bool:
    return bool(np.all(np.isfinite(matrix))) and bool(np.linalg.eigvalsh(matrix).min() > 0)


def _exact_newton(fun: _Remembered, theta: FloatArray, *, require: bool, max_steps: int = 40
                  ) -> tuple[FloatArray, FloatArray | None] | None:
    """Newton steps with the exact Hessian, from a point near the maximum to the maximum
    polished to rounding, and the Hessian there.

    Newton's convergence is quadratic: from last month's maximum (a gradient near 1e-3)
    two steps reach 1e-12, where finite differences of the gradient alone cost eight
    passes. Far from the maximum (gradient above L-BFGS-B's tolerance) a step is halved
    until the value falls; near it a full step is kept only if it halves the gradient,
    and the first that does not marks the rounding floor, as in `_newton_polish`. The
    Hessian is computed with the value and gradient of every point a step reaches,
    except after a step below `_MOVED`, whose Hessian differs from the previous one by
    less than the standard errors' own rounding: the answer's Hessian is never more than
    `_MOVED` from its point, and such a step, the last, is taken on the quadratic model
    without a pass over the customers to confirm it. With `require`, None when the
    steps do not reach L-BFGS-B's gradient tolerance inside the box (the caller falls
    back to L-BFGS-B); the Hessian is None where the likelihood is not strictly concave
    (flat or saddle).
    """
    hessian = fun.hessian(theta)
    hessian_at = theta
    value, grad = _value_and_gradient(fun, theta)
    for _ in range(max_steps):
        size = float(np.max(np.abs(grad)))
        if size < 1e-12 or not _positive_definite(hessian):
            break
        direction = -np.linalg.solve(hessian, grad)
        slope = float(grad @ direction)
        if not slope < 0:
            break
        small = float(np.max(np.abs(theta - hessian_at) + np.abs(direction))) < _MOVED
        if size < _OPTIMISER_GRADIENT or -slope < _NEWTON_DECREMENT:
            # near: a full step, kept only if it halves the gradient
            candidate = np.clip(theta + direction, -_LOG_BOUND, _LOG_BOUND)
            if small and bool(np.all(candidate == theta + direction)):
                # the last step, taken on the quadratic model: value + g.d + d.H.d / 2 and
                # g + H d are exact to third order in the step (below _MOVED: some 1e-21),
                # far below the rounding of the sums, so the pass that only confirmed them
                # is saved (one of a warm fit's four or five)
                theta, value, grad = candidate, value + 0.5 * slope, grad + hessian @ direction
                fun.estimated(theta, value, grad)
                break
            fun.hessian(candidate)
            new_value, new_grad = _value_and_gradient(fun, candidate)
            if not np.max(np.abs(new_grad)) < 0.5 * size or new_value > value + 1e-12:
                break
        else:
            step = 1.0
            for _ in range(12):
                candidate = np.clip(theta + step * direction, -_LOG_BOUND, _LOG_BOUND)
                if step == 1.0:
                    fun.hessian(candidate)  # a full step is usually kept: one pass for both
                new_value, new_grad = _value_and_gradient(fun, candidate)
                if new_value <= value + 1e-4 * step * slope:
                    break
                step *= 0.5
            else:
                break
            small = False
        theta, value, grad = candidate, new_value, new_grad
        if not small:
            hessian, hessian_at = fun.hessian(theta), theta
    if require:
        inside = bool(np.all(np.abs(theta) < _LOG_BOUND - 1e-3))
        if not (value < 1e99 and inside and np.max(np.abs(grad)) < _OPTIMISER_GRADIENT):
            return None
    if float(np.max(np.abs(theta - hessian_at))) > _MOVED:
        hessian = fun.hessian(theta)
    return theta, hessian if _positive_definite(hessian) else None


def _warm(names: Sequence[str], params: WarmStart) -> list[list[float]]:
    """The warm start's parameters as a starting point, when it names every parameter
    with a usable value (positive, finite, inside the box); none otherwise."""
    if isinstance(params, ModelFit):
        params = params.params
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
