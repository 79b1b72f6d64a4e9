"""Integration of the order-parameter ODEs: one entry point, `integrate`.

What to integrate (a `State` and a rule with its parameters), how (``method``) and when to save
(``times``) are separate arguments.  Methods:

``dopri5`` (default)
    the compiled adaptive Dormand-Prince 5(4) pair of `odes.solvers.dopri5`, with error control by
    ``rtol``/``atol``, step-size control and dense output: every output time is hit exactly
    without shortening a step, and the whole loop runs in numba.
``bdf``
    the compiled variable-order backward differentiation of `odes.solvers.bdf`, for stiff runs (long runs
    at small eta near a fixed point); one compiled call, outputs from its interpolating polynomial.
``rk4``, ``euler``
    fixed steps of ``dt`` on the grid t = n dt with an integer step counter, so there is no
    accumulated float drift; an output time that is not a multiple of dt is reached by one extra
    step of the remaining length from the grid state, which does not alter the grid trajectory.
    For comparisons with published fixed-step codes.
``scipy-<METHOD>``
    scipy.integrate.solve_ivp with that method (e.g. ``scipy-LSODA``, ``scipy-DOP853``), rtol and
    atol; it calls the compiled right-hand side from Python at every evaluation.

Every method starts at the state's time t = 0, whatever the first output time.  Integration stops
early when asked (``stop_eps``: once eps_g falls below it at an output time) and when the run
diverges: once some Q_kk or v_k^2 exceeds ``blowup`` (`odes.divergence`, the simulator's threshold)
or the state becomes non-finite, checked after every step of every method.  A diverged run raises
`IntegrationError`, which says when and which quantity, and carries the result (status
'diverged', ``t_diverged``) up to the last output before the divergence.  Ctrl-C stops every
method within a fraction of a second (KeyboardInterrupt), and so does setting ``cancel``.  The `Result` reports the work done in ``result.stats``
(accepted and rejected steps, right-hand-side evaluations).
"""
import math
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, TimeoutError

import numpy as np
from numba import njit
from tqdm.auto import tqdm

from .solvers import bdf, dopri5
from .divergence import BLOWUP, blown_up
from .gaussian.expectations import accuracy_note
from .observables import eps_g as _eps_g
from .result import Result
from .rhs.parameters import N_NODES
from .rhs import evaluate, kernel_args, layout, rhs_kernel, unpack
from .rules import get_rule

FIXED_STEP = ("rk4", "euler")
#: the methods of scipy.integrate.solve_ivp, used as 'scipy-<METHOD>'
SCIPY_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
ADAPTIVE = ("dopri5",)
STIFF = ("bdf",)
DEFAULT_METHOD = "dopri5"
#: accepted steps after which the adaptive method gives up (status 'failed')
MAX_STEPS = 10**8
#: wall time of one compiled call between checks for an interrupt (and progress-bar updates)
CALL_SECONDS = 0.1


class AccuracyWarning(UserWarning):
    """The default quadrature is coarser than at K + M = 4 (see `odes.gaussian.expectations.accuracy_note`)."""


class IntegrationError(RuntimeError):
    """The ODE solution became non-finite or the solver failed; `.result` holds what was done."""

    def __init__(self, message, result=None):
        super().__init__(message)
        self.result = result


def default_times(t_max, dt=0.01, n=100):
    """0 and about n log-spaced times up to t_max, each a multiple of dt (t_max included)."""
    if not (t_max > 0 and math.isfinite(t_max)):
        raise ValueError(f"t_max must be finite and > 0, got {t_max!r}")
    n_max = max(1, int(round(t_max / dt)))
    steps = np.unique(np.round(np.geomspace(1, n_max, n)).astype(np.int64))
    t = np.concatenate([[0.0], steps * dt])
    t[-1] = t_max
    return t


