"""Plots of ODE results: eps_g on log-log axes and the alignment angles against time."""
import numpy as np

#: one colour per rule, kept across all figures of the project
RULE_COLOURS = {"bp": "#1f77b4", "fa": "#2ca02c", "afa": "#ff7f0e", "pepita-lin": "#9467bd",
                "pepita": "#d62728"}

ANGLE_LABELS = {"v_vstar": r"$\theta(v, v^*)$", "v_deg": r"$\theta(v, v_{\rm deg})$",
                "a_v": r"$\theta(a, v)$", "b_v": r"$\theta(b, v)$", "net": r"$\theta_{\rm net}$"}
ANGLE_STYLES = {"v_vstar": "-", "v_deg": "--", "a_v": ":", "b_v": ":", "net": "-."}


def _matplotlib():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def title_of(params):
    keys = ("rule", "K", "M", "eta", "eta_v", "sigma")
    return ", ".join(f"{k}={params[k]}" for k in keys if k in params)


def plot_result(res, path=None, axes=None, label=None):
    """eps_g (log-log) and the angles of an `odes.Result`; returns the figure."""
    plt = _matplotlib()
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    else:
        fig = axes[0].figure
    colour = RULE_COLOURS.get(res.rule.name)
    t = res.t
    pos = t > 0
    axes[0].loglog(t[pos], res.eps_g[pos], color=colour, label=label or res.rule.name)
    axes[0].set(xlabel=r"time $t$ = steps$/D$", ylabel=r"$\epsilon_g$")
    axes[0].legend(frameon=False)
    for name, theta in res.angles.items():
        if np.all(np.isnan(theta)):
            continue
        axes[1].semilogx(t[pos], theta[pos], ANGLE_STYLES.get(name, "-"), color=colour,
                         label=ANGLE_LABELS.get(name, name))
    axes[1].set(xlabel=r"time $t$", ylabel="angle (degrees)", ylim=(0, 180),
                yticks=[0, 45, 90, 135, 180])
    axes[1].legend(frameon=False)
    fig.suptitle(title_of(res.params))
    if path is not None:
        fig.savefig(path, dpi=150)
        plt.close(fig)
    return fig
