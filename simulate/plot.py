"""Figure of a `Comparison`: the theory drawn over the simulation, and whether they agree.

Left, top: eps_g on log-log axes; the simulation as markers (seed mean) in a band of +- one
standard error, each over the seeds whose simulation is finite at that time; the ODE, integrated
from each seed's initial state, as a black line on top (mean over the seeds whose ODE is finite;
dashed where that is fewer than all seeds).
Further theory lines (`also`, e.g. AFA and PEPITA-linearised for a PEPITA run) are drawn in their
rule's colour, under the black one.
Left, bottom: the relative paired deviation (sim - ODE)/ODE per seed, as mean +- 2 s.e. over the
seeds where both are finite, in the grey band of +- one standard deviation of a single seed as the
finite-D theory predicts it (`odes.fluctuations`, with the measured one dashed beside it and the
predicted O(1/D) bias dotted; the measured one as the band when there is no prediction) (the
O(D^-1/2) finite-D fluctuation): markers whose bars reach zero are consistent with the theory.
One series per theory line (black markers: the rule's own ODE).
Right: the alignment angles (markers and band: simulation mean +- s.e.; black-edged lines on top:
ODE), one colour per angle; angles that are undefined in this run are named in the panel.  When
no angle is defined (e.g. BP with K != M before any unit specialises) the angle panel is left out,
the eps_g panels take the width, and the undefined angles are named above eps_g.
Every time axis spans the run's positive times.
"""
import numpy as np

from odes.plot import (ANGLE_LABELS, RULE_COLOURS, mark_undefined, marker_subset, new_figure,
                       set_time_range, title_of)

from .result import seed_stats

ANGLE_COLOURS = {"v_vstar": "#1f77b4", "v_deg": "#d62728", "a_v": "#2ca02c", "b_v": "#2ca02c",
                 "net": "#7f7f7f"}
THEORY = dict(color="k", lw=1.6, zorder=5)


def _plot_by_count(ax, t, y, n, total, **style):
    """Line y(t), a mean over n(t) seeds, in pieces of constant n (no jump where a seed drops
    out); pieces over fewer than all seeds are dashed.  Returns the first line drawn."""
    first = None
    edges = np.flatnonzero(np.diff(n)) + 1
    for lo, hi in zip(np.r_[0, edges], np.r_[edges, len(t)]):
        if n[lo] == 0:
            continue
        (line,) = ax.plot(t[lo:hi], y[lo:hi], "-" if n[lo] == total else "--", **style)
        if first is None:
            first = line
        style.pop("label", None)
    return first


def _seeds_label(n, total):
    """How many of the `total` seeds a mean is over, e.g. '8 seeds' or '5–8 of 8 seeds'."""
    return f"{total} seeds" if np.all(n == total) else f"{int(np.min(n))}–{total} of {total} seeds"


