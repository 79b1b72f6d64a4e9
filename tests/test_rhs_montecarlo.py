"""Every rule's right-hand side against the Monte-Carlo mean of D times the one-step change of
the order parameters, measured on explicit weights that realise the state exactly (theory.md 3.7).

The one-step change is computed literally: update the weight matrices with one SGD step on a
Gaussian input (theory.md Appendix B) and recompute the overlaps from the new weights.
"""
import math

import numpy as np
import pytest

import odes
from conftest import g_prime_numpy, random_state

D = 1000
N_BATCHES, BATCH = 50, 2000      # 1e5 samples
ETA, ETA_V, SIGMA = 0.5, 0.3, 0.2


ACTIVATION = {"name": "erf"}      # the activation of `one_step_changes` (theory.md 8.2)


def g(x):
    return odes.activations.g_numpy(ACTIVATION["name"], x)


def gp(x):
    return g_prime_numpy(ACTIVATION["name"], x)


def one_step_changes(w, rule, X, xi):
    """D x (change of Q, R, v, a) after one step on each row of X; arrays of shape (B, ...)."""
    r = odes.get_rule(rule)
    sqD = math.sqrt(D)
    lam, nu = X @ w.W.T / sqD, X @ w.W_star.T / sqD
    e = g(lam) @ w.v - (g(nu) @ w.v_star + SIGMA * xi)
    a = w.W @ w.F / sqD
    f = {"bp": w.v, "fa": w.b}.get(rule, a)
    x_pre = X - np.outer(e, w.F) if r.fe_terms else X                # presynaptic factor
    if r.time_local:               # the modulated pass with the weights after the Hebbian half
        W_half = w.W[None] - (ETA / sqD) * g(lam)[:, :, None] * X[:, None, :]
        h_mod = g(np.einsum("bkd,bd->bk", W_half, x_pre) / sqD)
    elif r.exact_pepita:           # two forward passes: h - h~ with h~ = g(W x~ / sqrt(D))
        h_mod = g(x_pre @ w.W.T / sqD)
    if r.exact_pepita:
        phi, r_v = g(lam) - h_mod, e[:, None] * h_mod
    else:
        phi = f * gp(lam) * e[:, None]                               # (B, K)
        r_v = e[:, None] * (g(lam) - a * gp(lam) * e[:, None] if r.fe_terms else g(lam))
    if r.hebbian:                  # theory.md 8.3: h x^T - h~ x~^T and yhat h - y h~
        y = g(nu) @ w.v_star + SIGMA * xi
        W_new = (w.W[None] - (ETA / sqD) * (g(lam)[:, :, None] * X[:, None, :]
                                            - h_mod[:, :, None] * x_pre[:, None, :]))
        r_v = (g(lam) @ w.v)[:, None] * g(lam) - y[:, None] * h_mod
    else:
        W_new = w.W[None] - (ETA / sqD) * phi[:, :, None] * x_pre[:, None, :]
    v_new = w.v - (ETA_V / D) * r_v
    Q0, R0 = w.W @ w.W.T / D, w.W @ w.W_star.T / D
    dQ = np.einsum("bkd,bld->bkl", W_new, W_new) / D - Q0
    dR = np.einsum("bkd,md->bkm", W_new, w.W_star) / D - R0
    da = W_new @ w.F / sqD - a
    return {"Q": D * dQ, "R": D * dR, "v": D * (v_new - w.v), "a": D * da}


def state_with_F_along_teacher(K, M, rng):
    """A state whose F has O(1) overlaps p with the teacher and a with the students, so that every
    Fe term of pepita-lin is well above the Monte-Carlo error."""
    n = 8
    W_star = rng.standard_normal((M, n)) / np.sqrt(n)
    F = 0.6 * W_star[0] - 0.5 * W_star[-1] + 0.4 * rng.standard_normal(n) / np.sqrt(n)
    W = rng.standard_normal((K, n)) / np.sqrt(n) + 0.4 * F
    V = np.vstack([W_star, F, W])
    G = V @ V.T
    return odes.State(Q=G[M + 1:, M + 1:], R=G[M + 1:, :M], T=G[:M, :M], v=rng.standard_normal(K),
                      v_star=rng.standard_normal(M), a=G[M + 1:, M], p=G[:M, M], phi_F=G[M, M])


def monte_carlo_drift(w, rule, rng):
    """Mean and standard error of D x the one-step changes over N_BATCHES x BATCH inputs."""
    sums = {}
    for _ in range(N_BATCHES):
        X = rng.standard_normal((BATCH, D))
        ch = one_step_changes(w, rule, X, rng.standard_normal(BATCH))
        for k, x in ch.items():
            s1, s2 = sums.get(k, (0.0, 0.0))
            sums[k] = (s1 + x.sum(0), s2 + (x * x).sum(0))
    n = N_BATCHES * BATCH
    mean = {k: s1 / n for k, (s1, s2) in sums.items()}
    se = {k: np.sqrt(np.maximum(s2 / n - mean[k] ** 2, 0) / n) for k, (s1, s2) in sums.items()}
    return mean, se


