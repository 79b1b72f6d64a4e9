"""Plots: the library never changes the user's matplotlib backend, returns figures that pyplot
does not hold, and says in the panel what it cannot draw."""
import warnings

import matplotlib
import numpy as np
import pytest

import odes
import simulate

EPS, DEV, ANG = r"$\epsilon_g$", "(sim $-$ ODE) / ODE", "angle (degrees)"


def test_plots_leave_the_backend_alone_and_pyplot_empty(tmp_path):
    import matplotlib.pyplot as plt
    before = matplotlib.get_backend()
    plt.close("all")
    matplotlib.use("svg")                        # stands in for a notebook's inline backend
    try:
        res = odes.integrate(odes.State.random(2, 2, 100, seed=0), "afa", 0.5, t_max=5)
        fig = res.plot(tmp_path / "res.png")
        cmp = simulate.compare("fa", 2, 2, 100, 0.5, t_max=2, seeds=2, progress=False)
        fig2 = cmp.plot(tmp_path / "cmp.png")
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == []               # nothing left behind in pyplot
        assert isinstance(fig, matplotlib.figure.Figure) and isinstance(fig2, matplotlib.figure.Figure)
        assert (tmp_path / "res.png").stat().st_size > 10_000
    finally:
        matplotlib.use(before)


def test_undefined_angles_are_named_not_warned(tmp_path):
    """K = 1, M = 3: theta(v, v*) needs K = M and no unit specialises; no legend warning."""
    cmp = simulate.compare("bp", 1, 3, 100, 0.5, t_max=2, seeds=2, progress=False)
    res = odes.integrate(odes.State.random(1, 3, 100, seed=0), "bp", 0.5, t_max=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figs = [cmp.plot(), res.plot()]
    for fig in figs:
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        texts += [ax.get_title(loc=loc) for ax in fig.axes for loc in ("left", "center")]
        assert any("needs K = M" in t for t in texts), texts


def shows_finite_data(ax):
    """Whether a line or a collection of ax has a finite point."""
    lines = [np.asarray(line.get_ydata(), float) for line in ax.lines]
    paths = [path.vertices for c in ax.collections for path in c.get_paths()]
    return any(np.isfinite(y).any() for y in lines + paths)


@pytest.mark.parametrize("rule, K, M, panels", [
    ("bp", 2, 3, [EPS, DEV]),                  # no angle is defined: no angle panel
    ("bp", 3, 2, [EPS, DEV]),
    ("fa", 2, 3, [EPS, DEV, ANG]),             # theta(b, v) is
    ("bp", 2, 2, [EPS, DEV, ANG]),             # K = M: theta(v, v*)
])
def test_every_panel_shows_the_run(rule, K, M, panels):
    """No empty axes: each panel draws finite data over the run's times; the angle panel only
    when an angle is defined."""
    cmp = simulate.compare(rule, K, M, 100, 0.5, t_max=2, seeds=2, progress=False)
    res = odes.integrate(odes.State.random(K, M, 100, seed=0), rule, 0.5, t_max=2)
    for fig, t, expected in ((cmp.plot(), cmp.t, panels), (res.plot(), res.t, [EPS] + panels[2:])):
        assert [ax.get_ylabel() for ax in fig.axes] == expected
        t = t[t > 0]
        for ax in fig.axes:
            assert shows_finite_data(ax), ax.get_ylabel()
            lo, hi = ax.get_xlim()
            assert t[0] * (1 - 1e-12) <= lo < hi <= t[-1] * (1 + 1e-12), (ax.get_ylabel(), lo, hi)


def test_theory_is_drawn_over_the_simulation():
    cmp = simulate.compare("fa", 2, 2, 100, 0.5, t_max=2, seeds=2, progress=False)
    ax = cmp.plot().axes[0]
    theory = [line for line in ax.lines if line.get_label().startswith("ODE")]
    markers = [line for line in ax.lines if line.get_label().startswith("simulation")]
    assert theory and markers and min(x.get_zorder() for x in theory) > max(x.get_zorder() for x in markers)
    np.testing.assert_allclose(theory[0].get_ydata(), cmp.mean("eps_g", "ode")[cmp.t > 0])
