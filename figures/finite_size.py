"""Finite D (theory.md 10): the seed-to-seed band, the O(1/D) bias and the plateau-escape law,
predicted by `odes.fluctuations` and `odes.escape_time` and measured with the exact overlap
sampler.

(a) BP with label noise (K = M = 2, eta = 0.5, sigma = 0.5, trained v; every seed from one
    realised start, so the seeds differ by the SGD noise alone): a seed's eps_g minus the ODE's
    (inset), at D = 10^2, 10^3, 10^4: the predicted band (bias +- one seed's predicted s.d.) and
    the simulation's mean deviation +- its measured s.d.
(b) The same runs scaled: sqrt(D) x the seed s.d. of eps_g and D x (seed mean - ODE) against t,
    which collapse onto the theory's sqrt(D) std and D bias (both D-independent; the bias where
    the seeds resolve it).  (The s.d. is O(D^-1/2), so sqrt(D), not D, collapses it.)
(c) The soft committee machine (v = v* = 1 frozen, eta = 0.5, random start): the time at which
    eps_g first falls below 0.004, against ln D from 10^2 to 10^5, measured (median and
    quartiles over the seeds) over the predicted ones; dotted, the slope 1/(2 lambda_+) of the
    plateau fixed point's unstable eigenvalue (anchored at the predicted median at D = 10^3),
    which the trajectory's short plateau does not follow (theory.md 10.4).
(d) The cost of one seed per unit of time (D steps) against D, for the weights sampler (O(D^2))
    and the overlap sampler (O(D)), on one core: seconds per seed, from runs of `cost_seeds`
    seeds in lockstep (overlaps) and of 2 seeds (weights, which runs one seed at a time).
"""
import time

import numpy as np

import odes
import simulate
from odes.finite_d.escape import first_below

from . import style
from .common import plateau_state, resolve

NAME = "finite_size"

PARAMS = dict(eta=0.5, sigma=0.5, start_seed=0, band_Ds=(100, 1000, 10000),
              band_seeds=(100000, 20000, 2000), t_max=100.0, n_times=24, lna_grid=200,
              escape_Ds=(100, 316, 1000, 3162, 10000, 31623, 100000), escape_seeds=300,
              escape_t_max=340.0, escape_dt=0.5, escape_grid=13, level=0.004,
              cost_Ds=(100, 1000, 10000, 100000), cost_seeds=64,
              seed=0, jobs=2)
SMALL = dict(band_Ds=(100, 400), band_seeds=(400, 200), t_max=10.0, n_times=8, lna_grid=30,
             escape_Ds=(100, 400), escape_seeds=60, escape_grid=2, cost_Ds=(100, 400),
             cost_seeds=8)

BAND_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")


def _band(p):
    """Panels a, b: the LNA and the simulations of BP with label noise from one realised start."""
    times = np.concatenate([[0.0], np.geomspace(0.1, p["t_max"], p["n_times"])])
    start = odes.State.random(2, 2, 1000, seed=p["start_seed"])
    out = {}
    for D, seeds in zip(p["band_Ds"], p["band_seeds"]):
        sim = simulate.run("bp", 2, 2, D, p["eta"], times=times, seeds=seeds, seed=p["seed"],
                           jobs=p["jobs"], sigma=p["sigma"], sampler="overlaps", state=start,
                           progress=False)
        # the theory at the simulation's own record times (steps/D, rounded at this D)
        fl = odes.fluctuations(start, "bp", p["eta"], D, times=sim.t, sigma=p["sigma"],
                               grid=p["lna_grid"])
        eps = sim.eps_g
        out[D] = dict(t=sim.t, ode=fl.ode.eps_g, std=fl.std("eps_g"), bias=fl.bias("eps_g"),
                      mean=eps.mean(axis=0), sd=eps.std(axis=0, ddof=1),
                      sem=eps.std(axis=0, ddof=1) / np.sqrt(len(eps)), seeds=len(eps))
    return out


