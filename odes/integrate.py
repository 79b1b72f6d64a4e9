"""Integration of the order-parameter ODEs: one entry point, `integrate`.

What to integrate (a `State` and a rule with its parameters), how (``method``) and when to save
(``times``) are separate arguments.  Methods:

``dopri5`` (default)
    the compiled adaptive Dormand-Prince 5(4) pair of `odes.adaptive`, with error control by
    ``rtol``/``atol``, step-size control and dense output: every output time is hit exactly
    without shortening a step, and the whole loop runs in numba.
``bdf``
    the compiled variable-order backward differentiation of `odes.bdf`, for stiff runs (long runs
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
early only when asked (``stop_eps``: once eps_g falls below it at an output time).  A state that
becomes non-finite raises `IntegrationError`, which says when and which quantity, and carries the
result up to the last finite output.  The `Result` reports the work done in ``result.stats``
(accepted and rejected steps, right-hand-side evaluations).
"""
import math

import numpy as np
from numba import njit
from tqdm.auto import tqdm

from . import adaptive, bdf
from .observables import eps_g as _eps_g
from .result import Result
from .parameters import N_NODES
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
def _advance(y, n_steps, dt, rk4, K, M, T, vstar, p, par, ws, quad, scratch):
    """Advance y in place by n_steps fixed steps.  Returns the number of steps done; fewer than
    n_steps means y became non-finite (y then holds the first non-finite state)."""
    k1, k2, k3, k4, tmp = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4]
    for s in range(n_steps):
        _step(y, dt, rk4, K, M, T, vstar, p, par, ws, quad, k1, k2, k3, k4, tmp, y)
        total = 0.0
        for i in range(y.size):
            total += y[i]
        if not math.isfinite(total):
            return s
    return n_steps


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
              progress=None, nodes=None, weight_decay=0.0, activation="erf"):
    """Integrate the order-parameter ODEs of `rule` from `state` (at t = 0).

    state: `odes.State`; rule: 'bp', 'fa', 'afa', 'pepita-lin' or 'pepita' (exact PEPITA, whose
    expectations are evaluated by quadrature with `nodes` per field dimension, default
    `odes.expectations.default_nodes(K+M)`); eta: first-layer learning rate;
    eta_v: second-layer rate (default eta); sigma: label-noise std; train_v: train the second layer;
    weight_decay: kappa >= 0 of theory.md 8.1 (per step w <- w - (kappa/D) w, and v likewise);
    activation: g of teacher and student, 'erf' (default), 'linear' or 'relu' (theory.md 8.2;
    ReLU not with the rules evaluated by quadrature).  times: output times (default
    `default_times(t_max, dt)`; t_max, if also given, must equal the last one); method: 'dopri5'
    (adaptive, default), 'bdf' (stiff), 'rk4', 'euler' or 'scipy-<METHOD>'; rtol, atol: error
    tolerances of the adaptive and scipy methods (atol also bounds how far a converging eps_g is
    resolved: to about atol/3); dt: step of the fixed-step methods.  stop_eps: stop once
    eps_g < stop_eps, stop_above: once eps_g > stop_above (a run that is blowing up; both checked
    at output times, status 'stopped'); progress: show a progress bar (default: only for runs that
    last more than about 2 s).  Returns a `Result`.
    """
    rule = get_rule(rule, ode=True) if isinstance(rule, str) else rule
    state.check_rule(rule)
    y0, args = kernel_args(state, rule, eta, eta_v, sigma, train_v, nodes=nodes,
                           weight_decay=weight_decay, activation=activation)
    check_solver(method, dt, rtol, atol)
    times = _check_times(times, t_max, dt)
    K, M = state.K, state.M
    T, vstar = args[2], args[3]
    run_params = dict(rule=rule.name, K=K, M=M, eta=float(eta),
                      eta_v=float(eta if eta_v is None else eta_v), sigma=float(sigma),
                      train_v=bool(train_v), weight_decay=float(weight_decay),
                      activation=activation, method=method,
                      dt=float(dt), rtol=float(rtol),
                      atol=float(atol), stop_eps=stop_eps, stop_above=stop_above,
                      initial_state=state.to_dict())
    if rule.exact_pepita:
        run_params["nodes"] = int(args[5][N_NODES])

    def stop(y):
        if stop_eps is None and stop_above is None:
            return False
        Q, R, v, _ = unpack(y, K, M)
        with np.errstate(over="ignore", invalid="ignore"):
            e = _eps_g(Q, R, T, v, vstar, activation)
        return bool((stop_eps is not None and e < stop_eps)
                    or (stop_above is not None and not e <= stop_above))

    if method in ADAPTIVE:
        ys, status, detail, stats = _adaptive(y0, times, rtol, atol, args, progress, stop)
    elif method in STIFF:
        ys, status, detail, stats = _bdf(y0, times, rtol, atol, args, progress)
        first = next((i for i, y in enumerate(ys) if stop(y)), None)
        if first is not None:
            ys, status = ys[: first + 1], "stopped"
    elif method in FIXED_STEP:
        ys, status, detail, stats = _fixed_step(y0, times, dt, method == "rk4", args, progress, stop)
    else:   # solve_ivp runs to the end; the stop is applied to its outputs
        ys, status, detail, stats = _scipy(y0, times, method[len("scipy-"):], rtol, atol, args)
        first = next((i for i, y in enumerate(ys) if np.all(np.isfinite(y)) and stop(y)), None)
        if first is not None:
            ys, status = ys[: first + 1], "stopped"

    def finish(status, message):
        n = len(ys)
        Y = np.array(ys).reshape(n, y0.size)
        return Result.from_flat(times[:n], Y, state, rule, run_params, status, message, stats)

    if status == "stopped":
        Q, R, v, _ = unpack(ys[-1], K, M)
        with np.errstate(over="ignore", invalid="ignore"):
            e = _eps_g(Q, R, T, v, vstar, activation)
        which = f"eps_g < {stop_eps}" if stop_eps is not None and e < stop_eps else f"eps_g > {stop_above}"
        return finish(status, f"{which} at t = {times[len(ys) - 1]:g}")
    if status == "nonfinite":
        when, bad = detail
        what = _name_of(bad, K, M, rule.feedback_name or "f") if bad >= 0 else "the state"
        raise IntegrationError(f"the ODE solution became non-finite at t ~ {when:g}: {what} "
                               f"(rule {rule.name}, eta={eta}); try a smaller eta"
                               + (" or dt" if method in FIXED_STEP else ""),
                               finish(status, f"non-finite at t ~ {when:g}: {what}"))
    if status == "failed":
        raise IntegrationError(f"solver failed: {detail}", finish(status, detail))
    message = f"reached t = {times[len(ys) - 1]:g}"
    if stats.get("stiff_at") is not None:
        message += (f"; stiff from t ~ {stats['stiff_at']:.3g} (the steps were bounded by "
                    f"stability there): method 'bdf' takes such runs in fewer evaluations")
    return finish("finished", message)


