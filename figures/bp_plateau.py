"""The Saad-Solla plateau of backpropagation (soft committee machine) for K = M = 2 and 3.

Soft committee machine (theory.md 2.1): second layers v = v* = 1, frozen; only the first layer
is trained, by BP.  From a small random start the student first learns the *symmetric* state in
which every student unit has the same overlap with every teacher unit, R_km = 1/sqrt(K(2K-1)),
Q_kl = 1/(2K-1), and lingers there: the plateau, of height (theory.md 6.1)

    eps_plateau = K/6 - (K^2/pi) arcsin(1/(2K)) = 0.011611 (K=2), 0.020297 (K=3)   (eta -> 0).

It escapes once the O(D^-1/2) asymmetries of the initial overlaps have grown (exponentially)
into specialised units, after which eps_g decays to zero.

Choices (PARAMS): D = 500, eta = 0.05 (the plateau height at finite eta is lifted by the O(eta^2)
SGD-noise term: about +2% for K = 2 and +4% for K = 3 at eta = 0.05); teacher rows orthogonalised
to |w*_m|^2 = D so that T = I exactly, as in the plateau formula (a random teacher has
T = I + O(D^-1/2), which moves the plateau by several per cent); student first layer "mixed"
(entries N(0, 1/D), so Q, R = O(1/D): the Saad-Solla small initialisation); 8 seeds; the ODE starts
from every seed's measured initial overlaps.  The plateau height is evaluated by `odes.eps_g`
at the symmetric state.
"""
import numpy as np

import odes

from . import style
from .common import log_times, plateau_height, resolve, run_with_ode, stats

NAME = "bp_plateau"

PARAMS = dict(Ks=(2, 3), D=500, eta=0.05, init="mixed", t_max=1e4, n_times=60, seeds=8, seed=0,
              jobs=2)
SMALL = dict(D=100, t_max=2000.0, n_times=30, seeds=3)


def orthonormal_teacher(weights):
    """The same weights with the teacher rows replaced by orthogonal rows of squared norm D
    (T = I exactly), spanning the same subspace."""
    w = weights.copy()
    D = w.W_star.shape[1]
    q, r = np.linalg.qr(w.W_star.T)
    w.W_star = np.sqrt(D) * (q * np.sign(np.diag(r))).T
    return w


def compute(small=None, **overrides):
    p = resolve(PARAMS, SMALL, small, overrides)
    D, eta = p["D"], p["eta"]
    times = log_times(p["t_max"], p["n_times"])
    seeds = list(range(p["seed"], p["seed"] + p["seeds"]))
    data = dict(params=p, runs={})
    for K in p["Ks"]:
        weights = [orthonormal_teacher(odes.draw_weights(K, K, D, s, init=p["init"],
                                                         v_star="ones", train_v=False))
                   for s in seeds]
        sim, ode, sec = run_with_ode("bp", K, K, D, eta, times, seeds, jobs=p["jobs"],
                                     weights=weights, train_v=False, v_star="ones",
                                     init=p["init"])
        ode = ode["bp"]
        t = sim.t
        plateau = plateau_height(K)
        closed_form = K / 6 - K ** 2 / np.pi * np.arcsin(1 / (2 * K))
        run = dict(t=t, sim=sim, ode=ode, seconds=sec, plateau=plateau, closed_form=closed_form,
                   eps=stats(sim.eps_g), eps_ode=stats(ode["eps_g"]), eps_ode_seeds=ode["eps_g"],
                   T_dev=float(np.max(np.abs(sim.T - np.eye(K)))))
        run["plateau_ode"] = np.array([_flattest(t, e) for e in ode["eps_g"]])
        run["plateau_sim"] = np.array([_flattest(t, e) for e in sim.eps_g])
        run["escape_ode"] = np.array([_escape(t, e, plateau) for e in ode["eps_g"]])
        run["escape_sim"] = np.array([_escape(t, e, plateau) for e in sim.eps_g])
        data["runs"][K] = run
    return data


def _flattest(t, eps):
    """eps_g where the curve is flattest on log axes (the plateau), after the initial drop."""
    eps = np.asarray(eps)
    ok = (t > 0) & np.isfinite(eps) & (eps > 0)
    lt, le = np.log(t[ok]), np.log(eps[ok])
    slope = np.abs(np.gradient(le, lt))
    # after the initial descent: only where eps has already fallen below 3x its final minimum
    # of the descent phase, i.e. skip the initial flat region at eps ~ eps(0)
    start = np.argmax(le < np.log(0.1 * eps[ok][0])) if np.any(le < np.log(0.1 * eps[ok][0])) else 0
    if start >= len(le) - 2:
        return float("nan")
    i = start + int(np.argmin(slope[start:]))
    return float(np.exp(le[i]))


