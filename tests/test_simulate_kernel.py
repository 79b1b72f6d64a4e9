"""The compiled SGD kernel: Appendix B step by step against a NumPy transcription, mean one-step
changes against the ODE right-hand sides, FA = BP when b = v, the exact-overlap construction,
determinism, independence of the number of jobs, and divergence handling."""
import math

import numpy as np
import pytest

import odes
import simulate
from conftest import g_prime_numpy, random_state
from simulate import kernel, rng
from odes.rules import codes as rule_flags
from simulate.run import data_seed_sequences

ALL_RULES = ("bp", "fa", "afa", "pepita-lin", "pepita", "pepita-hebbian", "pepita-tl", "ff")


def g(z, activation="erf"):
    return odes.activations.g_numpy(activation, z)


def gp(z, activation="erf"):
    return g_prime_numpy(activation, z)


def numpy_steps(w, rule, eta, eta_v, sigma, train_v, state, n, kappa=0.0, activation="erf",
                mirror=None):
    """n SGD steps of theory.md Appendix B written out with NumPy, drawing the same numbers as the
    kernel (D inputs, then the label noise from the single-draw stream when sigma > 0); with
    weight decay (theory.md 8.1) the update is added to (1 - kappa/D) times the old weights.  With
    mirror = (eta_M, s, B, kappa_M, fixed norm) each step is followed by a mirroring step
    (theory.md 11.2): B more inputs of D numbers; returns F too."""
    r = odes.get_rule(rule)
    g_ = lambda z: g(z, activation)
    gp_ = lambda z: gp(z, activation)
    W, v = w.W.copy(), w.v.copy()
    w = odes.Weights(**{**vars(w), "F": w.F.copy()}) if mirror else w
    phi0 = w.F @ w.F
    D = W.shape[1]
    sq = math.sqrt(D)
    for _ in range(n):
        x = rng.standard_normal(state, D)
        xi = rng.normal(state) if sigma > 0 else 0.0
        y = w.v_star @ g_(w.W_star @ x / sq) + sigma * xi
        lam = W @ x / sq
        h = g_(lam)
        e = v @ h - y
        a = W @ w.F / sq
        if r.ff:                         # theory.md 11.1: the gradient of Forward-Forward's loss
            # softplus(G - theta) + softplus(theta - G~) (the modulated pass positive, theta = 1),
            # G = |g(W x/sqrt(D))|^2, G~ likewise on x~, taken in W directly
            xt = x - w.F * e
            lt = W @ xt / sq
            ht = g_(lt)
            sig = lambda z: 1 / (1 + np.exp(-z))
            dW = (2 * sig(h @ h - 1.0) * np.outer(h * gp_(lam), x)
                  - 2 * sig(1.0 - ht @ ht) * np.outer(ht * gp_(lt), xt))
            dv = e * h
        elif r.time_local:                 # theory.md 8.3: two half-updates in sequence
            xt = x - w.F * e
            W_half = W - eta / sq * np.outer(h, x)        # Hebbian on the clean pass
            ht = g_(W_half @ xt / sq)                      # the modulated pass with those weights
            dW, dv = np.outer(h, x) - np.outer(ht, xt), (v @ h) * h - y * ht
        elif r.hebbian:                  # theory.md 8.3: h x^T - h~ x~^T, yhat h - y h~
            xt = x - w.F * e
            ht = g_(W @ xt / sq)
            dW, dv = np.outer(h, x) - np.outer(ht, xt), (v @ h) * h - y * ht
        elif r.exact_pepita:
            xt = x - w.F * e
            ht = g_(W @ xt / sq)
            dW, dv = np.outer(h - ht, xt), e * ht
        else:
            f = {"bp": v, "fa": w.b}.get(rule, a)
            xin = x - w.F * e if r.fe_terms else x
            dW = np.outer(f * gp_(lam) * e, xin)
            dv = e * (h - a * gp_(lam) * e if r.fe_terms else h)
        W = (1 - kappa / D) * W - eta / sq * dW
        if train_v:
            v = (1 - kappa / D) * v - eta_v / D * dv
        if mirror:                       # F += (eta_M/D) <yhat(xi) xi> - (eta_M kappa_M/D) F
            eta_m, s_m, B, kappa_m, fixed = mirror
            xis = [s_m * rng.standard_normal(state, D) for _ in range(int(B))]
            step = sum((v @ g_(W @ xi / sq)) * xi for xi in xis) / B
            F = (1 - eta_m * kappa_m / D) * w.F + eta_m / D * step
            w.F[:] = F * math.sqrt(phi0 / (F @ F)) if fixed else F
    return (W, v, w.F) if mirror else (W, v)