@njit(cache=True, error_model="numpy", inline="always")
def _step(y, dt, rk4, K, M, T, vstar, p, par, ws, quad, k1, k2, k3, k4, tmp, out):
    """One Euler or RK4 step of length dt from y into out (out may be y)."""
    n = y.size
    rhs_kernel(y, k1, K, M, T, vstar, p, par, ws, quad)
    if not rk4:
        for i in range(n):
            out[i] = y[i] + dt * k1[i]
        return
    for i in range(n):
        tmp[i] = y[i] + 0.5 * dt * k1[i]
    rhs_kernel(tmp, k2, K, M, T, vstar, p, par, ws, quad)
    for i in range(n):
        tmp[i] = y[i] + 0.5 * dt * k2[i]
    rhs_kernel(tmp, k3, K, M, T, vstar, p, par, ws, quad)
    for i in range(n):
        tmp[i] = y[i] + dt * k3[i]
    rhs_kernel(tmp, k4, K, M, T, vstar, p, par, ws, quad)
    for i in range(n):
        out[i] = y[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])


@njit(cache=True, error_model="numpy", nogil=True)
def _advance(y, n_steps, dt, rk4, limit, K, M, T, vstar, p, par, ws, quad, scratch):
    """Advance y in place by n_steps fixed steps.  Returns (steps done, index): fewer than n_steps
    means y diverged (non-finite, or Q_kk or v_k^2 beyond `limit`; y then holds that state and
    index names an entry at fault)."""
    k1, k2, k3, k4, tmp = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4]
    for s in range(n_steps):
        _step(y, dt, rk4, K, M, T, vstar, p, par, ws, quad, k1, k2, k3, k4, tmp, y)
        for i in range(y.size):
            if not math.isfinite(y[i]):
                return s, i
        bad = blown_up(y, K, M, limit)
        if bad >= 0:
            return s, bad
    return n_steps, -1


def _name_of(index, K, M, feedback_name):
    """Human name of entry `index` of the flat state vector, e.g. 'Q[0,1]'."""
    lay = layout(K, M)
    for key, shape in (("Q", (K, K)), ("R", (K, M)), ("v", (K,)), ("f", (K,))):
        sl = lay[key]
        if sl.start <= index < sl.stop:
            idx = np.unravel_index(index - sl.start, shape)
            name = feedback_name if key == "f" else key
            return f"{name}[{','.join(map(str, idx))}]"
    return f"y[{index}]"


def check_solver(method, dt=0.01, rtol=1e-8, atol=1e-14):
    """Raise ValueError unless `method` is 'dopri5', 'bdf', 'rk4', 'euler' or 'scipy-<METHOD>',
    dt is finite and > 0, rtol is in (0, 1) and atol >= 0 (both finite)."""
    known = ADAPTIVE + STIFF + FIXED_STEP + tuple(f"scipy-{m}" for m in SCIPY_METHODS)
    if method not in known:
        raise ValueError(f"unknown method {method!r}; use dopri5, bdf, rk4, euler or scipy-<METHOD> with "
                         f"METHOD one of {', '.join(SCIPY_METHODS)}")
    for name, x, ok in (("dt", dt, lambda x: x > 0), ("rtol", rtol, lambda x: 0 < x < 1),
                        ("atol", atol, lambda x: x >= 0)):
        try:
            good = math.isfinite(float(x)) and ok(float(x))
        except (TypeError, ValueError):
            good = False
        if not good:
            limits = {"dt": "> 0", "rtol": "in (0, 1)", "atol": ">= 0"}[name]
            raise ValueError(f"{name} must be finite and {limits}, got {x!r}")


def _check_times(times, t_max, dt):
    if times is None:
        if t_max is None:
            raise ValueError("give t_max or times")
        return default_times(t_max, dt)
    times = np.asarray(times, dtype=float).ravel()
    if times.size == 0 or not np.all(np.isfinite(times)) or times[0] < 0 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be finite, >= 0 and strictly increasing")
    if t_max is not None and t_max != times[-1]:
        raise ValueError(f"t_max = {t_max:g} disagrees with the last output time {times[-1]:g}")
    return times


