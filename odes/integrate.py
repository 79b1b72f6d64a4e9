"""Integration of the order-parameter ODEs: one entry point, `integrate`.

What to integrate (a `State` and a rule with its parameters), how (``method``: 'rk4' (default),
'euler', or 'scipy-<METHOD>' for scipy.integrate.solve_ivp with rtol/atol) and when to save
(``times``) are separate arguments.

Fixed-step methods advance on the grid t = n dt with an integer step counter, so there is no
accumulated float drift; an output time that is not a multiple of dt is reached by one extra step
of the remaining length from the grid state, which does not alter the grid trajectory.  Integration
stops early only when asked (``stop_eps``: once eps_g falls below it).  A state that becomes
non-finite raises `IntegrationError`, which says when and which quantity, and carries the result up
to the last finite output.
"""
import math

import numpy as np
from numba import njit
from tqdm.auto import tqdm

from .observables import eps_g as _eps_g
from .result import Result
from .rhs import constants, layout, pack, params, rhs_kernel, unpack, workspace_size
from .rules import get_rule

FIXED_STEP = ("rk4", "euler")


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


@njit(cache=True, error_model="numpy")
def _step(y, dt, rk4, K, M, T, vstar, p, par, ws, k1, k2, k3, k4, tmp, out):
    """One Euler or RK4 step of length dt from y into out (out may be y)."""
    n = y.size
    rhs_kernel(y, k1, K, M, T, vstar, p, par, ws)
    if not rk4:
        for i in range(n):
            out[i] = y[i] + dt * k1[i]
        return
    for i in range(n):
        tmp[i] = y[i] + 0.5 * dt * k1[i]
    rhs_kernel(tmp, k2, K, M, T, vstar, p, par, ws)
    for i in range(n):
        tmp[i] = y[i] + 0.5 * dt * k2[i]
    rhs_kernel(tmp, k3, K, M, T, vstar, p, par, ws)
    for i in range(n):
        tmp[i] = y[i] + dt * k3[i]
    rhs_kernel(tmp, k4, K, M, T, vstar, p, par, ws)
    for i in range(n):
        out[i] = y[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])


@njit(cache=True, error_model="numpy")
def _advance(y, n_steps, dt, rk4, K, M, T, vstar, p, par, ws, scratch):
    """Advance y in place by n_steps fixed steps.  Returns the number of steps done; fewer than
    n_steps means y became non-finite (y then holds the first non-finite state)."""
    k1, k2, k3, k4, tmp = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4]
    for s in range(n_steps):
        _step(y, dt, rk4, K, M, T, vstar, p, par, ws, k1, k2, k3, k4, tmp, y)
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


def check_solver(method, dt):
    """Raise ValueError unless `method` is 'rk4', 'euler' or 'scipy-<METHOD>' and dt is finite > 0."""
    if not isinstance(method, str) or not (method in FIXED_STEP or method.startswith("scipy-")):
        raise ValueError(f"unknown method {method!r}; use 'rk4', 'euler' or 'scipy-<METHOD>'")
    try:
        ok = float(dt) > 0 and math.isfinite(float(dt))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"dt must be finite and > 0, got {dt!r}")


def _check_times(times, t_max, dt):
    if times is None:
        if t_max is None:
            raise ValueError("give t_max or times")
        return default_times(t_max, dt)
    times = np.asarray(times, dtype=float).ravel()
    if times.size == 0 or not np.all(np.isfinite(times)) or times[0] < 0 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be finite, >= 0 and strictly increasing")
    return times


