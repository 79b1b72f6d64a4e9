"""Feedback alignment's two phases, "align, then memorise" (Refinetti et al. 2021; theory.md 6.1).

FA trains the first layer with a fixed random feedback vector b in place of v (theory.md 2.2).
First the second layer v turns towards b (theta(v, b) drops: *align*); only then does the error
fall, through a plateau, to the zero-error solution whose second-layer signs are those selected by
b (theta(v, v_deg) -> 0: *memorise*).  With K = M = 2 and v* = (1, 1) that solution is
v = (sgn b_1, sgn b_2), so theta(v, b) settles at the angle between b and its sign pattern, not
at zero.

Choices (PARAMS): D = 500, K = M = 2, eta = eta_v = 0.5 (the rate of Refinetti et al.; the phases
are 10x slower at eta = 0.05), teacher v* = (1, 1), b ~ N(0, I_2) per seed, student "large"
initialisation, 16 seeds, t up to 10^3.  Lines: the FA ODE from each seed's measured initial
state (mean over seeds; thin lines: single seeds); for reference, the BP ODE from the same
initial states.
"""
import numpy as np

from . import style
from .common import first_below, log_times, resolve, run_with_ode, stats

NAME = "fa_align_memorise"

PARAMS = dict(K=2, M=2, D=500, eta=0.5, eta_v=None, v_star="ones", init="large", t_max=1e3,
              n_times=48, seeds=16, seed=0, jobs=2, align_angle=45.0)
SMALL = dict(D=100, t_max=300.0, n_times=24, seeds=4)


def compute(small=None, **overrides):
    p = resolve(PARAMS, SMALL, small, overrides)
    times = log_times(p["t_max"], p["n_times"], t_min=0.05)
    sim, ode, sec = run_with_ode("fa", p["K"], p["M"], p["D"], p["eta"], times, p["seeds"],
                                 jobs=p["jobs"], ode_rules=("fa", "bp"),
                                 eta_v=p["eta_v"], v_star=p["v_star"], init=p["init"],
                                 seed=p["seed"])
    t = sim.t
    data = dict(params=p, t=t, sim=sim, ode=ode, seconds=sec)
    data["eps"] = stats(sim.eps_g)
    data["eps_ode"] = {r: stats(ode[r]["eps_g"]) for r in ("fa", "bp")}
    for k in ("b_v", "v_deg"):
        data[k] = stats(sim.angles[k])
        data[k + "_ode"] = stats(ode["fa"][f"theta_{k}"])
    data["eps_ode_seeds"] = ode["fa"]["eps_g"]
    data["b_v_ode_seeds"] = ode["fa"]["theta_b_v"]
    # end of the align phase: the mean angle theta(v, b) first below align_angle
    data["t_align"] = first_below(t, data["b_v_ode"][0], p["align_angle"])
    # the plateau of the memorise phase and the escape from it
    data["t_half"] = first_below(t, data["eps"][0], 0.5 * data["eps"][0][0])
    return data


