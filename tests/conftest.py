"""Shared fixtures: random valid states and covariance matrices (fixed seeds), and g' of each activation in NumPy."""
import numpy as np
import pytest

from odes import State


def g_prime_numpy(activation, x):
    """g' of an activation on an array, written out independently of the kernels'."""
    x = np.asarray(x, float)
    if activation == "linear":
        return np.ones_like(x)
    if activation == "relu":
        return (x > 0).astype(float)
    return np.sqrt(2 / np.pi) * np.exp(-x * x / 2)


def random_gram(n, rng, extra=3):
    """A random positive-definite n x n Gram matrix with O(1) entries and moderate correlations."""
    X = rng.standard_normal((n, n + extra))
    return X @ X.T / (n + extra) + 0.2 * np.eye(n)


def random_state(K, M, rng, with_F=True):
    """A random valid state; the Gram blocks are in the order (w*, F, w) of State.gram()."""
    G = random_gram(M + 1 + K, rng)
    T, p, phi_F = G[:M, :M], G[:M, M], G[M, M]
    R, a, Q = G[M + 1:, :M], G[M + 1:, M], G[M + 1:, M + 1:]
    kw = dict(a=a, p=p, phi_F=phi_F) if with_F else {}
    return State(Q=Q, R=R, T=T, v=rng.standard_normal(K), v_star=rng.standard_normal(M),
                 b=rng.standard_normal(K), **kw)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
