"""The paper's Figure 2, panels b-d: exact PEPITA and AFA in the teacher-student model.

Settings of the caption (theory.md section 5): D = 500, eta = 0.05, K = M = 2, g = erf(./sqrt 2).
Choices the caption leaves open (PARAMS; theory.md sections 5 and 6.2):

* |F|^2 = 0.1 (F_i ~ N(0, |F|^2/D), so a(0) = W F/sqrt(D) ~ 0.01): small enough that exact
  PEPITA is stable at D = 500 (it diverges for |F|^2 >~ 2 at t <= 10^3, see pepita_f_scale) and
  that the order parameters, a included, are self-averaging; large enough that the first layer
  learns within t = 10^4.
* eta_v = eta; teacher v* = (1, 1) (so the zero-error second layers are (+-1, +-1)); student
  "large" initialisation (W, v entries N(0, 1)); F and the teacher drawn per seed.
* 8 seeds (mean +- s.e.); record times log-spaced up to t = 10^4; the ODEs (exact PEPITA by
  quadrature, theory.md 3.6; AFA, 3.4; PEPITA-linearised, 3.5) start from each seed's measured
  initial order parameters.

Panels: (b) eps_g against t, simulations as markers and ODE means as lines; (c) the alignment
angles of one seed (`show_seed`), PEPITA simulation against the exact-PEPITA and AFA ODEs; (d) the plane of
second-layer vectors of that seed at the time shots marked in (c).
"""
import numpy as np

import odes

from . import style
from .common import at_time, log_times, resolve, run_with_ode, sigma_F_of, stats

NAME = "fig2"

PARAMS = dict(K=2, M=2, D=500, eta=0.05, eta_v=None, phi_F=0.1, v_star="ones", init="large",
              t_max=1e4, n_times=40, seeds=8, seed=0, jobs=2, show_seed=5,
              shots=(1.0, 200.0, 1000.0, 1e4))
SMALL = dict(D=100, t_max=300.0, n_times=14, seeds=3, show_seed=0, shots=(1.0, 30.0, 100.0, 300.0))

RULES = ("pepita", "afa")            # simulated
ODE_RULES = ("pepita", "pepita-lin", "afa")    # theory lines, from the same initial states
ODE_STYLE = {"pepita": dict(ls="-", lw=1.8), "pepita-lin": dict(ls=(0, (4, 2)), lw=1.3),
             "afa": dict(ls="-", lw=1.5)}
ANGLES = ("v_vstar", "v_deg", "a_v")


def compute(small=None, **overrides):
    """Simulate exact PEPITA and AFA over the seeds and integrate both ODEs from every seed's
    initial state; returns a dict of arrays (see the module docstring)."""
    p = resolve(PARAMS, SMALL, small, overrides)
    K, M, D, eta = p["K"], p["M"], p["D"], p["eta"]
    times = log_times(p["t_max"], p["n_times"])
    common = dict(eta_v=p["eta_v"], sigma_F=sigma_F_of(p["phi_F"], D), v_star=p["v_star"],
                  init=p["init"], seed=p["seed"])
    sims, ode, seconds = {}, None, {}
    for rule in RULES:
        # both rules draw identical initial weights (same seeds), so the ODEs are integrated once
        sim, o, sec = run_with_ode(rule, K, M, D, eta, times, p["seeds"], jobs=p["jobs"],
                                   ode_rules=ODE_RULES if rule == "pepita" else (),
                                   **common)
        sims[rule], seconds[rule] = sim, sec
        if rule == "pepita":
            ode = o
    t = sims["pepita"].t
    s = p["show_seed"] if p["show_seed"] < sims["pepita"].n_seeds else 0
    data = dict(params=p, t=t, sims=sims, ode=ode, seconds=seconds, show=s)
    data["eps"] = {r: stats(sims[r].eps_g) for r in RULES}
    data["eps_ode"] = {r: stats(ode[r]["eps_g"]) for r in ODE_RULES}
    data["n_diverged"] = {r: sims[r].n_diverged for r in RULES}
    data["ode_status"] = {r: ode[r]["status"] for r in ODE_RULES}
    data["phi_F_measured"] = float(np.mean(sims["pepita"].phi_F))
    data["a0_rms"] = float(np.sqrt(np.mean(sims["pepita"].f[:, 0] ** 2)))
    # the shown seed: angles from the simulation and from both ODEs
    sim = sims["pepita"]
    data["angles_sim"] = {k: sim.angles[k][s] for k in ANGLES}
    data["angles_ode"] = {r: {k: ode[r][f"theta_{k}"][s] for k in ANGLES} for r in ODE_RULES}
    # the second-layer plane at the time shots
    idx = [at_time(t, x) for x in p["shots"]]
    v_deg = odes.degenerate_solution(sim.Q[s, idx], sim.R[s, idx], sim.T[s], sim.v_star[s])
    data["plane"] = dict(t=t[idx], idx=idx, v=sim.v[s, idx], a=sim.f[s, idx], v_deg=v_deg,
                         v_star=sim.v_star[s], a_ode=ode["pepita"]["f"][s, idx],
                         v_ode=ode["pepita"]["v"][s, idx])
    data["a_norm"] = {r: np.linalg.norm(sims[r].f, axis=-1) for r in RULES}
    # seeds in which the hidden units specialise at some record time (theta(v, v_deg) defined)
    data["n_specialised"] = {r: int(np.sum(np.any(np.isfinite(sims[r].angles["v_deg"][:, 1:]),
                                                  axis=1))) for r in RULES}
    return data