def _first_nonfinite(x):
    """Index of the first non-finite entry of x."""
    return int(np.flatnonzero(~np.isfinite(x))[0])


def _stats(steps, rejected, rhs):
    return dict(n_steps=steps, n_rejected=rejected, n_rhs=rhs)


def _adaptive(y0, times, rtol, atol, args, progress, stop):
    """The compiled Dormand-Prince integration from t = 0 through `times`; returns (states at
    times, status, detail, stats), detail = (time, index of the first non-finite entry) for
    status 'nonfinite' and a message for 'failed'."""
    y = y0.copy()
    scratch = np.zeros((adaptive.SCRATCH_ROWS, y.size))
    counts = np.zeros(3, np.int64)

    solver = adaptive.new_solver(0.0)            # its first step is set below

    def stats():
        out = _stats(int(counts[adaptive.STEPS]), int(counts[adaptive.REJECTS]),
                     int(counts[adaptive.RHS_CALLS]))
        stiff_at = float(solver[adaptive.STIFF_AT])
        out["stiff_at"] = stiff_at if stiff_at >= 0 else None
        return out

    evaluate(y, scratch[0], *args)
    counts[adaptive.RHS_CALLS] = 2
    if not np.all(np.isfinite(scratch[0])):
        return [], "nonfinite", (0.0, _first_nonfinite(scratch[0])), stats()
    solver[adaptive.H_] = adaptive.initial_step(y, scratch[0], rtol, atol, 4, scratch[7], scratch[8],
                                                *args)
    t_bound = float(times[-1])
    ys = []
    out = np.empty((1, y.size))
    with tqdm(total=t_bound, disable=progress is False, delay=0.0 if progress else 2.0,
              unit="t", leave=False, bar_format="{l_bar}{bar}| t = {n:.4g}/{total:.4g} [{elapsed}]") as bar:
        for i in range(len(times)):
            code, bad = adaptive.dopri5(y, solver, times[i:i + 1], out, t_bound, rtol, atol,
                                        MAX_STEPS, counts, scratch, *args)
            bar.update(solver[adaptive.T_] - bar.n)
            if code == adaptive.NONFINITE:
                return ys, "nonfinite", (solver[adaptive.T_], bad), stats()
            if code == adaptive.MAX_STEPS:
                return ys, "failed", f"more than {MAX_STEPS} steps before t = {times[i]:g}", stats()
            ys.append(out[0].copy())
            if stop(out[0]):
                return ys, "stopped", "", stats()
    return ys, "finished", "", stats()


