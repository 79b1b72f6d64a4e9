"""Gaussian integrals of g(x) = max(0, x), g'(x) = Theta(x) (theory.md 8.2), kinks treated exactly.

Closed forms (theory.md 8.2), with cos theta_ab = C_ab / sqrt(C_aa C_bb):

    I2(a,b)   = sqrt(C_aa C_bb)/(2 pi) [sin theta_ab + (pi - theta_ab) cos theta_ab]
    J2(a,b)   = (pi - theta_ab)/(2 pi)
    I3(a,b,c) = C_ab sqrt(C_aa C_cc - C_ac^2)/(2 pi C_aa) + C_bc (pi - theta_ac)/(2 pi)
    Eg1(a)    = 1/2

I4(a,b,c,d) = E[Theta_a Theta_b relu_c relu_d] and I3g(a;c,d) = E[Theta_a relu_c relu_d] have no
simple closed form.  They are expectations of the form E[prod_{i in S} Theta(u_i) * u_t1 u_t2]
(relu_c = u_c Theta(u_c)), which Stein's lemma reduces without smoothing the kinks:

    E[u_t G] = sum_j C_tj E[d_j G],   d_j Theta(u_j) = delta(u_j),
    E[delta(u_i) H] = phi(0; C_ii) E[H | u_i = 0]      (a centred Gaussian with one field fewer),

down to orthant probabilities P_S = P(u_i > 0, i in S): 1/4 + asin(rho)/(2 pi) for two fields,
1/8 + sum asin(rho)/(4 pi) for three, and for four Plackett's identity
dP4/drho_ij = phi_2(0, 0; rho_ij) P2(rho_kl|ij), integrated along rho -> s rho from the identity
(P4 = 1/16) by a 24-node Gauss-Legendre rule in s = 1 - (1 - tau)^2 (which removes the
1/sqrt(1 - s) endpoint behaviour of nearly degenerate fields).  The only numerics is that smooth
one-dimensional integral: about 1e-12 relative at well-conditioned C, worse as |rho| -> 1.
Repeated indices are merged (Theta_a^2 = Theta_a).  `expect_theta(C, S, t1, t2)` is the general
form; the tests hold it against the closed forms above and against Monte Carlo.
"""
import math

import numpy as np
from numba import njit

_TAU, _W_TAU = np.polynomial.legendre.leggauss(24)
_TAU = 0.5 * (_TAU + 1.0)
_W_TAU = 0.5 * _W_TAU
#: nodes s and weights of the Plackett integral over s in [0, 1], s = 1 - (1 - tau)^2
PLACKETT_S = 1.0 - (1.0 - _TAU) ** 2
PLACKETT_W = _W_TAU * 2.0 * (1.0 - _TAU)