@pytest.mark.parametrize("rule", ALL_RULES)
@pytest.mark.parametrize("sigma,train_v", [(0.0, True), (0.3, False)])
def test_kernel_is_appendix_b(rule, sigma, train_v):
    check_against_numpy(rule, 3, 2, 200, 300, sigma, train_v)


# shapes that reach every pass of kernel.project (4, 5, 2 and 1 rows), D below the 16 generator
# lanes and not a multiple of them, and D = 512 (rows padded away from 4096 bytes); n ends off a
# multiple of 64, so the F part of the weights is not folded in at the end
@pytest.mark.parametrize("K,M,D", [(1, 1, 15), (2, 3, 17), (4, 1, 512), (3, 3, 40)])
@pytest.mark.parametrize("rule", ALL_RULES)
def test_kernel_is_appendix_b_for_other_shapes(rule, K, M, D):
    check_against_numpy(rule, K, M, D, 150, 0.0, True)


@pytest.mark.parametrize("rule", ALL_RULES)
@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_kernel_with_other_activations_is_appendix_b(rule, activation):
    """g = linear and ReLU (theory.md 8.2) step by step against the NumPy transcription."""
    check_against_numpy(rule, 3, 2, 200, 300, 0.2, True, activation=activation)


@pytest.mark.parametrize("rule", ALL_RULES)
@pytest.mark.parametrize("train_v", [True, False])
def test_kernel_with_weight_decay_is_appendix_b(rule, train_v):
    """Weight decay (theory.md 8.1) step by step against the NumPy transcription, over 300 steps
    (several folds of the F part), a frozen second layer included (it does not decay)."""
    check_against_numpy(rule, 3, 2, 200, 300, 0.2, train_v, kappa=5.0)


@pytest.mark.parametrize("rule", ALL_RULES)
def test_weight_decay_one_step_is_the_ode_term(rule):
    """The one-step drift with weight decay minus the one without, on common random numbers: the
    ODE's terms -kappa R, -2 kappa Q, -kappa v, -kappa a (and nothing for b).  The difference
    is nearly free of sampling noise, so the tolerance is 4.5 s.e. of the paired difference
    plus the O(kappa eta / sqrt(D)) cross terms the ODE drops, 0.02 relative."""
    D, n, kappa, eta = 500, 20_000, 0.8, 0.5
    state = random_state(2, 2, np.random.default_rng(3))
    w = odes.realise(state, D, seed=3, b=state.b)
    with_decay, se = mean_step(w, rule, eta, eta, 0.1, n, seed=4, kappa=kappa)
    without, _ = mean_step(w, rule, eta, eta, 0.1, n, seed=4)
    ode = {k: odes.derivatives(state, rule, eta, sigma=0.1, weight_decay=kappa)[k]
           - odes.derivatives(state, rule, eta, sigma=0.1)[k]
           for k in ("Q", "R", "v") + (("a",) if odes.get_rule(rule).uses_F else ())}
    for k, want in ode.items():
        got = with_decay[k] - without[k]
        assert np.abs(want).max() > 0.1
        assert np.allclose(got, want.ravel(), rtol=0.02, atol=1e-3), (rule, k, got, want)