def _escape(p):
    """Panel c: predicted and measured escape times of the soft committee machine."""
    mean = odes.State(Q=np.eye(2), R=np.zeros((2, 2)), T=np.eye(2), v=np.ones(2),
                      v_star=np.ones(2))
    Ds = np.array(p["escape_Ds"])
    grid = np.unique(np.geomspace(Ds.min(), Ds.max(), p["escape_grid"]).astype(int))
    pred = odes.escape_time(mean, "bp", p["eta"], grid, eps_below=p["level"], train_v=False)
    times = np.arange(0.0, p["escape_t_max"] + p["escape_dt"] / 2, p["escape_dt"])
    measured = []
    for D in Ds:
        sim = simulate.run("bp", 2, 2, int(D), p["eta"], times=times, seeds=p["escape_seeds"],
                           seed=p["seed"], jobs=p["jobs"], sampler="overlaps", init="large",
                           v_star="ones", train_v=False, progress=False)
        measured.append(first_below(sim.t, sim.eps_g, p["level"]))
    fp = odes.fixed_point(plateau_state(2), "bp", p["eta"], train_v=False)
    return dict(D=Ds, measured=np.array(measured), grid=grid,
                quartiles={q: pred.quantile(q) for q in (0.25, 0.5, 0.75)},
                lambda_plus=float(np.max(fp.eigenvalues.real)),
                anchor=float(np.interp(np.log(1000), np.log(grid), pred.median)))


def _cost(p):
    """Panel d: seconds per seed per unit time, both samplers, one job (one core)."""
    out = {}
    for sampler in ("weights", "overlaps"):
        simulate.run("bp", 2, 2, 100, p["eta"], t_max=1.0, seeds=2, jobs=1, sampler=sampler,
                     progress=False)                                       # compiled, warm
        rows = []
        for D in p["cost_Ds"]:
            seeds = p["cost_seeds"] if sampler == "overlaps" else 2
            steps = 1e5 if sampler == "overlaps" else (1e4 if D <= 1e4 else 2e3)
            t = steps / D
            t0 = time.perf_counter()
            simulate.run("bp", 2, 2, int(D), p["eta"], times=[0.0, t], seeds=seeds, jobs=1,
                         sampler=sampler, progress=False)
            rows.append((time.perf_counter() - t0) / (seeds * t))
        out[sampler] = np.array(rows)
    return out


def compute(small=None, **overrides):
    p = resolve(PARAMS, SMALL, small, overrides)
    t0 = time.perf_counter()
    data = dict(params=p, band=_band(p), escape=_escape(p), cost=_cost(p))
    data["seconds"] = time.perf_counter() - t0
    return data