def plot(data):
    plt = style.pyplot()
    p, t = data["params"], data["t"]
    pos = t > 0
    c = style.colour("fa")
    with style.rc():
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7.4, 3.3), layout="constrained")
        for ax in (ax1, ax2):
            ax.axvspan(t[pos][0] * 0.8, data["t_align"], color="0.93", zorder=0, lw=0)
        # (a) eps_g
        for e in data["eps_ode_seeds"]:
            ax1.plot(t[pos], e[pos], "-", color=c, lw=0.5, alpha=0.25, zorder=1)
        m, se, _ = data["eps"]
        style.sim_markers(ax1, t[pos], m[pos], se[pos], "fa", every=2, ms=3.8,
                          label=f"FA simulation ({data['sim'].n_seeds} seeds)")
        ax1.plot(t[pos], data["eps_ode"]["fa"][0][pos], "-", color=c, lw=1.8, zorder=4,
                 label="FA ODE (seed mean)")
        ax1.plot([], [], "-", color=c, lw=0.6, alpha=0.5, label="FA ODE, each seed")
        ax1.plot(t[pos], data["eps_ode"]["bp"][0][pos], "--", color=style.colour("bp"), lw=1.2,
                 zorder=3, label="BP ODE, same initial states")
        ax1.set_yscale("log")
        style.log_time_axis(ax1, t[pos][0] * 0.8, t[-1] * 1.25)
        ax1.set_ylabel(r"generalisation error $\epsilon_g$")
        lo = np.nanmin(m[pos][m[pos] > 0])
        ax1.set_ylim(max(lo / 3, 1e-7), 2.0)
        ax1.legend(loc="upper right", fontsize=7, handlelength=1.8)
        # (b) angles
        for e in data["b_v_ode_seeds"]:
            ax2.plot(t[pos], e[pos], "-", color=c, lw=0.5, alpha=0.25, zorder=1)
        m, se, _ = data["b_v"]
        style.sim_markers(ax2, t[pos], m[pos], se[pos], "fa", every=2, ms=3.8,
                          label=r"$\theta(v, b)$ simulation")
        ax2.plot(t[pos], data["b_v_ode"][0][pos], "-", color=c, lw=1.8, zorder=4,
                 label=r"$\theta(v, b)$ ODE")
        col = style.ANGLE_COLOURS["v_deg"]
        m, se, _ = data["v_deg"]
        style.sim_markers(ax2, t[pos], m[pos], se[pos], "fa", every=2, ms=3.6, marker="s",
                          filled=False, colour_=col,
                          label=r"$\theta(v, v_{\rm deg})$ simulation" "\n(specialised seeds only)")
        ax2.plot(t[pos], data["v_deg_ode"][0][pos], "-", color=col, lw=1.3, zorder=4,
                 label=r"$\theta(v, v_{\rm deg})$ ODE")
        style.log_time_axis(ax2, t[pos][0] * 0.8, t[-1] * 1.25)
        style.angle_axis(ax2)
        ax2.legend(loc="upper right", bbox_to_anchor=(1.0, 0.88), fontsize=7, handlelength=1.8)
        for ax, y in ((ax1, 0.03), (ax2, 0.93)):
            ax.text(np.sqrt(t[pos][0] * data["t_align"]), y, "align",
                    transform=ax.get_xaxis_transform(), ha="center", fontsize=8, color="0.35",
                    style="italic")
            ax.text(np.sqrt(data["t_align"] * t[-1]), y, "memorise",
                    transform=ax.get_xaxis_transform(), ha="center", fontsize=8, color="0.35",
                    style="italic")
        style.panel_label(ax1, "a", x=-0.2)
        style.panel_label(ax2, "b", x=-0.2)
        fig.suptitle(f"Feedback alignment, align then memorise: D={p['D']}, $\\eta$={p['eta']}, "
                     f"K=M={p['K']}, v*=(1,1), b ~ N(0, I)" + ("  [small run]" if p["small"] else ""),
                     fontsize=9.5)
    return style.fixed_layout(fig)


def summary(data):
    p, t = data["params"], data["t"]
    m = data["eps"][0]
    i_end = len(t) - 1
    mid = np.flatnonzero((t > data["t_align"]) & (t < 10 * data["t_align"]))
    lines = [
        f"D={p['D']} eta={p['eta']} seeds={p['seeds']}; {data['seconds']:.0f} s",
        f"theta(v,b): {data['b_v'][0][0]:.0f} deg at t=0 -> below {p['align_angle']:g} deg at "
        f"t={data['t_align']:.3g} (ODE mean); {data['b_v'][0][i_end]:.1f} deg at t={t[i_end]:g} (sim)",
        f"theta(v,v_deg) at t={t[i_end]:g}: sim {data['v_deg'][0][i_end]:.1f} deg, "
        f"ODE {data['v_deg_ode'][0][i_end]:.1f} deg",
        f"eps_g: {m[0]:.3f} at t=0, {np.nanmean(m[mid]) if mid.size else float('nan'):.4f} on "
        f"the plateau after alignment, {m[i_end]:.2e} at t={t[i_end]:g} (ODE "
        f"{data['eps_ode']['fa'][0][i_end]:.2e}; BP ODE {data['eps_ode']['bp'][0][i_end]:.2e})",
    ]
    return "\n".join(lines)


def save(fig, outdir=None):
    return style.save(fig, NAME, outdir)