def plot_comparison(cmp, path=None, axes=None):
    """Draw `cmp` (a `Comparison`); save to `path` if given; returns the figure (a Figure outside
    pyplot, see `odes.plot`).  axes: optional (eps_g axis, angle axis[, deviation axis])."""
    drawn, undefined = _split_angles(cmp)
    fig, ax_eps, ax_dev, ax_ang = _layout(cmp, axes, with_angles=bool(drawn))
    _eps_panel(ax_eps, cmp)
    if ax_dev is not None:
        _deviation_panel(ax_dev, cmp)
    (ax_eps if ax_dev is None else ax_dev).set_xlabel(r"time $t$ = steps$/D$")
    if ax_ang is not None:
        _angle_panel(ax_ang, cmp, drawn)
    mark_undefined(ax_eps if ax_ang is None else ax_ang, undefined)
    for ax in (ax_eps, ax_dev, ax_ang):
        if ax is not None:
            set_time_range(ax, cmp.t)
    fig.suptitle(_title(cmp), fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _split_angles(cmp):
    """The angles with a finite simulation mean at some t > 0, and the others (undefined)."""
    pos = cmp.t > 0
    drawn, undefined = [], []
    for name in cmp.sim.angles:
        mean = seed_stats(cmp.sim.get(name))[0]
        (drawn if np.isfinite(mean[pos]).any() else undefined).append(name)
    return drawn, undefined


def _layout(cmp, axes, with_angles):
    """(figure, eps_g axis, deviation axis or None, angle axis or None)."""
    if axes is not None:
        return axes[0].figure, axes[0], (axes[2] if len(axes) > 2 else None), axes[1]
    fig = new_figure(figsize=(11, 5.4), layout="constrained")
    grid = fig.add_gridspec(2, 2 if with_angles else 1, height_ratios=(3, 1.3))
    if cmp.ode is None:
        ax_eps, ax_dev = fig.add_subplot(grid[:, 0]), None
    else:
        ax_eps = fig.add_subplot(grid[0, 0])
        ax_dev = fig.add_subplot(grid[1, 0], sharex=ax_eps)
    ax_ang = fig.add_subplot(grid[:, 1]) if with_angles else None
    return fig, ax_eps, ax_dev, ax_ang


def _eps_panel(ax, cmp):
    """eps_g: the simulation's seed mean and band, the ODE and the further theory lines."""
    sim, t = cmp.sim, cmp.t
    pos, mk = t > 0, marker_subset(t)                 # at most ~40 markers per series
    colour = RULE_COLOURS.get(sim.rule.name, "C0")
    m, se, n_sim = seed_stats(sim.get("eps_g"))
    ax.fill_between(t[pos], (m - se)[pos], (m + se)[pos], color=colour, alpha=0.25, lw=0, zorder=1)
    ax.plot(t[mk], m[mk], "o", ms=3.5, mfc="white", mec=colour, zorder=2,
            label=f"simulation, $D$ = {sim.params['D']}: mean ± s.e. "
                  f"({_seeds_label(n_sim[pos], sim.n_seeds)})")
    if cmp.ode is not None:
        om, _, n_ode = seed_stats(cmp.get("eps_g", "ode"))
        _plot_by_count(ax, t[pos], om[pos], n_ode[pos], sim.n_seeds, **THEORY,
                       label=f"ODE ({cmp.ode_rule}) from each seed's start "
                             f"({_seeds_label(n_ode[pos], sim.n_seeds)}; dashed: fewer)")
    for rule in cmp.also:
        om, _, n_ode = seed_stats(cmp.get("eps_g", rule))
        _plot_by_count(ax, t[pos], om[pos], n_ode[pos], sim.n_seeds, lw=1.3, zorder=4,
                       color=RULE_COLOURS.get(rule, "0.5"), label=f"ODE ({rule}), same starts")
    ax.set(xscale="log", yscale="log", ylabel=r"$\epsilon_g$")
    ax.legend(frameon=False, fontsize=8)


def _deviation_panel(ax, cmp):
    """(sim - theory)/theory per seed, mean +- 2 s.e., in the band of one seed's predicted s.d.
    (the finite-D theory, `Comparison.predicted`; dashed: the measured s.d.; dotted: the
    predicted O(1/D) bias), or of the measured s.d. where there is no prediction."""
    sim, t = cmp.sim, cmp.t
    pos, mk = t > 0, marker_subset(t)
    for i, which in enumerate(cmp.theories):
        rel = (sim.get("eps_g") - cmp.get("eps_g", which)) / cmp.get("eps_g", which)
        d, dse, n = seed_stats(rel)
        if i == 0:
            sd = dse * np.sqrt(n)
            if "eps_g_std" in cmp.lna:
                scale = seed_stats(cmp.get("eps_g", "ode"))[0]
                std, bias = cmp.predicted("eps_g")
                rel = cmp.lna.get("eps_g_rel_std", std / scale)
                ax.fill_between(t[pos], -rel[pos], rel[pos], color="0.85",
                                lw=0, zorder=0, label=f"± s.d. of one seed, predicted (D = "
                                                      f"{sim.params['D']})")
                ax.plot(t[pos], sd[pos], "--", color="0.45", lw=0.8, zorder=1,
                        label="± s.d. of one seed, measured")
                ax.plot(t[pos], -sd[pos], "--", color="0.45", lw=0.8, zorder=1)
                if np.isfinite(bias).any():
                    ax.plot(t[pos], (bias / scale)[pos], ":", color="C3", lw=1.2, zorder=2,
                            label="predicted O(1/D) bias")
            else:
                ax.fill_between(t[pos], -sd[pos], sd[pos], color="0.85", lw=0, zorder=0,
                                label="± s.d. of one seed")
            ax.axhline(0, color="k", lw=0.8, zorder=1)
        c = "k" if which == "ode" else RULE_COLOURS.get(which, "0.5")
        name = cmp.ode_rule if which == "ode" else which
        ax.errorbar(t[mk], d[mk], yerr=np.nan_to_num(2 * dse[mk]), fmt="o", ms=2.5, color=c,
                    capsize=1.5, zorder=3 if which == "ode" else 2,
                    label=f"vs {name}: mean ± 2 s.e." if cmp.also else "mean ± 2 s.e.")
    ax.set(xscale="log", ylabel="(sim $-$ ODE) / ODE")
    ax.legend(frameon=False, fontsize=7, ncol=2, loc="best")


def _angle_panel(ax, cmp, names):
    """The angles `names`: simulation markers and band, the ODE as black-edged lines on top."""
    sim, t = cmp.sim, cmp.t
    pos, mk = t > 0, marker_subset(t)
    for name in names:
        mean, sem, _ = seed_stats(sim.get(name))
        c = ANGLE_COLOURS.get(name, None)
        ax.fill_between(t[pos], (mean - sem)[pos], (mean + sem)[pos], color=c, alpha=0.15, lw=0,
                        zorder=1)
        ax.plot(t[mk], mean[mk], "o", ms=3, mfc="white", color=c, zorder=2,
                label=ANGLE_LABELS.get(name, name))
        if cmp.ode is not None and f"theta_{name}" in cmp.ode:
            line, _, n_line = seed_stats(cmp.get(name, "ode"))
            for style in (dict(color="k", lw=2.6, zorder=4), dict(color=c, lw=1.4, zorder=5)):
                _plot_by_count(ax, t[pos], line[pos], n_line[pos], sim.n_seeds, **style)
    if cmp.ode is not None and names:
        ax.plot([], [], "o", mfc="white", color="0.4", ms=3,
                label="markers, band: simulation mean ± s.e.")
        ax.plot([], [], "-", color="0.4", lw=1.4, label="lines: ODE")
    ax.set(xscale="log", xlabel=r"time $t$", ylabel="angle (degrees)", ylim=(0, 180),
           yticks=[0, 45, 90, 135, 180])
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, fontsize=8)


def _title(cmp):
    """The rule and the run's parameters; the number of diverged seeds and the note, if any."""
    sim = cmp.sim
    title = f"{sim.rule.description}; " + title_of(sim.params).split(": ", 1)[1]
    if sim.params.get("sampler") == "overlaps":
        title += " (exact overlap sampler)"
    if sim.n_diverged:
        title += f"  ({sim.n_diverged} of {sim.n_seeds} seeds diverged)"
    if cmp.note:
        title += f"\n{cmp.note}"
    return title
