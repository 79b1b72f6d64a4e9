"""Helpers shared by the figure scripts: parameters (full size / small), record times, simulation
with the per-seed ODE, and compact statistics.  Everything physical is delegated to `odes` and
`simulate`."""
import time

import numpy as np

import odes
import simulate
from simulate import integrate_seeds

from .style import is_small


def resolve(params, small_params, small=None, overrides=None):
    """The parameters of a run: PARAMS, updated by SMALL when small, then by explicit overrides.
    Unknown override keys raise TypeError (a typo should not pass silently)."""
    small = is_small(small)
    out = dict(params)
    if small:
        out.update(small_params)
    for key, value in (overrides or {}).items():
        if key not in params:
            raise TypeError(f"unknown parameter {key!r}; known: {', '.join(sorted(params))}")
        out[key] = value
    out["small"] = small
    return out


def log_times(t_max, n, t_min=0.1):
    """0 and n log-spaced times from t_min to t_max (the simulation rounds them to steps/D)."""
    return np.concatenate([[0.0], np.geomspace(t_min, t_max, n)])


def sigma_F_of(phi_F, D):
    """Entry std of F such that E|F|^2 = phi_F (F_i ~ N(0, sigma_F^2), |F|^2 ~ sigma_F^2 D)."""
    return float(np.sqrt(phi_F / D))


def run_with_ode(rule, K, M, D, eta, times, seeds, jobs=2, weights=None, ode_rules=None, **kw):
    """Simulate `rule` and integrate, from every seed's measured initial order parameters, each
    ODE rule in `ode_rules` (default: the theory line of `simulate.compare`) with odes'
    default adaptive method; kw go to `simulate.run`.

    Returns (Simulation, {ode_rule: dict of (S, n, ...) arrays}, seconds).  Custom `weights`
    (one `odes.Weights` per seed) are passed to `simulate.run`; several ODE rules from the same
    seeds are integrated with `simulate.integrate_seeds`.
    """
    t0 = time.perf_counter()
    sim = simulate.run(rule, K, M, D, eta, times=times, seeds=seeds, jobs=jobs, weights=weights,
                       progress=False, **kw)
    if ode_rules is None:
        ode_rules = (rule,)
    odes_out = {}
    for name in ode_rules:
        arrays, status, _, _ = integrate_seeds(sim, name, progress=False)
        arrays["status"] = status
        odes_out[name] = arrays
    return sim, odes_out, time.perf_counter() - t0


def stats(x):
    """(mean, standard error, count) across seeds (axis 0), ignoring non-finite entries."""
    from simulate.result import seed_stats
    return seed_stats(x)


def at_time(t, t_star):
    """Index of the record time closest to t_star."""
    return int(np.argmin(np.abs(np.asarray(t) - t_star)))


def first_below(t, y, level):
    """First time at which y < level (nan if never)."""
    idx = np.flatnonzero(np.asarray(y) < level)
    return float(t[idx[0]]) if idx.size else float("nan")


def plateau_state(K):
    """The symmetric Saad-Solla plateau of the soft committee machine with T = I (theory.md 6.1):
    R_km = 1/sqrt(K(2K-1)), Q_kl = 1/(2K-1), v = v* = 1."""
    Qp, Rp = 1.0 / (2 * K - 1), 1.0 / np.sqrt(K * (2 * K - 1))
    return odes.State(Q=np.full((K, K), Qp), R=np.full((K, K), Rp), T=np.eye(K), v=np.ones(K),
                      v_star=np.ones(K))


def plateau_height(K):
    """eps_g of the symmetric plateau, evaluated by `odes.eps_g`."""
    s = plateau_state(K)
    return float(odes.eps_g(s.Q, s.R, s.T, s.v, s.v_star))
