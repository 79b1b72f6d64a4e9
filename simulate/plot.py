"""Figure of a `Comparison`: ODE lines over simulation markers with error bars.

Left, top: eps_g on log-log axes, simulation seed mean +- standard error (markers) and the mean of
the ODE integrated from each seed's initial state (line), both over the seeds where simulation and
ODE are finite at that time.  Left, bottom: the paired deviation sim - ODE (per seed, then mean
+- s.e.), which is what tells whether theory and simulation agree: the seed-to-seed spread of
the initial conditions cancels in it.  Right: the alignment angles (markers: simulation, lines:
ODE), one colour per angle.
"""
import numpy as np

from odes.plot import ANGLE_LABELS, RULE_COLOURS, _matplotlib

from .result import seed_stats

ANGLE_COLOURS = {"v_vstar": "#1f77b4", "v_deg": "#d62728", "a_v": "#2ca02c", "b_v": "#2ca02c",
                 "net": "#7f7f7f"}


def plot_comparison(cmp, path=None, axes=None):
    """Draw `cmp` (a `Comparison`); save to `path` if given; returns the figure.

    axes: optional (eps_g axis, angle axis[, deviation axis]) to draw into."""
    plt = _matplotlib()
    if axes is None:
        fig = plt.figure(figsize=(11, 5.2), constrained_layout=True)
        grid = fig.add_gridspec(2, 2, height_ratios=(3, 1))
        ax_eps = fig.add_subplot(grid[0, 0])
        ax_dev = fig.add_subplot(grid[1, 0], sharex=ax_eps) if cmp.ode is not None else None
        ax_ang = fig.add_subplot(grid[:, 1])
    else:
        ax_eps, ax_ang = axes[0], axes[1]
        ax_dev = axes[2] if len(axes) > 2 else None
        fig = ax_eps.figure
    sim = cmp.sim
    t = cmp.t
    pos = t > 0
    colour = RULE_COLOURS.get(sim.rule.name, "k")

    m, se = cmp.mean("eps_g"), cmp.sem("eps_g")
    n_used = int(np.min(seed_stats(cmp.common("eps_g"))[2][pos]))
    seeds = (f"{sim.n_seeds} seeds" if n_used == sim.n_seeds
             else f"{n_used} of {sim.n_seeds} seeds at the end")
    ax_eps.errorbar(t[pos], m[pos], yerr=np.nan_to_num(se[pos]), fmt="o", ms=3.5, color=colour,
                    capsize=2, label=f"simulation {sim.rule.name}, D={sim.params['D']}: "
                                     f"mean ± s.e. over {seeds}")
    if cmp.ode is not None:
        ax_eps.plot(t[pos], cmp.mean("eps_g", "ode")[pos], "-", color="k", lw=1.2,
                    label=f"ODE {cmp.ode_rule} from each seed's initial state (mean)")
    ax_eps.set(xscale="log", yscale="log", ylabel=r"$\epsilon_g$")
    ax_eps.legend(frameon=False, fontsize=8)
    if ax_dev is not None:
        d, dse, _ = cmp.deviation("eps_g")
        ax_dev.axhline(0, color="k", lw=0.8)
        ax_dev.errorbar(t[pos], d[pos], yerr=np.nan_to_num(dse[pos]), fmt="o", ms=2.5,
                        color=colour, capsize=1.5)
        ax_dev.set(xscale="log", xlabel=r"time $t$ = steps$/D$",
                   ylabel=r"sim $-$ ODE")
        ax_dev.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    else:
        ax_eps.set(xlabel=r"time $t$ = steps$/D$")

    for name in sim.angles:
        mean = cmp.mean(name)
        if not np.any(np.isfinite(mean[pos])):
            continue
        c = ANGLE_COLOURS.get(name, None)
        ax_ang.errorbar(t[pos], mean[pos], yerr=np.nan_to_num(cmp.sem(name)[pos]), fmt="o",
                        ms=3, color=c, capsize=2, label=ANGLE_LABELS.get(name, name))
        if cmp.ode is not None and f"theta_{name}" in cmp.ode:
            ax_ang.plot(t[pos], cmp.mean(name, "ode")[pos], "-", color=c, lw=1.0)
    if cmp.ode is not None:
        ax_ang.plot([], [], "o", color="0.5", ms=3, label="markers: simulation")
        ax_ang.plot([], [], "-", color="0.5", label="lines: ODE")
    ax_ang.set(xscale="log", xlabel=r"time $t$", ylabel="angle (degrees)", ylim=(0, 180),
               yticks=[0, 45, 90, 135, 180])
    ax_ang.legend(frameon=False, fontsize=8)

    p = sim.params
    title = (f"{sim.rule.name}: K={p['K']}, M={p['M']}, D={p['D']}, eta={p['eta']}, "
             f"eta_v={p['eta_v']}, sigma={p['sigma']}")
    if sim.n_diverged:
        title += f"  ({sim.n_diverged} of {sim.n_seeds} seeds diverged)"
    if cmp.note:
        title += f"\n{cmp.note}"
    fig.suptitle(title, fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=150)
        plt.close(fig)
    return fig
