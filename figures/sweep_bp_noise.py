"""A sweep example: BP with label noise, the error left at t* over the learning rate and the noise.

One `sweep.run` of the spec in figures/sweep_bp_noise.toml (kind "compare": for every (eta,
sigma) the simulation at D = 500 over 4 seeds and the ODE from each seed's start).  Panels: (a)
eps_g(t*) against eta, one colour per sigma, ODE lines over simulation markers (mean +- s.e.);
(b) the simulated eps_g(t*) over the grid (`sweep.plot.heatmap`).  With noise the student cannot
settle: online SGD keeps a residual error that grows with eta sigma^2 (for small eta it is
proportional to it), which is what the sweep shows and what the ODE predicts point by point.
"""
import time
from pathlib import Path

import numpy as np

from . import style
from .common import resolve

NAME = "sweep_bp_noise"
SPEC = Path(__file__).with_suffix(".toml")

PARAMS = dict(spec=str(SPEC), D=500, t_max=1000.0, seeds=4, etas=(0.5, 1.0, 1.5, 2.0),
              sigmas=(0.1, 0.2, 0.3, 0.5), jobs=2)
SMALL = dict(D=100, t_max=50.0, seeds=2, etas=(0.5, 1.0), sigmas=(0.1, 0.5), jobs=1)


def compute(small=None, **overrides):
    import sweep
    p = resolve(PARAMS, SMALL, small, overrides)
    t0 = time.perf_counter()
    ds = sweep.run(p["spec"], D=p["D"], t_max=p["t_max"], seeds=p["seeds"],
                   grid=dict(eta=list(p["etas"]), sigma=list(p["sigmas"])), jobs=p["jobs"],
                   progress=False)
    return dict(params=p, ds=ds.load(), seconds=time.perf_counter() - t0)


def plot(data):
    import sweep
    ds = data["ds"]
    plt = style.pyplot()
    with style.rc():
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(8.6, 3.4), width_ratios=(1.15, 1))
        sweep.plot.lines(ds, "eta", "eps_g", hue="sigma", ax=ax)
        ax.set_xlabel(r"learning rate $\eta$")
        ax.set_ylabel(rf"$\epsilon_g$ at $t$ = {float(ds.t[-1]):g}")
        ax.legend(fontsize=6.5, ncol=2)
        style.panel_label(ax, "a")
        sweep.plot.heatmap(ds, "eta", "sigma", "eps_g", ax=bx)
        bx.set_xlabel(r"learning rate $\eta$")
        bx.set_ylabel(r"label noise $\sigma$")
        style.panel_label(bx, "b")
        p = data["params"]
        fig.suptitle(f"BP, K = M = 2, D = {p['D']}, {p['seeds']} seeds per point: lines ODE, "
                     f"markers simulation", fontsize=9)
        fig.tight_layout()
    return style.fixed_layout(fig)


def summary(data):
    ds = data["ds"]
    eps = ds.eps_g.isel(t=-1).mean("seed")
    ode = ds.eps_g_ode.isel(t=-1).mean("seed")
    dev = ds.eps_g_dev.isel(t=-1)
    z = (dev.mean("seed") / (dev.std("seed", ddof=1) / np.sqrt(ds.sizes["seed"]))).values
    lines = [f"{NAME}: {ds.sizes['eta'] * ds.sizes['sigma']} points in {data['seconds']:.0f} s; "
             f"eps_g(t={float(ds.t[-1]):g}) simulation / ODE, and eps_g / (eta sigma^2):"]
    for sigma in ds.sigma.values:
        row = [f"{float(e):.3g}/{float(o):.3g}" for e, o in zip(eps.sel(sigma=sigma).values,
                                                                ode.sel(sigma=sigma).values)]
        ratio = ("  ratio " + " ".join(
            f"{float(e) / (eta * sigma ** 2):.3g}" for e, eta in zip(eps.sel(sigma=sigma).values,
                                                                     ds.eta.values)))
        lines.append(f"  sigma = {sigma:g}: " + "  ".join(row) + ratio)
    lines.append(f"  max |paired deviation| / s.e. at t*: {np.nanmax(np.abs(z)):.2f}")
    return "\n".join(lines)


def save(fig, outdir=None):
    return style.save(fig, NAME, outdir)