def integrate(state, rule, eta, *, times=None, t_max=None, eta_v=None, sigma=0.0, train_v=True,
              method=DEFAULT_METHOD, dt=0.01, rtol=1e-8, atol=1e-14, stop_eps=None, stop_above=None,
              progress=None, nodes=None, weight_decay=0.0, activation="erf", blowup=BLOWUP,
              cancel=None):
    """Integrate the order-parameter ODEs of `rule` from `state` (at t = 0).

    state: `odes.State`; rule: a name of `odes.ODE_RULES` or its `Rule`: 'bp', 'fa', 'afa',
    'pepita-lin' (closed forms), 'pepita' (exact PEPITA), 'pepita-hebbian' or 'pepita-tl' (its
    Hebbian and time-local forms; these three by quadrature with `nodes` per field dimension,
    default `odes.gaussian.expectations.default_nodes(K+M)`, said in a warning where that is below the
    accurate default); eta: first-layer learning rate;
    eta_v: second-layer rate (default eta); sigma: label-noise std; train_v: train the second layer;
    weight_decay: kappa >= 0 of theory.md 8.1 (per step w <- w - (kappa/D) w, and v likewise);
    activation: g of teacher and student, 'erf' (default), 'linear' or 'relu' (theory.md 8.2;
    ReLU not with the rules evaluated by quadrature).  times: output times (default
    `default_times(t_max, dt)`; t_max, if also given, must equal the last one); method: 'dopri5'
    (adaptive, default), 'bdf' (stiff), 'rk4', 'euler' or 'scipy-<METHOD>'; rtol, atol: error
    tolerances of the adaptive and scipy methods (atol also bounds how far a converging eps_g is
    resolved: to about atol/3); dt: step of the fixed-step methods.  stop_eps: stop once
    eps_g < stop_eps, stop_above: once eps_g > stop_above (both checked at output times, status
    'stopped').  blowup: the run has diverged once some Q_kk or v_k^2 exceeds it (default
    `odes.divergence.BLOWUP`, the simulator's; checked after every step): `IntegrationError`.
    progress: show a progress bar (default: only for runs that last more than about 2 s).
    cancel: a `threading.Event` that stops the run when set (KeyboardInterrupt), for integrations
    on threads that Ctrl-C does not reach.  Returns a `Result`.
    """
    rule = get_rule(rule) if isinstance(rule, str) else rule
    state.check_rule(rule)
    y0, args = kernel_args(state, rule, eta, eta_v, sigma, train_v, nodes=nodes,
                           weight_decay=weight_decay, activation=activation)
    check_solver(method, dt, rtol, atol)
    if not (isinstance(blowup, (int, float)) and blowup > 0):
        raise ValueError(f"blowup must be a number > 0, got {blowup!r}")
    times = _check_times(times, t_max, dt)
    K, M = state.K, state.M
    T, vstar = args[2], args[3]
    run_params = dict(rule=rule.name, K=K, M=M, eta=float(eta),
                      eta_v=float(eta if eta_v is None else eta_v), sigma=float(sigma),
                      train_v=bool(train_v), weight_decay=float(weight_decay),
                      activation=activation, method=method,
                      dt=float(dt), rtol=float(rtol),
                      atol=float(atol), stop_eps=stop_eps, stop_above=stop_above,
                      blowup=float(blowup), initial_state=state.to_dict())
    if rule.exact_pepita:
        run_params["nodes"] = int(args[5][N_NODES])
        note = accuracy_note(K + M) if nodes is None else None
        if note:
            warnings.warn(f"{rule.name} ODE: {note}", AccuracyWarning, stacklevel=2)

    def stop(y):
        if stop_eps is None and stop_above is None:
            return False
        Q, R, v, _ = unpack(y, K, M)
        with np.errstate(over="ignore", invalid="ignore"):
            e = _eps_g(Q, R, T, v, vstar, activation)
        return bool((stop_eps is not None and e < stop_eps)
                    or (stop_above is not None and not e <= stop_above))

    run = _Run(y0, times, args, float(blowup), progress, cancel)
    if method in ADAPTIVE:
        status, detail = _adaptive(run, rtol, atol, stop)
    elif method in STIFF:
        status, detail = _bdf(run, rtol, atol)
    elif method in FIXED_STEP:
        status, detail = _fixed_step(run, dt, method == "rk4", stop)
    else:
        status, detail = _scipy(run, method[len("scipy-"):], rtol, atol)
    ys = run.ys
    if status == "finished" and method in STIFF + tuple(f"scipy-{m}" for m in SCIPY_METHODS):
        first = next((i for i, y in enumerate(ys) if stop(y)), None)    # applied afterwards
        if first is not None:
            del ys[first + 1:]
            status = "stopped"

    def finish(status, message, t_diverged=None):
        n = len(ys)
        Y = np.array(ys).reshape(n, y0.size)
        return Result.from_flat(times[:n], Y, state, rule, run_params, status, message, run.stats,
                                t_diverged=t_diverged)

    if status == "stopped":
        Q, R, v, _ = unpack(ys[-1], K, M)
        with np.errstate(over="ignore", invalid="ignore"):
            e = _eps_g(Q, R, T, v, vstar, activation)
        which = f"eps_g < {stop_eps}" if stop_eps is not None and e < stop_eps else f"eps_g > {stop_above}"
        return finish(status, f"{which} at t = {times[len(ys) - 1]:g}")
    if status == "diverged":
        when, bad, nonfinite = detail
        what = _name_of(bad, K, M, rule.feedback_name or "f") if bad >= 0 else "the state"
        how = "became non-finite" if nonfinite else f"exceeded {blowup:g}"
        if not nonfinite and what.startswith("v"):
            how = f"squared {how}"
        message = f"diverged at t ~ {when:.4g}: {what} {how}"
        raise IntegrationError(f"the ODE solution {message} (rule {rule.name}, eta={eta}); try a "
                               f"smaller eta" + (" or dt" if method in FIXED_STEP else ""),
                               finish(status, message, when))
    if status == "failed":
        raise IntegrationError(f"solver failed: {detail}", finish(status, detail))
    message = f"reached t = {times[len(ys) - 1]:g}"
    if run.stats.get("stiff_at") is not None:
        message += (f"; stiff from t ~ {run.stats['stiff_at']:.3g} (the steps were bounded by "
                    f"stability there): method 'bdf' takes such runs in fewer evaluations")
    return finish("finished", message)


