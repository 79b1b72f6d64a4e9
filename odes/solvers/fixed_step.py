"""Fixed-step methods: classical Runge-Kutta 4 ('rk4') and forward Euler ('euler'), for
comparisons with published fixed-step codes.

Steps of ``dt`` on the grid t = n dt with an integer step counter, so there is no accumulated float
drift; an output time that is not a multiple of dt is reached by one extra step of the remaining
length from the grid state, which does not alter the grid trajectory.  The state is checked for
divergence after every step (`odes.divergence`); the first grid state beyond the threshold is
reported, at that step's end.
"""
import math

import numpy as np
from numba import njit

from ..divergence import blown_up
from ..rhs import rhs_kernel
from .common import STOPPED, Calls, Outcome, diverged, first_diverged, stats, status_of


@njit(cache=True, error_model="numpy", inline="always")
def step(y, dt, rk4, args, k1, k2, k3, k4, tmp, out):
    """One Euler or RK4 step of length dt from y into out (out may be y)."""
    n = y.size
    rhs_kernel(y, k1, args)
    if not rk4:
        for i in range(n):
            out[i] = y[i] + dt * k1[i]
        return
    for i in range(n):
        tmp[i] = y[i] + 0.5 * dt * k1[i]
    rhs_kernel(tmp, k2, args)
    for i in range(n):
        tmp[i] = y[i] + 0.5 * dt * k2[i]
    rhs_kernel(tmp, k3, args)
    for i in range(n):
        tmp[i] = y[i] + dt * k3[i]
    rhs_kernel(tmp, k4, args)
    for i in range(n):
        out[i] = y[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])


@njit(cache=True, error_model="numpy", nogil=True)
def advance(y, n_steps, dt, rk4, limit, args, scratch):
    """Advance y in place by n_steps fixed steps.  Returns (steps done, index): fewer than n_steps
    means y diverged (non-finite, or Q_kk or v_k^2 beyond `limit`; y then holds that state and
    index names an entry at fault)."""
    k1, k2, k3, k4, tmp = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4]
    for s in range(n_steps):
        step(y, dt, rk4, args, k1, k2, k3, k4, tmp, y)
        for i in range(y.size):
            if not math.isfinite(y[i]):
                return s, i
        bad = blown_up(y, args.K, args.M, limit)
        if bad >= 0:
            return s, bad
    return n_steps, -1


def solve(problem, dt, rk4):
    """Fixed steps of dt on the integer grid through the output times, in calls of a step budget
    (`odes.solvers.common.Calls`), with the stop test at each output.  Returns an
    `odes.solvers.common.Outcome`."""
    y, times, args = problem.y0.copy(), problem.times, problem.args
    K, M = args.K, args.M
    scratch = np.zeros((5, y.size))
    grid_steps = np.floor(times / dt + 1e-9).astype(np.int64)
    rest = times - grid_steps * dt
    done, extra = 0, 0
    per_step = 4 if rk4 else 1
    calls = Calls()
    outcome = Outcome()

    def count():
        outcome.stats = stats(done + extra, 0, per_step * (done + extra))

    with problem.bar() as bar:
        for t_out, target, r in zip(times, grid_steps, rest):
            while done < target:
                problem.check_cancel()
                n = int(min(target - done, calls.budget))
                made, bad = calls.timed(advance, y, n, dt, rk4, problem.blowup, args, scratch,
                                        exhausted=lambda res: res[0] == calls.budget)
                done += made
                count()
                bar.update(done * dt - bar.n)
                if made < n:
                    return diverged(outcome, (done + 1) * dt, bad, not np.isfinite(y[bad]))
            out = y.copy()
            if r > 1e-12 * dt:
                step(y, r, rk4, args, *scratch, out)
                extra += 1
                count()
            bad = first_diverged(out, K, M, problem.blowup)
            if bad is not None:
                return diverged(outcome, done * dt + r, *bad)
            outcome.ys.append(out)
            if problem.stop(out):
                return status_of(STOPPED, outcome, t_out)
    return outcome


def solve_rk4(problem, dt):
    """The method 'rk4' (`solve` with Runge-Kutta 4 steps)."""
    return solve(problem, dt, rk4=True)


def solve_euler(problem, dt):
    """The method 'euler' (`solve` with forward Euler steps)."""
    return solve(problem, dt, rk4=False)