def test_zero_weight_decay_is_the_plain_kernel():
    """kappa = 0 runs the same code as before weight decay existed: identical numbers."""
    w = simulate.draw_weights(2, 2, 100, seed=2, sigma_F=0.05)
    a = simulate.run("pepita-lin", 2, 2, 100, 0.5, t_max=3, seeds=[2], weights=w)
    b = simulate.run("pepita-lin", 2, 2, 100, 0.5, t_max=3, seeds=[2], weights=w, weight_decay=0.0)
    c = simulate.run("pepita-lin", 2, 2, 100, 0.5, t_max=3, seeds=[2], weights=w, weight_decay=1e-9)
    assert np.array_equal(a.Q, b.Q) and np.array_equal(a.a, b.a)
    assert not np.array_equal(a.Q, c.Q)            # and a tiny kappa does take the other path


def check_against_numpy(rule, K, M, D, n, sigma, train_v, kappa=0.0, activation="erf"):
    w = simulate.draw_weights(K, M, D, seed=11, sigma_F=0.3 / math.sqrt(D))
    eta, eta_v = 0.7, 0.4
    s_ref = rng.seed_state(data_seed_sequences(11)[0])
    W_ref, v_ref = numpy_steps(w, rule, eta, eta_v, sigma, train_v, s_ref, n, kappa, activation)
    sim = simulate.run(rule, K, M, D, eta, eta_v=eta_v, sigma=sigma, train_v=train_v,
                       times=[0, n / D], seeds=[11], weights=w, weight_decay=kappa,
                       activation=activation)
    st = odes.State.from_weights(W_ref, w.W_star, v_ref, w.v_star, F=w.F)
    np.testing.assert_allclose(sim.Q[0, -1], st.Q, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(sim.R[0, -1], st.R, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(sim.v[0, -1], v_ref, rtol=1e-11, atol=1e-12)
    if odes.get_rule(rule).uses_F:
        np.testing.assert_allclose(sim.a[0, -1], st.a, rtol=1e-10, atol=1e-12)
    # the weights moved: the comparison is not trivial
    assert np.max(np.abs(sim.Q[0, -1] - sim.Q[0, 0])) > 1e-4


@pytest.mark.parametrize("rule", ["afa", "pepita", "ff"])
@pytest.mark.parametrize("mirror", [(0.8, 1.3, 3, 0.5, 0.0), (2.0, 0.7, 2, 0.0, 1.0)],
                         ids=["free-norm", "fixed-norm"])
def test_kernel_with_mirroring_is_the_numpy_step(rule, mirror):
    """Weight mirroring (theory.md 11.2) step by step against the NumPy transcription: 150 steps
    (folds of the F part at 64 and 128, none at the end), then Q, R, v, a, p and phi_F to 1e-10.
    The kernel keeps u . F as a number updated in the mirroring step; a wrong update of it
    (the fixed norm's rescaling dropped) changes a, and so W, at once."""
    K, M, D, n = 2, 2, 150, 150
    w = simulate.draw_weights(K, M, D, seed=11, sigma_F=0.3 / math.sqrt(D))
    eta, eta_v, sigma = 0.7, 0.4, 0.2
    s_ref = rng.seed_state(data_seed_sequences(11)[0])
    W_ref, v_ref, F_ref = numpy_steps(w, rule, eta, eta_v, sigma, True, s_ref, n, mirror=mirror)
    keys = dict(zip(("mirror_eta", "mirror_noise", "mirror_batch", "mirror_decay",
                     "mirror_fixed_norm"), mirror))
    sim = simulate.run(rule, K, M, D, eta, eta_v=eta_v, sigma=sigma, times=[0, n / D], seeds=[11],
                       weights=w, progress=False, **{**keys, "mirror_fixed_norm": bool(mirror[4])})
    st = odes.State.from_weights(W_ref, w.W_star, v_ref, w.v_star, F=F_ref)
    np.testing.assert_allclose(sim.Q[0, -1], st.Q, rtol=1e-10)
    np.testing.assert_allclose(sim.R[0, -1], st.R, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sim.v[0, -1], v_ref, rtol=1e-10)
    np.testing.assert_allclose(sim.a[0, -1], st.a, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sim.p[0, -1], st.p, rtol=1e-10, atol=1e-12)
    assert sim.phi_F[0, -1] == pytest.approx(st.phi_F, rel=1e-10)
    assert abs(sim.a[0, -1] - sim.a[0, 0]).max() > 1e-3       # F and W moved


def mean_step(w, rule, eta, eta_v, sigma, n, seed, kappa=0.0):
    r = odes.get_rule(rule)
    K, M = w.W.shape[0], w.W_star.shape[0]
    size = K * K + K * M + 2 * K
    mean, sq = np.zeros(size), np.zeros(size)
    kernel.one_step_changes(w.W, w.W_star, w.v, w.v_star, w.F, w.b, rule_flags(r, True),
                            np.array([eta, eta_v, sigma, 1e8, kappa]), rng.seed_state(seed), n, mean,
                            sq)
    se = np.sqrt(np.maximum(sq - mean**2, 0) / n)
    cut = np.cumsum([0, K * K, K * M, K, K])
    return ({k: mean[cut[i]:cut[i + 1]] for i, k in enumerate("QRva")},
            {k: se[cut[i]:cut[i + 1]] for i, k in enumerate("QRva")})


def aligned_F_state(K, M, seed, D=60):
    """A state whose F leans on the students' weights (|a|^2 close to Q_kk phi_F), so that the
    AF vector's drift stands out of its per-step noise, which scales with sqrt(phi_F)."""
    rng = np.random.default_rng(seed)
    W, W_star = rng.standard_normal((K, D)), rng.standard_normal((M, D))
    F = (W[0] - 0.5 * W[-1] + 0.3 * rng.standard_normal(D)) / np.sqrt(D)
    return odes.State.from_weights(W, W_star, rng.standard_normal(K), rng.standard_normal(M), F=F,
                                   b=rng.standard_normal(K))


@pytest.mark.parametrize("rule,K,M,f_scale", [("bp", 2, 2, 1), ("fa", 3, 2, 1), ("afa", 2, 3, None),
                                              ("pepita-lin", 2, 2, 0.5)])
def test_mean_one_step_change_is_ode_rhs(rule, K, M, f_scale):
    """D x the mean one-step change of the order parameters (exact-overlap weights, theory.md 3.7)
    equals the ODE right-hand side up to O(1/D).  The O(1/D) bias is removed, not allowed for:
    the mean is measured at D = 500 and 1000 and extrapolated, m = 2 m(1000) - m(500), whose
    standard error sqrt(4 se(1000)^2 + se(500)^2) is the whole tolerance (4.5 s.e.).  F is scaled
    (a, p by f_scale, phi_F by its square), or for AFA leans on the students, so that every
    quantity, da/dt included, is resolved."""
    n = 200_000
    eta, eta_v, sigma = 0.6, 0.4, 0.2
    if f_scale is None:
        state = aligned_F_state(K, M, seed=7)
    else:
        state = random_state(K, M, np.random.default_rng(len(rule) + 10 * K + M))
        state = odes.State(**{**state.to_dict(), "a": f_scale * state.a, "p": f_scale * state.p,
                              "phi_F": f_scale**2 * state.phi_F})
    rhs = odes.derivatives(state, rule, eta, eta_v=eta_v, sigma=sigma)
    runs = [mean_step(odes.realise(state, D, seed=3, b=state.b), rule, eta, eta_v, sigma, n, seed=1)
            for D in (500, 1000)]
    for k in ["Q", "R", "v"] + (["a"] if "a" in rhs else []):
        want = rhs[k].ravel()
        (m1, s1), (m2, s2) = ((m[k], se[k]) for m, se in runs)
        tol = 4.5 * np.sqrt(4 * s2**2 + s1**2)
        assert np.all(np.abs(2 * m2 - m1 - want) < tol), (k, 2 * m2 - m1, want, tol)
        assert np.max(np.abs(want)) > 2.5 * np.max(tol), (k, want, tol)   # resolved


def test_exact_pepita_one_step_tends_to_linearised():
    """Exact PEPITA's one-step drift differs from PEPITA-linearised's by the Taylor remainder,
    O(a^2): halving a (and p) divides the difference by ~4 (common random numbers)."""
    D, n = 400, 50_000
    base = random_state(2, 2, np.random.default_rng(5))
    diffs = []
    for scale in (0.4, 0.2, 0.1):
        st = odes.State(**{**base.to_dict(), "a": scale * base.a, "p": scale * base.p})
        w = odes.realise(st, D, seed=2, b=st.b)
        m_ex, _ = mean_step(w, "pepita", 0.5, 0.5, 0.0, n, seed=9)
        m_lin, _ = mean_step(w, "pepita-lin", 0.5, 0.5, 0.0, n, seed=9)
        diffs.append(max(np.max(np.abs(m_ex[k] - m_lin[k])) for k in "QRva"))
    assert 2.5 < diffs[0] / diffs[1] < 6.5 and 2.5 < diffs[1] / diffs[2] < 6.5, diffs


def test_fa_with_b_equal_v_frozen_is_bp_exactly():
    w = simulate.draw_weights(2, 2, 500, seed=4)
    w_fa = w.copy()
    w_fa.b = w.v.copy()
    kw = dict(t_max=20, seeds=[4], train_v=False)
    bp = simulate.run("bp", 2, 2, 500, 0.5, weights=w, **kw)
    fa = simulate.run("fa", 2, 2, 500, 0.5, weights=w_fa, **kw)
    assert np.array_equal(bp.Q, fa.Q) and np.array_equal(bp.R, fa.R)
    assert np.array_equal(bp.v, fa.v) and np.array_equal(bp.eps_g, fa.eps_g)
    assert np.array_equal(fa.b[0, -1], w.v)
    assert abs(bp.eps_g[0, -1] - bp.eps_g[0, 0]) > 1e-2      # it learned something


@pytest.mark.parametrize("with_F", [True, False])
def test_exact_overlap_construction(with_F):
    state = random_state(3, 2, np.random.default_rng(8), with_F=with_F)
    w = simulate.realise(state, 300, seed=1, b=state.b)
    got = odes.State.from_weights(w.W, w.W_star, w.v, w.v_star, F=w.F if with_F else None)
    for k in ("Q", "R", "T") + (("a", "p", "phi_F") if with_F else ()):
        np.testing.assert_allclose(getattr(got, k), getattr(state, k), rtol=0, atol=1e-12)
    # and the simulator records exactly that state at t = 0
    sim = simulate.run("afa" if with_F else "bp", 3, 2, 300, 0.1, times=[0, 0.1], seeds=[0],
                       weights=w)
    np.testing.assert_allclose(sim.Q[0, 0], state.Q, atol=1e-12)
    np.testing.assert_allclose(sim.R[0, 0], state.R, atol=1e-12)
    if with_F:
        np.testing.assert_allclose(sim.a[0, 0], state.a, atol=1e-12)


def test_record_times_are_exact_steps():
    sim = simulate.run("bp", 2, 2, 500, 0.5, times=[0.5, 1.004, 2], seeds=1)
    assert sim.steps.tolist() == [0, 250, 502, 1000]
    assert np.array_equal(sim.t, sim.steps / 500)


def test_determinism_seeds_and_jobs():
    kw = dict(t_max=10, seeds=4, seed=7)
    a = simulate.run("pepita", 2, 2, 300, 0.5, jobs=1, **kw)
    b = simulate.run("pepita", 2, 2, 300, 0.5, jobs=2, **kw)
    c = simulate.run("pepita", 2, 2, 300, 0.5, jobs=1, **kw)
    for x, y, z in ((a.Q, b.Q, c.Q), (a.R, b.R, c.R), (a.v, b.v, c.v), (a.a, b.a, c.a)):
        assert np.array_equal(x, y) and np.array_equal(x, z)
    # different seeds differ, and a seed's result does not depend on the other seeds
    assert not np.allclose(a.Q[0], a.Q[1])
    single = simulate.run("pepita", 2, 2, 300, 0.5, t_max=10, seeds=[9])
    assert np.array_equal(single.Q[0], a.Q[2])


@pytest.mark.parametrize("rule", ["bp", "afa", "pepita"])
def test_numbers_do_not_depend_on_record_times(rule):
    """The kernel keeps part of the state between calls (the F part of the weights): cutting a
    run at other record times must give the same numbers, bit for bit."""
    kw = dict(seeds=[3], sigma_F=0.5 / math.sqrt(300))
    few = simulate.run(rule, 2, 2, 300, 0.5, times=[0, 10], **kw)
    many = simulate.run(rule, 2, 2, 300, 0.5, times=np.arange(0, 10.01, 0.37).tolist() + [10], **kw)
    assert many.steps[-1] == few.steps[-1] == 3000
    for name in ("Q", "R", "v") + (("a",) if rule != "bp" else ()):
        assert np.array_equal(getattr(few, name)[0, -1], getattr(many, name)[0, -1]), name


def test_divergence_is_flagged_per_seed():
    D = 300
    ok = simulate.draw_weights(2, 2, D, seed=1, sigma_F=0.2 / math.sqrt(D))
    bad = ok.copy()
    bad.F = ok.F * 30                     # |F|^2 ~ 36: exact PEPITA blows up (theory.md 6.2)
    with pytest.warns(simulate.DivergenceWarning, match="1 of 2 seeds diverged"):
        sim = simulate.run("pepita", 2, 2, D, 0.5, t_max=100, seeds=[1, 1], weights=[ok, bad], jobs=2)
    assert sim.status == ["ok", "diverged"]
    assert np.isnan(sim.t_diverged[0]) and 0 < sim.t_diverged[1] < 100
    after = sim.t > sim.t_diverged[1]
    assert np.all(np.isnan(sim.eps_g[1, after])) and np.all(np.isfinite(sim.eps_g[1, ~after]))
    assert np.all(np.isfinite(sim.eps_g[0]))
    # statistics use the finite seeds only
    assert np.all(sim.count()[after] == 1)
    assert np.allclose(sim.mean()[after], sim.eps_g[0, after])
    alone = simulate.run("pepita", 2, 2, D, 0.5, t_max=100, seeds=[1], weights=ok)
    assert np.array_equal(alone.eps_g[0], sim.eps_g[0])


def test_blowup_threshold_stops_a_run():
    with pytest.warns(simulate.DivergenceWarning):
        sim = simulate.run("bp", 2, 2, 200, 0.1, t_max=5, seeds=1, blowup=0.5)   # Q_kk ~ 1 > 0.5
    assert sim.status == ["diverged"] and sim.t_diverged[0] <= 64 / 200
    assert np.isfinite(sim.eps_g[0, 0]) and np.all(np.isnan(sim.eps_g[0, 1:]))


@pytest.mark.parametrize("activation", ["erf", "linear", "relu"])
def test_monte_carlo_test_error_matches_closed_form(activation):
    sim = simulate.run("bp", 2, 2, 200, 0.5, times=[0, 5, 20], seeds=2, n_test=20000,
                       activation=activation)
    # eps_test = 1/2 <(yhat - y_clean)^2> over the held-out set; its relative s.e. ~ sqrt(2/P)
    rel = np.abs(sim.eps_test - sim.eps_g) / sim.eps_g
    assert np.all(rel < 5 * math.sqrt(3 / 20000)), rel
