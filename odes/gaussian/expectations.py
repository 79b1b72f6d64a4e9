"""Gaussian expectations E[f(u)], u ~ N(0, C), by a fixed product quadrature (theory.md section 3.6).

The fields u = (lambda_1..lambda_K, nu_1..nu_M) are written u = L z with L the Cholesky factor of C
(`factor`) and z standard normal in d dimensions (d = K+M, plus one for the label noise xi when
sigma > 0).  The expectation over z is a tensor product of one-dimensional rules with m nodes each.
The nodes are fixed: only the factor L changes with the state, so the quadrature is a smooth
function of C and adaptive steppers see a smooth right-hand side.

The one-dimensional rules.  Plain Gauss-Hermite converges slowly for integrands made of erf and its
Gaussian derivative (their analytic continuation grows like the Gaussian weight decays).  We use
Gauss-Hermite nodes contracted by a factor beta < 1: with x_i, w_i the m-point rule for N(0, 1),

    E[h(z)] = E_x[ h(beta x) beta exp((1 - beta^2) x^2 / 2) ]  ~  sum_i w_i' h(beta x_i),
    w_i' = w_i beta exp((1 - beta^2) x_i^2 / 2),

exact for any beta > 0 before truncation.  Each dimension j gets its own contraction, from the
scale at which z_j moves its field, the pivot L_jj (`contract`):

    beta_j = smoothmax((1 + KAPPA L_jj^2)^(-1/2), COVER / x_max),   KAPPA = 0.8, COVER = 2.9,

with x_max the m-point rule's outermost node and smoothmax(a, b) = (a + b + sqrt((a-b)^2 + 4e-4))/2.
A factor g'(L_jj z_j) times the weight exp(-z_j^2/2) is a Gaussian of variance 1/(1 + L_jj^2), which
the first term matches at KAPPA = 1; erf factors are best served by beta = 1; KAPPA = 0.8 was the
best of 0.7, 0.8, 0.9 for the exact-PEPITA right-hand side at four K = M = 2 states (O(1) AF vector,
the runaway at t = 6, small AF vector, a learned state) with and without label noise.  The floor
keeps the outermost node at 2.9 standard deviations or more: with few nodes per dimension (8 at
K = M = 3) the tails then matter more than the resolution (at K = M = 3, O(1) AF vector, 8 nodes:
relative error 3.5e-4 with the floor, 4.7e-3 without, 4.9e-4 with one contraction 0.7 for every
dimension); at 14 nodes it is 0.48, below every beta_j of the states above.  beta_j is a smooth
function of C (through its Cholesky factor), so the rule stays smooth in the state.  Against the
former single beta = 0.7, 14 nodes per dimension are more accurate than 16 were at every K = M = 2
state tried (relative errors 1e-7 - 6e-6 instead of 2e-7 - 2e-5; `benchmarks/ode.py` prints them).

Defaults.  Two, for two uses.  The right-hand sides (`default_nodes`) take 16 nodes per dimension at
K + M = 4: 1.4e-8, 3.9e-7 and 4.0e-7 relative at an O(1)-AF state, the runaway at t = 6 and a learned
state (14 nodes: 1.1e-7, 1.8e-6, 5.6e-6), about 1 ms per evaluation with vectorised erf and exp.
`expect` (`expect_nodes`) is the reference and takes 40 nodes in two dimensions and 32 in three and
four, where the closed-form integrals of erf come out within 1e-9 (worst measured 4e-10, I4 in four
dimensions; I2 is 7e-5 at 14 nodes and 9e-11 at 32: integrands made only of erf factors converge
slowest under the contraction, which is tuned for the g' factors of the right-hand sides).

Folding.  Every moment the ODEs need is even under z -> -z (each is a product of an even number of
odd factors g, e, u, Delta), and the rule is symmetric, so the pair (z, -z) is kept once with twice
the weight (`fold=True`): half the nodes for the same result.  `expect` (Python, vectorised `f`)
uses the unfolded rule and accepts any f.
"""
import math

import numpy as np
from numba import njit
from numpy.polynomial.hermite_e import hermegauss

#: the contraction of dimension j is beta_j = (1 + KAPPA L_jj^2)^(-1/2), kept (smoothly) above
#: COVER / (the rule's outermost node), so that its nodes reach COVER standard deviations
KAPPA = 0.8
COVER = 2.9
#: nodes per dimension of the right-hand sides' default rule, by dimension: 16 at K = M = 2
#: (relative error 1e-8 - 4e-7 at the states of benchmarks/ode.py, against the issue's 2e-6), then
#: fewer per dimension so that a right-hand side stays within tens of milliseconds
_DEFAULT_NODES = {1: 32, 2: 24, 3: 20, 4: 16, 5: 10, 6: 8, 7: 6}
#: nodes per dimension of `expect`'s default rule: the closed-form integrals of erf (I2, J2, I3,
#: I4, I3g, in 2-4 dimensions) to 1e-9 relative or better (tests/test_expectations.py)
_EXPECT_NODES = {1: 40, 2: 40, 3: 32, 4: 32}


