"""Stiff stepper: variable-order, quasi-constant-step backward differentiation (NDF/BDF orders 1-5),
compiled end to end, for the long runs whose steps an explicit pair can only take as long as its
stability allows.

    L. F. Shampine and M. W. Reichelt, "The MATLAB ODE Suite", SIAM J. Sci. Comput. 18, 1 (1997)
    (the numerical differentiation formulas with the kappa below); the step, order and Newton
    control follow scipy.integrate.BDF, which implements the same paper (but for the Newton
    tolerance below).

The solution is kept as the modified divided differences D[0..order+2] of the interpolating
polynomial on the equally spaced past points t, t - h, ..., so that a change of the step size h by
a factor r is the linear map `_change_d` (D <- (R(r) U)^T D) and the dense output between two
steps is that polynomial.  A step predicts y = sum_{j<=q} D_j and solves

    y_new - c f(t_new, y_new) + psi = y_pred,   c = h / alpha_q,
    psi = sum_{j=1..q} gamma_j D_j / alpha_q

by a simplified Newton iteration with (I - c J)^-1 (by `lu_factor` and `lu_inverse`), J the
Jacobian by forward differences (one evaluation per state entry), re-evaluated only when the
iteration fails to converge and inverted again only when c changes.  The iteration stops at
NEWTON_TOL of the local error tolerance, as in scipy for rtol >= 1e-3 (scipy tightens it to
sqrt(rtol) below); at rtol = 1e-8 this takes two evaluations a step instead of three.

The local error is error_const_q |d| (d = y_new - y_pred) in the RMS norm of `odes.solvers.dopri5`
(atol + rtol |y_new|); after q+1 steps at one size the order moves to the neighbour
(q-1, q, q+1) whose error estimate allows the longest next step.

A right-hand side that is not finite fails the Newton iteration, which halves the step; once the
step falls below 1e-12 (1 + |t|) (as in `odes.solvers.dopri5`) the run stops with status NONFINITE and
names the first non-finite entry of the last evaluation, or else the one that grows fastest
relative to its tolerance.  A step after which some Q_kk or v_k^2 exceeds `limit`
(`odes.divergence`) ends the run with status DIVERGED.
"""
import math
from concurrent.futures import ThreadPoolExecutor, TimeoutError

import numpy as np
from numba import njit

from ..divergence import blown_up
from ..rhs import rhs_kernel
from ..rhs.fields import stop_reached
from ..rhs.parameters import ACTIVATION
from .common import (ABORTED, CALL_SECONDS, DIVERGED, NONFINITE, OK, OUT_OF_STEPS, STEP_LIMIT,
                     STOPPED, Outcome, stats, status_of)
from .dopri5 import initial_step

MAX_ORDER = 5
NEWTON_MAXITER = 4
#: the Newton iteration stops once its estimated remaining error is below this fraction of the
#: local error tolerance (scipy's BDF takes min(0.03, sqrt(rtol)), which at rtol = 1e-8 asks for
#: 1e-4 and three iterations a step; LSODE and CVODE work at about 0.1)
NEWTON_TOL = 0.03
_MIN_FACTOR, _MAX_FACTOR = 0.2, 10.0
_KAPPA = np.array([0.0, -0.1850, -1 / 9, -0.0823, -0.0415, 0.0])
_GAMMA = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, MAX_ORDER + 1))])
_ALPHA = (1.0 - _KAPPA) * _GAMMA
_ERROR_CONST = _KAPPA * _GAMMA + 1.0 / np.arange(1, MAX_ORDER + 2)
_EPS = np.finfo(float).eps
#: entries of the counters: accepted steps, rejected steps, right-hand-side evaluations (the
#: Jacobians' included), Jacobians, inversions of I - c J
STEPS, REJECTS, RHS_CALLS, JACOBIANS, INVERSIONS = range(5)


@njit(cache=True, error_model="numpy")
def _norm(x, scale):
    s = 0.0
    for i in range(x.size):
        s += (x[i] / scale[i]) ** 2
    return math.sqrt(s / x.size)