class _Run:
    """What every driver shares: the start, output times, kernel arguments, blow-up threshold, the
    outputs so far (`ys`), the work done (`stats`), the progress bar and the interrupt checks."""

    def __init__(self, y0, times, args, blowup, progress, cancel):
        self.y0, self.times, self.args, self.blowup = y0, times, args, blowup
        self.progress, self.cancel = progress, cancel
        self.ys, self.stats = [], _stats(0, 0, 0)

    def bar(self):
        """A progress bar over the run's time t with the time left; shown after 2 s by default."""
        return tqdm(total=float(self.times[-1]), disable=self.progress is False,
                    delay=0.0 if self.progress else 2.0, unit="t", leave=False,
                    bar_format="{l_bar}{bar}| t = {n:.4g}/{total:.4g} [{elapsed}<{remaining}]")

    def check_cancel(self):
        if self.cancel is not None and self.cancel.is_set():
            raise KeyboardInterrupt


class _Calls:
    """Compiled calls of a step budget that keeps each near CALL_SECONDS of wall time, so that an
    interrupt is seen and the bar moves that often.  After a call the budget is scaled by
    CALL_SECONDS / (its time): down after a long call, up (at most 2x) only after a call that
    used its whole budget (one that ended at an output time says nothing about a longer one)."""

    def __init__(self, start=8):
        self.budget = start

    def timed(self, fn, *args, exhausted):
        """fn(*args), then the budget adapted; exhausted(result) says whether it used it all."""
        t0 = time.perf_counter()
        out = fn(*args)
        scale = CALL_SECONDS / max(time.perf_counter() - t0, 1e-9)
        scale = min(scale, 2.0 if exhausted(out) else 1.0)
        self.budget = int(min(max(1, self.budget * scale), 2**24))
        return out


def _first_nonfinite(x):
    """Index of the first non-finite entry of x."""
    return int(np.flatnonzero(~np.isfinite(x))[0])