_INV_2PI = 1.0 / (2.0 * math.pi)
_INV_4PI = 1.0 / (4.0 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit(cache=True, inline="always")
def _clip(x):
    return 1.0 if x > 1.0 else (-1.0 if x < -1.0 else x)


@njit(cache=True)
def _corr(V, i, j):
    return _clip(V[i, j] / math.sqrt(V[i, i] * V[j, j]))


@njit(cache=True)
def _p4(V, s0, s1, s2, s3):
    """P(u_s0..s3 > 0) by Plackett's identity (module docstring)."""
    idx = (s0, s1, s2, s3)
    R = np.empty((4, 4))
    for x in range(4):
        for y in range(4):
            R[x, y] = 1.0 if x == y else _corr(V, idx[x], idx[y])
    pairs = ((0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2), (1, 2, 0, 3), (1, 3, 0, 2), (2, 3, 0, 1))
    total = 0.0
    for q in range(PLACKETT_S.size):
        s = PLACKETT_S[q]
        acc = 0.0
        for i, j, k, l in pairs:
            r = s * R[i, j]
            # the (k, l) covariance given u_i = u_j = 0, all correlations scaled by s
            det = 1.0 - r * r
            rik, rjk, ril, rjl = s * R[i, k], s * R[j, k], s * R[i, l], s * R[j, l]
            ckl = s * R[k, l] - (rik * (ril - r * rjl) + rjk * (rjl - r * ril)) / det
            ckk = 1.0 - (rik * (rik - r * rjk) + rjk * (rjk - r * rik)) / det
            cll = 1.0 - (ril * (ril - r * rjl) + rjl * (rjl - r * ril)) / det
            rho = _clip(ckl / math.sqrt(ckk * cll))
            acc += R[i, j] * _INV_2PI / math.sqrt(det) * (0.25 + math.asin(rho) * _INV_2PI)
        total += PLACKETT_W[q] * acc
    return 1.0 / 16.0 + total


@njit(cache=True)
def orthant(V, S, m):
    """P(u_i > 0 for the m distinct indices S[:m]), u ~ N(0, V)."""
    if m == 0:
        return 1.0
    for x in range(m):
        if V[S[x], S[x]] <= 0.0:             # a field fixed at 0: Theta(0) = 0
            return 0.0
    if m == 1:
        return 0.5
    if m == 2:
        return 0.25 + math.asin(_corr(V, S[0], S[1])) * _INV_2PI
    if m == 3:
        return 0.125 + (math.asin(_corr(V, S[0], S[1])) + math.asin(_corr(V, S[0], S[2]))
                        + math.asin(_corr(V, S[1], S[2]))) * _INV_4PI
    return _p4(V, S[0], S[1], S[2], S[3])


@njit(cache=True)
def _condition(V, i):
    """Covariance given u_i = 0 (row and column i become 0)."""
    n = V.shape[0]
    out = np.empty((n, n))
    vii = V[i, i]
    for x in range(n):
        for y in range(n):
            out[x, y] = V[x, y] - V[x, i] * V[i, y] / vii
    return out


@njit(cache=True)
def _without(S, m, x):
    out = np.empty(4, np.int64)
    k = 0
    for y in range(m):
        if y != x:
            out[k] = S[y]
            k += 1
    return out


@njit(cache=True)
def _e1(V, S, m, t):
    """E[u_t prod_{i in S[:m]} Theta(u_i)]."""
    total = 0.0
    for x in range(m):
        i = S[x]
        if V[t, i] == 0.0 or V[i, i] <= 0.0:
            continue
        total += (V[t, i] * _INV_SQRT_2PI / math.sqrt(V[i, i])
                  * orthant(_condition(V, i), _without(S, m, x), m - 1))
    return total


@njit(cache=True)
def expect_theta(V, S, m, t1, t2):
    """E[prod_{i in S[:m]} Theta(u_i) * u_t1 * u_t2], u ~ N(0, V); S distinct; t1 or t2 = -1 for
    an absent factor."""
    if t1 < 0 and t2 < 0:
        return orthant(V, S, m)
    if t1 < 0 or t2 < 0:
        return _e1(V, S, m, t1 if t1 >= 0 else t2)
    total = V[t1, t2] * orthant(V, S, m)
    for x in range(m):
        i = S[x]
        if i == t2 or V[t1, i] == 0.0 or V[i, i] <= 0.0:
            continue                          # u_t2 = 0 given u_i = 0 when i = t2
        total += (V[t1, i] * _INV_SQRT_2PI / math.sqrt(V[i, i])
                  * _e1(_condition(V, i), _without(S, m, x), m - 1, t2))
    return total


@njit(cache=True)
def _distinct(a, b, c, d):
    """The distinct ones of up to four indices (-1 = none), and their number."""
    S = np.empty(4, np.int64)
    m = 0
    for i in (a, b, c, d):
        if i < 0:
            continue
        seen = False
        for x in range(m):
            seen = seen or S[x] == i
        if not seen:
            S[m] = i
            m += 1
    return S, m


# ---- the integrals of theory.md 3.2 for g = ReLU ------------------------------------------------

@njit(cache=True)
def _theta(C, a, b):
    return math.acos(_clip(C[a, b] / math.sqrt(C[a, a] * C[b, b])))


@njit(cache=True, error_model="numpy", inline="always")
def i2_pair(cab, caa, cbb):
    """E[relu(u_a) relu(u_b)] from the three covariances: sqrt(C_aa C_bb)/(2 pi) (sin th + (pi - th)
    cos th), th the angle between the fields."""
    norm = math.sqrt(caa * cbb)
    th = math.acos(_clip(cab / norm))
    return norm * _INV_2PI * (math.sin(th) + (math.pi - th) * math.cos(th))


@njit(cache=True)
def i2(C, a, b):
    """E[relu(u_a) relu(u_b)] (closed form; C_aa / 2 on the diagonal)."""
    if a == b:
        return 0.5 * C[a, a]
    return i2_pair(C[a, b], C[a, a], C[b, b])


@njit(cache=True)
def j2(C, a, b):
    """E[Theta(u_a) Theta(u_b)] (closed form)."""
    if a == b:
        return 0.5
    return (math.pi - _theta(C, a, b)) * _INV_2PI


@njit(cache=True)
def i3(C, a, b, c):
    """E[Theta(u_a) u_b relu(u_c)] (closed form)."""
    if a == c:
        return 0.5 * C[b, c]
    th = _theta(C, a, c)
    root = math.sqrt(max(C[a, a] * C[c, c] - C[a, c] ** 2, 0.0))
    return C[a, b] * root * _INV_2PI / C[a, a] + C[b, c] * (math.pi - th) * _INV_2PI


@njit(cache=True)
def i4(C, a, b, c, d):
    """E[Theta(u_a) Theta(u_b) relu(u_c) relu(u_d)] (Stein reduction, module docstring)."""
    S, m = _distinct(a, b, c, d)
    return expect_theta(C, S, m, c, d)


@njit(cache=True)
def i3g(C, a, c, d):
    """E[Theta(u_a) relu(u_c) relu(u_d)] (Stein reduction)."""
    S, m = _distinct(a, c, d, -1)
    return expect_theta(C, S, m, c, d)


@njit(cache=True)
def delta_relu(C, k, i):
    """E[delta(u_k) relu(u_i)] = phi(0; C_kk) E[relu(u_i) | u_k = 0]: the g'' term of the Taylor
    rules (g'' = delta for ReLU)."""
    if i == k:
        return 0.0
    var = C[i, i] - C[i, k] ** 2 / C[k, k]
    return _INV_SQRT_2PI / math.sqrt(C[k, k]) * math.sqrt(max(var, 0.0)) * _INV_SQRT_2PI
