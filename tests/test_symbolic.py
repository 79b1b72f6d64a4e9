"""The sympy oracle `odes.symbolic` against the compiled right-hand sides of `odes.rhs`, against
values computed by hand, and against Monte Carlo averages of the per-step changes."""
import math

import numpy as np
import pytest
import sympy as sp

from odes import rhs, symbolic
from odes.state import State
from odes.symbolic import eta, g, gp, phi_F, sigma, xi, zeta

RULES = ("bp", "fa", "afa", "pepita-lin")
SIZES = ((1, 1), (2, 2), (3, 2), (2, 3))


def random_state(K, M, rng):
    """A valid state: order parameters read off a random positive-definite Gram matrix of
    (w*_1..w*_M, F, w_1..w_K) (the block layout of State.gram())."""
    n = M + 1 + K
    X = rng.standard_normal((n, n + 3))
    G = X @ X.T / (n + 3)
    s = slice(M + 1, n)
    return State(Q=G[s, s], R=G[s, :M], T=G[:M, :M], a=G[s, M], p=G[M, :M], phi_F=G[M, M],
                 v=rng.standard_normal(K), v_star=rng.standard_normal(M), b=rng.standard_normal(K))


# ---- oracle against the compiled kernel ----------------------------------------------------------

@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("K,M", SIZES)
@pytest.mark.parametrize("train_v", [True, False])
def test_compiled_rhs_matches_symbolic(rule, K, M, train_v):
    rng = np.random.default_rng([K, M, RULES.index(rule), train_v])
    scale = 0.0
    for _ in range(3):
        state = random_state(K, M, rng)
        kw = dict(eta=0.7, eta_v=0.4, sigma=0.3, train_v=train_v)
        compiled = rhs.derivatives(state, rule, **kw)
        oracle = symbolic.derivatives(state, rule, **kw)
        assert compiled.keys() == oracle.keys()
        for key in compiled:
            assert compiled[key].shape == oracle[key].shape, key
            np.testing.assert_allclose(compiled[key], oracle[key], rtol=0, atol=1e-10, err_msg=key)
        if not train_v:
            assert np.all(oracle["v"] == 0)
        scale = max(scale, np.abs(oracle["Q"]).max(), np.abs(oracle["R"]).max())
    assert scale > 1e-2      # generic states: the comparison is not between zeros


def test_noise_free_expressions_are_the_sigma_zero_limit():
    noisy = symbolic.ode_exprs("pepita-lin", 2, 1)
    clean = symbolic.ode_exprs("pepita-lin", 2, 1, noise=False)
    for key in noisy:
        assert all(sigma not in x.free_symbols for x in clean[key])
        assert sp.expand(noisy[key].subs(sigma, 0) - clean[key]) == sp.zeros(*clean[key].shape)
    assert any(sigma in x.free_symbols for x in noisy["Q"])


# ---- values known by hand --------------------------------------------------------------------------

def test_bp_single_unit_by_hand():
    """K = M = 1, Q = T = 1, R = 0, v = v* = 1.  dR/dt = -eta v B with
    B = E[g'(lambda) nu e] = v I3(0,1,0) - v* I3(0,1,1); lambda and nu independent, so
    I3(0,1,0) = 0 and I3(0,1,1) = E[g'(lambda)] E[nu g(nu)] = (1/sqrt(pi))^2 = 1/pi:
    dR/dt = eta/pi.  dv/dt = -eta_v (I2(0,0) - I2(0,1)) = -eta_v/3."""
    exprs = symbolic.ode_exprs("bp", 1, 1)
    v0, vs0 = sp.symbols("v_0 vstar_0")
    I3 = symbolic.integral
    assert sp.expand(exprs["R"][0, 0] + eta * v0 * (v0 * I3("I3", 0, 1, 0) - vs0 * I3("I3", 0, 1, 1))) == 0
    state = State(Q=[[1.0]], R=[[0.0]], T=[[1.0]], v=[1.0], v_star=[1.0])
    d = symbolic.derivatives(state, "bp", eta=0.5, eta_v=0.2)
    assert d["R"][0, 0] == pytest.approx(0.5 / math.pi, abs=1e-14)
    assert d["v"][0] == pytest.approx(-0.2 / 3, abs=1e-14)


@pytest.mark.parametrize("expr,expected", [
    (gp(sp.Symbol("u_0")) * sp.Symbol("u_0") * g(sp.Symbol("u_1")), "I3_0_0_1"),
    (gp(sp.Symbol("u_1")) ** 2, "J2_1_1"),
    (g(sp.Symbol("u_1")) * g(sp.Symbol("u_0")), "I2_0_1"),
    (gp(sp.Symbol("u_1")) * gp(sp.Symbol("u_0")) * g(sp.Symbol("u_1")) ** 2, "I4_0_1_1_1"),
    (gp(sp.Symbol("u_1")) * g(sp.Symbol("u_1")) * g(sp.Symbol("u_0")), "I3g_1_0_1"),
    (gp(sp.Symbol("u_0")) * xi**2, "Eg1_0"),
])
def test_monomials_map_to_canonical_integrals(expr, expected):
    assert symbolic.expect(expr, 1, 1) == sp.Symbol(expected)