def plot(data):
    from matplotlib.ticker import NullFormatter
    plt = style.pyplot()
    p = data["params"]
    with style.rc():
        fig, axes = plt.subplots(2, 2, figsize=(9.2, 7.0), layout="constrained")
        (ax_a, ax_b), (ax_c, ax_d) = axes
        inset = ax_a.inset_axes([0.60, 0.62, 0.37, 0.33])
        for (D, run), c in zip(data["band"].items(), BAND_COLOURS):
            t, pos = run["t"], run["t"] > 0
            dev = run["mean"] - run["ode"]
            ax_a.fill_between(t[pos], (run["bias"] - run["std"])[pos],
                              (run["bias"] + run["std"])[pos], color=c, alpha=0.22, lw=0,
                              zorder=1, label=f"D = {style.fmt_num(D)}: predicted $\\pm$1 s.d.")
            ax_a.errorbar(t[pos], dev[pos], yerr=run["sd"][pos], fmt="o", ms=2.8, color=c,
                          mfc="white", elinewidth=0.8, capsize=1.5, zorder=3,
                          label=f"measured mean, $\\pm$1 s.d. ({run['seeds']} seeds)")
            ax_b.plot(t[pos], np.sqrt(D) * run["sd"][pos], "o", ms=3.2, color=c, mfc="white",
                      zorder=3, label=rf"$\sqrt{{D}}\,$s.d., D = {style.fmt_num(D)}")
            if D * run["sem"][pos].max() < 0.1:        # the bias is resolved at this D
                ax_b.errorbar(t[pos], D * dev[pos], yerr=D * run["sem"][pos], fmt="s", ms=3.2,
                              color=c, elinewidth=0.8, zorder=3,
                              label=rf"$D\,$(mean $-$ ODE) $\pm$ s.e., D = {style.fmt_num(D)}")
        first = next(iter(data["band"].values()))
        t, pos = first["t"], first["t"] > 0
        ax_a.axhline(0, color="k", lw=0.8, zorder=2)
        inset.loglog(t[pos], first["ode"][pos], "-", color="k", lw=1.2)
        inset.set_title(r"ODE $\epsilon_g$", fontsize=7)
        inset.tick_params(labelsize=6)
        inset.yaxis.set_minor_formatter(NullFormatter())
        D0 = next(iter(data["band"]))
        ax_b.plot(t[pos], np.sqrt(D0) * first["std"][pos], "-", color="k", lw=1.4,
                  label=r"theory: $\sqrt{D}\,$s.d. (LNA)")
        ax_b.plot(t[pos], D0 * first["bias"][pos], "--", color="k", lw=1.4,
                  label=r"theory: $D\,$bias")
        ax_b.axhline(0, color="0.6", lw=0.6, zorder=0)
        for ax in (ax_a, ax_b):
            style.log_time_axis(ax, t[pos][0] * 0.8, t[-1] * 1.25)
        ax_a.set_ylabel(r"$\epsilon_g$ of a seed $-$ ODE")
        ax_b.set_ylabel(r"$\epsilon_g$: scaled spread and shift")
        ax_a.legend(fontsize=6.0, loc="lower right", ncol=1)
        ax_b.legend(fontsize=6.2, loc="upper right", ncol=2)
        ax_a.set_title(rf"BP, label noise $\sigma$={p['sigma']}, $\eta$={p['eta']}, one start: "
                       "seeds around the ODE", fontsize=8.5, loc="left")
        ax_b.set_title("the same, scaled: collapse onto the theory", fontsize=8.5, loc="left")

        esc = data["escape"]
        x, grid = np.log(esc["D"]), esc["grid"]
        q = esc["quartiles"]
        ax_c.fill_between(np.log(grid), q[0.25], q[0.75], color="#9ecae1", alpha=0.6, lw=0,
                          label="predicted quartiles")
        ax_c.plot(np.log(grid), q[0.5], "-", color="#08519c", lw=1.6, label="predicted median")
        m = esc["measured"]
        qs = np.array([np.quantile(row, (0.25, 0.5, 0.75)) for row in m])
        ax_c.errorbar(x, qs[:, 1], yerr=[qs[:, 1] - qs[:, 0], qs[:, 2] - qs[:, 1]], fmt="o",
                      ms=4.5, color="#d62728", mfc="white", capsize=2.5, elinewidth=1.0,
                      label=f"simulation: median, quartiles ({m.shape[1]} seeds)")
        lam = esc["lambda_plus"]
        ax_c.plot(np.log(grid), esc["anchor"] + (np.log(grid) - np.log(1000)) / (2 * lam), ":",
                  color="k", lw=1.2, label=rf"$\ln D/(2\lambda_+)$, $\lambda_+$={lam:.4f}")
        ax_c.set_xticks(x, [style.fmt_num(D) for D in esc["D"]])
        ax_c.set_xlabel(r"input dimension D (log scale: $\ln D$)")
        ax_c.set_ylabel(rf"escape time: first $t$ with $\epsilon_g$ < {p['level']:g}")
        ax_c.legend(fontsize=6.5, loc="upper left")
        ax_c.set_title(rf"soft committee machine, random start, $\eta$={p['eta']}", fontsize=8.5,
                       loc="left")

        for sampler, mk, c in (("weights", "s", "#7f7f7f"), ("overlaps", "o", "#d62728")):
            ax_d.loglog(p["cost_Ds"], data["cost"][sampler], mk + "-", color=c, ms=4.5,
                        label=f"{sampler} sampler")
        Ds = np.array(p["cost_Ds"], float)
        w0 = data["cost"]["weights"][0]
        ax_d.loglog(Ds, w0 * (Ds / Ds[0]) ** 2, ":", color="#7f7f7f", lw=0.9, label=r"$\propto D^2$")
        o0 = data["cost"]["overlaps"][0]
        ax_d.loglog(Ds, o0 * Ds / Ds[0], ":", color="#d62728", lw=0.9, label=r"$\propto D$")
        ax_d.set_xlabel("input dimension D")
        ax_d.set_ylabel("seconds per seed per unit time (one core)")
        ax_d.legend(fontsize=6.5, loc="upper left")
        ax_d.set_title("cost of one seed (D steps per unit time)", fontsize=8.5, loc="left")
        for ax, letter in zip((ax_a, ax_b, ax_c, ax_d), "abcd"):
            style.panel_label(ax, letter)
        fig.suptitle("Finite D: the predicted seed-to-seed band, O(1/D) bias and plateau escape "
                     "against the exact overlap chain" + ("  [small run]" if p["small"] else ""),
                     fontsize=9.5)
    return style.fixed_layout(fig)


