"""The Forward-Forward rule 'ff' (theory.md 11.1): its ODE (by the expectation engine) against the
mean one-step change of the simulator from realised weights, against whole simulations at D = 2000
with both samplers, its limits theta -> +-inf (one Hebbian term), and its options refused where
they do not apply.  The simulator's step itself is held against the gradient of Forward-Forward's
loss written in NumPy in tests/test_simulate_kernel.py, and the two samplers against each other in
tests/test_overlaps.py."""
import math

import numpy as np
import pytest

import odes
import simulate
from conftest import g_prime_numpy, random_state
from odes.rules import codes
from simulate import kernel, rng


def _par(eta, eta_v, theta, clean):
    return kernel.kernel_params(eta, eta_v, 0.0, 1e8, ff=(theta, clean))


def _mean_step(w, par, n, seed):
    """D times the mean one-step change of (Q, R, v, a) over n fresh inputs from the weights w,
    and its standard error (`simulate.kernel.one_step_changes`)."""
    K, M = w.W.shape[0], w.W_star.shape[0]
    size = K * K + K * M + 2 * K
    mean, sq = np.zeros(size), np.zeros(size)
    kernel.one_step_changes(w.W, w.W_star, w.v, w.v_star, w.F, w.b,
                            codes(odes.get_rule("ff"), True), par, rng.seed_state(seed), n, mean, sq)
    se = np.sqrt(np.maximum(sq - mean ** 2, 0) / n)
    cut = np.cumsum([0, K * K, K * M, K, K])
    return ({k: mean[cut[i]:cut[i + 1]] for i, k in enumerate("QRva")},
            {k: se[cut[i]:cut[i + 1]] for i, k in enumerate("QRva")})


ONE_STEP = [(1.0, False), (0.3, True), (60.0, False), (-60.0, False)]   # theta, clean positive


@pytest.mark.parametrize("theta,clean", ONE_STEP, ids=["theta1", "theta0.3-clean", "theta+inf",
                                                      "theta-inf"])
def test_mean_one_step_change_is_the_ode_rhs(theta, clean):
    """D x the mean one-step change of Q, R, v and a from realised weights (200000 inputs at
    D = 500 and 1000, extrapolated to D -> inf as 2 m(1000) - m(500), which removes the O(1/D)
    bias) equals the ODE's right-hand side within 4.5 s.e. of the extrapolation; every quantity
    is resolved (its largest entry beyond 2.5 times the tolerance).  theta = +-60 are the limits
    where one pass's weight is saturated (`test_limits_are_one_hebbian_term`).  False failures:
    14 entries at 4.5 s.e., < 1e-4 per case.  Measured: |z| <= 1.67, 2.66, 1.49, 1.48.  Mutations:
    see the closing note of issue 24."""
    n, eta, eta_v = 200_000, 0.6, 0.4
    state = random_state(2, 2, np.random.default_rng(5))
    state = odes.State(**{**state.to_dict(), "a": 1.5 * state.a, "p": 1.5 * state.p,
                          "phi_F": 2.25 * state.phi_F})
    rhs = odes.derivatives(state, "ff", eta, eta_v=eta_v, ff_theta=theta,
                           ff_positive="clean" if clean else "modulated")
    par = _par(eta, eta_v, theta, clean)
    runs = [_mean_step(odes.realise(state, D, seed=3), par, n, seed=1) for D in (500, 1000)]
    for k in ("Q", "R", "v", "a"):
        want = rhs[k].ravel()
        (m1, s1), (m2, s2) = ((m[k], se[k]) for m, se in runs)
        tol = 4.5 * np.sqrt(4 * s2 ** 2 + s1 ** 2)
        assert np.all(np.abs(2 * m2 - m1 - want) < tol), (k, 2 * m2 - m1, want, tol)
        assert np.max(np.abs(want)) > 2.5 * np.max(tol), (k, want, tol)


