"""One task of a sweep: a grid point and a block of seeds, run by `odes` or `simulate`.

`run_task(kind, params, times, seeds, state)` returns (arrays, info): arrays of a leading seed axis
and the time axis, padded to nothing (the store pads K and M), and a small dict of facts (wall
time, host).  It needs nothing from the driver but its arguments, so any Dask worker can run it.

Per seed, status is 'finished' or 'diverged' (the simulation or the ODE passed the threshold of
`odes.divergence`, or the ODE's solver failed), with t_diverged the time it happened (NaN if
finished).  A diverged run keeps its
values up to then and NaN after: a diverged point is data.
"""
import os
import socket
import time

import numpy as np

FINISHED, DIVERGED, MISSING = 0, 1, 2
STATUS_NAMES = ("finished", "diverged", "missing")


def _run_kwargs(p):
    sigma_F = p["sigma_F"]
    if p["phi_F"] is not None:
        sigma_F = float(np.sqrt(p["phi_F"] / p["D"]))
    return dict(eta_v=p["eta_v"], sigma=p["sigma"], train_v=p["train_v"], sigma_F=sigma_F,
                init=p["init"], v_star=p["v_star"], weight_decay=p["weight_decay"],
                activation=p["activation"], **_mirror_kwargs(p))


def _mirror_kwargs(p):
    """Weight mirroring's and Forward-Forward's keywords of a grid point (absent keys: defaults)."""
    from odes.rhs.mirroring import KEYWORDS
    from odes.rules import FF_KEYWORDS
    return {k: p[k] for k in KEYWORDS + FF_KEYWORDS if k in p}


def _moving_F(named, obj):
    """Add p and phi_F of a result or simulation where weight mirroring moved F."""
    if getattr(obj, "mirrored", False):
        named.update(p=obj.p, phi_F=obj.phi_F)


def solver_options(p):
    """The ODE options of a grid point that its method takes (`odes.solvers.METHODS`): rtol and
    atol, or dt.  A spec's rtol, atol and dt hold for the whole grid, whose method axis may mix
    adaptive and fixed-step methods; each point's method takes its own."""
    from odes.solvers import get_method
    return {k: p[k] for k in get_method(p["method"]).options}


def _ode_seed(p, times, seed, state):
    import odes
    kw = _run_kwargs(p)
    if state is None:
        state = odes.State.random(p["K"], p["M"], p["D"], seed, init=kw["init"],
                                  v_star=kw["v_star"], sigma_F=kw["sigma_F"],
                                  train_v=kw["train_v"])
    try:
        res = odes.integrate(state, p["rule"], p["eta"], times=times, eta_v=kw["eta_v"],
                             sigma=kw["sigma"], train_v=kw["train_v"], method=p["method"],
                             nodes=p["nodes"], **solver_options(p),
                             weight_decay=kw["weight_decay"], activation=kw["activation"],
                             progress=False, **_mirror_kwargs(p))
        return res, FINISHED, np.nan
    except odes.IntegrationError as err:
        res = err.result
        t_end = res.t_diverged if res.t_diverged is not None else res.t[-1] if len(res.t) else 0.0
        return res, DIVERGED, float(t_end)


def _ode_arrays(results, n):
    """Stack per-seed `odes.Result`s (possibly cut short) into (S, n, ...) arrays, NaN-padded."""
    out = {}
    for s, res in enumerate(results):
        if res is None:
            continue
        m = len(res.t)
        named = dict(eps_g=res.eps_g, Q=res.Q, R=res.R, v=res.v)
        if res.feedback_name:
            named[res.feedback_name] = res.f
        _moving_F(named, res)
        named.update({f"theta_{k}": x for k, x in res.angles.items()})
        for k, x in named.items():
            if k not in out:
                out[k] = np.full((len(results), n) + x.shape[1:], np.nan)
            out[k][s, :m] = x
    return out


def run_task(kind, params, times, seeds, state=None):
    """Run seeds `seeds` (seed numbers) of one point; see the module docstring."""
    start = time.perf_counter()
    p = params
    times = np.asarray(times, float)
    n = times.size
    if kind == "ode":
        runs = [_ode_seed(p, times, s, state) for s in seeds]
        arrays = _ode_arrays([r[0] for r in runs], n)
        arrays["status"] = np.array([r[1] for r in runs], np.int8)
        arrays["t_diverged"] = np.array([r[2] for r in runs])
    else:
        arrays = _simulation_arrays(kind, p, times, seeds, state)
    info = dict(seconds=time.perf_counter() - start, host=socket.gethostname(), pid=os.getpid())
    return arrays, info


def _simulation_arrays(kind, p, times, seeds, state):
    import warnings

    import simulate
    kw = _run_kwargs(p)
    common = dict(times=times, seeds=list(seeds), jobs=1, n_test=p["n_test"], dt=p["dt"],
                  state=state, progress=False, sampler=p["sampler"], **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", simulate.DivergenceWarning)   # recorded in status
        if kind == "sim":
            sim = simulate.run(p["rule"], p["K"], p["M"], p["D"], p["eta"], **common)
            cmp = None
        else:
            cmp = simulate.compare(p["rule"], p["K"], p["M"], p["D"], p["eta"], also=p["also"],
                                   method=p["method"],
                                   **{k: x for k, x in solver_options(p).items() if k != "dt"},
                                   nodes=p["nodes"], **common)
            sim = cmp.sim
    out = dict(eps_g=sim.eps_g, Q=sim.Q, R=sim.R, v=sim.v)
    if sim.feedback_name:
        out[sim.feedback_name] = sim.f
    _moving_F(out, sim)
    out.update({f"theta_{k}": x for k, x in sim.angles.items()})
    if sim.eps_test is not None:
        out["eps_test"] = sim.eps_test
    out["status"] = np.array([DIVERGED if s == "diverged" else FINISHED for s in sim.status],
                             np.int8)
    out["t_diverged"] = np.asarray(sim.t_diverged, float)
    if cmp is not None:
        lines = [("ode", "_ode", cmp.ode_status)]
        lines += [(r, f"_ode_{r}", cmp.also_status[r]) for r in cmp.also]
        for which, suffix, status in lines:
            for name in ["eps_g"] + [f"theta_{k}" for k in sim.angles]:
                try:
                    ode = cmp.get(name, which)
                except KeyError:
                    continue
                out[name + suffix] = ode
            out["eps_g" + suffix.replace("_ode", "_dev")] = out["eps_g"] - out["eps_g" + suffix]
            out["status" + suffix] = np.array([FINISHED if s == "finished" else DIVERGED
                                               for s in status], np.int8)
            when = cmp.ode_t_diverged if which == "ode" else cmp.also_t_diverged[which]
            out["t_diverged" + suffix] = np.array([np.nan if t is None else t for t in when])
    return out