def _stats(steps, rejected, rhs):
    return dict(n_steps=steps, n_rejected=rejected, n_rhs=rhs)


def _adaptive(run, rtol, atol, stop):
    """The compiled Dormand-Prince integration from t = 0 through the output times, in calls of a
    step budget; returns (status, detail): detail = (time, index at fault, non-finite?) for
    'diverged' and a message for 'failed'."""
    y, times, args = run.y0.copy(), run.times, run.args
    scratch = np.zeros((dopri5.SCRATCH_ROWS, y.size))
    counts = np.zeros(3, np.int64)
    solver = dopri5.new_solver(0.0)            # its first step is set below

    def stats():
        run.stats = _stats(int(counts[dopri5.STEPS]), int(counts[dopri5.REJECTS]),
                           int(counts[dopri5.RHS_CALLS]))
        stiff_at = float(solver[dopri5.STIFF_AT])
        run.stats["stiff_at"] = stiff_at if stiff_at >= 0 else None

    evaluate(y, scratch[0], *args)
    counts[dopri5.RHS_CALLS] = 2
    stats()
    if not np.all(np.isfinite(scratch[0])):
        return "diverged", (0.0, _first_nonfinite(scratch[0]), True)
    solver[dopri5.H_] = dopri5.initial_step(y, scratch[0], rtol, atol, 4, scratch[7], scratch[8],
                                                *args)
    t_bound = float(times[-1])
    out = np.empty((1, y.size))
    calls = _Calls()
    with run.bar() as bar:
        for i in range(len(times)):
            while True:
                run.check_cancel()
                budget = min(MAX_STEPS, int(counts[dopri5.STEPS]) + calls.budget)
                code, bad = calls.timed(dopri5.dopri5, y, solver, times[i:i + 1], out, t_bound,
                                        rtol, atol, budget, run.blowup, counts, scratch, *args,
                                        exhausted=lambda r: r[0] == dopri5.MAX_STEPS)
                bar.update(solver[dopri5.T_] - bar.n)
                stats()
                if code != dopri5.MAX_STEPS or counts[dopri5.STEPS] >= MAX_STEPS:
                    break
            if code in (dopri5.NONFINITE, dopri5.DIVERGED):
                return "diverged", (solver[dopri5.T_], bad, code == dopri5.NONFINITE)
            if code == dopri5.MAX_STEPS:
                return "failed", f"more than {MAX_STEPS} steps before t = {times[i]:g}"
            run.ys.append(out[0].copy())
            if stop(out[0]):
                return "stopped", ""
    return "finished", ""


def _bdf(run, rtol, atol):
    """The compiled BDF integration from t = 0 through the output times in one call on a thread
    (which an interrupt stops through its `abort` flag); the stop condition is applied to its
    outputs afterwards.  Returns (status, detail) as `_adaptive`."""
    y, times = run.y0.copy(), np.asarray(run.times, float)
    out = np.full((len(times), y.size), np.nan)
    counts = np.zeros(5, np.int64)
    abort = np.zeros(1, np.int64)
    with run.bar() as bar, ThreadPoolExecutor(1) as pool:
        job = pool.submit(bdf.bdf, y, times, out, rtol, atol, MAX_STEPS, run.blowup, abort, counts,
                          *run.args)
        try:
            while True:
                try:
                    code, t_end, bad = job.result(timeout=CALL_SECONDS)
                    break
                except TimeoutError:
                    run.check_cancel()
                    bar.update(0)                # shows the bar (elapsed time) after its delay
            bar.update(min(t_end, bar.total) - bar.n)
        except KeyboardInterrupt:
            abort[0] = 1
            job.result()
            raise
    run.stats = _stats(int(counts[bdf.STEPS]), int(counts[bdf.REJECTS]), int(counts[bdf.RHS_CALLS]))
    run.stats.update(n_jacobians=int(counts[bdf.JACOBIANS]), n_inversions=int(counts[bdf.INVERSIONS]))
    reached = np.all(np.isfinite(out), axis=1) & (times <= t_end)
    run.ys = list(out[: int(np.argmin(reached)) if not reached.all() else len(times)])
    if code in (dopri5.NONFINITE, dopri5.DIVERGED):
        return "diverged", (t_end, bad, code == dopri5.NONFINITE)
    if code == dopri5.MAX_STEPS:
        return "failed", f"more than {MAX_STEPS} steps before t = {t_end:g}"
    return "finished", ""