#: relative error of the right-hand side at those defaults from K + M = 5 on, where they fall
#: below 16: max |f(n) - f(n + 4)| / max |f(n + 4)| for exact PEPITA (eta = 0.3, phi_F = 1.5) at
#: the random states of seeds 0-2, rounded up (measured 1.2e-5 - 2.2e-5, 2.0e-4 - 2.5e-4,
#: 1.6e-3 - 2.5e-3 and 2.9e-2 - 4.1e-2 for K + M = 5, 6, 7, 8)
_DEFAULT_ERROR = {5: 3e-5, 6: 3e-4, 7: 3e-3, 8: 5e-2}


def default_nodes(d):
    """Nodes per dimension of the right-hand sides' default rule in d dimensions."""
    return _DEFAULT_NODES.get(d, 5)


def accuracy_note(d):
    """A sentence on the default rule's accuracy in d dimensions where it falls below 16 nodes
    per dimension (K + M >= 5), else None."""
    if default_nodes(d) >= 16:
        return None
    error = _DEFAULT_ERROR.get(d)
    size = f"about {error:g}" if error else "above 5e-2 (not measured beyond K + M = 8)"
    return (f"at K + M = {d} the quadrature takes {default_nodes(d)} nodes per field dimension "
            f"(16 at K + M = 4); the right-hand side's relative error is {size}; nodes=N "
            f"(--nodes N) for more, at a cost growing as N^{d}")


def expect_nodes(d):
    """Nodes per dimension of `expect`'s default rule in d dimensions (more than the right-hand
    sides use: `expect` is the accurate reference, not the hot loop)."""
    return _EXPECT_NODES.get(d, default_nodes(d))


def hermite_rule(m, beta=1.0):
    """Nodes and weights (x, w) of the m-point Gauss-Hermite rule for z ~ N(0, 1), contracted by
    beta (1: the plain rule)."""
    if m < 1:
        raise ValueError(f"quadrature nodes must be >= 1, got {m}")
    if not 0 < beta <= 1:
        raise ValueError(f"beta must be in (0, 1], got {beta}")
    x, w = hermegauss(m)
    w = w / math.sqrt(2 * math.pi)
    return beta * x, w * beta * np.exp(0.5 * (1.0 - beta**2) * x * x)


def product_rule(rules, fold=True):
    """The product of one-dimensional rules `rules` (a list of (x, w), one per dimension) as one
    array of shape (N, d + 1): nodes in the first d columns, weights in the last.  fold=True keeps
    one node of each pair (z, -z), with the pair's weight: valid for symmetric rules and integrands
    even in z only."""
    d = len(rules)
    # the rows in itertools.product's order (the last dimension fastest)
    Z = np.stack(np.meshgrid(*[x for x, _ in rules], indexing="ij"), axis=-1).reshape(-1, d)
    W = np.prod(np.stack(np.meshgrid(*[w for _, w in rules], indexing="ij"), axis=-1)
                .reshape(-1, d), axis=1)
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
def contract(L, base, out):
    """out[j, i] = (node, weight) i of dimension j: the plain rule `base` (rows (x, w), ascending)
    contracted by beta_j (module docstring) for each of the L.shape[0] fields."""
    m = base.shape[0]
    floor = COVER / base[m - 1, 0] if m > 1 else 0.0
    for j in range(L.shape[0]):
        b = 1.0 / math.sqrt(1.0 + KAPPA * L[j, j] * L[j, j])
        b = 0.5 * (b + floor + math.sqrt((b - floor) ** 2 + 4e-4))     # smooth max(b, floor)
        for i in range(m):
            x = base[i, 0]
            out[j, i, 0] = b * x
            out[j, i, 1] = base[i, 1] * b * math.exp(0.5 * (1.0 - b * b) * x * x)


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


def nodes(C, m=None):
    """The product rule of `expect` for u ~ N(0, C): field values U (N, n) and weights w (N,),
    E[f(u)] ~ sum_i w_i f(U_i); m nodes per dimension (default `expect_nodes(n)`)."""
    C = np.asarray(C, dtype=float)
    n = C.shape[0]
    L = np.zeros_like(C)
    factor(C, L)
    m = expect_nodes(n) if m is None else int(m)
    rules = np.zeros((n, m, 2))
    contract(L, np.column_stack(hermite_rule(m)), rules)
    quad = product_rule([(r[:, 0], r[:, 1]) for r in rules], fold=False)
    return quad[:, :n] @ L.T, quad[:, n]


def expect(f, C, m=None):
    """E[f(u)] for u ~ N(0, C) by the product rule of the kernels (m nodes per dimension, each
    dimension contracted by `contract`); f maps an array (N, n) of field values to N values (or
    (N, ...) arrays); m defaults to `expect_nodes(n)`.  For tests and exploration; the ODE
    kernels run the same rule in numba, by default with fewer nodes (`default_nodes`)."""
    U, w = nodes(C, m)
    vals = np.asarray(f(U), dtype=float)
    return np.tensordot(w, vals, axes=(0, 0))