def plot(data):
    """Draw panels b-d; returns the matplotlib Figure."""
    plt = style.pyplot()
    p, t = data["params"], data["t"]
    pos = t > 0
    with style.rc():
        fig = plt.figure(figsize=(7.4, 6.0), layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=[1.25, 1.0])
        ax_b, ax_c = top.subplots(1, 2, gridspec_kw=dict(width_ratios=[1.05, 1.0]))
        axes_d = bottom.subplots(1, len(p["shots"]))
        _panel_b(ax_b, data, pos)
        _panel_c(ax_c, data, pos)
        _panel_d(axes_d, data)
        style.panel_label(ax_b, "b", x=-0.2)
        style.panel_label(ax_c, "c", x=-0.2)
        style.panel_label(axes_d[0], "d", x=-0.3, y=1.06)
        eta_v = p["eta"] if p["eta_v"] is None else p["eta_v"]
        fig.suptitle(f"PEPITA vs AFA, teacher-student: D={p['D']}, $\\eta$={p['eta']}, "
                     f"K=M={p['K']}, erf;  $|F|^2$={p['phi_F']:g}, v*=(1,1), {p['seeds']} seeds"
                     + ("  [small run]" if p["small"] else ""), fontsize=9.5)
        undefined = not np.any(np.isfinite(data["angles_sim"]["v_deg"][t > 0]))
        foot = (f"$\\sigma_F$={np.sqrt(p['phi_F'] / p['D']):.3g}, rms $a(0)$={data['a0_rms']:.2g}, "
                f"$\\eta_v$={eta_v:g}; student W, v and teacher W* entries N(0,1);\nODEs from each "
                f"seed's measured initial order parameters; (d): $a$ drawn as a direction.")
        if undefined:
            ns = data["n_specialised"]
            where = ("in none of the seeds" if ns["pepita"] == ns["afa"] == 0 else
                     f"in {ns['pepita']} PEPITA and {ns['afa']} AFA seeds of {p['seeds']}, "
                     "not in the one shown")
            foot += ("\n* $\\theta(v, v_{\\rm deg})$ is defined once the hidden units have "
                     f"specialised (theory.md 4.2): by t = {style.fmt_num(t[-1])}, {where}.")
        fig.text(0.5, -0.005, foot, ha="center", va="top", fontsize=7, color="0.3",
                 linespacing=1.4)
    return style.fixed_layout(fig)


