"""Adaptive stepper: the Dormand-Prince 5(4) embedded Runge-Kutta pair, compiled end to end.

    J. R. Dormand and P. J. Prince, J. Comput. Appl. Math. 6, 19 (1980); the step-size control,
    initial step and dense output follow Hairer, Norsett & Wanner, *Solving ODEs I*, section II.4-6.

One step of length h from y uses seven stages k_1..k_7 (k_7 = f(y_new) is the next step's k_1:
"first same as last"), advances with the 5th-order weights and estimates the local error as the
difference to the embedded 4th-order solution.  The error is measured in the weighted RMS norm

    err = sqrt(mean_i (e_i / (atol + rtol max(|y_i|, |y_new,i|)))^2)

and a step is accepted when err <= 1; the next step is h * min(10, max(0.2, 0.9 err^(-1/5)))
(no growth right after a rejection).  Output times never shorten a step: the solution at a time
inside an accepted step comes from the method's 4th-order continuous extension (dense output),
whose error is of the order of the local error.  Only the final time of the run (`t_bound`) clips
the last step, so nothing beyond it is evaluated.

Stiffness is detected as in Hairer's DOPRI5 (Solving ODEs II, section IV.2): after each
accepted step h |lambda| ~ h |k_7 - k_6| / |y_new - y_6| (y_6 the sixth stage's argument)
estimates how close the step is to the pair's stability boundary (about 3.3 on the real axis).
Once it has exceeded STIFF_H_LAMBDA in STIFF_STEPS accepted steps without NONSTIFF_STEPS below in
between, the step size is set by stability, not by the tolerance, and the solver records the time
(solver[STIFF_AT], -1 before): `odes.integrate` then suggests the stiff method.

A trial step whose error is not finite (the state or the right-hand side overflowed or became NaN)
is rejected and retried 5x shorter; once the step falls below 1e-12 (1 + |t|) the run stops with
status NONFINITE and reports the first offending entry.  An accepted step after which some Q_kk or
v_k^2 exceeds the caller's `limit` (`odes.divergence`) ends the run with status DIVERGED.

The stepper is written against `rhs_kernel(y, dy, args)` of `odes.rhs`; its driver `solve` (the
method 'dopri5' of `odes.solvers.METHODS`) calls it once per output time, in calls of a step
budget, with the solver's state (t, h, k_1, counters) carried between calls, so the trajectory
does not depend on how the outputs are split into calls.
"""
import math

import numpy as np
from numba import njit

from ..divergence import blown_up
from ..rhs import evaluate, rhs_kernel
from .common import DIVERGED, NONFINITE, OK, OUT_OF_STEPS, STOPPED, STEP_LIMIT, Calls, Outcome, stats, status_of

# ---- the Dormand-Prince tableau ------------------------------------------------------------------
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_A = np.zeros((7, 6))
_A[1, :1] = [1 / 5]
_A[2, :2] = [3 / 40, 9 / 40]
_A[3, :3] = [44 / 45, -56 / 15, 32 / 9]
_A[4, :4] = [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729]
_A[5, :5] = [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656]
_A[6, :6] = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]     # = the 5th-order weights
#: 5th-order weights minus the embedded 4th-order weights: the local error estimate
_E = np.array([71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])
#: coefficients of the continuous extension (Hairer's d_i)
_DENSE = np.array([-12715105075 / 11282082432, 0.0, 87487479700 / 32700410799,
                   -10690763975 / 1880347072, 701980252875 / 199316789632,
                   -1453857185 / 822651844, 69997945 / 29380423])

