"""The expectation engine (odes.gaussian.expectations) and the right-hand sides by quadrature
(odes.rhs.quadrature) against independent computations: the closed-form integrals, Monte Carlo,
and the closed-form kernel of every rule that has one."""
import math

import numpy as np
import pytest
from scipy.special import erf

import odes
from conftest import random_gram, random_state
from odes.gaussian import expectations as ex
from odes.gaussian import integrals as it


def g(u):
    return erf(u / math.sqrt(2))


def gp(u):
    return math.sqrt(2 / math.pi) * np.exp(-u * u / 2)


def covariances():
    rng = np.random.default_rng(11)
    out = [random_gram(4, rng) * s for s in (0.5, 1.0, 2.5)]
    near = random_gram(4, rng)
    near[3, :] = near[:, 3] = near[2, :]          # field 3 = field 2 up to 1e-10
    near[3, 3] = near[2, 2] + 1e-10
    out.append(near)
    return out


INTEGRALS = {   # name: (fields involved, closed form of C, integrand of those fields U[:, 0..])
    "I2(0,1)": ((0, 1), lambda C: it.I2(C)[0, 1], lambda U: g(U[:, 0]) * g(U[:, 1])),
    "J2(0,2)": ((0, 2), lambda C: it.J2(C)[0, 2], lambda U: gp(U[:, 0]) * gp(U[:, 1])),
    "I3(0,1,2)": ((0, 1, 2), lambda C: it.I3(C)[0, 1, 2],
                  lambda U: gp(U[:, 0]) * U[:, 1] * g(U[:, 2])),
    "I3(1,1,3)": ((1, 3), lambda C: it.I3(C)[1, 1, 3], lambda U: gp(U[:, 0]) * U[:, 0] * g(U[:, 1])),
    "I4(0,1,2,3)": ((0, 1, 2, 3), lambda C: it.I4(C)[0, 1, 2, 3],
                    lambda U: gp(U[:, 0]) * gp(U[:, 1]) * g(U[:, 2]) * g(U[:, 3])),
    "I4(0,0,0,3)": ((0, 3), lambda C: it.I4(C)[0, 0, 0, 3],
                    lambda U: gp(U[:, 0]) ** 2 * g(U[:, 0]) * g(U[:, 1])),
    "I3g(2;0,3)": ((2, 0, 3), lambda C: it.I3g(C)[2, 0, 3],
                   lambda U: gp(U[:, 0]) * g(U[:, 1]) * g(U[:, 2])),
}


@pytest.mark.parametrize("name", list(INTEGRALS))
def test_engine_matches_closed_forms(name):
    """Over the fields each integral involves, near-singular C included, the engine at its default
    rule (`expect_nodes`: 40 nodes per dimension in two dimensions, 32 in three and four) is within
    1e-9 of the closed form, and the error falls by more than 1e3 from 16 nodes (the right-hand
    sides' default at K + M = 4) to there.  Measured worst errors at 16 nodes / the default: I2
    1.5e-5 / 2e-13, I3(0,1,2) 1.2e-7 / 2e-15, I4(0,1,2,3) 4.8e-6 / 4.1e-10, I4(0,0,0,3)
    2.4e-5 / 3e-13, I3g 5.8e-6 / 9e-12; J2 and I3(1,1,3) are exact at any count (1e-15)."""
    fields, closed, integrand = INTEGRALS[name]
    for C in covariances():
        want = closed(C)
        sub = C[np.ix_(fields, fields)]
        err16, err = (abs(ex.expect(integrand, sub, k) - want) / abs(want) for k in (16, None))
        assert err <= 1e-9, (name, err)
        assert err <= 1e-3 * err16 or err < 1e-12, (name, err16, err)


def test_singular_covariance_is_allowed():
    """A field that is an exact combination of others (a zero pivot) gets a zero column, and the
    engine integrates over the remaining ones (default rule: 3e-13 relative here; a mishandled
    pivot gives O(1))."""
    C = np.array([[1.0, 0.5, 1.0], [0.5, 2.0, 0.5], [1.0, 0.5, 1.0]])    # u_2 = u_0
    L = np.zeros_like(C)
    ex.factor(C, L)
    np.testing.assert_allclose(L @ L.T, C, atol=1e-12)
    assert np.all(L[:, 2] == 0.0)
    want = it.I2(C)[0, 2]
    assert abs(ex.expect(lambda U: g(U[:, 0]) * g(U[:, 2]), C) - want) < 1e-9 * abs(want)


