"""Where PEPITA ~ AFA holds: eps_g at a fixed time t* against the scale |F|^2 of the projection F.

AFA is the paper's approximation of PEPITA (theory.md 2.5).  It drops the presynaptic Fe term,
which in PEPITA pushes every w_k along F and so amplifies the AF vector a = W F/sqrt(D) at the rate
eta |F|^2 E[g'(lambda_k) e^2] (theory.md 2.6, 3.5).  PEPITA ~ AFA therefore needs
eta |F|^2 E[g' e^2] t << 1 (theory.md 2.7, 6.2); for large |F|^2 exact PEPITA diverges.

Panels: (a) eps_g(t*) of exact PEPITA (simulation, mean +- s.e. over the seeds that did not
diverge), of PEPITA-linearised (ODE) and of AFA (ODE), against |F|^2 (bottom axis) and the entry
scale sigma_F = sqrt(|F|^2/D) (top axis); (b) how much the AF vector grows, max_t |a(t)|/|a(0)|.

Choices (PARAMS): the fig2 setting (D = 500, eta = eta_v = 0.05, K = M = 2, v* = (1, 1), "large"
student initialisation); t* = 10^3 (the second-layer phase is over by t ~ 100 and the first layer
is learning); 6 seeds per |F|^2 for the simulations, 13 values of |F|^2 from 10^-3 to 10; the ODE
lines use the same seeds' initial states (F = sigma_F times the same Gaussian draw, so that only
the scale changes along the curves) on a finer grid of 41 values.  The dotted vertical line marks
the scale of the paper's PEPITA code, F entries 0.05 sqrt(2/D), i.e. |F|^2 = 0.005.
"""
import time
import warnings

import numpy as np

import odes
import simulate

from . import style
from .common import at_time, log_times, resolve, sigma_F_of, stats

NAME = "pepita_f_scale"

PARAMS = dict(K=2, M=2, D=500, eta=0.05, eta_v=None, v_star="ones", init="large", t_star=1e3,
              n_times=24, phi_sim=tuple(np.geomspace(1e-3, 10, 13).round(6)), n_phi_ode=41,
              phi_min=1e-3, phi_max=10.0, seeds=6, seed=0, jobs=2, agree=0.1)
SMALL = dict(D=100, t_star=200.0, n_times=12, phi_sim=(1e-3, 1e-2, 0.1, 1.0, 10.0), n_phi_ode=9,
             seeds=2)

#: the projection scale of the paper's empirical PEPITA code: F entries 0.05 * sqrt(2/D)
PAPER_PHI_F = 2 * 0.05 ** 2


def compute(small=None, **overrides):
    p = resolve(PARAMS, SMALL, small, overrides)
    K, M, D, eta = p["K"], p["M"], p["D"], p["eta"]
    times = log_times(p["t_star"], p["n_times"])
    seeds = list(range(p["seed"], p["seed"] + p["seeds"]))
    phi_sim = np.asarray(p["phi_sim"], float)
    phi_ode = np.geomspace(p["phi_min"], p["phi_max"], p["n_phi_ode"])
    t0 = time.perf_counter()
    # exact PEPITA, simulated
    sim_eps, sim_div, sim_amp, sim_phi = [], [], [], []
    for phi in phi_sim:
        with warnings.catch_warnings():
            # divergence at large |F| is the point of the scan: it is counted, not warned about
            warnings.simplefilter("ignore", getattr(simulate, "DivergenceWarning", RuntimeWarning))
            sim = simulate.run("pepita", K, M, D, eta, times=times, seeds=seeds, jobs=p["jobs"],
                               eta_v=p["eta_v"], sigma_F=sigma_F_of(phi, D), v_star=p["v_star"],
                               init=p["init"], progress=False)
        i = at_time(sim.t, p["t_star"])
        sim_eps.append(sim.eps_g[:, i])                     # NaN for diverged seeds
        sim_div.append(sim.n_diverged)
        a = np.linalg.norm(sim.f, axis=-1)
        amp = np.nanmax(a, axis=1) / a[:, 0]
        amp[np.array(sim.status) == "diverged"] = np.nan
        sim_amp.append(amp)
        sim_phi.append(float(np.mean(sim.phi_F)))
    t_sim = time.perf_counter() - t0
    # PEPITA-linearised and AFA ODEs from the same seeds' initial states, on a finer grid of |F|^2
    ode = {r: dict(eps=np.full((len(phi_ode), len(seeds)), np.nan),
                   amp=np.full((len(phi_ode), len(seeds)), np.nan),
                   div=np.zeros(len(phi_ode), int)) for r in ("pepita-lin", "afa")}
    ode_times = np.unique(np.concatenate([times[times <= p["t_star"]], [p["t_star"]]]))
    for j, phi in enumerate(phi_ode):
        for s_idx, s in enumerate(seeds):
            st = odes.State.random(K, M, D, s, sigma_F=sigma_F_of(phi, D), v_star=p["v_star"],
                                   init=p["init"])
            for r in ode:
                try:
                    res = odes.integrate(st, r, eta, eta_v=p["eta_v"], times=ode_times,
                                         progress=False)
                except odes.IntegrationError:
                    ode[r]["div"][j] += 1
                    continue
                ode[r]["eps"][j, s_idx] = res.eps_g[-1]
                a = np.linalg.norm(res.f, axis=-1)
                ode[r]["amp"][j, s_idx] = np.max(a) / a[0]
    t_ode = time.perf_counter() - t0 - t_sim
    data = dict(params=p, phi_sim=phi_sim, phi_sim_measured=np.array(sim_phi), phi_ode=phi_ode,
                sim_eps=np.array(sim_eps), sim_div=np.array(sim_div), sim_amp=np.array(sim_amp),
                ode=ode, seconds=dict(sim=t_sim, ode=t_ode))
    data["sim_stats"] = stats(np.array(sim_eps).T)
    # ODE means over the seeds whose solution stayed finite (NaN where every seed diverged)
    data["ode_mean"] = {r: _nanmean_rows(ode[r]["eps"]) for r in ode}
    # where exact PEPITA agrees with AFA within `agree` (relative), on the ODE grid: compare the
    # simulation with the AFA ODE interpolated to the simulated |F|^2
    afa_at_sim = np.exp(np.interp(np.log(phi_sim), np.log(phi_ode), np.log(data["ode_mean"]["afa"])))
    rel = np.abs(data["sim_stats"][0] - afa_at_sim) / afa_at_sim
    data["afa_at_sim"], data["rel_diff"] = afa_at_sim, rel
    ok = np.flatnonzero(rel < p["agree"])
    data["phi_agree_max"] = float(phi_sim[ok].max()) if ok.size else float("nan")
    diverging = np.flatnonzero(data["sim_div"] > 0)
    data["phi_diverge_min"] = float(phi_sim[diverging[0]]) if diverging.size else float("nan")
    return data


