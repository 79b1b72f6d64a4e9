"""The paper's training variants of PEPITA in the teacher-student model (theory.md 8.1, 8.3).

At the Figure-2 setting (D = 500, eta = eta_v = 0.05, K = M = 2, erf, v* = (1, 1), "large"
student initialisation) and at a second, larger |F|^2 where PEPITA's AF vector grows to O(1):

* PEPITA (exact, two forward passes);
* PEPITA with weight decay kappa (per step w <- w - (kappa/D) w, v likewise), two values;
* PEPITA-Hebbian (the code's "mixed" mode: h x^T - h~ x~^T, last layer yhat h - y h~);
* time-local PEPITA (the code's "mixed_tl" mode: the two halves in sequence).

Columns: eps_g(t), the network-level angle theta_net(t) between W^T v and F, and |a(t)|, the
norm of the AF vector a = W F / sqrt(D).  Markers: simulation (mean +- s.e. over the seeds); lines:
each rule's own ODE (by quadrature, theory.md 3.6) from every seed's measured initial state.  A run
whose eps_g passes `blowup` (10, against 0.5 at the start) is blowing up: it is cut there (in the
simulation and in the ODE alike) and a cross in the eps_g panel marks when its ODE did.
`summary` states what the model says about the paper's claim that weight decay improves PEPITA.
"""
import time

import numpy as np

import simulate

from . import style
from .common import log_times, resolve, sigma_F_of, stats

NAME = "pepita_variants"

PARAMS = dict(K=2, M=2, D=500, eta=0.05, eta_v=None, phis=(0.1, 1.0), kappas=(1e-4, 1e-3),
              v_star="ones", init="large", t_max=5e3, n_times=28, seeds=3, seed=0, jobs=2,
              nodes=12, blowup=10.0)
SMALL = dict(D=100, t_max=100.0, n_times=10, seeds=2, nodes=8)

VARIANT_STYLE = {"pepita": dict(colour=style.colour("pepita"), marker="o"),
                 "wd1": dict(colour="#ff7f0e", marker="v"), "wd2": dict(colour="#9467bd", marker="^"),
                 "pepita-hebbian": dict(colour=style.colour("pepita-hebbian"), marker="s"),
                 "pepita-tl": dict(colour=style.colour("pepita-tl"), marker="D")}


def variants(p):
    """(key, label, rule, kappa) of every curve."""
    k1, k2 = p["kappas"]
    return [("pepita", "PEPITA", "pepita", 0.0),
            ("wd1", rf"PEPITA + weight decay $\kappa$={k1:g}", "pepita", k1),
            ("wd2", rf"PEPITA + weight decay $\kappa$={k2:g}", "pepita", k2),
            ("pepita-hebbian", "PEPITA Hebbian", "pepita-hebbian", 0.0),
            ("pepita-tl", "PEPITA time-local", "pepita-tl", 0.0)]


def blown_up(arrays, t, blowup):
    """The arrays with NaN from the first time a seed's eps_g exceeds `blowup` (a run that is
    blowing up, in the simulation or in the ODE), and each seed's time of that (NaN if never)."""
    eps = arrays["eps_g"]
    bad = ~(eps <= blowup)                               # also NaN: a simulation that diverged
    first = np.where(bad.any(axis=1), bad.argmax(axis=1), eps.shape[1])
    mask = np.arange(eps.shape[1])[None, :] >= first[:, None]
    out = {k: np.where(mask, np.nan, x) for k, x in arrays.items()}
    return out, np.where(first < eps.shape[1], t[np.minimum(first, len(t) - 1)], np.nan)


def compute(small=None, **overrides):
    p = resolve(PARAMS, SMALL, small, overrides)
    times = log_times(p["t_max"], p["n_times"])
    runs = {}
    t0 = time.perf_counter()
    for phi in p["phis"]:
        for key, _, rule, kappa in variants(p):
            cmp = simulate.compare(rule, p["K"], p["M"], p["D"], p["eta"], times=times,
                                   seeds=p["seeds"], seed=p["seed"], jobs=p["jobs"],
                                   eta_v=p["eta_v"], sigma_F=sigma_F_of(phi, p["D"]),
                                   v_star=p["v_star"], init=p["init"], weight_decay=kappa,
                                   nodes=p["nodes"], progress=False, finite_d=False)
            out = {}
            for which in ("sim", "ode"):
                arrays = dict(eps_g=cmp.get("eps_g", which), net=cmp.get("net", which),
                              a=np.linalg.norm(cmp.get("a", which), axis=-1))
                out[which], out[f"t_blowup_{which}"] = blown_up(arrays, cmp.t, p["blowup"])
            out["n_diverged"] = cmp.sim.n_diverged
            out["ode_status"] = list(cmp.ode_status)
            runs[(phi, key)] = out
    return dict(params=p, t=cmp.t, runs=runs, seconds=time.perf_counter() - t0)