def _fixed_step(run, dt, rk4, stop):
    """Fixed-step integration on the integer grid, in calls of a step budget; returns (status,
    detail) as `_adaptive`.  Ends early with status 'stopped' at the first output state for which
    stop(state) is true."""
    y, times, args = run.y0.copy(), run.times, run.args
    scratch = np.zeros((5, y.size))
    grid_steps = np.floor(times / dt + 1e-9).astype(np.int64)
    rest = times - grid_steps * dt
    done, extra = 0, 0
    per_step = 4 if rk4 else 1
    calls = _Calls()

    def stats():
        run.stats = _stats(done + extra, 0, per_step * (done + extra))

    with run.bar() as bar:
        for target, r in zip(grid_steps, rest):
            while done < target:
                run.check_cancel()
                n = int(min(target - done, calls.budget))
                made, bad = calls.timed(_advance, y, n, dt, rk4, run.blowup, *args, scratch,
                                        exhausted=lambda r: r[0] == calls.budget)
                done += made
                stats()
                bar.update(done * dt - bar.n)
                if made < n:
                    return "diverged", ((done + 1) * dt, bad, not np.isfinite(y[bad]))
            out = y.copy()
            if r > 1e-12 * dt:
                _step(y, r, rk4, *args, *scratch, out)
                extra += 1
                stats()
            bad = _first_diverged(out, args, run.blowup)
            if bad is not None:
                return "diverged", (done * dt + r, *bad)
            run.ys.append(out)
            if stop(out):
                return "stopped", ""
    return "finished", ""


def _first_diverged(y, args, limit):
    """(index at fault, non-finite?) if the packed state y has diverged, else None."""
    if not np.all(np.isfinite(y)):
        return _first_nonfinite(y), True
    bad = blown_up(y, args[0], args[1], limit)
    return None if bad < 0 else (bad, False)


def _scipy(run, method, rtol, atol):
    """solve_ivp from t = 0 (not from the first output time) to the last output time, ended by a
    terminal event where the run diverges.  Returns (status, detail) as `_adaptive`."""
    from scipy.integrate import solve_ivp
    y0, times, args, limit = run.y0, run.times, run.args, run.blowup
    K, M = args[0], args[1]
    dy = np.zeros_like(y0)
    lay = layout(K, M)
    at_Q = lay["Q"].start + np.arange(K) * (K + 1)          # the Q_kk of the packed state

    def sizes(y):              # the quantities of odes.divergence: Q_kk, then v_k^2
        return np.concatenate([y[at_Q], y[lay["v"]] ** 2])

    def fun(t, y):
        run.check_cancel()
        evaluate(np.ascontiguousarray(y), dy, *args)
        return dy.copy()

    def margin(t, y):          # > 0 while every Q_kk and v_k^2 is below the threshold
        return limit - np.max(sizes(y))
    margin.terminal = True

    sol = solve_ivp(fun, (0.0, times[-1]), y0, method=method, t_eval=times, rtol=rtol, atol=atol,
                    events=margin)
    run.stats = _stats(None, None, int(sol.nfev))
    run.ys = list(sol.y.T)
    for k, y in enumerate(run.ys):
        bad = _first_diverged(y, args, limit)
        if bad is not None:
            del run.ys[k:]
            return "diverged", (times[k], *bad)
    if sol.status == 1:                       # the event: diverged between two output times
        at = int(np.argmax(sizes(sol.y_events[0][0])))
        return "diverged", (float(sol.t_events[0][0]),
                            int(at_Q[at]) if at < K else lay["v"].start + at - K, False)
    if not sol.success:
        return "failed", sol.message
    return "finished", ""