N_STAGES = 7
#: rows of the scratch array: the stages k_1..k_7 of the last step, the new state, a trial
#: state, the state at the start of the last accepted step, the sixth stage's argument
SCRATCH_ROWS = N_STAGES + 4
#: entries of the solver state carried between calls: the time t of y, the next step size, 1.0
#: if the last trial was rejected, the start and length of the last accepted step (0 before the
#: first), 1.0 if the stages still belong to that step (k_1 of the next step = its k_7), the
#: stiffness test's counts of stiff and of non-stiff steps, and the time it found the run stiff
T_, H_, REJECTED_, T_PREV, H_PREV, FSAL_PENDING, N_STIFF, N_NONSTIFF, STIFF_AT = range(9)
SOLVER_SIZE = 9
#: the stiffness test: h |lambda| above which a step counts as stiff, and the number of such steps
#: (without NONSTIFF_STEPS others in between) that make the run stiff.  Hairer takes 3.25 with
#: DOPRI5's PI controller; with this I-controller the estimate reads less at the boundary: in the
#: stability-bound stretch of BP K = M = 2, eta = 0.01 (2e4 < t < 5e4, h ~ 97, |lambda_max| =
#: 0.034, so h |lambda| ~ 3.3) it reads 3.11 (median; 90 % below 3.23), in the accuracy-bound
#: steps before it below 2.7 (90 %), hence 3.0.
STIFF_H_LAMBDA, STIFF_STEPS, NONSTIFF_STEPS = 3.0, 15, 6
#: entries of the counters: accepted steps, rejected steps, right-hand-side evaluations
STEPS, REJECTS, RHS_CALLS = range(3)

_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0


@njit(cache=True, error_model="numpy")
def _rms(e, y, y2, rtol, atol):
    s = 0.0
    for i in range(e.size):
        sc = atol + rtol * max(abs(y[i]), abs(y2[i]))
        s += (e[i] / sc) ** 2
    return math.sqrt(s / e.size)


@njit(cache=True, error_model="numpy")
def initial_step(y, f0, rtol, atol, order, y1, f1, args):
    """First step size (Hairer, Norsett & Wanner, II.4) for a method whose local error grows as
    h^(order+1): h0 from the sizes of y and f, then corrected by an estimate of the second
    derivative from one Euler step (y1, f1: scratch; f1 is left holding f(y1) - f0).  dopri5 calls
    it with order 4, `odes.solvers.bdf` with 1."""
    d0 = _rms(y, y, y, rtol, atol)
    d1 = _rms(f0, y, y, rtol, atol)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    for i in range(y.size):
        y1[i] = y[i] + h0 * f0[i]
    rhs_kernel(y1, f1, args)
    for i in range(y.size):
        f1[i] -= f0[i]
    d2 = _rms(f1, y, y, rtol, atol) / h0
    if not math.isfinite(d2):
        return h0
    big = max(d1, d2)
    h1 = max(1e-6, 1e-3 * h0) if big <= 1e-15 else (0.01 / big) ** (1.0 / (order + 1))
    return min(100.0 * h0, h1)


@njit(cache=True, error_model="numpy")
def _crossing(y, ynew, k, h, limit, K, M, work):
    """The fraction theta of the step y -> ynew (ynew beyond `limit`, y not) at which its
    continuous extension passes the limit of `odes.divergence.blown_up`, by bisection."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        _dense(y, ynew, k, h, mid, work)
        if blown_up(work, K, M, limit) >= 0:
            hi = mid
        else:
            lo = mid
    return hi


@njit(cache=True, error_model="numpy")
def _dense(y, ynew, k, h, theta, out):
    """Continuous extension at t + theta h of the step y -> ynew with stages k."""
    t1 = 1.0 - theta
    for i in range(y.size):
        r2 = ynew[i] - y[i]
        r3 = h * k[0, i] - r2
        r4 = r2 - h * k[6, i] - r3
        r5 = 0.0
        for j in range(N_STAGES):
            r5 += _DENSE[j] * k[j, i]
        out[i] = y[i] + theta * (r2 + t1 * (r3 + theta * (r4 + t1 * h * r5)))


@njit(cache=True, error_model="numpy")
def _stiffness_test(solver, h, k, ynew, y6, t_new):
    """Hairer's test after an accepted step ending at t_new (see the module docstring)."""
    num, den = 0.0, 0.0
    for i in range(ynew.size):
        num += (k[N_STAGES - 1, i] - k[N_STAGES - 2, i]) ** 2
        den += (ynew[i] - y6[i]) ** 2
    if den > 0.0 and h * h * num > STIFF_H_LAMBDA ** 2 * den:
        solver[N_NONSTIFF] = 0.0
        solver[N_STIFF] += 1.0
        if solver[N_STIFF] >= STIFF_STEPS:
            solver[STIFF_AT] = t_new
    else:
        solver[N_NONSTIFF] += 1.0
        if solver[N_NONSTIFF] >= NONSTIFF_STEPS:
            solver[N_STIFF] = 0.0