def _panel_b(ax, data, pos):
    t = data["t"]
    tp = t[pos]
    # PEPITA and AFA markers on alternate record times, so that both stay visible where they overlap
    for rule, marker, start, z in (("pepita", "o", 0, 5), ("afa", "s", 1, 4)):
        m, se, _ = data["eps"][rule]
        keep = np.zeros(len(tp), bool)
        keep[start::2] = True
        mm = np.where(keep, m[pos], np.nan)
        n_div = data["n_diverged"][rule]
        lab = f"{style.label(rule)} simulation" + (f" ({n_div} diverged)" if n_div else "")
        style.sim_markers(ax, tp, mm, se[pos], rule, label=lab, marker=marker,
                          filled=rule == "pepita", ms=4.2, zorder=z)
    for rule in ODE_RULES:
        m = data["eps_ode"][rule][0]
        ax.plot(tp, m[pos], color=style.colour(rule), zorder=6, alpha=0.9,
                label=f"{style.label(rule)} ODE", **ODE_STYLE[rule])
    ref = float(np.sum(data["sims"]["pepita"].v_star[0] ** 2)) / 6
    ax.axhline(ref, color="0.55", lw=0.8, ls=":", zorder=1)
    ax.text(tp[0] * 1.2, ref / 1.08, r"$|v^*|^2/6$: first layer not learning", fontsize=6.8,
            color="0.4", va="top")
    ax.set_yscale("log")
    style.log_time_axis(ax, tp[0] * 0.8, t[-1] * 1.25)
    ax.set_ylabel(r"generalisation error $\epsilon_g$")
    lo = np.nanmin([np.nanmin(data["eps"][r][0][pos]) for r in RULES])
    ax.set_ylim(lo / 2.5, 1.6)
    handles, labels = ax.get_legend_handles_labels()
    order = [labels.index(x) for x in sorted(labels, key=lambda s: ("ODE" in s, s))]
    ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="lower left",
              fontsize=7.2, handlelength=1.8)


def _panel_c(ax, data, pos):
    t = data["t"]
    for k in ANGLES:
        c = style.ANGLE_COLOURS[k]
        y = data["angles_sim"][k]
        ok = pos & np.isfinite(y)
        ax.plot(t[ok], y[ok], style.ANGLE_MARKERS[k], color=c, ms=3.6, mfc="white", mew=1.0,
                zorder=3)
        ax.plot(t[pos], data["angles_ode"]["pepita"][k][pos], "-", color=c, lw=1.5, zorder=2)
        ax.plot(t[pos], data["angles_ode"]["afa"][k][pos], "--", color=c, lw=1.0, alpha=0.8,
                zorder=2)
    for x in data["plane"]["t"]:
        ax.axvline(x, color="0.6", ls="--", lw=0.7, zorder=0)
    style.log_time_axis(ax, t[pos][0] * 0.8, t[-1] * 1.25)
    style.angle_axis(ax)
    from matplotlib.lines import Line2D
    undefined = not np.any(np.isfinite(data["angles_sim"]["v_deg"][pos]))
    h1 = [Line2D([], [], color=style.ANGLE_COLOURS[k], marker=style.ANGLE_MARKERS[k], mfc="white",
                 ls="-", ms=3.6, label=style.ANGLE_LABELS[k]
                 + (" (undefined*)" if k == "v_deg" and undefined
                    else "")) for k in ANGLES]
    h2 = [Line2D([], [], color="0.3", marker="o", mfc="white", ls="none", ms=3.6,
                 label="PEPITA simulation"),
          Line2D([], [], color="0.3", ls="-", label="PEPITA ODE"),
          Line2D([], [], color="0.3", ls="--", lw=1.0, label="AFA ODE")]
    # one legend below the axes: angles in the first row, line styles in the second
    ax.legend(handles=[h for pair in zip(h1, h2) for h in pair], loc="upper center",
              bbox_to_anchor=(0.45, -0.19), ncol=3, fontsize=6.9, handlelength=1.9,
              columnspacing=0.9)
    ax.set_title(f"one seed (#{data['sims']['pepita'].seeds[data['show']]})", fontsize=8.5,
                 loc="right", pad=2)