@pytest.mark.parametrize("theta", [60.0, -60.0])
def test_limits_are_one_hebbian_term(theta):
    """theta -> +inf (the modulated pass positive): the clean pass's weight vanishes and the
    modulated one's is 1, so a step is the single Hebbian term w_k += 2 (eta/sqrt(D))
    g(lambda~_k) g'(lambda~_k) x~; theta -> -inf: the anti-Hebbian term of the clean pass alone,
    w_k -= 2 (eta/sqrt(D)) g(lambda_k) g'(lambda_k) x.  200 kernel steps at theta = +-60 against
    that one term written in NumPy (same random numbers), to 1e-10."""
    K, M, D, eta, n = 2, 2, 200, 0.5, 200
    w = odes.draw_weights(K, M, D, seed=4, sigma_F=0.3 / math.sqrt(D))
    sim = simulate.run("ff", K, M, D, eta, times=[0, n / D], seeds=[4], weights=w, ff_theta=theta,
                       progress=False)
    state = rng.seed_state(simulate.run.__globals__["data_seed_sequences"](4)[0])
    g = lambda z: odes.activations.g_numpy("erf", z)
    W, v, sq = w.W.copy(), w.v.copy(), math.sqrt(D)
    for _ in range(n):
        x = rng.standard_normal(state, D)
        y = w.v_star @ g(w.W_star @ x / sq)
        lam = W @ x / sq
        h = g(lam)
        e = v @ h - y
        if theta > 0:
            xt = x - w.F * e
            lt = W @ xt / sq
            W = W + 2 * eta / sq * np.outer(g(lt) * g_prime_numpy("erf", lt), xt)
        else:
            W = W - 2 * eta / sq * np.outer(h * g_prime_numpy("erf", lam), x)
        v = v - eta / D * e * h
    st = odes.State.from_weights(W, w.W_star, v, w.v_star, F=w.F)
    np.testing.assert_allclose(sim.Q[0, -1], st.Q, rtol=1e-10)
    np.testing.assert_allclose(sim.a[0, -1], st.a, rtol=1e-10, atol=1e-12)
    assert np.abs(sim.Q[0, -1] - sim.Q[0, 0]).max() > 1e-3


#: the allowance for the O(1/D) bias in the comparisons with whole simulations, relative to
#: 1 + |ODE value| (as in tests/test_mirroring_runs.py)
ALLOWANCE = 4.0 / 2000
WHOLE = [("weights", dict()), ("overlaps", dict(ff_positive="clean", ff_theta=0.5))]


@pytest.mark.parametrize("sampler,kw", WHOLE, ids=["weights", "overlaps-clean"])
def test_ode_follows_the_simulation(sampler, kw):
    """16 seeds at D = 2000 to t = 20, each with its own ODE from its start: eps_g, Q, R, v, a and
    theta_net within 3 s.e. + ALLOWANCE at every fourth record, with either sampler.  False
    failures: ~80 comparisons at >= 4 s.e. of a t distribution with 15 degrees of freedom,
    strongly correlated in time: well under 5 %.  Measured max |z| without the allowance: 2.6
    (weights), 3.7 (overlaps: the allowance is needed there)."""
    cmp = simulate.compare("ff", 2, 2, 2000, 0.3, t_max=20, seeds=16, progress=False,
                           sigma_F=math.sqrt(1.0 / 2000), sampler=sampler, **kw)
    idx = np.nonzero(cmp.t > 0)[0][::4]
    for name in ("eps_g", "Q", "R", "v", "a", "net"):
        d, se, _ = cmp.deviation(name)
        ode = cmp.mean(name, "ode")
        bound = 3 * se[idx] + ALLOWANCE * (1 + np.abs(ode[idx]))
        assert np.all(np.abs(d[idx]) <= bound), (name, d[idx], se[idx])
    assert cmp.params["ff_positive"] == kw.get("ff_positive", "modulated")


def test_options_are_refused_where_they_do_not_apply():
    st = odes.State.random(2, 2, 500, seed=0)
    with pytest.raises(ValueError, match="options of the rule ff, not pepita"):
        odes.integrate(st, "pepita", 0.1, t_max=1, ff_theta=1.0)
    with pytest.raises(ValueError, match="ff_positive must be one of"):
        odes.derivatives(st, "ff", 0.1, ff_positive="both")
    with pytest.raises(ValueError, match="ff_theta must be a finite number"):
        simulate.run("ff", 2, 2, 100, 0.1, t_max=1, seeds=1, ff_theta=float("nan"))
    with pytest.raises(ValueError, match="options of the rule ff"):
        simulate.run("bp", 2, 2, 100, 0.1, t_max=1, seeds=1, ff_positive="clean")
