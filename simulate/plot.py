"""Figure of a `Comparison`: ODE lines over simulation markers with error bars.

Left: eps_g on log-log axes (seed mean +- standard error; the ODE mean over the seeds' initial
conditions as a line; at each time both over the seeds where simulation and ODE are finite).  Right: the alignment angles against log time, one colour per angle.
"""
import numpy as np

from odes.plot import ANGLE_LABELS, RULE_COLOURS, _matplotlib

ANGLE_COLOURS = {"v_vstar": "#1f77b4", "v_deg": "#d62728", "a_v": "#2ca02c", "b_v": "#2ca02c",
                 "net": "#7f7f7f"}


def plot_comparison(cmp, path=None, axes=None):
    """Draw `cmp` (a `Comparison`); save to `path` if given; returns the figure."""
    plt = _matplotlib()
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    else:
        fig = axes[0].figure
    sim = cmp.sim
    t = cmp.t
    pos = t > 0
    colour = RULE_COLOURS.get(sim.rule.name, "k")

    m, se = cmp.mean("eps_g"), cmp.sem("eps_g")
    axes[0].errorbar(t[pos], m[pos], yerr=np.nan_to_num(se[pos]), fmt="o", ms=3.5, color=colour,
                     capsize=2, label=f"simulation {sim.rule.name}, D={sim.params['D']}, "
                                      f"{sim.n_seeds} seeds")
    if cmp.ode is not None:
        axes[0].loglog(t[pos], cmp.mean("eps_g", "ode")[pos], "-", color="k", lw=1.2,
                       label=f"ODE {cmp.ode_rule}")
    axes[0].set(xscale="log", yscale="log", xlabel=r"time $t$ = steps$/D$",
                ylabel=r"$\epsilon_g$")
    axes[0].legend(frameon=False, fontsize=8)

    for name in sim.angles:
        mean = cmp.mean(name)
        if not np.any(np.isfinite(mean[pos])):
            continue
        c = ANGLE_COLOURS.get(name, None)
        axes[1].errorbar(t[pos], mean[pos], yerr=np.nan_to_num(cmp.sem(name)[pos]), fmt="o",
                         ms=3, color=c, capsize=2, label=ANGLE_LABELS.get(name, name))
        if cmp.ode is not None and f"theta_{name}" in cmp.ode:
            axes[1].plot(t[pos], cmp.mean(name, "ode")[pos], "-", color=c, lw=1.0)
    axes[1].set(xscale="log", xlabel=r"time $t$", ylabel="angle (degrees)", ylim=(0, 180),
                yticks=[0, 45, 90, 135, 180])
    axes[1].legend(frameon=False, fontsize=8)

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
