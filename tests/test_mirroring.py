"""Weight mirroring's drift (theory.md 11.2, `odes.rhs.mirroring`) against a Monte Carlo of the
mirroring step itself, from realised weights."""
import math

import numpy as np
import pytest
from scipy.special import erf

import odes
from odes.rhs.mirroring import drift

D = 1000
STEPS = 40_000
Z_MAX = 4.5


def _weights(seed=3, phi_F=1.0):
    w = odes.draw_weights(2, 2, D, seed=seed, sigma_F=math.sqrt(phi_F / D))
    W = w.W.copy()
    W[1] = 0.6 * W[0] + 0.8 * W[1]                   # correlated students: Q off-diagonal O(1)
    F = w.F + 0.5 * W[0] / math.sqrt(D)             # a of order one (a_0 = 0.5 Q_00 + ...)
    return W, w.W_star, np.array([1.3, -0.7]), F


def _mirror_steps(W, W_star, v, F, eta_m, s, batch, decay, fixed, activation, rng):
    """D times the change of (a, p, phi_F) in STEPS independent mirroring steps from the same
    weights (module docstring of odes.rhs.mirroring), in chunks."""
    g = {"erf": lambda x: erf(x / math.sqrt(2)), "linear": lambda x: x,
         "relu": lambda x: np.maximum(x, 0.0)}[activation]
    phi0 = F @ F
    a0, p0 = W @ F / math.sqrt(D), W_star @ F / math.sqrt(D)
    out = []
    for _ in range(STEPS // 1000):
        xi = s * rng.standard_normal((1000, batch, D))
        yhat = g(xi @ W.T / math.sqrt(D)) @ v                        # (n, batch)
        step = (eta_m / D) * np.einsum("nb,nbd->nd", yhat, xi) / batch - (eta_m * decay / D) * F
        Fn = F + step
        if fixed:
            Fn *= np.sqrt(phi0 / np.einsum("nd,nd->n", Fn, Fn))[:, None]
        a = Fn @ W.T / math.sqrt(D)
        p = Fn @ W_star.T / math.sqrt(D)
        phi = np.einsum("nd,nd->n", Fn, Fn)
        out.append(D * np.column_stack([a - a0, p - p0, phi - phi0]))
    return np.vstack(out)


CASES = [  # eta_M, s, batch, decay, fixed norm, activation
    (1.0, 1.0, 1, 0.0, False, "erf"),
    (0.5, 1.5, 4, 0.3, False, "erf"),
    (1.0, 1.0, 1, 0.2, True, "erf"),
    (0.8, 0.7, 3, 0.0, True, "erf"),
    (1.0, 1.0, 2, 0.1, False, "linear"),
    (1.0, 1.0, 1, 0.0, True, "relu"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_drift_matches_the_mirroring_step(case):
    """D times the mean change of a, p and phi_F over 40000 mirroring steps from realised weights
    at D = 1000 against the closed form: within Z_MAX s.e. plus the O(1/D) terms the drift
    drops (|z| of a 1e-3 relative shift is below 0.5 here).  The heating term matters: eta_M = 1,
    s = 1 make it comparable to the linear one.  False failures: <= 5 comparisons at 4.5 s.e.,
    3.4e-5 per case.  Measured: |z| <= 1.43.  Caught: the heating term dropped (all six cases),
    the erf gain's 1/sqrt(1 + s^2 Q_jj) dropped (the four erf cases), the batch ignored in the
    heating (the B > 1 cases), the fixed norm's projection dropped from da (the three fixed-norm
    cases) and from dp (two)."""
    eta_m, s, batch, decay, fixed, activation = case
    W, W_star, v, F = _weights()
    st = odes.State.from_weights(W, W_star, v, np.ones(2), F=F)
    d = drift(st, mirror_eta=eta_m, mirror_noise=s, mirror_batch=batch, mirror_decay=decay,
              mirror_fixed_norm=fixed, activation=activation)
    expected = np.concatenate([d["a"], d["p"], [d["phi_F"]]])
    X = _mirror_steps(W, W_star, v, F, eta_m, s, batch, decay, fixed, activation,
                      np.random.default_rng(11))
    mean, se = X.mean(axis=0), X.std(axis=0, ddof=1) / math.sqrt(len(X))
    if fixed:
        assert d["phi_F"] == 0.0 and np.abs(X[:, -1]).max() < 1e-9
        mean, se, expected = mean[:-1], se[:-1], expected[:-1]
    z = (mean - expected) / se
    assert np.abs(z).max() <= Z_MAX, (z, mean, expected)


@pytest.mark.parametrize("fixed", [False, True], ids=["free", "fixed-norm"])
def test_drift_matches_the_quadrature_engine(fixed):
    """The closed forms (Stein's lemma: E[g(kappa_j) kappa_k] = s^2 Q_kj gamma_j) against the same
    drift assembled from expectations by the product quadrature of `odes.gaussian.expectations`
    over the fields (kappa_1..K, zeta = F.xi, nu_1..M) ~ N(0, s^2 Gram), without Stein's lemma:
    da_k = eta_M (E[yhat kappa_k] - kappa_M a_k), dp_m = eta_M (E[yhat nu_m] - kappa_M p_m),
    dphi_F = 2 eta_M (E[yhat zeta] - kappa_M phi_F) + eta_M^2 s^2 E[yhat^2]/B, and with the fixed
    norm each rescaled by -x dphi_F/(2 phi_F).  To 1e-9 relative (40 nodes per dimension over each
    expectation's marginal: the erf integrands converge slowly, 3e-3 at 10 nodes).  Caught: the heating's E[yhat^2] with v^T I2(Q) v in place of
    v^T I2(s^2 Q) v (0.12 relative; the Monte Carlo case with s = 1.5 too)."""
    from odes.gaussian.expectations import expect
    eta_m, s, batch, decay = 0.7, 1.3, 3, 0.2
    W, W_star, v, F = _weights()
    st = odes.State.from_weights(W, W_star, v, np.ones(2), F=F)
    d = drift(st, mirror_eta=eta_m, mirror_noise=s, mirror_batch=batch, mirror_decay=decay,
              mirror_fixed_norm=fixed)
    G = st.gram()                                   # rows (w*_1, w*_2, F, w_1, w_2)
    order = [3, 4, 2, 0, 1]                         # fields (kappa_1, kappa_2, zeta, nu_1, nu_2)
    C = s * s * G[np.ix_(order, order)]
    yhat = lambda U: erf(U[:, :2] / math.sqrt(2)) @ v                         # noqa: E731
    # E[yhat u_i] over the marginal of (kappa_1, kappa_2, u_i), 40 nodes per dimension
    m = [expect(lambda U: yhat(U) * U[:, -1], C[np.ix_(ix, ix)], 40)
         for ix in ([0, 1, 0], [0, 1, 1], [0, 1, 2], [0, 1, 3], [0, 1, 4])]
    m = np.array(m)
    y2 = expect(lambda U: yhat(U) ** 2, C[:2, :2], 40)
    da = eta_m * (m[:2] - decay * st.a)
    dp = eta_m * (m[3:] - decay * st.p)
    dphi = 2 * eta_m * (m[2] - decay * st.phi_F) + eta_m ** 2 * s * s * y2 / batch
    if fixed:
        da, dp, dphi = da - st.a * dphi / (2 * st.phi_F), dp - st.p * dphi / (2 * st.phi_F), 0.0
    np.testing.assert_allclose(d["a"], da, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(d["p"], dp, rtol=1e-9, atol=1e-12)
    assert d["phi_F"] == pytest.approx(dphi, rel=1e-9, abs=1e-12)


def test_bad_input_is_refused():
    W, W_star, v, F = _weights()
    st = odes.State.from_weights(W, W_star, v, np.ones(2), F=F)
    for kw, what in ((dict(mirror_eta=-1.0), "mirror_eta"), (dict(mirror_batch=0), "mirror_batch"),
                     (dict(mirror_batch=1.5), "mirror_batch"), (dict(mirror_noise=0.0), "mirror_noise"),
                     (dict(mirror_decay=np.nan), "mirror_decay")):
        with pytest.raises(ValueError, match=what):
            drift(st, **{"mirror_eta": 1.0, **kw})
    with pytest.raises(ValueError, match="needs F"):
        drift(odes.State.from_weights(W, W_star, v, np.ones(2)), mirror_eta=1.0)