def test_noise_and_stein():
    u0, u1 = sp.symbols("u_0 u_1")
    a0, p0 = sp.symbols("a_0 p_0")
    assert symbolic.expect(xi * g(u0) * g(u1), 1, 1) == 0
    assert symbolic.expect(xi**4, 1, 1) == 3
    # E[zeta g(u_0)] = a_0 E[g'(u_0)];  E[zeta g'(u_0) g(u_1)] = -a_0 I3(0,0,1) + p_0 J2(0,1)
    assert sp.expand(symbolic.expect(zeta * g(u0), 1, 1) - a0 * sp.Symbol("Eg1_0")) == 0
    assert sp.expand(symbolic.expect(zeta * gp(u0) * g(u1), 1, 1)
                     - (-a0 * sp.Symbol("I3_0_0_1") + p0 * sp.Symbol("J2_0_1"))) == 0
    # E[zeta^2 g(u0) g(u1)] = phi_F I2(0,1) + sum_ij q_i q_j E[d_i d_j (g0 g1)]
    expected = (phi_F * sp.Symbol("I2_0_1") - a0**2 * sp.Symbol("I3_0_0_1")
                - p0**2 * sp.Symbol("I3_1_1_0") + 2 * a0 * p0 * sp.Symbol("J2_0_1"))
    assert sp.expand(symbolic.expect(zeta**2 * g(u0) * g(u1), 1, 1) - expected) == 0


@pytest.mark.parametrize("expr", [
    g(sp.Symbol("u_0")) ** 3,
    sp.Symbol("u_0") * sp.Symbol("u_1"),
    g(sp.Symbol("u_0") + sp.Symbol("u_1")),
    sp.exp(sp.Symbol("u_0")),
    gp(sp.Symbol("u_0")) * sp.Symbol("u_0") ** 2 * g(sp.Symbol("u_1")),
    gp(sp.Symbol("u_0")) * g(sp.Symbol("u_2")),      # u_2 is not a field when K = M = 1
])
def test_unsupported_monomial_raises(expr):
    with pytest.raises(symbolic.UnsupportedMonomial):
        symbolic.expect(expr, 1, 1)


# ---- Monte Carlo: the whole chain (derivation, expectation, integrals) ---------------------------

def test_pepita_lin_against_monte_carlo():
    """Average the per-step changes D*delta over samples of (nu, zeta, lambda) ~ N(0, Gram) and
    xi ~ N(0, 1): the means agree with `derivatives` within 5 standard errors."""
    K, M, n_samples = 2, 1, 400_000
    rng = np.random.default_rng(7)
    state = random_state(K, M, rng)
    kw = dict(eta=0.6, eta_v=0.3, sigma=0.4)
    sym = symbolic.symbols(K, M)
    changes = symbolic.per_step_changes("pepita-lin", K, M)
    args = [*sym.u, zeta, xi, *sym.parameters()]
    erf = np.vectorize(math.erf, otypes=[float])
    funcs = {"g": lambda x: erf(x / math.sqrt(2)),
             "gp": lambda x: math.sqrt(2 / math.pi) * np.exp(-x * x / 2)}

    G = state.gram()                                   # covariance of (nu, zeta, lambda)
    z = rng.standard_normal((n_samples, G.shape[0])) @ np.linalg.cholesky(G).T
    nu, zt, lam = z[:, :M], z[:, M], z[:, M + 1:]
    params = [*state.v, *state.v_star, *state.b, *state.a, *state.p, state.phi_F,
              kw["eta"], kw["eta_v"], kw["sigma"]]
    values = [*lam.T, *nu.T, zt, rng.standard_normal(n_samples), *params]

    expected = symbolic.derivatives(state, "pepita-lin", **kw)
    for key, mat in changes.items():
        for (i, j), x in np.ndenumerate(np.empty(mat.shape)):
            samples = np.broadcast_to(sp.lambdify(args, mat[i, j], [funcs, "numpy"])(*values),
                                      (n_samples,))
            target = expected[key][i, j] if key in ("Q", "R") else expected[key][i]
            err = samples.std() / math.sqrt(n_samples)
            assert abs(samples.mean() - target) < 5 * err + 1e-12, (key, i, j, samples.mean(), target)


# ---- LaTeX --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rule,K,M,train_v", [("bp", 1, 1, True), ("afa", 2, 3, True),
                                              ("fa", 2, 2, False), ("pepita-lin", 3, 2, True)])
def test_latex_has_one_equation_per_order_parameter(rule, K, M, train_v):
    text = symbolic.latex(rule, K, M, train_v=train_v)
    assert text and ("frac" in text or r"\eta" in text)
    n_adaptive = K if rule in ("afa", "pepita-lin") else 0
    n_equations = K * (K + 1) // 2 + K * M + K + n_adaptive
    assert text.count("&=") == n_equations
    assert text.count(r"\frac{\mathrm{d}Q_{") == K * (K + 1) // 2
    assert text.count(r"\frac{\mathrm{d}a_{") == n_adaptive
    if not train_v:
        assert r"\frac{\mathrm{d}v_{1}}{\mathrm{d}t} &= 0" in text