@njit(cache=True, error_model="numpy")
def lu_factor(A, piv):
    """Overwrite the square matrix A by its LU factors with partial pivoting, in LAPACK getrf's
    layout (unit lower L below the diagonal, U on and above it; row k was swapped with piv[k],
    0-based, as scipy.linalg.lu_factor returns it).  Returns False if A is singular."""
    n = A.shape[0]
    for k in range(n):
        p, big = k, abs(A[k, k])
        for i in range(k + 1, n):
            if abs(A[i, k]) > big:
                p, big = i, abs(A[i, k])
        piv[k] = p
        if big == 0.0:
            return False
        if p != k:
            for j in range(n):
                A[k, j], A[p, j] = A[p, j], A[k, j]
        for i in range(k + 1, n):
            A[i, k] /= A[k, k]
            l = A[i, k]
            for j in range(k + 1, n):
                A[i, j] -= l * A[k, j]
    return True


@njit(cache=True, error_model="numpy")
def lu_inverse(LU, piv, X):
    """X = A^-1 from the factors of A that `lu_factor` left in LU, by substitution on whole rows
    of X (the inner loops run along rows, so they vectorise).

    numba's np.linalg.inv allocates and copies at every call: at 12 x 12 (K = M = 2) it takes
    5.0 us here against 2.0 us for lu_factor and lu_inverse together, and a long run inverts once
    every five steps."""
    n = LU.shape[0]
    X[:, :] = 0.0
    for i in range(n):
        X[i, i] = 1.0
    for k in range(n):
        p = piv[k]
        if p != k:
            for j in range(n):
                X[k, j], X[p, j] = X[p, j], X[k, j]
    for i in range(n):
        for k in range(i):
            l = LU[i, k]
            for j in range(n):
                X[i, j] -= l * X[k, j]
    for i in range(n - 1, -1, -1):
        for k in range(i + 1, n):
            u = LU[i, k]
            for j in range(n):
                X[i, j] -= u * X[k, j]
        u = 1.0 / LU[i, i]
        for j in range(n):
            X[i, j] *= u


@njit(cache=True, error_model="numpy")
def _matvec_t(AT, x, out):
    """out = A x given AT = A^T (column by column, so the inner loop vectorises)."""
    n = x.size
    for i in range(n):
        out[i] = 0.0
    for j in range(n):
        xj = x[j]
        for i in range(n):
            out[i] += AT[j, i] * xj


@njit(cache=True, error_model="numpy")
def _r_matrix(order, factor, out):
    """out[:q+1, :q+1] = R(order, factor): cumulative products over rows of
    M_0j = 1, M_ij = (i - 1 - factor j) / i (i, j >= 1)."""
    q = order + 1
    for j in range(q):
        out[0, j] = 1.0
    for i in range(1, q):
        out[i, 0] = 0.0
        for j in range(1, q):
            out[i, j] = out[i - 1, j] * (i - 1 - factor * j) / i


@njit(cache=True, error_model="numpy")
def _tmul(A, B, out, q, n):
    """out[:q, :n] = A[:q, :q]^T B[:q, :n]."""
    for j in range(q):
        for c in range(n):
            s = 0.0
            for k in range(q):
                s += A[k, j] * B[k, c]
            out[j, c] = s


@njit(cache=True, error_model="numpy")
def _change_d(D, order, factor, R, U, tmp):
    """Rescale the differences D for a step size changed by `factor`: D <- (R U)^T D = U^T (R^T D)."""
    q = order + 1
    _r_matrix(order, factor, R)
    _r_matrix(order, 1.0, U)
    _tmul(R, D, tmp, q, D.shape[1])
    _tmul(U, tmp, D, q, D.shape[1])


@njit(cache=True, error_model="numpy", inline="always")
def _jacobian(t_y, f0, J, work, fwork, args):
    """Forward-difference Jacobian J[:, j] = (f(y + d e_j) - f(y)) / d, d = 1e-8 max(1, |y_j|)."""
    n = t_y.size
    for j in range(n):
        for i in range(n):
            work[i] = t_y[i]
        d = 1e-8 * max(1.0, abs(t_y[j]))
        work[j] += d
        d = work[j] - t_y[j]
        rhs_kernel(work, fwork, args)
        for i in range(n):
            J[i, j] = (fwork[i] - f0[i]) / d


@njit(cache=True, error_model="numpy")
def _dense(t, h, order, D, t_at, out):
    """The interpolating polynomial of the differences D (step h ending at t) at time t_at."""
    n = D.shape[1]
    for c in range(n):
        out[c] = D[0, c]
    prod = 1.0
    for j in range(order):
        prod *= (t_at - (t - h * j)) / (h * (1 + j))
        for c in range(n):
            out[c] += D[j + 1, c] * prod