def _escape(t, eps, plateau):
    """First time at which eps_g < plateau/2 (after reaching the plateau); nan if never."""
    idx = np.flatnonzero(np.asarray(eps) < 0.5 * plateau)
    return float(t[idx[0]]) if idx.size else float("nan")


def plot(data):
    plt = style.pyplot()
    p = data["params"]
    Ks = list(data["runs"])
    c = style.colour("bp")
    with style.rc():
        fig, axes = plt.subplots(1, len(Ks), figsize=(3.6 * len(Ks), 3.4), sharey=True,
                                 layout="constrained")
        axes = np.atleast_1d(axes)
        for ax, K in zip(axes, Ks):
            run = data["runs"][K]
            t = run["t"]
            pos = t > 0
            for e in run["eps_ode_seeds"]:
                ax.plot(t[pos], e[pos], "-", color=c, lw=0.6, alpha=0.28, zorder=1)
            m, se, _ = run["eps"]
            style.sim_markers(ax, t[pos], m[pos], se[pos], "bp", every=2, ms=3.8,
                              label=f"simulation (mean $\\pm$ s.e., {run['sim'].n_seeds} seeds)")
            ax.plot(t[pos], run["eps_ode"][0][pos], "-", color=c, lw=1.8, zorder=2,
                    label="ODE (mean of per-seed ODEs)")
            ax.plot([], [], "-", color=c, lw=0.6, alpha=0.4, label="ODE, each seed")
            ax.axhline(run["plateau"], color="k", ls="--", lw=0.9, zorder=0,
                       label=r"plateau $K/6 - (K^2/\pi)\arcsin(1/2K)$")
            ax.set_yscale("log")
            style.log_time_axis(ax, t[pos][0] * 0.8, t[-1] * 1.25)
            ax.set_title(f"K = M = {K}", fontsize=10)
            med = np.nanmedian(run["plateau_ode"])
            esc_o, esc_s = np.nanmedian(run["escape_ode"]), np.nanmedian(run["escape_sim"])
            med_s = np.nanmedian(run["plateau_sim"])
            style.text_box(ax, "\n".join([
                rf"$\epsilon_{{\rm plateau}}$ = {run['plateau']:.5f} ($\eta\to 0$)",
                rf"ODE plateau = {med:.5f} ({100 * (med / run['plateau'] - 1):+.1f}%)",
                rf"simulation plateau = {med_s:.5f} ({100 * (med_s / run['plateau'] - 1):+.1f}%)",
                f"median escape: ODE t = {style.fmt_num(esc_o, 2)}, sim t = {style.fmt_num(esc_s, 2)}",
            ]), loc="lower left" if np.nanmin(m[pos]) < run["plateau"] / 30 else "upper right",
                fontsize=7)
            ax.set_ylim(max(np.nanmin(m[pos]) / 3, 1e-6), 1.0)
        axes[0].set_ylabel(r"generalisation error $\epsilon_g$")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=4,
                   fontsize=7.2, handlelength=1.8, columnspacing=1.2)
        fig.suptitle(f"BP, soft committee machine (v = v* = 1 frozen, T = I): D={p['D']}, "
                     f"$\\eta$={p['eta']}, small init" + ("  [small run]" if p["small"] else ""),
                     fontsize=9.5)
    return style.fixed_layout(fig)


def summary(data):
    lines = []
    for K, run in data["runs"].items():
        med = np.nanmedian(run["plateau_ode"])
        lines.append(
            f"K=M={K}: plateau (eta->0) {run['plateau']:.6f} [closed form {run['closed_form']:.6f}], "
            f"ODE plateau median {med:.6f} ({100 * (med / run['plateau'] - 1):+.1f}%), "
            f"sim plateau median {np.nanmedian(run['plateau_sim']):.6f}; escape (eps < plateau/2) "
            f"median t: ODE {np.nanmedian(run['escape_ode']):.0f}, sim "
            f"{np.nanmedian(run['escape_sim']):.0f}; eps_g at t={run['t'][-1]:g}: sim "
            f"{run['eps'][0][-1]:.2e}, ODE {run['eps_ode'][0][-1]:.2e}; {run['seconds']:.0f} s")
    return "\n".join(lines)


def save(fig, outdir=None):
    return style.save(fig, NAME, outdir)