def test_engine_against_monte_carlo_in_six_dimensions():
    """A nested integrand of the exact-PEPITA kind, E[e g(u_0 - a e)] with e a sum of six erfs,
    against 4e6 Monte-Carlo samples: within 4 standard errors (2.5e-4) plus the quadrature's error,
    bounded by its last change from 8 to 10 nodes (3e-4; it converges ~10x per two nodes: 3e-5
    from 10 to 12)."""
    rng = np.random.default_rng(3)
    C = random_gram(6, rng)
    c = 0.5 * rng.standard_normal(6)

    def f(U):
        e = g(U) @ c
        return e * g(U[:, 0] - 0.8 * e)

    got = ex.expect(f, C, m=10)
    allowance = abs(ex.expect(f, C, m=8) - got)
    L = np.linalg.cholesky(C)
    vals = np.concatenate([f(rng.standard_normal((500_000, 6)) @ L.T) for _ in range(8)])
    se = vals.std() / math.sqrt(vals.size)
    assert allowance < 0.01 * abs(got)
    assert abs(got - vals.mean()) < 4 * se + allowance, (got, vals.mean(), se, allowance)


def test_rules_are_checked():
    with pytest.raises(ValueError, match="nodes"):
        ex.hermite_rule(0)
    with pytest.raises(ValueError, match="beta"):
        ex.hermite_rule(4, beta=1.5)
    # folding keeps half the nodes (and the centre) and the total weight
    rule = ex.hermite_rule(5, beta=0.7)
    full, folded = ex.product_rule([rule] * 3, fold=False), ex.product_rule([rule] * 3)
    assert len(folded) == (5**3 + 1) // 2
    assert folded[:, -1].sum() == pytest.approx(full[:, -1].sum(), rel=1e-14)
    # the plain rule is exact for polynomials of degree < 2m; the contracted one converges to them
    x, w = ex.hermite_rule(5, beta=1.0)
    assert w @ x**8 == pytest.approx(105.0, rel=1e-13)
    assert abs(w @ np.ones(5) - 1) < 1e-14
    assert [abs(ex.hermite_rule(m, beta=0.7)[1].sum() - 1) < tol
            for m, tol in ((8, 1e-3), (16, 1e-6))] == [True, True]


CASES = [  # seed, rule, K, M, eta_v, sigma, train_v
    (1, "bp", 2, 1, 0.3, 0.2, True),
    (2, "fa", 2, 1, 0.5, 0.0, False),
    (3, "afa", 1, 2, 0.2, 0.3, True),
    (4, "pepita-lin", 2, 2, 0.4, 0.1, True),
    (5, "pepita-lin", 1, 3, 0.5, 0.0, False),
]


@pytest.mark.parametrize("seed,rule,K,M,eta_v,sigma,train_v", CASES)
def test_quadrature_path_matches_closed_form_kernel(seed, rule, K, M, eta_v, sigma, train_v):
    """The right-hand side from its definition (expectations of phi, e, g by quadrature) against
    the closed-form kernel, for every closed-form rule with K != M, label noise, eta_v != eta and
    a frozen second layer among the cases: 1e-9 relative to the largest entry at 40 nodes per
    dimension (32 for four fields; measured <= 1.2e-10; at the default nodes, 20 for three fields
    and 14 for four: 5e-10 for FA to 3.3e-6 for pepita-lin)."""
    state = random_state(K, M, np.random.default_rng(seed))
    kw = dict(eta_v=eta_v, sigma=sigma, train_v=train_v)
    want = odes.derivatives(state, rule, 0.4, **kw)
    scale = max(np.abs(x).max() for x in want.values())
    got = odes.derivatives(state, rule, 0.4, quadrature=True, nodes=40 if K + M < 4 else 32, **kw)
    for k in want:
        assert np.abs(got[k] - want[k]).max() <= 1e-9 * scale, (rule, k, got[k], want[k])