def _nanmean_rows(x):
    with np.errstate(invalid="ignore"):
        return np.array([np.nanmean(r) if np.any(np.isfinite(r)) else np.nan for r in x])


def _ode_line(ax, x, y, n_div, rule):
    """Seed-mean ODE line: solid where every seed's solution stayed finite, dotted where some
    diverged (the mean is then over the others)."""
    c = style.colour(rule)
    clean = n_div == 0
    ax.plot(np.where(clean, x, np.nan), y, "-", color=c, lw=1.8, zorder=3,
            label=f"{style.label(rule)} ODE")
    # the dotted part joins on to the solid one
    dotted = ~clean | np.concatenate([~clean[1:], [False]])
    if np.any(~clean):
        ax.plot(np.where(dotted, x, np.nan), y, ":", color=c, lw=1.6, zorder=3)


def plot(data):
    plt = style.pyplot()
    p = data["params"]
    D = p["D"]
    phi_sim, phi_ode = data["phi_sim"], data["phi_ode"]
    with style.rc():
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.4, 3.5), layout="constrained")
        x_lo, x_hi = phi_ode[0] / 1.6, phi_ode[-1] * 1.6
        div_from = data["phi_diverge_min"]
        for ax in (ax1, ax2):
            if np.isfinite(div_from):
                ax.axvspan(div_from / 1.25, x_hi, color="#f4dcdc", lw=0, zorder=0)
            ax.axvline(PAPER_PHI_F, color="0.5", ls=":", lw=1.0, zorder=1)
            ax.set_xscale("log")
            ax.set_xlim(x_lo, x_hi)
            ax.set_xlabel(r"$|F|^2$  ($F_i \sim \mathcal{N}(0, |F|^2/D)$)")
            top = ax.secondary_xaxis("top", functions=(lambda x: np.sqrt(np.maximum(x, 1e-30) / D),
                                                       lambda s: s ** 2 * D))
            top.set_xlabel(r"$\sigma_F$", fontsize=8.5, labelpad=2)
            top.tick_params(labelsize=7.5)
        # (a) eps_g at t*
        for r in ("afa", "pepita-lin"):
            _ode_line(ax1, phi_ode, data["ode_mean"][r], data["ode"][r]["div"], r)
        m, se, n = data["sim_stats"]
        style.sim_markers(ax1, phi_sim, m, se, "pepita", ms=4.5, zorder=4,
                          label=f"PEPITA simulation ({p['seeds']} seeds)")
        for x, k, y in zip(phi_sim, data["sim_div"], m):
            if k and np.isfinite(y):               # partly diverged: the mean is over the others
                ax1.annotate(f"{k}/{p['seeds']}\ndiverged", (x, y * 1.35), ha="center",
                             va="bottom", fontsize=6.2, color=style.colour("pepita"))
        if np.isfinite(div_from):
            ax1.text(np.sqrt(div_from * x_hi) * 1.3, 0.8, "PEPITA\ndiverges",
                     transform=ax1.get_xaxis_transform(), ha="center", fontsize=7.5,
                     color=style.colour("pepita"))
        # the |F|^2 of Figure 2
        from .fig2 import PARAMS as FIG2
        ax1.annotate("fig. 2", (FIG2["phi_F"], 1), xycoords=("data", "axes fraction"),
                     xytext=(0, -10), textcoords="offset points", ha="center", va="top",
                     fontsize=6.5,
                     color="0.35", arrowprops=dict(arrowstyle="-|>", color="0.35", lw=0.8,
                                                   shrinkA=0, shrinkB=0, mutation_scale=6))
        ref = 1.0 * p["M"] / 6 if p["v_star"] == "ones" else None
        if ref:
            ax1.axhline(ref, color="0.55", ls="--", lw=0.8, zorder=1)
            ax1.text(x_lo * 1.15, ref * 1.06, r"$|v^*|^2/6$", fontsize=7, color="0.4", va="bottom")
        ax1.set_yscale("log")
        ax1.set_ylabel(rf"$\epsilon_g$ at $t^*$ = {style.fmt_num(p['t_star'])}")
        lo = np.nanmin([np.nanmin(m), np.nanmin(data["ode_mean"]["pepita-lin"])])
        ax1.set_ylim(lo / 2, 1.2)
        ax1.legend(loc="lower left", fontsize=7, handlelength=1.8)
        ax1.text(PAPER_PHI_F * 1.12, 0.97, "paper's\ncode", transform=ax1.get_xaxis_transform(),
                 fontsize=6.5, color="0.4", va="top")
        # (b) growth of the AF vector
        for r in ("afa", "pepita-lin"):
            _ode_line(ax2, phi_ode, _nanmean_rows(data["ode"][r]["amp"]), data["ode"][r]["div"], r)
        ms, ses, _ = stats(data["sim_amp"].T)
        style.sim_markers(ax2, phi_sim, ms, ses, "pepita", ms=4.5, zorder=4,
                          label="PEPITA simulation")
        ax2.axhline(1.0, color="0.55", ls="--", lw=0.8, zorder=1)
        ax2.set_yscale("log")
        ax2.set_ylabel(r"AF-vector growth $\mathrm{max}_t\,|a(t)|\,/\,|a(0)|$")
        ax2.legend(loc="upper left", fontsize=7, handlelength=1.8)
        if np.isfinite(div_from):
            ax2.text(np.sqrt(div_from * x_hi), 0.5, "PEPITA\ndiverges", transform=ax2.get_xaxis_transform(),
                     ha="center", fontsize=7.5, color=style.colour("pepita"))
        style.panel_label(ax1, "a", x=-0.2, y=1.08)
        style.panel_label(ax2, "b", x=-0.2, y=1.08)
        fig.suptitle(f"Where PEPITA $\\approx$ AFA: D={D}, $\\eta$={p['eta']}, K=M={p['K']}, "
                     f"v*=(1,1), $t^*$={style.fmt_num(p['t_star'])}"
                     + ("  [small run]" if p["small"] else ""), fontsize=9.5)
    return style.fixed_layout(fig)