def _panel_d(axes, data):
    pl = data["plane"]
    vs = pl["v_star"]
    lim = 1.15 * max(1.0, np.max(np.abs(pl["v"])), np.max(np.abs(vs)) * 1.05)
    # all zero-error second layers for K = M = 2: sign flips and the permutation of v*
    sols = []
    if len(vs) == 2:
        for perm in (vs, vs[::-1]):
            for sx in (1, -1):
                for sy in (1, -1):
                    sol = (sx * perm[0], sy * perm[1])
                    if sol not in sols:
                        sols.append(sol)
    for j, ax in enumerate(axes):
        ax.set_aspect("equal")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.axhline(0, color="0.85", lw=0.6, zorder=0)
        ax.axvline(0, color="0.85", lw=0.6, zorder=0)
        for sol in sols:
            _arrow(ax, sol, "0.72", lw=0.9, ls=(0, (2, 2)))
        if np.all(np.isfinite(pl["v_deg"][j])):
            # wide and translucent, so that it stays visible under v* when the two coincide
            ax.plot([0, pl["v_deg"][j][0]], [0, pl["v_deg"][j][1]], "-", lw=5, alpha=0.35,
                    color=style.ANGLE_COLOURS["v_deg"], solid_capstyle="round", zorder=1)
        _arrow(ax, vs, "k", lw=1.6)
        a = pl["a"][j]
        na = np.linalg.norm(a)
        if na > 0:
            _arrow(ax, a / na * 0.8 * lim, style.ANGLE_COLOURS["a_v"], lw=1.6)
        _arrow(ax, pl["v"][j], style.colour("pepita"), lw=2.2)
        ax.set_title(f"t = {style.fmt_num(pl['t'][j])}", fontsize=8.5, pad=2)
        ax.set_xticks([-1, 0, 1])
        ax.set_yticks([-1, 0, 1])
        ax.tick_params(labelsize=7)
        ax.set_xlabel("unit 1", fontsize=7.5, labelpad=1)
        if j == 0:
            ax.set_ylabel("unit 2", fontsize=7.5, labelpad=0)
        else:
            ax.set_yticklabels([])
        for side in ("top", "right"):
            ax.spines[side].set_visible(True)
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color=style.colour("pepita"), lw=2.2, label="student $v$ (PEPITA)"),
               Line2D([], [], color=style.ANGLE_COLOURS["a_v"], lw=1.6,
                      label=r"AF vector $a$ (direction)"),
               Line2D([], [], color="k", lw=1.6, label=r"teacher $v^*$"),
               Line2D([], [], color=style.ANGLE_COLOURS["v_deg"], lw=5, alpha=0.35,
                      label=r"$v_{\rm deg}$ (once specialised)"),
               Line2D([], [], color="0.72", lw=0.9, ls=(0, (2, 2)),
                      label="degenerate solutions")]
    axes[-1].figure.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=7.2,
                           handlelength=1.8, columnspacing=1.2)


def _arrow(ax, vec, colour, lw=1.5, ls="-"):
    x, y = float(vec[0]), float(vec[1])
    ax.annotate("", xy=(x, y), xytext=(0, 0),
                arrowprops=dict(arrowstyle="-|>", color=colour, lw=lw, ls=ls, shrinkA=0,
                                shrinkB=0, mutation_scale=8))


def summary(data):
    """The numbers the figure shows, as text."""
    p, t = data["params"], data["t"]
    lines = [f"D={p['D']} eta={p['eta']} K=M={p['K']} |F|^2={p['phi_F']} (measured "
             f"{data['phi_F_measured']:.3f}), rms a(0)={data['a0_rms']:.4f}, seeds={p['seeds']}, "
             f"t_max={p['t_max']:g}; simulation {data['seconds']['pepita']:.0f} s (PEPITA + ODEs), "
             f"{data['seconds']['afa']:.0f} s (AFA)"]
    for i in sorted({at_time(t, x) for x in (1.0, 100.0, 1000.0, p["t_max"]) if x <= p["t_max"]}):
        row = [f"t={t[i]:.4g}:"]
        for r in RULES:
            m, se, _ = data["eps"][r]
            row.append(f"{style.label(r)} sim {m[i]:.4f}+-{se[i]:.4f}")
        for r in ODE_RULES:
            row.append(f"{style.label(r)} ODE {data['eps_ode'][r][0][i]:.4f}")
        lines.append("  ".join(row))
    for r in RULES:
        lines.append(f"{style.label(r)}: {data['n_diverged'][r]} of {p['seeds']} seeds diverged, "
                     f"{data['n_specialised'][r]} specialised (theta(v, v_deg) defined); "
                     f"max |a|/|a(0)| (seed mean) = "
                     f"{np.nanmean(np.nanmax(data['a_norm'][r], axis=1) / data['a_norm'][r][:, 0]):.2f}")
    return "\n".join(lines)


def save(fig, outdir=None):
    return style.save(fig, NAME, outdir)
