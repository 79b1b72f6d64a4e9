"""Analytic checkpoints of theory.md 6.1 and exact identities between rules."""
import math

import numpy as np
import pytest

import odes
from conftest import random_state


def init_state(K, M, v, v_star):
    return odes.State(Q=np.eye(K), R=np.zeros((K, M)), T=np.eye(M), v=v, v_star=v_star)


@pytest.mark.parametrize("K,M", [(2, 2), (3, 1), (1, 4)])
def test_eps_g_at_random_init(K, M, rng):
    v, v_star = rng.standard_normal(K), rng.standard_normal(M)
    s = init_state(K, M, v, v_star)
    assert odes.eps_g(s.Q, s.R, s.T, s.v, s.v_star) == pytest.approx((v @ v + v_star @ v_star) / 6, rel=1e-13)


def test_eps_g_matches_monte_carlo(rng):
    """The closed-form eps_g = 1/2 E[(yhat - y)^2] against a sample of explicit networks."""
    from scipy.special import erf
    s = random_state(3, 2, rng, with_F=False)
    w = odes.realise(s, 200, seed=1)
    X = rng.standard_normal((400_000, 200))
    err = (erf(X @ w.W.T / math.sqrt(400)) @ w.v - erf(X @ w.W_star.T / math.sqrt(400)) @ w.v_star)
    sq = 0.5 * err**2
    se = sq.std() / math.sqrt(len(sq))
    assert abs(sq.mean() - odes.eps_g(s.Q, s.R, s.T, s.v, s.v_star)) < 5 * se


@pytest.mark.parametrize("v,expected", [((1.0, 1.0), 0.68625), ((0.0, 0.0), 0.37613)])
def test_E_gprime_e2_checkpoint(v, expected):
    # E[g'(lambda_k) e^2] at Q = T = I, R = 0, K = M = 2, v* = (1, 1): the Fe-term coefficient E_k,
    # read off the pepita-lin right-hand side as (dv/dt - AFA's dv/dt) / (eta_v a_k)
    s = odes.State(Q=np.eye(2), R=np.zeros((2, 2)), T=np.eye(2), v=np.array(v), v_star=np.ones(2),
                   a=np.array([0.1, 0.1]), p=np.zeros(2), phi_F=1.0)
    lin = odes.derivatives(s, "pepita-lin", eta=1.0)
    afa = odes.derivatives(s, "afa", eta=1.0)
    E = (lin["v"] - afa["v"]) / s.a
    np.testing.assert_allclose(E, expected, atol=5e-6)


def plateau_state(K):
    Qp, Rp = 1 / (2 * K - 1), 1 / math.sqrt(K * (2 * K - 1))
    return odes.State(Q=np.full((K, K), Qp), R=np.full((K, K), Rp), T=np.eye(K), v=np.ones(K),
                      v_star=np.ones(K))


@pytest.mark.parametrize("K,value", [(2, 0.011611), (3, 0.020297), (4, 0.028377)])
def test_saad_solla_plateau_is_fixed_point(K, value):
    s = plateau_state(K)
    assert odes.eps_g(s.Q, s.R, s.T, s.v, s.v_star) == pytest.approx(value, abs=1e-6)
    assert value == pytest.approx(K / 6 - K**2 / math.pi * math.asin(1 / (2 * K)), abs=1e-6)
    # the O(eta) part of the flow, (4 d(eta) - d(2 eta)) / (2 eta), vanishes at the plateau
    eta = 1e-3
    d1, d2 = (odes.derivatives(s, "bp", x, train_v=False) for x in (eta, 2 * eta))
    for k in ("Q", "R"):
        linear = (4 * d1[k] - d2[k]) / (2 * eta)
        assert np.abs(linear).max() < 1e-11
    assert np.abs(d1["Q"]).max() > 1e-9          # while the eta^2 (SGD noise) term does not


def plateau_height(K, eta):
    """eps_g where the soft committee machine's error is flattest, from a near-symmetric start."""
    rng = np.random.default_rng(K)
    R0 = 1e-3 * (1 + 0.1 * rng.standard_normal((K, K)))
    s = odes.State(Q=0.05 * np.eye(K), R=R0, T=np.eye(K), v=np.ones(K), v_star=np.ones(K))
    t_max = 60 / eta
    res = odes.integrate(s, "bp", eta, times=np.linspace(0, t_max, 601), train_v=False)
    late = res.t > 1 / eta
    slope = np.abs(np.gradient(res.eps_g, res.t))[late]
    return res.eps_g[late][np.argmin(slope)]


@pytest.mark.parametrize("K,value", [(2, 0.011611), (3, 0.020297)])
def test_soft_committee_reaches_plateau(K, value):
    """The SCM lingers on the symmetric plateau, whose height tends to the eta -> 0 value
    linearly in eta (the eta^2 SGD-noise term lifts it)."""
    dev_large, dev_small = (plateau_height(K, eta) - value for eta in (0.05, 0.01))
    assert 0 < dev_small < 0.35 * dev_large
    assert dev_small < 0.01 * value