@njit(cache=True, error_model="numpy")
def _invert(J, c, A, piv, Minv_t):
    """Minv_t = ((I - c J)^-1)^T by LU of A = (I - c J)^T; False if it is singular."""
    n = J.shape[0]
    for i in range(n):
        for j in range(n):
            A[i, j] = (1.0 if i == j else 0.0) - c * J[j, i]
    if not lu_factor(A, piv):
        return False
    lu_inverse(A, piv, Minv_t)
    return True


@njit(cache=True, error_model="numpy")
def _predict(D, order, rtol, atol, y_pred, scale, psi):
    """The predictor y_pred = sum_{j<=q} D_j, its error scale and psi of the step's equation."""
    for i in range(D.shape[1]):
        s = 0.0
        for j in range(order + 1):
            s += D[j, i]
        y_pred[i] = s
        scale[i] = atol + rtol * abs(s)
        s = 0.0
        for j in range(1, order + 1):
            s += _GAMMA[j] * D[j, i]
        psi[i] = s / _ALPHA[order]


@njit(cache=True, error_model="numpy", inline="always")
def _newton(y_pred, psi, c, Minv_t, scale, newton_tol, y_new, d, work, fwork, dy, counts, args):
    """The simplified Newton iteration of one step (scipy's solve_bdf_system): y_new from y_pred,
    d = y_new - y_pred.  Returns (converged, iterations); a right-hand side that is not finite
    or a rate of convergence too slow for NEWTON_MAXITER iterations ends it unconverged."""
    n = y_pred.size
    for i in range(n):
        y_new[i] = y_pred[i]
        d[i] = 0.0
    dy_norm_old = -1.0
    n_iter = 0
    for k in range(NEWTON_MAXITER):
        n_iter = k + 1
        rhs_kernel(y_new, fwork, args)
        counts[RHS_CALLS] += 1
        finite = True
        for i in range(n):
            if not math.isfinite(fwork[i]):
                finite = False
        if not finite:
            return False, n_iter
        for i in range(n):
            work[i] = c * fwork[i] - psi[i] - d[i]
        _matvec_t(Minv_t, work, dy)
        dy_norm = _norm(dy, scale)
        rate = dy_norm / dy_norm_old if dy_norm_old > 0.0 else -1.0
        if rate >= 0.0 and (rate >= 1.0 or
                            rate ** (NEWTON_MAXITER - k) / (1.0 - rate) * dy_norm > newton_tol):
            return False, n_iter
        for i in range(n):
            y_new[i] += dy[i]
            d[i] += dy[i]
        if dy_norm == 0.0 or (rate >= 0.0 and rate / (1.0 - rate) * dy_norm < newton_tol):
            return True, n_iter
        dy_norm_old = dy_norm
    return False, n_iter


@njit(cache=True, error_model="numpy")
def _next_order(D, order, error_norm, scale, work):
    """The order (q-1, q or q+1) whose error estimate allows the longest next step, and that
    step's factor before the safety factor."""
    n = D.shape[1]
    err_m = np.inf
    err_p = np.inf
    if order > 1:
        for i in range(n):
            work[i] = _ERROR_CONST[order - 1] * D[order, i]
        err_m = _norm(work, scale)
    if order < MAX_ORDER:
        for i in range(n):
            work[i] = _ERROR_CONST[order + 1] * D[order + 2, i]
        err_p = _norm(work, scale)
    best, best_factor = 0, -1.0
    for which, e in enumerate((err_m, error_norm, err_p)):
        fac = np.inf if e == 0.0 else e ** (-1.0 / (order + which))
        if fac > best_factor:
            best, best_factor = which, fac
    return order + best - 1, best_factor


@njit(cache=True, error_model="numpy")
def _runaway(f, y, rtol, atol):
    """The entry of f that is not finite, or else the one that grows fastest relative to its
    tolerance (named when the step size collapses)."""
    bad, fastest = -1, -1.0
    for i in range(f.size):
        if not math.isfinite(f[i]):
            return i
        rate = abs(f[i]) / (atol + rtol * abs(y[i]))
        if rate > fastest:
            bad, fastest = i, rate
    return bad


