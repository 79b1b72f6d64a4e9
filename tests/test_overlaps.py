"""The exact overlap sampler (simulate.overlaps, theory.md 10.1) against the D-dimensional weights.

Statistics.  Every comparison is a two-sample test between independent samples of the two
samplers: the difference of means in units of its standard error (|z| <= Z_MAX) and the
Kolmogorov-Smirnov test (p >= P_MIN).  Z_MAX = 4.5 (two-sided p = 7e-6) and P_MIN = 1e-5 make the
chance of a false failure about 1e-5 per comparison; a test function makes at most ~60 of them,
so it fails by chance in fewer than 1 run in 1000.  Power, measured by breaking the chain (the
numbers are in the docstrings): chi^2 with D degrees of freedom instead of D - rank S, dropping the
zeta/D or the phi_F/D term of Q, and |x|^2/D = 1 each fail `test_one_step_law_of_the_chain`, and
the first also the whole-run test; the Wishart draw with D degrees of freedom on every diagonal
entry of Bartlett's factor fails `test_wishart_draw_has_the_law_of_the_gram_matrix`.
"""
import math

import numpy as np
import pytest
from numba import njit
from scipy.stats import ks_2samp

import odes
import simulate
from odes.rhs.mirroring import KEYWORDS as MIRROR_KEYWORDS
from odes.rules import codes, get_rule
from simulate import kernel, overlaps
from simulate.rng import chi_square, seed_state

Z_MAX, P_MIN = 4.5, 1e-5
RULES = ("bp", "fa", "afa", "pepita-lin", "pepita", "pepita-hebbian", "pepita-tl", "ff")