def _bdf(y0, times, rtol, atol, args, progress):
    """The compiled BDF integration from t = 0 through `times` in one call (the stop condition is
    applied to its outputs afterwards); returns (states at times, status, detail, stats)."""
    y = y0.copy()
    out = np.full((len(times), y.size), np.nan)
    counts = np.zeros(5, np.int64)
    with tqdm(total=1, disable=progress is not True, unit="run", leave=False):
        code, t_end, bad = bdf.bdf(y, np.asarray(times, float), out, rtol, atol, MAX_STEPS, counts,
                                   *args)
    stats = _stats(int(counts[bdf.STEPS]), int(counts[bdf.REJECTS]), int(counts[bdf.RHS_CALLS]))
    stats.update(n_jacobians=int(counts[bdf.JACOBIANS]), n_inversions=int(counts[bdf.INVERSIONS]))
    reached = np.all(np.isfinite(out), axis=1) & (np.asarray(times) <= t_end)
    done = list(out[: int(np.argmin(reached)) if not reached.all() else len(times)])
    if code == adaptive.NONFINITE:
        return done, "nonfinite", (t_end, bad), stats
    if code == adaptive.MAX_STEPS:
        return done, "failed", f"more than {MAX_STEPS} steps before t = {t_end:g}", stats
    return done, "finished", "", stats


def _fixed_step(y0, times, dt, rk4, args, progress, stop):
    """Fixed-step integration on the integer grid; returns (states at times, status, detail, stats).
    Ends early with status 'stopped' at the first output state for which stop(state) is true."""
    K, M = args[0], args[1]
    y = y0.copy()
    scratch = np.zeros((5, y.size))
    grid_steps = np.floor(times / dt + 1e-9).astype(np.int64)
    rest = times - grid_steps * dt
    total = int(grid_steps[-1])
    if progress is None:
        progress = total * (K + M) ** 4 > 1.25e8       # longer than about 2 s
    ys, done, extra = [], 0, 0
    per_step = 4 if rk4 else 1

    def stats():
        return _stats(done + extra, 0, per_step * (done + extra))

    with tqdm(total=total, disable=not progress, unit="step", leave=False) as bar:
        for target, r in zip(grid_steps, rest):
            n = int(target - done)
            made = _advance(y, n, dt, rk4, *args, scratch)
            bar.update(made)
            done += made
            if made < n:
                return ys, "nonfinite", ((done + 1) * dt, _first_nonfinite(y)), stats()
            out = y.copy()
            if r > 1e-12 * dt:
                _step(y, r, rk4, *args, *scratch, out)
                extra += 1
            if not np.all(np.isfinite(out)):
                return ys, "nonfinite", (done * dt + r, _first_nonfinite(out)), stats()
            ys.append(out)
            if stop(out):
                return ys, "stopped", "", stats()
    return ys, "finished", "", stats()


def _scipy(y0, times, method, rtol, atol, args):
    """solve_ivp from t = 0 (not from the first output time) to the last output time."""
    from scipy.integrate import solve_ivp
    dy = np.zeros_like(y0)

    def fun(t, y):
        evaluate(np.ascontiguousarray(y), dy, *args)
        return dy.copy()

    sol = solve_ivp(fun, (0.0, times[-1]), y0, method=method, t_eval=times, rtol=rtol, atol=atol)
    stats = _stats(None, None, int(sol.nfev))
    ys = list(sol.y.T)
    bad = [i for i, y in enumerate(ys) if not np.all(np.isfinite(y))]
    if bad:
        k = bad[0]
        return ys[:k], "nonfinite", (times[k], _first_nonfinite(ys[k])), stats
    if not sol.success:
        return ys, "failed", sol.message, stats
    return ys, "finished", "", stats