def plot(data):
    plt = style.pyplot()
    p, t = data["params"], data["t"]
    pos = t > 0
    cols = [("eps_g", r"$\epsilon_g$"), ("net", r"$\theta_{\rm net}$ (degrees)"),
            ("a", r"$|a|$, AF vector")]
    with style.rc():
        fig, axes = plt.subplots(len(p["phis"]), 3, figsize=(9.6, 3.0 * len(p["phis"])),
                                 layout="constrained", squeeze=False)
        for row, phi in enumerate(p["phis"]):
            for col, (name, label) in enumerate(cols):
                ax = axes[row, col]
                for key, vlabel, rule, kappa in variants(p):
                    st = VARIANT_STYLE[key]
                    run = data["runs"][(phi, key)]
                    om = stats(run["ode"][name])[0]
                    ax.plot(t[pos], om[pos], "-", color=st["colour"], lw=1.5, zorder=3,
                            label=vlabel if (row, col) == (0, 0) else None)
                    m, se, _ = stats(run["sim"][name])
                    style.sim_markers(ax, t[pos], m[pos], se[pos], None, marker=st["marker"],
                                      every=2, ms=3.6, zorder=2, filled=False,
                                      colour_=st["colour"])
                    if name == "eps_g":          # where the ODE of a seed blew up: a cross
                        tb = run["t_blowup_ode"]
                        tb = tb[np.isfinite(tb)]
                        if tb.size:
                            ax.plot(tb, np.full(tb.size, 0.96), "x", color=st["colour"], ms=7,
                                    mew=1.6, zorder=5, transform=ax.get_xaxis_transform())
                style.log_time_axis(ax, t[pos][0], t[-1])
                if name == "eps_g":
                    ax.set_yscale("log")
                if name == "a":
                    ax.set_yscale("log")
                if name == "net":
                    style.angle_axis(ax, label)
                else:
                    ax.set_ylabel(label)
                ax.set_title(rf"$|F|^2$ = {phi:g}", fontsize=8.5, loc="left")
        axes[0, 0].legend(fontsize=6.5, loc="lower left")
        fig.suptitle(f"PEPITA's training variants, teacher-student: D={p['D']}, "
                     f"$\\eta$={p['eta']}, K=M={p['K']}, erf, v*=(1,1), {p['seeds']} seeds; "
                     f"lines ODE, markers simulation" + ("  [small run]" if p["small"] else ""),
                     fontsize=9)
    return style.fixed_layout(fig)


def findings(data):
    """Numbers behind the caption, per |F|^2: eps_g at the end and max_t |a| of each variant
    (ODE seed means), and whether weight decay lowered the final error."""
    p = data["params"]
    out = {}
    for phi in p["phis"]:
        row = {}
        for key, _, _, _ in variants(p):
            ode = data["runs"][(phi, key)]["ode"]
            eps = stats(ode["eps_g"])[0]
            a = stats(ode["a"])[0]
            run = data["runs"][(phi, key)]
            row[key] = dict(eps_end=float(eps[-1]), a_max=float(np.nanmax(a)),
                            a_end=float(a[-1]),
                            ode_blowups=int(np.isfinite(run["t_blowup_ode"]).sum()),
                            sim_blowups=int(np.isfinite(run["t_blowup_sim"]).sum()))
        out[phi] = row
    return out


def summary(data):
    p = data["params"]
    f = findings(data)
    lines = [f"{NAME}: D={p['D']} eta={p['eta']} t_max={p['t_max']:g} seeds={p['seeds']}, "
             f"{data['seconds']:.0f} s; ODE seed means (eps_g at t_max, max |a|, |a| at t_max):"]
    for phi, row in f.items():
        lines.append(f"  |F|^2 = {phi:g}: " + "; ".join(
            f"{k} {v['eps_end']:.4f}, {v['a_max']:.3f}, {v['a_end']:.3f}"
            + (f" [blew up: ODE {v['ode_blowups']}, sim {v['sim_blowups']} of {p['seeds']}]"
               if v['ode_blowups'] or v['sim_blowups'] else "") for k, v in row.items()))
        base = row["pepita"]["eps_end"]
        for key in ("wd1", "wd2"):
            change = row[key]["eps_end"] / base - 1
            lines.append(f"    weight decay {key}: eps_g(t_max) {100 * change:+.0f} % vs PEPITA, "
                         f"|a| at t_max {row[key]['a_end']:.3f} vs {row['pepita']['a_end']:.3f}")
    return "\n".join(lines)


def save(fig, outdir=None):
    return style.save(fig, NAME, outdir)
