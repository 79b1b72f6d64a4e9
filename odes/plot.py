"""Plots of ODE results: eps_g on log-log axes and the alignment angles against time.

The library draws on `matplotlib.figure.Figure` objects that pyplot does not manage, so it never
changes the user's backend: in a notebook a returned figure is shown, and `fig.savefig` works
without a display.  Only the command lines choose a backend (Agg).
"""
import numpy as np

#: one colour per rule, kept across all figures of the project
RULE_COLOURS = {"bp": "#1f77b4", "fa": "#2ca02c", "afa": "#ff7f0e", "pepita-lin": "#9467bd",
                "pepita": "#d62728", "pepita-hebbian": "#8c564b", "pepita-tl": "#e377c2",
                "ff": "#17becf"}

ANGLE_LABELS = {"v_vstar": r"$\theta(v, v^*)$", "v_deg": r"$\theta(v, v_{\rm deg})$",
                "a_v": r"$\theta(a, v)$", "b_v": r"$\theta(b, v)$", "net": r"$\theta_{\rm net}$"}
ANGLE_STYLES = {"v_vstar": "-", "v_deg": "--", "a_v": ":", "b_v": ":", "net": "-."}


def new_figure(**kw):
    """A Figure outside pyplot (see the module docstring); keywords as for Figure."""
    from matplotlib.figure import Figure
    return Figure(**kw)


#: why an angle can be undefined over a whole run (theory.md section 4)
UNDEFINED_WHY = {"v_vstar": "needs K = M", "v_deg": "the units have not specialised",
                 "net": "needs |F| > 0"}


def mark_undefined(ax, names):
    """Say in the panel which angles (by name) are not drawn and why, instead of leaving an empty
    legend."""
    if names:
        text = "\n".join(f"{ANGLE_LABELS.get(k, k)} undefined: {UNDEFINED_WHY.get(k, 'no data')}"
                          for k in names)
        if ax.lines or ax.collections:
            ax.set_title(text, fontsize=7, color="0.35", loc="left")
        else:                                   # nothing drawn: say it in the middle
            ax.text(0.5, 0.5, text, transform=ax.transAxes, fontsize=9, color="0.35", ha="center",
                    va="center")


def marker_subset(t, n=40):
    """Indices of at most about n of the positive times t, evenly spaced in log t (for markers)."""
    idx = np.flatnonzero(t > 0)
    if len(idx) <= n:
        return idx
    grid = np.geomspace(t[idx[0]], t[idx[-1]], n)
    return np.unique(idx[np.searchsorted(t[idx], grid).clip(0, len(idx) - 1)])


SYMBOLS = {"K": "$K$", "M": "$M$", "D": "$D$", "eta": r"$\eta$", "eta_v": r"$\eta_v$",
           "sigma": r"$\sigma$"}


def title_of(params):
    """'bp: K=2, M=2, eta=...' with the symbols of the physics (and weight mirroring's rate, batch
    and norm, pre-mirroring, or Forward-Forward's threshold, where the run has them)."""
    keys = ("K", "M", "D", "eta", "eta_v", "sigma")
    parts = [f"{SYMBOLS[k]} = {params[k]:g}" for k in keys if params.get(k) is not None]
    if params.get("mirror_eta"):
        parts.append(rf"mirroring $\eta_M$ = {params['mirror_eta']:g}, B = {params['mirror_batch']}"
                     + (", fixed |F|" if params.get("mirror_fixed_norm") else "")
                     + (f", pre-mirroring {params['pre_mirror']:g}" if params.get("pre_mirror")
                        else ""))
    if params.get("ff_theta") is not None:
        parts.append(rf"$\theta$ = {params['ff_theta']:g} ({params['ff_positive']} positive)")
    return f"{params.get('rule', '')}: " + ", ".join(parts)


def set_time_range(ax, t):
    """x-limits: the run's positive times (log axes), without margins beyond the run."""
    t = np.asarray(t)[np.asarray(t) > 0]
    if len(t) > 1:
        ax.set_xlim(t[0], t[-1])


def plot_result(res, path=None, axes=None, label=None):
    """eps_g (log-log) and the angles of an `odes.Result`; saved to `path` if given; returns the
    figure (a Figure outside pyplot, see the module docstring).  axes: optional (eps_g axis[,
    angle axis]).  Without a defined angle the figure has the eps_g panel only, and the undefined
    angles are named above it."""
    t = res.t
    pos = t > 0
    drawn = {name: theta for name, theta in res.angles.items() if np.isfinite(theta[pos]).any()}
    undefined = [name for name in res.angles if name not in drawn]
    if axes is None:
        fig = new_figure(figsize=(10, 4), layout="constrained")
        axes = fig.subplots(1, 2 if drawn else 1, squeeze=False)[0]
    fig = axes[0].figure
    colour = RULE_COLOURS.get(res.rule.name)
    axes[0].loglog(t[pos], res.eps_g[pos], color=colour, label=label or res.rule.name)
    axes[0].set(xlabel=r"time $t$ = steps$/D$", ylabel=r"$\epsilon_g$")
    axes[0].legend(frameon=False)
    if len(axes) > 1:
        _angle_panel(axes[1], t, drawn, colour)
    mark_undefined(axes[-1], undefined)
    for ax in axes:
        set_time_range(ax, t)
    fig.suptitle(title_of(res.params))
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _angle_panel(ax, t, angles, colour):
    pos = t > 0
    for name, theta in angles.items():
        ax.semilogx(t[pos], theta[pos], ANGLE_STYLES.get(name, "-"), color=colour,
                    label=ANGLE_LABELS.get(name, name))
    ax.set(xscale="log", xlabel=r"time $t$", ylabel="angle (degrees)", ylim=(0, 180),
           yticks=[0, 45, 90, 135, 180])
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False)