def summary(data):
    p = data["params"]
    m, se, n = data["sim_stats"]
    lines = [f"D={p['D']} eta={p['eta']} t*={p['t_star']:g} seeds={p['seeds']}; simulations "
             f"{data['seconds']['sim']:.0f} s, ODEs {data['seconds']['ode']:.0f} s",
             "  |F|^2   PEPITA sim (n)          PEPITA-lin ODE  AFA ODE   rel.diff PEPITA/AFA"]
    lin = np.exp(np.interp(np.log(data["phi_sim"]), np.log(data["phi_ode"]),
                           np.log(data["ode_mean"]["pepita-lin"])))
    for j, phi in enumerate(data["phi_sim"]):
        lines.append(f"  {phi:<7.3g} {m[j]:.4f} +- {se[j]:.4f} ({n[j]})   {lin[j]:.4f}          "
                     f"{data['afa_at_sim'][j]:.4f}    {data['rel_diff'][j]:.2f}"
                     + (f"   [{data['sim_div'][j]} diverged]" if data['sim_div'][j] else ""))
    lines.append(f"PEPITA within {100 * p['agree']:.0f}% of AFA up to |F|^2 = {data['phi_agree_max']:g}; "
                 f"exact PEPITA diverges (some seeds) from |F|^2 = {data['phi_diverge_min']:g}")
    return "\n".join(lines)


def save(fig, outdir=None):
    return style.save(fig, NAME, outdir)