@njit(cache=True, error_model="numpy")
def _crossing(t, h, h_abs, order, D, limit, K, M, work):
    """Where the interpolating polynomial of the step (t - h, t], which ends beyond `limit`,
    crosses it (`odes.divergence.blown_up`), by bisection."""
    lo, hi = t - h, t
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        _dense(t, h_abs, order, D, mid, work)
        if blown_up(work, K, M, limit) >= 0:
            hi = mid
        else:
            lo = mid
    return hi


@njit(cache=True, error_model="numpy", nogil=True)
def bdf(y, t_out, out, rtol, atol, max_steps, limit, stop, abort, counts, args):
    """Integrate from t = 0 (state y) through every time in t_out, writing the solution at
    t_out[i] into out[i].  Returns (code, t, index) with the codes of `odes.solvers.common`: OK,
    NONFINITE (t where the step collapsed, index of a non-finite entry of the right-hand side or
    the entry that runs away fastest), OUT_OF_STEPS, DIVERGED (t where the interpolating
    polynomial of the step after which the Q_kk or v_k at `index` is beyond `limit` crosses it;
    the outputs before t are written), STOPPED (t: the output at which eps_g fell below stop[0]
    or rose above stop[1], `odes.rhs.fields.stop_reached`; the outputs up to it are written) or
    ABORTED (abort[0] was set by another thread; checked before every step)."""
    n, K, M, T, vstar, act = y.size, args.K, args.M, args.T, args.vstar, int(args.par[ACTIVATION])
    D = np.zeros((MAX_ORDER + 3, n))
    R, U = np.zeros((MAX_ORDER + 1, MAX_ORDER + 1)), np.zeros((MAX_ORDER + 1, MAX_ORDER + 1))
    tmp = np.zeros((MAX_ORDER + 1, n))
    J = np.zeros((n, n))
    A = np.zeros((n, n))
    Minv_t = np.zeros((n, n))
    piv = np.zeros(n, np.int64)
    f, work, fwork = np.zeros(n), np.zeros(n), np.zeros(n)
    y_pred, y_new, d, scale, psi, dy = (np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n),
                                        np.zeros(n), np.zeros(n))
    t_bound = t_out[-1]
    newton_tol = max(10.0 * _EPS / rtol, NEWTON_TOL)

    t = 0.0
    rhs_kernel(y, f, args)
    counts[RHS_CALLS] += 1
    for i in range(n):
        if not math.isfinite(f[i]):
            return NONFINITE, t, i
    h_abs = initial_step(y, f, rtol, atol, 1, work, fwork, args)
    counts[RHS_CALLS] += 1
    if t_bound > 0:
        h_abs = min(h_abs, t_bound)

    _jacobian(y, f, J, work, fwork, args)
    counts[RHS_CALLS] += n
    counts[JACOBIANS] += 1
    for i in range(n):
        D[0, i] = y[i]
        D[1, i] = f[i] * h_abs
    order = 1
    n_equal = 0
    have_inverse = False
    i_out = 0
    while i_out < t_out.size and t_out[i_out] <= 0.0:
        out[i_out, :] = y
        i_out += 1
        if stop_reached(y, K, M, T, vstar, act, stop[0], stop[1]):
            return STOPPED, t_out[i_out - 1], -1

    while i_out < t_out.size:
        if counts[STEPS] >= max_steps:
            return OUT_OF_STEPS, t, -1
        if abort[0] != 0:
            return ABORTED, t, -1
        min_step = max(10.0 * abs(np.nextafter(t, np.inf) - t), 1e-12 * (1.0 + abs(t)))
        current_jac = False
        accepted = False
        n_iter = 0
        error_norm = 0.0
        while not accepted:
            if h_abs < min_step:
                return NONFINITE, t, _runaway(fwork, y, rtol, atol)
            t_new = t + h_abs
            if t_new > t_bound:
                t_new = t_bound
                _change_d(D, order, (t_new - t) / h_abs, R, U, tmp)
                n_equal = 0
                have_inverse = False
            h = t_new - t
            h_abs = h
            _predict(D, order, rtol, atol, y_pred, scale, psi)
            c = h / _ALPHA[order]
            converged = False
            while not converged:
                if not have_inverse:
                    counts[INVERSIONS] += 1
                    if not _invert(J, c, A, piv, Minv_t):
                        break                # singular: a failed iteration, the step is halved
                    have_inverse = True
                converged, n_iter = _newton(y_pred, psi, c, Minv_t, scale, newton_tol, y_new, d,
                                            work, fwork, dy, counts, args)
                if not converged:
                    if current_jac:
                        break
                    rhs_kernel(y_pred, f, args)
                    _jacobian(y_pred, f, J, work, fwork, args)
                    counts[RHS_CALLS] += n + 1
                    counts[JACOBIANS] += 1
                    have_inverse = False
                    current_jac = True
            if not converged:
                h_abs *= 0.5
                _change_d(D, order, 0.5, R, U, tmp)
                n_equal = 0
                have_inverse = False
                counts[REJECTS] += 1
                continue
            safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter)
            for i in range(n):
                scale[i] = atol + rtol * abs(y_new[i])
                work[i] = _ERROR_CONST[order] * d[i]
            error_norm = _norm(work, scale)
            if error_norm > 1.0:
                factor = max(_MIN_FACTOR, safety * error_norm ** (-1.0 / (order + 1)))
                h_abs *= factor
                _change_d(D, order, factor, R, U, tmp)
                n_equal = 0
                have_inverse = False
                counts[REJECTS] += 1
            else:
                accepted = True
        # accepted: update the differences
        counts[STEPS] += 1
        n_equal += 1
        t = t_new
        for i in range(n):
            D[order + 2, i] = d[i] - D[order + 1, i]
            D[order + 1, i] = d[i]
        for j in range(order, -1, -1):
            for i in range(n):
                D[j, i] += D[j + 1, i]
        for i in range(n):
            y[i] = y_new[i]
        if n_equal >= order + 1:            # choose the next order and step
            order, best_factor = _next_order(D, order, error_norm, scale, work)
            factor = min(_MAX_FACTOR, safety * best_factor)
            h_abs *= factor
            _change_d(D, order, factor, R, U, tmp)
            n_equal = 0
            have_inverse = False
        # outputs inside the step just taken: the interpolating polynomial, which after a change
        # of step size is the same polynomial on the rescaled differences; a step that ends beyond
        # `limit` gives the outputs before the polynomial crosses it (by bisection)
        bad = blown_up(y, K, M, limit)
        t_stop = t if bad < 0 else _crossing(t, h, h_abs, order, D, limit, K, M, work)
        while i_out < t_out.size and (t_out[i_out] < t_stop or (bad < 0 and t_out[i_out] == t)):
            if t_out[i_out] == t:
                out[i_out, :] = y
            else:
                _dense(t, h_abs, order, D, t_out[i_out], out[i_out])
            i_out += 1
            if stop_reached(out[i_out - 1], K, M, T, vstar, act, stop[0], stop[1]):
                return STOPPED, t_out[i_out - 1], -1
        if bad >= 0:
            return DIVERGED, t_stop, bad
    return OK, t, -1