def same_law(x, y, what):
    """Assert that samples x and y (1-d, finite) have the same mean (|z| <= Z_MAX) and law (KS)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    se = math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
    z = (x.mean() - y.mean()) / se if se > 0 else 0.0
    p = ks_2samp(x, y).pvalue
    assert abs(z) <= Z_MAX and p >= P_MIN, f"{what}: z = {z:.2f}, KS p = {p:.2g}"
    return z, p


# ---- the pieces: factorisation, chi-square, the initial draw -----------------------------------

def _factor(S, L, start=0, inv=None, used=None):
    """`overlaps.factor` of one matrix (one lane): returns (rank, lost, inv, used)."""
    r = S.shape[0]
    inv = np.zeros((r, 1)) if inv is None else inv
    used = np.zeros((r, 1)) if used is None else used
    lost = np.zeros(1)
    L3 = L[:, :, None].copy()
    overlaps.factor(S[:, :, None].copy(), L3, inv, used, lost, start)
    L[:] = L3[:, :, 0]
    return int(used.sum()), bool(lost[0]), inv, used


def test_semidefinite_factor():
    """L L^T = S for positive definite S (= numpy's Cholesky) and for singular positive
    semidefinite S (rank counted, the zero pivots' dimensions unused); an indefinite S is lost;
    lanes are factorised independently (a lost lane does not touch the others)."""
    rng = np.random.default_rng(0)
    L = np.zeros((5, 5))
    X = rng.standard_normal((5, 8))
    S = X @ X.T / 8
    assert _factor(S, L)[:2] == (5, False)
    np.testing.assert_allclose(L, np.linalg.cholesky(S), rtol=1e-12, atol=1e-14)
    X[3] = X[1]                                  # two equal vectors: rank 4
    X[0] = 0.0                                   # a zero vector (init 'zero'): rank 3
    S = X @ X.T / 8
    rank, lost, inv, used = _factor(S, L)
    assert (rank, lost) == (3, False) and list(used[:, 0]) == [0, 1, 1, 0, 1]
    np.testing.assert_allclose(L @ L.T, S, atol=1e-12)
    # the rows from 2 on again, the first two kept: the same factor
    L2 = L.copy()
    L2[2:] = np.nan
    assert _factor(S, L2, 2, inv, used)[:2] == (3, False)
    np.testing.assert_allclose(np.nan_to_num(np.tril(L2)), L, atol=1e-15)
    S_bad = S.copy()
    S_bad[2, 2] -= 0.5                           # no longer positive semidefinite
    assert _factor(S_bad, L)[1]
    # three lanes at once: the good, the lost and the singular one, each as alone
    S3 = np.stack([X[:, :5] @ X[:, :5].T / 5, S_bad, S], axis=-1)
    L3, inv3, used3, lost3 = np.zeros((5, 5, 3)), np.zeros((5, 3)), np.zeros((5, 3)), np.zeros(3)
    overlaps.factor(S3, L3, inv3, used3, lost3, 0)
    assert list(lost3) == [0.0, 1.0, 0.0] and list(used3[:, 2]) == [0, 1, 1, 0, 1]
    _factor(S, L)
    np.testing.assert_array_equal(L3[:, :, 2], L)


@njit
def _chi_squares(state, k, n):
    out = np.empty(n)
    for i in range(n):
        out[i] = chi_square(state, k)
    return out


@pytest.mark.parametrize("k", [1, 5, 15, 16, 37, 2000])
def test_chi_square_law(k):
    """simulate.rng.chi_square against scipy's chi-square law (KS) and its mean k (|z| <= 4.5)."""
    from scipy.stats import chi2, kstest
    x = _chi_squares(seed_state(k), k, 20000)
    assert kstest(x, chi2(k).cdf).pvalue >= P_MIN
    assert abs(x.mean() - k) <= Z_MAX * math.sqrt(2 * k / x.size)


def test_wishart_draw_has_the_law_of_the_gram_matrix():
    """draw_overlaps (Bartlett) against the overlaps of weights drawn by odes.draw_weights, every
    entry of S, for each student init, with F: two-sample tests over 3000 seeds each, and the exact
    moments E S = diag(s^2), Var S_ij = s_i^2 s_j^2 (1 + delta_ij)/D.  Power: chi^2 with D degrees
    of freedom on every diagonal entry of A (instead of D - i) moves E S_ii by i/D and fails (the
    two-sample test on S_11 first: z = 6.6, KS p = 9e-9)."""
    D, K, M, n = 30, 2, 2, 3000
    for init in ("large", "mixed"):
        chain = np.array([overlaps.draw_overlaps(K, M, D, s, init=init, sigma_F=0.2)[0]
                          for s in range(n)])
        gram = np.array([overlaps.overlaps_of(odes.draw_weights(K, M, D, s + 10**6, init=init,
                                                                sigma_F=0.2), True)
                         for s in range(n)])
        s2 = np.array([1.0] * M + [D * 0.04] + [1.0 if init == "large" else 1.0 / D] * K)
        mean, var = np.diag(s2), np.outer(s2, s2) * (1 + np.eye(K + M + 1)) / D
        for i in range(K + M + 1):
            for j in range(i + 1):
                same_law(chain[:, i, j], gram[:, i, j], f"{init} S[{i},{j}]")
                z = (chain[:, i, j].mean() - mean[i, j]) / math.sqrt(var[i, j] / n)
                assert abs(z) <= Z_MAX, (init, i, j, z)


# ---- one step from the same weights --------------------------------------------------------------

@njit
def _weights_steps(W0, W_star, v0, v_star, F, b, flags, par, rng, n, out):
    """n independent single steps of the weights kernel from (W0, v0): D times the changes of
    (Q, R, v, a) per sample into out (n, K K + K M + 2K)."""
    K, D = W0.shape
    W, w, v = np.empty_like(W0), np.empty_like(W0), np.empty_like(v0)
    F0 = F.copy()                       # weight mirroring moves F: each sample starts from F0
    alpha, UF, UF0 = np.zeros(K), np.empty(K), np.empty(K)
    kernel.fold(W0, F, alpha, UF0)
    m = out.shape[1]
    before, after = np.empty(m), np.empty(m)
    kernel._flat_state(W0, W_star, v0, F, before)
    for i in range(n):
        W[:, :] = W0
        v[:] = v0
        F[:] = F0
        alpha[:] = 0.0
        UF[:] = UF0
        kernel.sgd_steps(W, alpha, UF, W_star, v, v_star, F, b, flags, par, rng, 0, 1)
        kernel.true_weights(W, alpha, F, w)
        kernel._flat_state(w, W_star, v, F, after)
        for j in range(m):
            out[i, j] = D * (after[j] - before[j])
    F[:] = F0



ONE_STEP = [   # rule, K, M, D, eta, keywords of the run
    ("bp", 2, 2, 20, 2.0, dict(sigma=0.3)),
    ("fa", 2, 3, 20, 1.5, dict(weight_decay=0.5)),
    ("afa", 3, 2, 20, 1.5, dict(phi_F=2.0, eta_v=0.5)),
    ("pepita-lin", 2, 2, 20, 1.5, dict(phi_F=2.0)),
    ("pepita", 2, 2, 20, 2.0, dict(phi_F=3.0, sigma=0.2)),
    ("pepita-hebbian", 2, 2, 20, 2.0, dict(phi_F=3.0)),
    ("pepita-tl", 2, 3, 20, 2.0, dict(phi_F=3.0, train_v=False)),
    ("ff", 2, 2, 20, 2.0, dict(phi_F=3.0, sigma=0.2)),
    # the O(1/D) terms of Q at their largest: D = 6, a large step and |F|^2
    ("pepita-lin", 1, 1, 6, 5.0, dict(phi_F=8.0)),
    # weight mirroring with the fixed norm, B = 3 noise inputs at D = 8: the rescaling of a
    # depends on their Gram matrix, whose Wishart part (D - rank S degrees of freedom) weighs most
    ("afa", 2, 2, 8, 1.0, dict(phi_F=0.5, mirror=(3.0, 1.2, 3, 0.0, 1.0))),
    ("pepita-lin", 2, 2, 20, 1.0, dict(phi_F=0.5, mirror=(2.0, 0.8, 2, 0.5, 0.0))),
]


def _kernel_par(eta, kw):
    """The kernels' parameter vector (`simulate.kernel`) of a case's keywords; mirror = (eta_M,
    s, B, kappa_M, fixed norm)."""
    mirror = None
    if "mirror" in kw:
        mirror = odes.mirroring(**dict(zip(MIRROR_KEYWORDS, kw["mirror"])))
    return kernel.kernel_params(eta, kw.get("eta_v", eta), kw.get("sigma", 0.0),
                                odes.divergence.BLOWUP, kw.get("weight_decay", 0.0), mirror,
                                (odes.rules.FF_THETA, False))


@pytest.mark.parametrize("case", ONE_STEP, ids=lambda c: f"{c[0]}-D{c[3]}")
def test_one_step_law_of_the_chain(case):
    """One step of the chain and of the weights kernel from the same weights at D = 20 (where the
    finite-D terms are largest): D times the change of every Q_kl, R_km, v_k and a_k, 20000
    samples each: same mean and same law of every entry, and the same covariance of every pair
    (the mean of the products of the centred entries).  The last case, at D = 6 with a large step
    and |F|^2 = 8, is where the O(1/D) terms of the chain weigh most.  Power, each mutation of
    chain_steps (the first failing entry of the D = 6 case; in brackets, the other cases that
    fail): chi^2 with D degrees of freedom for |x|^2 - |z|^2 (instead of D - rank S): z = -20
    (and bp, fa, afa, pepita, pepita-tl, z from -5.8 to -50); |x|^2 = D: z = 5.6 (bp: KS
    p = 2e-6, pepita-tl: z = 39); the zeta/D term of Q dropped: z = -21 (no other case); the
    phi_F/D term dropped: z = 59 (pepita z = 5.3, pepita-hebbian z = 40)."""
    rule_name, K, M, D, eta, kw = case
    rule = get_rule(rule_name)
    phi_F = kw.pop("phi_F", 1.0)
    train_v = kw.pop("train_v", True)
    w = odes.draw_weights(K, M, D, 3, sigma_F=math.sqrt(phi_F / D), train_v=train_v)
    w.W *= 0.7                                    # a student not at its initial scale
    flags = codes(rule, train_v)
    par = _kernel_par(eta, kw)
    n, m = 20000, K * K + K * M + 2 * K
    a, b = np.empty((n, m)), np.empty((n, m))
    compared = m if rule.uses_F else m - K          # a = W F/sqrt(D) is the chain's only with F
    _weights_steps(w.W, w.W_star, w.v, w.v_star, w.F, w.b, flags, par, seed_state(1), n, a)
    S0 = overlaps.overlaps_of(w, True if rule.uses_F else False)
    overlaps.one_step_samples(S0, w.v, w.v_star, w.b, K, M, D, flags, par, seed_state(2), n, b)
    moving = []
    for j in range(compared):
        if np.ptp(a[:, j]) == 0 and np.ptp(b[:, j]) == 0:
            assert np.allclose(a[0, j], b[0, j], atol=1e-9), j        # e.g. v frozen, a of FA
            continue
        same_law(a[:, j], b[:, j], f"{rule_name} entry {j}")
        moving.append(j)
    ca, cb = a - a.mean(axis=0), b - b.mean(axis=0)
    for i in moving:
        for j in moving:
            if j < i:
                x, y = ca[:, i] * ca[:, j], cb[:, i] * cb[:, j]
                z = (x.mean() - y.mean()) / math.sqrt(x.var() / n + y.var() / n)
                assert abs(z) <= Z_MAX, f"{rule_name} covariance of entries {i}, {j}: z = {z:.2f}"


# ---- whole runs ------------------------------------------------------------------------------------

RUNS = [   # rule, K, M, D, eta, keywords of simulate.run
    ("bp", 2, 2, 40, 1.0, dict(sigma=0.2)),
    ("bp", 3, 2, 30, 0.8, dict(eta_v=0.3, weight_decay=0.2)),
    ("fa", 2, 2, 40, 1.0, dict(train_v=False)),
    ("afa", 2, 2, 40, 1.0, dict(sigma_F=0.15)),
    ("pepita-lin", 2, 2, 40, 0.5, dict(sigma_F=0.15)),
    ("pepita", 2, 3, 40, 0.5, dict(sigma_F=0.15, sigma=0.2)),
    ("pepita-hebbian", 2, 2, 40, 0.5, dict(sigma_F=0.15)),
    ("pepita-tl", 2, 2, 40, 0.5, dict(sigma_F=0.15, activation="linear")),
    ("fa", 2, 2, 40, 0.5, dict(activation="relu", sigma=0.1)),
    ("ff", 2, 2, 40, 0.5, dict(sigma_F=0.15, ff_theta=0.5, ff_positive="clean")),
    ("pepita-lin", 2, 2, 40, 0.5, dict(sigma_F=0.1, mirror_eta=1.0, mirror_batch=3,
                                       mirror_decay=0.5, mirror_noise=1.3)),
    ("afa", 2, 2, 40, 0.5, dict(sigma_F=0.1, mirror_eta=1.0, mirror_fixed_norm=True,
                                pre_mirror=2.0)),
]


def _observables(sim, i):
    """{name: the seeds' values at time index i} of the compared observables."""
    out = {"eps_g": sim.get("eps_g")[:, i], "Q00": sim.Q[:, i, 0, 0], "Q01": sim.Q[:, i, 0, 1],
           "R00": sim.R[:, i, 0, 0], "v0": sim.v[:, i, 0]}
    if sim.feedback_name == "a":
        out["a0"] = sim.f[:, i, 0]
    if sim.mirrored:                    # weight mirroring moves F
        out["p0"], out["phi_F"] = sim.p[:, i, 0], sim.phi_F[:, i]
    return out


@pytest.mark.parametrize("case", RUNS, ids=lambda c: f"{c[0]}-K{c[1]}M{c[2]}")
def test_runs_equal_in_law_from_the_same_weights(case):
    """Both samplers from the same realised initial weights, 1000 seeds each, at t = 0.5 and 3:
    eps_g, Q_00, Q_01, R_00, v_0 and a_0 have the same mean and the same law.  Power: chi^2 with
    D degrees of freedom in the chain fails bp's eps_g at t = 3 (z = -6.8); the three other
    mutations of the one-step test move these observables by less than the seeds resolve."""
    rule, K, M, D, eta, kw = case
    w = odes.draw_weights(K, M, D, 11, sigma_F=kw.get("sigma_F"),
                          train_v=kw.get("train_v", True))
    n = 1000
    runs = {}
    for sampler, first in (("weights", 0), ("overlaps", 5000)):
        runs[sampler] = simulate.run(rule, K, M, D, eta, times=[0.5, 3.0], seeds=n, seed=first,
                                     weights=[w] * n, sampler=sampler, progress=False, **kw)
    for i in (1, 2):
        x, y = _observables(runs["weights"], i), _observables(runs["overlaps"], i)
        for name in x:
            if np.ptp(x[name]) <= 1e-12 * np.abs(x[name]).max():   # constant to rounding
                assert np.allclose(x[name], y[name])
                continue
            same_law(x[name], y[name], f"{rule} {name} at t = {runs['weights'].t[i]}")


def test_runs_equal_in_law_from_random_weights():
    """Random initial weights (draw_weights against the Wishart draw of draw_overlaps), 1500 seeds
    each, at t = 0 and 2: pepita with |F|^2 ~ 1, and every student init ('large', 'mixed',
    'zero': S singular at the start, 'small' with v* = ones)."""
    for rule, kw in (("pepita", dict(sigma_F=1 / math.sqrt(30))), ("bp", dict(init="mixed")),
                     ("fa", dict(init="zero")), ("afa", dict(init="small", v_star="ones"))):
        n = 1500
        runs = {s: simulate.run(rule, 2, 2, 30, 0.5, times=[2.0], seeds=n, seed=first, sampler=s,
                                progress=False, **kw)
                for s, first in (("weights", 0), ("overlaps", 9000))}
        for i in (0, 1):
            x, y = _observables(runs["weights"], i), _observables(runs["overlaps"], i)
            for name in x:
                same_law(x[name], y[name], f"{rule} {name} at t index {i}")


@pytest.mark.parametrize("rule,kw", [("bp", dict(sigma=0.1)),
                                     ("pepita", dict(sigma_F=math.sqrt(0.5 / 10**5)))])
def test_at_large_D_the_seed_mean_follows_the_ode(rule, kw):
    """D = 10^5, 48 seeds to t = 10, each with the ODE from its own initial overlaps: the mean
    paired deviation sim - ODE of eps_g, Q_00 and R_00 at every recorded time is within 4.5 of its
    standard errors plus an allowance of 20/D times the quantity's mean size for the O(1/D) bias
    (the finite-D theory of theory.md 10.3 will predict it; measured |z| <= 2.4).  Power: the
    ODE at 1.05 eta against the same seeds reaches z = 9.7 (bp) and 7.4 (pepita); a wrong chain
    moves the mean as much.  The O(1/D) mutations of the one-step test are below what 48 seeds
    resolve at this D, by design."""
    D, n = 10**5, 48
    cmp = simulate.compare(rule, 2, 2, D, 0.5, times=[0.0, 1.0, 3.0, 10.0], seeds=n,
                           sampler="overlaps", progress=False, **kw)
    for name in ("eps_g", "Q", "R"):
        sim, ode = cmp.sim.get(name), cmp.ode[name]
        if name != "eps_g":
            sim, ode = sim[..., 0, 0], ode[..., 0, 0]
        dev = sim - ode                                     # (seeds, times)
        se = dev.std(axis=0, ddof=1) / math.sqrt(n)
        allowance = 20.0 / D * np.abs(ode).mean(axis=0)
        assert np.all(np.abs(dev.mean(axis=0)) <= Z_MAX * se + allowance), (name, dev.mean(0), se)


# ---- the rest of the contract ------------------------------------------------------------------

def test_reproducible_per_seed_and_independent_of_jobs():
    """A seed's numbers do not depend on the other seeds, on jobs (which sets how many seeds run
    in lockstep) nor on the recording times."""
    kw = dict(t_max=2.0, sampler="overlaps", progress=False, sigma=0.1)
    a = simulate.run("pepita", 2, 2, 10**6, 0.3, seeds=[3, 4], jobs=1, **kw)
    b = simulate.run("pepita", 2, 2, 10**6, 0.3, seeds=[4, 3], jobs=2, **kw)
    np.testing.assert_array_equal(a.Q[0], b.Q[1])
    np.testing.assert_array_equal(a.f[1], b.f[0])
    assert a.params["sampler"] == "overlaps"
    # recorded at other times (the run cut into other calls): the same numbers at t = 2
    c = simulate.run("pepita", 2, 2, 10**6, 0.3, seeds=[3], times=[0.3, 1.1, 1.7, 2.0],
                     **{k: x for k, x in kw.items() if k != "t_max"})
    np.testing.assert_array_equal(a.Q[0, -1], c.Q[0, -1])
    # in lockstep with other seeds (one group of six lanes; above, groups of two and of one)
    d = simulate.run("pepita", 2, 2, 10**6, 0.3, seeds=range(6), jobs=1, **kw)
    np.testing.assert_array_equal(a.Q[0], d.Q[3])
    np.testing.assert_array_equal(a.v[1], d.v[4])


def test_a_student_that_becomes_its_teacher_keeps_running():
    """BP K = M = 1 without noise converges to w = w*, where S becomes singular: the chain samples
    it in its rank (no NOT_PSD), the error falls below 1e-12 and Q = R = T."""
    sim = simulate.run("bp", 1, 1, 200, 1.0, times=[200.0], seeds=1, sampler="overlaps",
                       train_v=False, v_star="ones", progress=False)
    assert sim.status == ["ok"] and sim.eps_g[0, -1] < 1e-12
    assert abs(sim.Q[0, -1, 0, 0] - sim.R[0, -1, 0, 0]) < 1e-6


def test_a_given_state_starts_the_chain_at_any_D(tmp_path):
    """state= (and --init FILE): the overlaps sampler starts from the state's overlaps exactly,
    at a cost independent of D (here D = 10^9, which the weights could not hold)."""
    st = odes.State.random(2, 2, 400, 5, sigma_F=0.05)
    sim = simulate.run("afa", 2, 2, 10**9, 0.5, times=[1e-6], seeds=2, state=st,
                       sampler="overlaps", progress=False)
    for s in range(2):
        got = sim.state(s, 0)
        np.testing.assert_array_equal(got.Q, st.Q)
        np.testing.assert_array_equal(got.R, st.R)
        np.testing.assert_array_equal(got.a, st.a)
    assert sim.params["initial_state"]["phi_F"] == st.phi_F
    path = tmp_path / "ic.json"
    st.to_json(path)
    from simulate.cli import main
    out = tmp_path / "o.npz"
    assert main(["--rule", "afa", "--eta", "0.5", "--init", str(path), "--D", "1000000000",
                 "--times", "0,1e-6", "--seeds", "2", "--sampler", "overlaps", "--no-ode",
                 "--quiet", "--out", str(out)]) == 0
    with pytest.raises(ValueError, match="weights or state"):
        simulate.run("afa", 2, 2, 400, 0.5, t_max=1, state=st, weights=odes.draw_weights(2, 2, 400, 0))


def test_a_diverging_seed_is_reported_as_by_the_weights_sampler():
    """The divergence rule of odes.divergence: a seed whose Q_kk or v_k^2 passes the threshold
    stops, is 'diverged' with its time, its later records are NaN and a DivergenceWarning says
    so; the other seeds go on."""
    with pytest.warns(simulate.DivergenceWarning, match="diverged"):
        sim = simulate.run("bp", 2, 2, 200, 8.0, t_max=10.0, seeds=3, sampler="overlaps",
                           blowup=10.0, progress=False)
    assert sim.status.count("diverged") == 2            # seeds 0 and 1; seed 2 goes on
    for s, status in enumerate(sim.status):
        if status == "diverged":
            after = sim.t >= sim.t_diverged[s]           # the record at the detection step too
            assert np.all(np.isnan(sim.Q[s, after])) and np.all(np.isfinite(sim.Q[s, ~after]))


def test_options_that_need_the_weights_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_test"):
        simulate.run("bp", 2, 2, 100, 0.5, t_max=1, n_test=10, sampler="overlaps")
    with pytest.raises(ValueError, match="sampler"):
        simulate.run("bp", 2, 2, 100, 0.5, t_max=1, sampler="vectors")
    from simulate.cli import main
    out = tmp_path / "o.npz"
    assert main(["--rule", "bp", "--eta", "0.5", "--t-max", "1", "--sampler", "overlaps",
                 "--n-test", "5", "--out", str(out)]) == 2
    assert not out.exists()


def test_compare_and_sweep_take_the_sampler(tmp_path):
    cmp = simulate.compare("afa", 2, 2, 10**4, 0.5, t_max=1.0, seeds=2, sampler="overlaps",
                           progress=False)
    assert cmp.sim.params["sampler"] == "overlaps" and cmp.ode_status == ["finished"] * 2
    from sweep.spec import Spec, SpecError
    from sweep.task import run_task
    big = dict(kind="sim", rule="bp", eta=0.5, D=10**9, times=[0.0, 2e-6], seeds=2)
    with pytest.raises(SpecError, match="memory"):      # 10^9 x 6 rows: more than this machine
        Spec(dict(big, grid=dict(sampler=["overlaps", "weights"]))).check_points()
    spec = Spec(dict(big, grid=dict(sampler=["overlaps"])))
    spec.check_points()                                  # the chain keeps no D-vectors
    _, params = next(spec.points())
    out = run_task(spec.kind, params, spec.times, spec.seed_numbers)
    assert np.all(np.isfinite(out[0]["eps_g"]))
    with pytest.raises(SpecError, match="n_test"):
        Spec(dict(kind="sim", rule="bp", eta=0.5, t_max=1.0, sampler="overlaps",
                  n_test=5)).check_points()