def new_solver(h0):
    """Solver state at t = 0 with first step h0 (see T_ ... STIFF_AT)."""
    solver = np.zeros(SOLVER_SIZE)
    solver[H_] = h0
    solver[STIFF_AT] = -1.0
    return solver


@njit(cache=True, error_model="numpy", nogil=True)
def dopri5(y, solver, t_out, out, t_bound, rtol, atol, max_steps, limit, counts, scratch, args):
    """Advance (solver[T_], y) until every time in t_out has been reached, writing the solution
    at t_out[i] into out[i].  y then holds the state at the end of the last accepted step and
    solver (see T_ ... STIFF_AT) what the next call needs, so that the trajectory does not
    depend on how the outputs are split into calls: an output inside the last accepted step comes
    from that step's dense output.  Before the first call scratch[0] must hold f(y).
    Returns (code, index) with the codes of `odes.solvers.common`: OK, NONFINITE (index = the first non-finite entry of the failed
    trial, or -1), OUT_OF_STEPS (accepted steps reached max_steps: a call with a larger max_steps
    goes on from there) or DIVERGED (index = the Q_kk or v_k beyond `limit` at the end of a step,
    solver[T_] = where the step's continuous extension crossed it; outputs before that time are
    written, and a call whose outputs all come before it returns OK without taking the step)."""
    n, K, M = y.size, args.K, args.M
    k = scratch[:N_STAGES]
    ynew, trial, yprev = scratch[N_STAGES], scratch[N_STAGES + 1], scratch[N_STAGES + 2]
    y6 = scratch[N_STAGES + 3]
    t, h = solver[T_], solver[H_]
    rejected = solver[REJECTED_] != 0.0
    i_out = 0
    while i_out < t_out.size and t_out[i_out] <= t:          # outputs already reached
        if t_out[i_out] == t or solver[H_PREV] == 0.0:
            out[i_out, :] = y
        else:
            _dense(yprev, y, k, solver[H_PREV], (t_out[i_out] - solver[T_PREV]) / solver[H_PREV],
                   out[i_out])
        i_out += 1
    while i_out < t_out.size:
        if counts[STEPS] >= max_steps:
            solver[T_], solver[H_], solver[REJECTED_] = t, h, 1.0 if rejected else 0.0
            return OUT_OF_STEPS, -1
        if solver[FSAL_PENDING] != 0.0:
            for i in range(n):
                k[0, i] = k[N_STAGES - 1, i]
            solver[FSAL_PENDING] = 0.0
        last = t + h >= t_bound
        if last:
            h = t_bound - t
        for s in range(1, N_STAGES):
            for i in range(n):
                acc = 0.0
                for j in range(s):
                    acc += _A[s, j] * k[j, i]
                trial[i] = y[i] + h * acc
            if s == N_STAGES - 2:
                for i in range(n):
                    y6[i] = trial[i]
            if s == N_STAGES - 1:
                for i in range(n):
                    ynew[i] = trial[i]
            rhs_kernel(trial, k[s], args)
        counts[RHS_CALLS] += N_STAGES - 1
        for i in range(n):
            acc = 0.0
            for j in range(N_STAGES):
                acc += _E[j] * k[j, i]
            trial[i] = h * acc
        err = _rms(trial, y, ynew, rtol, atol)
        if not (err <= 1.0):                                  # rejected (also when err is NaN)
            counts[REJECTS] += 1
            if math.isfinite(err):
                h *= max(_MIN_FACTOR, _SAFETY * err ** -0.2)
            else:
                h *= 0.2
            rejected = True
            if h < 1e-12 * (1.0 + abs(t)):
                solver[T_], solver[H_], solver[REJECTED_] = t, h, 1.0
                bad = -1
                for i in range(n):
                    if not math.isfinite(ynew[i]):
                        bad = i
                        break
                for s in range(N_STAGES):
                    for i in range(n):
                        if bad < 0 and not math.isfinite(k[s, i]):
                            bad = i
                return NONFINITE, bad
            continue
        t_new = t_bound if last else t + h
        bad = blown_up(ynew, K, M, limit)
        if bad >= 0:                     # diverged within this step: outputs before the crossing
            t_cross = t + h * _crossing(y, ynew, k, h, limit, K, M, trial)
            while i_out < t_out.size and t_out[i_out] < t_cross:
                _dense(y, ynew, k, h, (t_out[i_out] - t) / h, out[i_out])
                i_out += 1
            if i_out == t_out.size:      # all asked for: the next call takes this step again
                solver[T_], solver[H_], solver[REJECTED_] = t, h, 1.0 if rejected else 0.0
                return OK, -1
            solver[T_] = t_cross
            return DIVERGED, bad
        if solver[STIFF_AT] < 0.0:
            _stiffness_test(solver, h, k, ynew, y6, t_new)
        while i_out < t_out.size and t_out[i_out] <= t_new:
            if t_out[i_out] == t_new:
                out[i_out, :] = ynew
            else:
                _dense(y, ynew, k, h, (t_out[i_out] - t) / h, out[i_out])
            i_out += 1
        for i in range(n):
            yprev[i] = y[i]
            y[i] = ynew[i]
        solver[T_PREV], solver[H_PREV], solver[FSAL_PENDING] = t, h, 1.0
        t = t_new
        counts[STEPS] += 1
        factor = _MAX_FACTOR if err == 0.0 else min(_MAX_FACTOR, _SAFETY * err ** -0.2)
        if rejected:
            factor = min(1.0, factor)
        rejected = False
        h *= factor
    solver[T_], solver[H_], solver[REJECTED_] = t, h, 1.0 if rejected else 0.0
    return OK, -1


