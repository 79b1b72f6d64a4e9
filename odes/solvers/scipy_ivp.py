"""The methods 'scipy-<METHOD>': the ODE solvers of scipy.integrate (RK45, RK23, DOP853, Radau,
BDF, LSODA) stepped one step at a time, calling the compiled right-hand side from Python at every
evaluation; for reference solutions and cross-checks.

The outputs come from each step's dense output, as `scipy.integrate.solve_ivp` with ``t_eval``
gives them (the same numbers).  After every step the state is checked for divergence: a step that
ends beyond the threshold of `odes.divergence` is cut where its dense output crosses it (brentq, as
solve_ivp locates a terminal event), one that ends non-finite at its end; the stop test is applied
at each output as it is produced.
"""
import numpy as np
import scipy.integrate
from scipy.optimize import brentq

from ..divergence import blown_up
from ..rhs import evaluate
from ..rhs.fields import offsets
from .common import (STOPPED, Outcome, Status, diverged, first_diverged, first_nonfinite, stats,
                     status_of)

#: the methods of scipy.integrate, used as 'scipy-<METHOD>'
SCIPY_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
_EPS = np.finfo(float).eps


def solve(problem, method, rtol, atol):
    """Step scipy.integrate's `method` from t = 0 through the output times.  Returns an
    `odes.solvers.common.Outcome` (n_steps and n_rejected are not counted: None)."""
    y0, times, args, limit = problem.y0, problem.times, problem.args, problem.blowup
    K, M = args.K, args.M
    oQ, _, ov, _, _ = offsets(K, M)
    at_Q = oQ + np.arange(K) * (K + 1)                 # the Q_kk of the packed state
    dy = np.zeros_like(y0)
    outcome = Outcome()

    def fun(t, y):
        problem.check_cancel()
        evaluate(np.ascontiguousarray(y), dy, args)
        return dy.copy()

    def margin(y):             # > 0 while every Q_kk and v_k^2 is below the threshold
        return limit - max(np.max(y[at_Q]), np.max(y[ov:ov + K] ** 2))

    solver = getattr(scipy.integrate, method)(fun, 0.0, y0, float(times[-1]), rtol=rtol, atol=atol)
    i_out = 0
    with problem.bar() as bar:
        while solver.status == "running":
            message = solver.step()
            outcome.stats = stats(None, None, int(solver.nfev))
            if solver.status == "failed":
                outcome.status, outcome.message = Status.FAILED, str(message)
                return outcome
            bar.update(solver.t - bar.n)
            t, y = solver.t, solver.y
            if not np.all(np.isfinite(y)):
                return diverged(outcome, t, first_nonfinite(y), True)
            crossed = blown_up(y, K, M, limit) >= 0     # the threshold crossed within this step
            i_new = int(np.searchsorted(times, t, side="right"))
            if not crossed and i_new == i_out:
                continue
            sol = solver.dense_output()
            if crossed:
                t = brentq(lambda s: margin(sol(s)), solver.t_old, t, xtol=4 * _EPS, rtol=4 * _EPS)
                i_new = int(np.searchsorted(times, t, side="right"))
            for y_out, t_out in zip(sol(times[i_out:i_new]).T, times[i_out:i_new]):
                bad = first_diverged(y_out, K, M, limit)
                if bad is not None:
                    return diverged(outcome, t_out, *bad)
                outcome.ys.append(y_out)
                if problem.stop(y_out):
                    return status_of(STOPPED, outcome, t_out)
            i_out = i_new
            if crossed:
                values = np.concatenate([sol(t)[at_Q], sol(t)[ov:ov + K] ** 2])
                at = int(np.argmax(values))
                return diverged(outcome, t, int(at_Q[at]) if at < K else ov + at - K, False)
    return outcome