def findings(data):
    """The numbers behind the caption: per D of panels a, b the median over t of the measured
    over the predicted s.d. and of |mean - ODE - bias| in s.e.; per D of panel c the measured
    and predicted medians, and the slopes against ln D; the costs of panel d."""
    out = {}
    for D, run in data["band"].items():
        pos = run["t"] > 0
        out[D] = dict(sd_ratio=float(np.median(run["sd"][pos] / run["std"][pos])),
                      bias_z=float(np.median(np.abs(run["mean"] - run["ode"] - run["bias"])[pos]
                                             / run["sem"][pos])))
    esc = data["escape"]
    x = np.log(esc["D"])
    med = np.array([np.median(r) for r in esc["measured"]])
    pred = np.interp(x, np.log(esc["grid"]), esc["quartiles"][0.5])
    return dict(band=out, escape_median=dict(zip(esc["D"].tolist(), zip(med, pred))),
                slope_measured=float(np.polyfit(x, med, 1)[0]),
                slope_predicted=float(np.polyfit(x, pred, 1)[0]),
                slope_lambda=1.0 / (2 * esc["lambda_plus"]),
                cost=data["cost"])


def summary(data):
    p, f = data["params"], findings(data)
    lines = [f"{NAME}: {data['seconds']:.0f} s"]
    for D, row in f["band"].items():
        lines.append(f"  D = {D}: measured/predicted s.d. of eps_g (median over t) "
                     f"{row['sd_ratio']:.3f}; |mean - ODE - bias|/s.e. median {row['bias_z']:.2f}")
    lines.append("  escape median (measured, predicted): " + "; ".join(
        f"D={D} {m:.1f}, {q:.1f}" for D, (m, q) in f["escape_median"].items()))
    lines.append(f"  slope against ln D: measured {f['slope_measured']:.2f}, predicted "
                 f"{f['slope_predicted']:.2f}, fixed point 1/(2 lambda_+) {f['slope_lambda']:.2f}")
    for s, c in f["cost"].items():
        lines.append(f"  {s}: seconds per seed per unit time " + ", ".join(
            f"D={D} {x:.2e}" for D, x in zip(p["cost_Ds"], c)))
    return "\n".join(lines)


def save(fig, outdir=None):
    return style.save(fig, NAME, outdir)