def solve(problem, rtol, atol):
    """The method 'bdf': the compiled integration from t = 0 through the output times in one call
    on a thread (which an interrupt stops through its `abort` flag), with the stop test at each
    output inside it.  Returns an `odes.solvers.common.Outcome`."""
    y, times = problem.y0.copy(), np.asarray(problem.times, float)
    out = np.full((len(times), y.size), np.nan)
    counts = np.zeros(5, np.int64)
    abort = np.zeros(1, np.int64)
    stop = np.array(problem.stop_bounds, float)
    with problem.bar() as bar, ThreadPoolExecutor(1) as pool:
        job = pool.submit(bdf, y, times, out, rtol, atol, STEP_LIMIT, problem.blowup, stop, abort,
                          counts, problem.args)
        try:
            while True:
                try:
                    code, t_end, bad = job.result(timeout=CALL_SECONDS)
                    break
                except TimeoutError:
                    problem.check_cancel()
                    bar.update(0)                # shows the bar (elapsed time) after its delay
            bar.update(min(t_end, bar.total) - bar.n)
        except KeyboardInterrupt:
            abort[0] = 1
            job.result()
            raise
    outcome = Outcome(stats=stats(int(counts[STEPS]), int(counts[REJECTS]), int(counts[RHS_CALLS]),
                                  n_jacobians=int(counts[JACOBIANS]),
                                  n_inversions=int(counts[INVERSIONS])))
    reached = np.all(np.isfinite(out), axis=1) & (times <= t_end)
    outcome.ys = list(out[: int(np.argmin(reached)) if not reached.all() else len(times)])
    return status_of(code, outcome, t_end, bad)
