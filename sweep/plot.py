"""Plots of a sweep dataset: a heatmap over two grid axes and lines over one, at one time.

Both take the seed mean at the record time nearest `at_t` (default: the last), over the seeds
whose value is finite; every other grid axis must have been selected first (``ds.sel(K=2)``).
Cells and points where some seed diverged are marked, since their mean is over fewer seeds.
"""
import numpy as np


def at_time(ds, var, at_t=None):
    """ds[var] at the record time nearest at_t (default: the last)."""
    x = ds[var]
    return x.isel(t=-1) if at_t is None else x.sel(t=at_t, method="nearest")


def _check_axes(x, keep):
    extra = [d for d in x.dims if d not in keep + ["seed"]]
    if extra:
        raise ValueError(f"select the other axes first, e.g. ds.sel({extra[0]}=...): "
                         f"{', '.join(extra)} remain")


def seed_mean(x):
    """(mean, standard error, count) over the seed dimension, ignoring non-finite values."""
    ok = np.isfinite(x)
    n = ok.sum("seed")
    mean = x.where(ok).mean("seed")
    sem = x.where(ok).std("seed", ddof=1) / np.sqrt(n)
    return mean, sem.where(n > 1), n


def _label(value):
    """Tick label of a coordinate value: numbers in %g, anything else (a rule name) as it is."""
    return f"{value:g}" if isinstance(value, (int, float, np.number)) else str(value)


def _axes(ax):
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=(4.6, 3.6))


def _save(fig, path):
    if path is not None:
        fig.savefig(path, dpi=200, bbox_inches="tight")


def heatmap(ds, x, y, var="eps_g", at_t=None, ax=None, path=None, log=True, cmap="viridis"):
    """Seed mean of `var` over grid axes x (columns) and y (rows) at time at_t; cells with a
    diverged seed are marked with a cross.  log: colour scale in log10 (for positive values)."""
    import matplotlib.colors as mcolors
    data = at_time(ds, var, at_t)
    _check_axes(data, [x, y])
    mean, _, n = seed_mean(data)
    mean = mean.transpose(y, x)
    fig, ax = _axes(ax)
    values = mean.values
    positive = np.isfinite(values) & (values > 0)
    norm = mcolors.LogNorm() if log and positive.any() and positive.sum() == np.isfinite(values).sum() else None
    img = ax.pcolormesh(np.arange(ds.sizes[x] + 1) - 0.5, np.arange(ds.sizes[y] + 1) - 0.5,
                        values, cmap=cmap, norm=norm, shading="flat")
    cb = fig.colorbar(img, ax=ax)
    t_shown = float(data.t)
    cb.set_label(f"{var} (seed mean, t = {t_shown:g})")
    ax.set_xticks(range(ds.sizes[x]), [_label(v) for v in ds[x].values])
    ax.set_yticks(range(ds.sizes[y]), [_label(v) for v in ds[y].values])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if "status" in ds:
        diverged = (ds.status == "diverged").any("seed")
        _check_axes(diverged, [x, y])
        rows, cols = np.nonzero(diverged.transpose(y, x).values)
        if rows.size:
            ax.plot(cols, rows, "x", color="w", ms=8, mew=1.5, label="a seed diverged")
            ax.legend(loc="upper left", bbox_to_anchor=(0, 1.13), frameon=False)
    _save(fig, path)
    return ax


def lines(ds, x, var="eps_g", at_t=None, hue=None, ax=None, path=None, logx=None, logy=None):
    """Seed mean +- s.e. of `var` against grid axis x at time at_t, one line per value of the
    grid axis `hue`.  For a comparison sweep the ODE (var_ode) is the line and the simulation the
    markers with error bars."""
    import matplotlib.pyplot as plt
    data = at_time(ds, var, at_t)
    _check_axes(data, [x] + ([hue] if hue else []))
    theory = f"{var}_ode" if f"{var}_ode" in ds else None
    fig, ax = _axes(ax)
    groups = [(None, data)] if hue is None else [(v, data.sel({hue: v})) for v in ds[hue].values]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    xs = ds[x].values
    for i, (value, d) in enumerate(groups):
        colour = colours[i % len(colours)]
        label = None if hue is None else f"{hue} = {value}"
        mean, sem, _ = seed_mean(d)
        if theory is not None:
            ode = at_time(ds, theory, at_t)
            ode = ode if hue is None else ode.sel({hue: value})
            ax.plot(xs, seed_mean(ode)[0].values, "-", color=colour, lw=1.6, zorder=3,
                    label=(label + ", " if label else "") + "ODE")
            ax.errorbar(xs, mean.values, sem.values, fmt="o", color=colour, ms=4, mfc="white",
                        zorder=2, label=(label + ", " if label else "") + "simulation")
        else:
            ax.errorbar(xs, mean.values, sem.values, fmt="o-", color=colour, ms=4, label=label)
    numeric = np.issubdtype(np.asarray(xs).dtype, np.number)
    if logx if logx is not None else numeric and np.all(xs > 0) and xs.max() / xs.min() > 20:
        ax.set_xscale("log")
    if logy if logy is not None else var.startswith("eps"):
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(f"{var} at t = {float(data.t):g}")
    if hue is not None or theory is not None:
        ax.legend()
    _save(fig, path)
    return ax
