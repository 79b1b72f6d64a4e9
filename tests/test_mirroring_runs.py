"""Weight mirroring in both halves (theory.md 11.2): the ODE with mirroring against the simulation
at D = 2000, during learning and during pre-mirroring, the fixed points of mirroring alone against
their closed forms, and the options refused where they do not apply."""
import math

import numpy as np
import pytest

import odes
import simulate
from odes.rhs.mirroring import gain

D = 2000
SEEDS = 16


def _u_and_y2(Q, v, s2, activation="erf"):
    """u = gamma * v and E[yhat(xi)^2] for noise of variance s2 (theory.md 11.2), by quadrature-free
    closed forms written here from the theory (erf: the arcsine kernel)."""
    q = np.diag(Q)
    u = np.sqrt(2 / np.pi) / np.sqrt(1 + s2 * q) * v
    n = np.sqrt(1 + s2 * q)
    y2 = v @ ((2 / np.pi) * np.arcsin(s2 * Q / np.outer(n, n))) @ v
    return u, y2


def _paired(cmp, name, times):
    """(z, deviation, ode value) of the paired sim - ODE mean of `name` at record indices."""
    d, se, _ = cmp.deviation(name)
    ode = cmp.mean(name, "ode")
    return d[times], se[times], ode[times]


def _check(cmp, names, rel_allowance):
    """Every paired deviation of `names` at the record times after t = 0 within 3 s.e. plus
    rel_allowance * (1 + |ODE value|) (the allowance for the O(1/D) bias; module docstring)."""
    idx = np.nonzero(cmp.t > 0)[0][::4]
    worst = 0.0
    for name in names:
        d, se, ode = _paired(cmp, name, idx)
        bound = 3 * se + rel_allowance * (1 + np.abs(ode))
        assert np.all(np.abs(d) <= bound), (name, d, se, ode)
        worst = max(worst, float(np.nanmax(np.abs(d) / se)))
    return worst


def _compare(rule, eta, phi_F, t_max, **mirror):
    return simulate.compare(rule, 2, 2, D, eta, t_max=t_max, seeds=SEEDS, progress=False,
                            sigma_F=math.sqrt(phi_F / D), **mirror)


#: the allowance for the O(1/D) bias, relative to 1 + |ODE value|: 4/D.  The paired deviations'
#: s.e. (16 seeds) is 1e-4 (eps_g with learning) to 1.6e-3 (a, p and the angle) of the same
#: scale, so the bound is 3 s.e. plus 1.3 to 20 s.e.  False failures: at most ~70 comparisons (11
#: times, 7 quantities; strongly correlated in time) at >= 4.3 s.e. of a t distribution with 15
#: degrees of freedom (P = 6e-4 each): < 4 % if they were independent, far less as they are not.
ALLOWANCE = 4.0 / D
LEARNING = [  # rule, eta, |F|^2, t_max, mirroring
    ("pepita", 0.1, 0.5, 10, dict(mirror_eta=0.5, mirror_batch=2, mirror_decay=0.5)),
    ("pepita", 0.1, 1.0, 10, dict(mirror_eta=0.2, mirror_fixed_norm=True, mirror_noise=0.7)),
]


@pytest.mark.parametrize("case", LEARNING, ids=["free-norm-B2", "fixed-norm"])
def test_learning_with_mirroring_matches_the_simulation(case):
    """Exact PEPITA (the ODE by quadrature) with mirroring after every step, 16 seeds at D = 2000,
    each with its own ODE from its start: eps_g, a, p, phi_F and theta_net within 3 s.e. +
    ALLOWANCE at every fourth record.  Measured max |z| (no allowance): 2.8 (free norm, theta_net),
    2.6 (fixed norm).  Caught: see the closing note of issue 24 (the ODE without mirroring's
    heating; the simulation's noise scale s dropped from the fields; the mirroring keywords
    dropped from the ODE handoff)."""
    rule, eta, phi_F, t_max, mirror = case
    cmp = _compare(rule, eta, phi_F, t_max, **mirror)
    assert cmp.sim.mirrored and cmp.sim.phi_F.shape == (SEEDS, len(cmp.t))
    names = ["eps_g", "a", "p", "net"] + ([] if mirror.get("mirror_fixed_norm") else ["phi_F"])
    _check(cmp, names, ALLOWANCE)
    if mirror.get("mirror_fixed_norm"):         # |F|^2 held, in both halves
        held = np.broadcast_to(cmp.sim.phi_F[:, :1], cmp.sim.phi_F.shape)
        np.testing.assert_allclose(held, phi_F, rtol=0.2)
        np.testing.assert_allclose(cmp.sim.phi_F, held, rtol=1e-9)
        np.testing.assert_allclose(cmp.get("phi_F", "ode"), cmp.sim.phi_F, rtol=1e-9)
    # mirroring moved F: theta_net fell by tens of degrees from the random start's ~90
    assert np.nanmean(cmp.get("net", "ode")[:, -1]) < 75