def integrate(state, rule, eta, *, times=None, t_max=None, eta_v=None, sigma=0.0, train_v=True,
              method="rk4", dt=0.01, rtol=1e-8, atol=1e-10, stop_eps=None, progress=None):
    """Integrate the order-parameter ODEs of `rule` from `state`.

    state: `odes.State`; rule: 'bp', 'fa', 'afa' or 'pepita-lin'; eta: first-layer learning rate;
    eta_v: second-layer rate (default eta); sigma: label-noise std; train_v: train the second layer.
    times: output times (default `default_times(t_max, dt)`); method: 'rk4', 'euler' or
    'scipy-<METHOD>' (e.g. 'scipy-LSODA', 'scipy-RK45' with rtol, atol); dt: fixed step size.
    stop_eps: stop once eps_g < stop_eps (checked at output times); progress: show a progress bar
    (default: only for long fixed-step runs).  Returns a `Result`.
    """
    rule = get_rule(rule, ode=True) if isinstance(rule, str) else rule
    state.check_rule(rule)
    par = params(state, rule, eta, eta_v, sigma, train_v)
    check_solver(method, dt)
    times = _check_times(times, t_max, dt)
    K, M = state.K, state.M
    T, vstar, p = constants(state)
    y0 = pack(state, rule)
    run_params = dict(rule=rule.name, K=K, M=M, eta=float(eta),
                      eta_v=float(eta if eta_v is None else eta_v), sigma=float(sigma),
                      train_v=bool(train_v), method=method, dt=float(dt), rtol=float(rtol),
                      atol=float(atol), stop_eps=stop_eps, initial_state=state.to_dict())
    ws = np.zeros(workspace_size(K, M))
    args = (K, M, T, vstar, p, par, ws)

    def finish(ys, status, message):
        n = len(ys)
        return Result.from_flat(times[:n], np.array(ys).reshape(n, -1), state, rule, run_params,
                                status, message)

    def stop(y):
        if stop_eps is None:
            return False
        Q, R, v, _ = unpack(y, K, M)
        return bool(_eps_g(Q, R, T, v, vstar) < stop_eps)

    if method in FIXED_STEP:
        ys, status, message = _fixed_step(y0, times, dt, method == "rk4", args, progress, stop)
    else:   # solve_ivp runs to the end; the stop is applied to its outputs
        ys, status, message = _scipy(y0, times, method[len("scipy-"):], rtol, atol, args)
        first = next((i for i, y in enumerate(ys) if np.all(np.isfinite(y)) and stop(y)), None)
        if first is not None:
            ys, status = ys[: first + 1], "stopped"
    if status == "stopped":
        return finish(ys, status, f"eps_g < {stop_eps} at t = {times[len(ys) - 1]:g}")
    if status == "nonfinite":
        res = finish(ys[:-1], status, message)
        bad = int(np.flatnonzero(~np.isfinite(ys[-1]))[0])
        raise IntegrationError(f"the ODE solution became non-finite at t ~ {message:g}: "
                               f"{_name_of(bad, K, M, rule.feedback_name or 'f')} "
                               f"(rule {rule.name}, eta={eta}); try a smaller eta or dt", res)
    if status == "failed":
        raise IntegrationError(f"solver failed: {message}", finish(ys, status, message))
    return finish(ys, "finished", f"reached t = {times[len(ys) - 1]:g}")


def _fixed_step(y0, times, dt, rk4, args, progress, stop):
    """Fixed-step integration on the integer grid; returns (states at times, status, message).
    Ends early with status 'stopped' at the first output state for which stop(state) is true."""
    K, M = args[0], args[1]
    y = y0.copy()
    scratch = np.zeros((5, y.size))
    grid_steps = np.floor(times / dt + 1e-9).astype(np.int64)
    rest = times - grid_steps * dt
    total = int(grid_steps[-1])
    if progress is None:
        progress = total * (K + M) ** 4 > 1.25e8       # longer than about 2 s
    ys, done = [], 0
    with tqdm(total=total, disable=not progress, unit="step", leave=False) as bar:
        for target, r in zip(grid_steps, rest):
            n = int(target - done)
            made = _advance(y, n, dt, rk4, *args, scratch)
            bar.update(made)
            done += made
            if made < n:
                ys.append(y.copy())
                return ys, "nonfinite", (done + 1) * dt
            out = y.copy()
            if r > 1e-12 * dt:
                _step(y, r, rk4, *args, *scratch, out)
            if not np.all(np.isfinite(out)):
                ys.append(out)
                return ys, "nonfinite", done * dt + r
            ys.append(out)
            if stop(out):
                return ys, "stopped", ""
    return ys, "finished", ""


def _scipy(y0, times, method, rtol, atol, args):
    from scipy.integrate import solve_ivp
    dy = np.zeros_like(y0)

    def fun(t, y):
        rhs_kernel(np.ascontiguousarray(y), dy, *args)
        return dy.copy()

    try:
        sol = solve_ivp(fun, (times[0], times[-1]), y0, method=method, t_eval=times, rtol=rtol, atol=atol)
    except ValueError as err:           # e.g. an unknown method name
        raise ValueError(f"scipy solve_ivp: {err}") from None
    ys = list(sol.y.T)
    if ys and not np.all(np.isfinite(ys[-1])):
        k = next(i for i, y in enumerate(ys) if not np.all(np.isfinite(y)))
        return ys[: k + 1], "nonfinite", times[k]
    if not sol.success:
        return ys, "failed", sol.message
    return ys, "finished", ""