@pytest.mark.parametrize("train_v", [False, True])
def test_noise_floor_is_the_O_eta_formula_plus_O_eta2(train_v):
    """BP, K = M = 2, T = I, label noise sigma: the fixed point's eps_g minus the O(eta) formula
    eta sigma^2 K / (2 sqrt(3) pi) of theory.md 6.1 shrinks 4x per halving of eta (it is O(eta^2)),
    and the fixed points are those that the integrated ODE reaches."""
    sigma, K = 0.1, 2
    s = odes.State(Q=np.eye(K), R=np.eye(K), T=np.eye(K), v=np.ones(K), v_star=np.ones(K))
    etas = (0.1, 0.05, 0.025)
    dev = []
    for eta in etas:
        fp = odes.fixed_point(s, "bp", eta, sigma=sigma, train_v=train_v)
        assert fp.unstable == 0 and fp.residual < 1e-15
        formula = eta * sigma**2 * K / (2 * math.sqrt(3) * math.pi)
        dev.append(fp.eps_g - formula)
        if eta == 0.1:
            end = odes.integrate(s, "bp", eta, sigma=sigma, train_v=train_v, times=[0, 3e4])
            assert end.eps_g[-1] == pytest.approx(fp.eps_g, rel=1e-6)
            assert fp.eps_g == pytest.approx(1.886e-4 if train_v else 1.920e-4, rel=2e-3)
    for a, b in zip(dev, dev[1:]):
        assert 3.6 < a / b < 4.4, dev


def test_fa_with_b_equal_v_is_bp_when_v_frozen(rng):
    s = random_state(3, 2, rng, with_F=False)
    s = odes.State(**{**s.to_dict(), "b": s.v})
    for kw in (dict(sigma=0.0), dict(sigma=0.3)):
        fa = odes.derivatives(s, "fa", 0.4, train_v=False, **kw)
        bp = odes.derivatives(s, "bp", 0.4, train_v=False, **kw)
        for k in ("Q", "R", "v"):
            np.testing.assert_array_equal(fa[k], bp[k])
    r_fa = odes.integrate(s, "fa", 0.4, t_max=20, train_v=False)
    r_bp = odes.integrate(s, "bp", 0.4, t_max=20, train_v=False)
    np.testing.assert_array_equal(r_fa.Q, r_bp.Q)
    np.testing.assert_array_equal(r_fa.eps_g, r_bp.eps_g)


def test_pepita_lin_without_F_is_afa(rng):
    """phi_F = 0 means F = 0, hence a = p = 0: pepita-lin and AFA coincide."""
    s = random_state(2, 3, rng)
    s = odes.State(**{**s.to_dict(), "phi_F": 0.0, "p": np.zeros(3), "a": np.zeros(2)})
    lin = odes.derivatives(s, "pepita-lin", 0.3, sigma=0.1)
    afa = odes.derivatives(s, "afa", 0.3, sigma=0.1)
    for k in ("Q", "R", "v", "a"):
        np.testing.assert_allclose(lin[k], afa[k], atol=1e-15)


def test_pepita_lin_amplification_is_linear_in_phi_F(rng):
    """AFA does not depend on phi_F; pepita-lin's da/dt grows with slope eta a_k E_k in phi_F
    (theory.md 3.5), with E_k read off the second-layer Fe term (eta_v = eta)."""
    s = random_state(2, 2, rng)
    s2 = odes.State(**{**s.to_dict(), "phi_F": 2 * s.phi_F})
    afa1, afa2 = odes.derivatives(s, "afa", 0.3), odes.derivatives(s2, "afa", 0.3)
    for k in afa1:
        np.testing.assert_array_equal(afa1[k], afa2[k])
    lin1, lin2 = odes.derivatives(s, "pepita-lin", 0.3), odes.derivatives(s2, "pepita-lin", 0.3)
    E = (lin1["v"] - afa1["v"]) / (0.3 * s.a)
    np.testing.assert_allclose((lin2["a"] - lin1["a"]) / s.phi_F, 0.3 * s.a * E, rtol=1e-10)


def test_degenerate_solution_and_angles():
    """theory.md 4.2 example: FA with b = (1, -1) ends at R ~ diag(1, -1), v ~ (1, -1)."""
    Q, T, v_star = np.eye(2), np.eye(2), np.ones(2)
    R = np.diag([0.98, -0.97])
    np.testing.assert_array_equal(odes.degenerate_solution(Q, R, T, v_star), [1, -1])
    ang = odes.angles(Q, R, T, np.array([1.0, -1.0]), v_star, f=np.array([1.0, -1.0]), feedback="b")
    assert ang["v_vstar"] == pytest.approx(90) and ang["v_deg"] == pytest.approx(0, abs=1e-5)
    assert ang["b_v"] == pytest.approx(0, abs=1e-5)
    # permuted specialisation, K > M (two students share teacher 0), and unspecialised states
    np.testing.assert_array_equal(odes.degenerate_solution(Q, np.array([[0, .9], [-.9, 0]]), T, v_star), [1, -1])
    np.testing.assert_array_equal(
        odes.degenerate_solution(np.eye(3), np.array([[.9, 0], [.8, .1], [0, -.9]]), T, v_star), [.5, .5, -1])
    assert np.all(np.isnan(odes.degenerate_solution(Q, np.full((2, 2), 0.5), T, v_star)))   # plateau
    assert np.all(np.isnan(odes.degenerate_solution(Q, 0.05 * np.eye(2), T, v_star)))       # at init
    # broadcasting over time
    Rt = np.stack([np.full((2, 2), 0.5), np.diag([0.9, 0.9])])
    out = odes.degenerate_solution(np.stack([Q, Q]), Rt, T, v_star)
    assert np.isnan(out[0]).all() and np.array_equal(out[1], [1, 1])