def solve(problem, rtol, atol):
    """The method 'dopri5': the compiled integration from t = 0 through the output times, in calls
    of a step budget (`odes.solvers.common.Calls`), with the stop test after each output.
    Returns an `odes.solvers.common.Outcome`; its stats also say where the run turned stiff
    ('stiff_at', None if it did not)."""
    y, times, args = problem.y0.copy(), problem.times, problem.args
    scratch = np.zeros((SCRATCH_ROWS, y.size))
    counts = np.zeros(3, np.int64)
    solver = new_solver(0.0)            # its first step is set below
    outcome = Outcome()

    def count():
        stiff_at = float(solver[STIFF_AT])
        outcome.stats = stats(int(counts[STEPS]), int(counts[REJECTS]), int(counts[RHS_CALLS]),
                              stiff_at=stiff_at if stiff_at >= 0 else None)

    evaluate(y, scratch[0], args)
    counts[RHS_CALLS] = 2
    count()
    if not np.all(np.isfinite(scratch[0])):
        return status_of(NONFINITE, outcome, 0.0, int(np.flatnonzero(~np.isfinite(scratch[0]))[0]))
    solver[H_] = initial_step(y, scratch[0], rtol, atol, 4, scratch[7], scratch[8], args)
    out = np.empty((1, y.size))
    calls = Calls()
    with problem.bar() as bar:
        for i in range(len(times)):
            while True:
                problem.check_cancel()
                budget = min(STEP_LIMIT, int(counts[STEPS]) + calls.budget)
                code, bad = calls.timed(dopri5, y, solver, times[i:i + 1], out, float(times[-1]),
                                        rtol, atol, budget, problem.blowup, counts, scratch, args,
                                        exhausted=lambda r: r[0] == OUT_OF_STEPS)
                bar.update(solver[T_] - bar.n)
                count()
                if code != OUT_OF_STEPS or counts[STEPS] >= STEP_LIMIT:
                    break
            if code != OK:
                return status_of(code, outcome, solver[T_] if code != OUT_OF_STEPS else times[i], bad)
            outcome.ys.append(out[0].copy())
            if problem.stop(out[0]):
                return status_of(STOPPED, outcome, times[i])
    return outcome