def test_contraction_per_dimension():
    """`contract`: dimension j's rule is the Gauss-Hermite rule contracted by
    beta_j = (1 + KAPPA L_jj^2)^(-1/2), kept above the floor at which the outermost node sits at
    COVER standard deviations, with weights that keep it exact before truncation: it integrates the
    Gaussian factor of g'(L_jj z) at L_jj <= 1 to 1e-10 (E[exp(-s^2 z^2 / 2)] = (1 + s^2)^(-1/2)), a
    pivot-free dimension (L_jj = 0) gets the plain rule and a very wide one the floor (both within
    the smooth maximum's 1e-3).  The default rule for the exact-PEPITA right-hand side (16 nodes at
    K = M = 2) is within 2e-6 of a converged one (36 nodes) at the states of benchmarks/ode.py: an
    O(1) AF vector with phi_F = 1.5, the runaway it starts at t = 6, and a learned state (small AF
    vector, phi_F = 0.1, t = 300, where C is near-singular); measured 1.4e-8, 3.9e-7, 4.0e-7 (14
    nodes: 1.1e-7, 1.8e-6, 5.6e-6)."""
    L = np.diag([0.0, 0.5, 1.0, 10.0])
    base = np.column_stack(ex.hermite_rule(14))
    rules = np.zeros((4, 14, 2))
    ex.contract(L, base, rules)
    np.testing.assert_allclose(rules[0, :, 0], base[:, 0], rtol=1e-3)
    assert rules[3, :, 0].max() == pytest.approx(ex.COVER, rel=1e-3)
    for j, s in ((1, 0.5), (2, 1.0)):
        x, w = rules[j].T
        assert x.max() == pytest.approx(base[:, 0].max() / math.sqrt(1 + ex.KAPPA * s * s),
                                        rel=1e-3)
        assert w @ np.exp(-0.5 * s * s * x * x) == pytest.approx(1 / math.sqrt(1 + s * s),
                                                                 rel=1e-10)
    start = dict(Q=[[1.0, 0.1], [0.1, 0.9]], R=[[0.2, 0.0], [0.0, 0.1]], T=np.eye(2),
                 v=[0.5, -0.4], v_star=[1.0, 1.0], a=[0.8, -0.5], p=[0.3, -0.2], phi_F=1.5)
    small = dict(start, a=[0.05, -0.03], p=[0.1, -0.05], phi_F=0.1)
    for init, eta_v, t in ((start, None, 0.0), (start, 0.4, 6.0), (small, None, 300.0)):
        st = odes.State(**init)
        if t > 0:
            res = odes.integrate(st, "pepita", 0.3, eta_v=eta_v, times=[0, t], progress=False)
            st = odes.State(**dict(init, Q=res.Q[-1], R=res.R[-1], v=res.v[-1], a=res.a[-1]))
        ref, got = (odes.derivatives(st, "pepita", 0.3, nodes=m) for m in (36, None))
        scale = max(np.abs(x).max() for x in ref.values())
        assert max(np.abs(got[k] - ref[k]).max() for k in ref) < 2e-6 * scale, t


def _pepita_state(scale):
    base = random_state(2, 2, np.random.default_rng(21))
    return odes.State(**{**base.to_dict(), "a": scale * base.a, "p": scale * base.p})


def test_exact_pepita_tends_to_linearised_as_a_shrinks():
    """exact - pepita-lin is the Taylor remainder, O(a^2): halving a (and p, which keeps the state
    valid) divides the difference by 4 within a few per cent."""
    diffs = []
    for s in (0.4, 0.2, 0.1):
        st = _pepita_state(s)
        ex_, lin = (odes.derivatives(st, r, 0.3, sigma=0.1, nodes=20) for r in ("pepita", "pepita-lin"))
        diffs.append(max(np.abs(ex_[k] - lin[k]).max() for k in lin))
    assert 3.6 < diffs[0] / diffs[1] < 4.4 and 3.8 < diffs[1] / diffs[2] < 4.2, diffs


def test_exact_pepita_tends_to_afa_as_F_vanishes():
    """With a, p ~ s and phi_F ~ s^2 (F shrinking) exact PEPITA tends to AFA at the orders of the
    terms AFA drops: the last layer's h~ (dv, O(s)), the Fe push (dQ, dR: O(s^2); da: O(s^3),
    against AFA's own O(s) drift of a).  Halving s divides the gaps by ~2, ~4 and ~8."""
    base = _pepita_state(1.0)
    gaps = []
    for s in (0.2, 0.1, 0.05):
        st = odes.State(**{**base.to_dict(), "a": s * base.a, "p": s * base.p,
                           "phi_F": s * s * base.phi_F})
        ex_, afa = (odes.derivatives(st, r, 0.3, nodes=20) for r in ("pepita", "afa"))
        gaps.append({k: np.abs(ex_[k] - afa[k]).max() for k in afa})
    for k, order in (("v", 1), ("Q", 2), ("R", 2), ("a", 3)):
        for g0, g1 in zip(gaps, gaps[1:]):
            assert 0.85 * 2**order < g0[k] / g1[k] < 1.15 * 2**order, (k, [x[k] for x in gaps])
