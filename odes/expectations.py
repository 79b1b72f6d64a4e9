"""Gaussian expectations E[f(u)], u ~ N(0, C), by a fixed product quadrature (theory.md section 3.6).

The fields u = (lambda_1..lambda_K, nu_1..nu_M) are written u = L z with L the Cholesky factor of C
(`factor`) and z standard normal in d dimensions (d = K+M, plus one for the label noise xi when
sigma > 0).  The expectation over z is a tensor product of one-dimensional rules with m nodes each.
The nodes are fixed: only the factor L changes with the state, so the quadrature is a smooth
function of C and adaptive steppers see a smooth right-hand side.

The one-dimensional rule.  Plain Gauss-Hermite converges slowly for integrands made of erf and its
Gaussian derivative (their analytic continuation grows like the Gaussian weight decays).  We use
Gauss-Hermite nodes contracted by a factor beta < 1: with x_i, w_i the m-point rule for N(0, 1),

    E[h(z)] = E_x[ h(beta x) beta exp((1 - beta^2) x^2 / 2) ]  ~  sum_i w_i' h(beta x_i),
    w_i' = w_i beta exp((1 - beta^2) x_i^2 / 2),

exact for any beta > 0 before truncation.  The contracted rule puts the nodes where the erf
integrands vary and integrates their Gaussian factors far better: at K = M = 2 with O(1) AF vector
the relative error of the exact-PEPITA moments falls from 6e-5 (beta = 1) to 8e-7 (beta = 0.8) at
m = 12; beta = 0.8 was the best of 0.5..1 at every m tried (`benchmarks/ode.py` prints the error).

Folding.  Every moment the ODEs need is even under z -> -z (each is a product of an even number of
odd factors g, e, u, Delta), and the rule is symmetric, so the pair (z, -z) is kept once with twice
the weight (`fold=True`): half the nodes for the same result.  `expect` (Python, vectorised `f`)
uses the unfolded rule and accepts any f.
"""
import itertools
import math

import numpy as np
from numba import njit
from numpy.polynomial.hermite_e import hermegauss

#: contraction of the Gauss-Hermite nodes (see the module docstring)
BETA = 0.7
#: nodes per dimension of the default rule, by dimension: ~1e4 folded nodes up to d = 4, then fewer
#: per dimension so that a right-hand side stays within tens of milliseconds
_DEFAULT_NODES = {1: 32, 2: 24, 3: 20, 4: 16, 5: 10, 6: 8, 7: 6}


def default_nodes(d):
    """Nodes per dimension of the default rule in d dimensions."""
    return _DEFAULT_NODES.get(d, 5)


def hermite_rule(m, beta=BETA):
    """Nodes and weights (x, w) of the contracted m-point Gauss-Hermite rule for z ~ N(0, 1)."""
    if m < 1:
        raise ValueError(f"quadrature nodes must be >= 1, got {m}")
    if not 0 < beta <= 1:
        raise ValueError(f"beta must be in (0, 1], got {beta}")
    x, w = hermegauss(m)
    w = w / math.sqrt(2 * math.pi)
    return beta * x, w * beta * np.exp(0.5 * (1.0 - beta**2) * x * x)


def product_rule(d, m=None, beta=BETA, fold=True):
    """The d-dimensional product rule as one array of shape (N, d + 1): nodes in the first d
    columns, weights in the last.  fold=True keeps one node of each pair (z, -z), with the pair's
    weight: valid for integrands even in z only."""
    m = default_nodes(d) if m is None else int(m)
    x, w = hermite_rule(m, beta)
    Z = np.array(list(itertools.product(x, repeat=d))).reshape(-1, d)
    W = np.prod(np.array(list(itertools.product(w, repeat=d))).reshape(-1, d), axis=1)
    if fold:
        # keep z if its first non-zero coordinate is positive (or z = 0); the nodes are symmetric
        # to round-off, so compare with a tolerance
        nz = np.abs(Z) > 1e-12
        first = np.argmax(nz, axis=1)
        sign = np.where(nz.any(axis=1), np.sign(Z[np.arange(len(Z)), first]), 0.0)
        keep = sign >= 0
        W = np.where(sign > 0, 2.0 * W, W)[keep]
        Z = Z[keep]
    return np.ascontiguousarray(np.column_stack([Z, W]))


@njit(cache=True, error_model="numpy")
def factor(C, L):
    """Lower Cholesky factor of the symmetric positive semidefinite C into L (C = L L^T).  A pivot
    that round-off leaves at or below 1e-14 times the diagonal scale (a deterministic combination
    of the other fields) gives a zero column, so singular C are allowed."""
    n = C.shape[0]
    scale = 0.0
    for i in range(n):
        scale = max(scale, abs(C[i, i]))
    tiny = 1e-14 * max(scale, 1e-300)
    for j in range(n):
        for i in range(n):
            L[i, j] = 0.0
    for j in range(n):
        s = C[j, j]
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if s <= tiny:
            continue
        d = math.sqrt(s)
        L[j, j] = d
        for i in range(j + 1, n):
            s = C[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            L[i, j] = s / d


def expect(f, C, m=None, beta=BETA):
    """E[f(u)] for u ~ N(0, C) by the product rule; f maps an array (N, n) of field values to N
    values (or (N, ...) arrays).  For tests and exploration; the ODE kernels run the same nodes
    through `factor` inside numba."""
    C = np.asarray(C, dtype=float)
    n = C.shape[0]
    L = np.zeros_like(C)
    factor(C, L)
    quad = product_rule(n, m, beta, fold=False)
    U = quad[:, :n] @ L.T
    vals = np.asarray(f(U), dtype=float)
    return np.tensordot(quad[:, n], vals, axes=(0, 0))