def tolerance(ode, se, k):
    """4.5 standard errors plus a relative O(1/D) allowance for the corrections the ODE neglects
    (measured |z| <= 2 for every entry with these seeds)."""
    return 4.5 * se[k] + np.abs(ode[k]) / D


@pytest.mark.parametrize("rule,K,M", [("bp", 2, 2), ("fa", 3, 2), ("afa", 2, 3), ("pepita-lin", 2, 2),
                                      ("pepita", 2, 2), ("pepita-hebbian", 2, 2),
                                      ("pepita-tl", 2, 2)])
def test_rhs_is_mean_one_step_change(rule, K, M):
    rng = np.random.default_rng({"bp": 1, "fa": 2, "afa": 3, "pepita-lin": 4, "pepita": 6,
                                 "pepita-hebbian": 8, "pepita-tl": 9}[rule])
    state = state_with_F_along_teacher(K, M, rng) if odes.get_rule(rule).fe_terms else random_state(K, M, rng)
    w = odes.realise(state, D, seed=5, b=state.b)
    ode = odes.derivatives(state, rule, ETA, eta_v=ETA_V, sigma=SIGMA)
    mean, se = monte_carlo_drift(w, rule, rng)
    keys = ["Q", "R", "v"] + (["a"] if "a" in ode else [])
    for k in keys:
        tol = tolerance(ode, se, k)
        assert np.all(np.abs(mean[k] - ode[k]) < tol), (
            f"{rule} d{k}/dt: ODE {ode[k]}, Monte Carlo {mean[k]} +- {se[k]}")
        # the test resolves the first-layer right-hand sides: they are not swamped by the tolerance
        if k in ("Q", "R"):
            assert np.max(np.abs(ode[k])) > 3 * np.max(tol)


@pytest.mark.parametrize("rule,activation", [("bp", "linear"), ("pepita-lin", "linear"),
                                             ("pepita", "linear"), ("bp", "relu"), ("fa", "relu"),
                                             ("afa", "relu"), ("pepita-lin", "relu")])
def test_rhs_is_mean_one_step_change_for_other_activations(rule, activation):
    """The same test for g = linear and ReLU (theory.md 8.2), K = M = 2 (K = 3 for FA)."""
    rng = np.random.default_rng(20 + len(rule) + len(activation))
    K = 3 if rule == "fa" else 2
    r = odes.get_rule(rule)
    state = state_with_F_along_teacher(K, 2, rng) if r.fe_terms else random_state(K, 2, rng)
    w = odes.realise(state, D, seed=5, b=state.b)
    ode = odes.derivatives(state, rule, ETA, eta_v=ETA_V, sigma=SIGMA, activation=activation)
    ACTIVATION["name"] = activation
    try:
        mean, se = monte_carlo_drift(w, rule, rng)
    finally:
        ACTIVATION["name"] = "erf"
    for k in ["Q", "R", "v"] + (["a"] if "a" in ode else []):
        tol = tolerance(ode, se, k)
        assert np.all(np.abs(mean[k] - ode[k]) < tol), (
            f"{rule}/{activation} d{k}/dt: ODE {ode[k]}, Monte Carlo {mean[k]} +- {se[k]}")
        if k in ("Q", "R"):
            assert np.max(np.abs(ode[k])) > 3 * np.max(tol)


def test_exact_pepita_rhs_where_the_linearisation_fails():
    """At |a| = O(1) and phi_F = O(1) exact PEPITA's drift (Monte Carlo from realised weights)
    matches the quadrature ODE within the tolerance of the test above, while the pepita-lin
    right-hand side misses the same numbers by many times it."""
    rng = np.random.default_rng(7)
    state = state_with_F_along_teacher(2, 2, rng)
    s = 2.5              # F -> s F: a and p scale by s, phi_F by s^2 (the state stays valid)
    state = odes.State(**{**state.to_dict(), "a": s * state.a, "phi_F": s * s * state.phi_F,
                          "p": s * state.p, "v": 1.5 * state.v})
    assert np.abs(state.a).max() > 0.5 and state.phi_F > 1.0
    w = odes.realise(state, D, seed=5)
    mean, se = monte_carlo_drift(w, "pepita", rng)
    exact = odes.derivatives(state, "pepita", ETA, eta_v=ETA_V, sigma=SIGMA)
    lin = odes.derivatives(state, "pepita-lin", ETA, eta_v=ETA_V, sigma=SIGMA)
    worst_lin = 0.0
    for k in ("Q", "R", "v", "a"):
        tol = tolerance(exact, se, k)
        assert np.all(np.abs(mean[k] - exact[k]) < tol), (k, exact[k], mean[k], se[k])
        worst_lin = max(worst_lin, np.max(np.abs(mean[k] - lin[k]) / tol))
    assert worst_lin > 10, worst_lin
