"""Closed-form Gaussian integrals of the activation g(x) = erf(x/sqrt(2)).

The fields u = (lambda_1..lambda_K, nu_1..nu_M) of a two-layer teacher-student network are jointly
Gaussian, u ~ N(0, C) with C = [[Q, R], [R^T, T]].  Every expectation in the order-parameter ODEs
reduces to the integrals below (theory.md section 3.2).  Indices a, b, c, d name fields (rows of C);
repeated indices are allowed.

    I2(a,b)    = E[g(u_a) g(u_b)]
    J2(a,b)    = E[g'(u_a) g'(u_b)]
    I3(a,b,c)  = E[g'(u_a) u_b g(u_c)]
    I4(a,b,c,d)= E[g'(u_a) g'(u_b) g(u_c) g(u_d)]
    I3g(a;c,d) = E[g'(u_a) g(u_c) g(u_d)]
    Eg1(a)     = E[g'(u_a)]

Each formula is written once, as a scalar numba function of (C, indices): `i2`, `j2`, `i3`, `i4`,
`i3g`, `eg1`; I3 and I4 are also exposed in parts (`i3_numer`, `i3_norm`, `i4_lam4`, `i4_lam1`, `i4_lam0`,
`i4_from_parts`, `i4_lam0_coeffs`) so that the right-hand-side kernel can hoist what depends on
fewer indices, and
I2, I4, I3g by their arcsines' arguments (`i2_arg`, the Lambdas, `i3g_parts`) so that it can take
all its arcsines in one vectorised call (`odes.gaussian.vecmath`).  The right-hand-side kernel calls these for just the index tuples it needs; the
array functions `I2(C)`, `J2(C)`, `I3(C)`, `I4(C)`, `I3g(C)`, `Eg1(C)` evaluate them for all index
tuples at once (I4 uses its symmetries in (a,b) and (c,d)), for tests and for the sympy oracle.
Arcsine arguments are clipped to [-1, 1] so that round-off at |correlation| = 1 gives no NaN.
"""
import math

import numpy as np
from numba import njit

_2_PI = 2.0 / math.pi
_4_PI2 = 4.0 / math.pi**2
_SQRT_2_PI = math.sqrt(2.0 / math.pi)


@njit(cache=True, error_model="numpy", inline="always")
def clip_unit(x):
    """x clipped to [-1, 1] (an arcsine's argument)."""
    if x > 1.0:
        return 1.0
    if x < -1.0:
        return -1.0
    return x


@njit(cache=True, error_model="numpy", inline="always")
def _asin(x):
    """arcsin with its argument clipped to [-1, 1]."""
    return math.asin(clip_unit(x))


@njit(cache=True, error_model="numpy", inline="always")
def i2_arg(C, a, b):
    """The arcsine's argument C_ab / sqrt((1+C_aa)(1+C_bb)) of I2(a, b)."""
    return C[a, b] / math.sqrt((1.0 + C[a, a]) * (1.0 + C[b, b]))


@njit(cache=True, error_model="numpy", inline="always")
def i2_pair(cab, caa, cbb):
    """E[g(u_a) g(u_b)] = (2/pi) arcsin(C_ab / sqrt((1+C_aa)(1+C_bb))) from the three covariances."""
    return _2_PI * _asin(cab / math.sqrt((1.0 + caa) * (1.0 + cbb)))


@njit(cache=True, error_model="numpy", inline="always")
def i2(C, a, b):
    """E[g(u_a) g(u_b)] (`i2_pair` of fields a and b)."""
    return i2_pair(C[a, b], C[a, a], C[b, b])


@njit(cache=True, error_model="numpy", inline="always")
def j2(C, a, b):
    """E[g'(u_a) g'(u_b)] = (2/pi) / sqrt((1+C_aa)(1+C_bb) - C_ab^2)."""
    return _2_PI / math.sqrt((1.0 + C[a, a]) * (1.0 + C[b, b]) - C[a, b] ** 2)


@njit(cache=True, error_model="numpy", inline="always")
def i3_norm(C, a, c):
    """The factor (2/pi) / ((1+C_aa) sqrt(Lambda3)) of I3(a, ., c), Lambda3 = (1+C_aa)(1+C_cc) - C_ac^2."""
    caa1 = 1.0 + C[a, a]
    return _2_PI / (caa1 * math.sqrt(caa1 * (1.0 + C[c, c]) - C[a, c] ** 2))


@njit(cache=True, error_model="numpy", inline="always")
def i3_numer(C, a, b, c):
    """The numerator C_bc(1+C_aa) - C_ab C_ac of I3(a, b, c)."""
    return C[b, c] * (1.0 + C[a, a]) - C[a, b] * C[a, c]


@njit(cache=True, error_model="numpy", inline="always")
def i3(C, a, b, c):
    """E[g'(u_a) u_b g(u_c)] = (2/pi) [C_bc(1+C_aa) - C_ab C_ac] / ((1+C_aa) sqrt(Lambda3))."""
    return i3_numer(C, a, b, c) * i3_norm(C, a, c)


@njit(cache=True, error_model="numpy", inline="always")
def i4_lam4(C, a, b):
    """Lambda4 = (1+C_aa)(1+C_bb) - C_ab^2 of I4(a, b, ., .)."""
    return (1.0 + C[a, a]) * (1.0 + C[b, b]) - C[a, b] ** 2


@njit(cache=True, error_model="numpy", inline="always")
def i4_lam0_coeffs(C, a, b, c):
    """(u, w) with Lambda0 of I4(a, b, c, d) = Lambda4 C_cd + u C_bd + w C_ad for every d: the parts
    that do not depend on d, u = C_ab C_ac - C_bc (1+C_aa), w = C_ab C_bc - C_ac (1+C_bb)."""
    cab, cac, cbc = C[a, b], C[a, c], C[b, c]
    return cab * cac - cbc * (1.0 + C[a, a]), cab * cbc - cac * (1.0 + C[b, b])


@njit(cache=True, error_model="numpy", inline="always")
def i4_lam0_from_coeffs(C, a, b, c, d, lam4, u, w):
    """Lambda0 of I4(a, b, c, d) from (u, w) = `i4_lam0_coeffs(C, a, b, c)`."""
    return lam4 * C[c, d] + u * C[b, d] + w * C[a, d]


@njit(cache=True, error_model="numpy", inline="always")
def i4_lam0(C, a, b, c, d, lam4):
    """Lambda0 of I4(a, b, c, d) = Lambda4 C_cd - C_bc C_bd (1+C_aa) - C_ac C_ad (1+C_bb)
    + C_ab (C_ac C_bd + C_ad C_bc)."""
    u, w = i4_lam0_coeffs(C, a, b, c)
    return i4_lam0_from_coeffs(C, a, b, c, d, lam4, u, w)


@njit(cache=True, error_model="numpy", inline="always")
def i4_lam1(C, a, b, c, lam4):
    """Lambda1 of I4(a, b, c, .) (Lambda2 is the same function of d): Lambda0 with C_cd -> 1+C_cc."""
    return i4_lam0(C, a, b, c, c, lam4) + lam4


@njit(cache=True, error_model="numpy", inline="always")
def i4_from_parts(lam0, rsq1, rsq2, rsq4):
    """(4/pi^2) arcsin(Lambda0 / sqrt(Lambda1 Lambda2)) / sqrt(Lambda4), given the reciprocal
    square roots rsq1 = Lambda1^-1/2, rsq2 = Lambda2^-1/2, rsq4 = Lambda4^-1/2."""
    return _4_PI2 * _asin(lam0 * rsq1 * rsq2) * rsq4


@njit(cache=True, error_model="numpy", inline="always")
def i4(C, a, b, c, d):
    """E[g'(u_a) g'(u_b) g(u_c) g(u_d)] = (4/pi^2) arcsin(L0 / sqrt(L1 L2)) / sqrt(L4)."""
    lam4 = i4_lam4(C, a, b)
    return i4_from_parts(i4_lam0(C, a, b, c, d, lam4), 1.0 / math.sqrt(i4_lam1(C, a, b, c, lam4)),
                         1.0 / math.sqrt(i4_lam1(C, a, b, d, lam4)), 1.0 / math.sqrt(lam4))


@njit(cache=True, error_model="numpy", inline="always")
def eg1(C, a):
    """E[g'(u_a)] = sqrt(2/pi) / sqrt(1+C_aa)."""
    return _SQRT_2_PI / math.sqrt(1.0 + C[a, a])


@njit(cache=True, error_model="numpy", inline="always")
def i3g_parts(C, a, c, d):
    """(factor, argument) of I3g(a; c, d) = factor * arcsin(argument)."""
    caa1 = 1.0 + C[a, a]
    ccd = C[c, d] - C[c, a] * C[a, d] / caa1
    ccc = C[c, c] - C[c, a] ** 2 / caa1
    cdd = C[d, d] - C[d, a] ** 2 / caa1
    return (_SQRT_2_PI / math.sqrt(caa1)) * _2_PI, ccd / math.sqrt((1.0 + ccc) * (1.0 + cdd))


@njit(cache=True, error_model="numpy", inline="always")
def i3g(C, a, c, d):
    """E[g'(u_a) g(u_c) g(u_d)]: E[g'(u_a)] times I2 of the covariance conditioned on u_a = 0
    with unit observation noise, C'_xy = C_xy - C_xa C_ay / (1+C_aa)."""
    fac, arg = i3g_parts(C, a, c, d)
    return fac * _asin(arg)


# ---- every index tuple at once -----------------------------------------------------------------

@njit(cache=True, error_model="numpy")
def I2(C):
    n = C.shape[0]
    out = np.empty((n, n))
    for a in range(n):
        for b in range(a, n):
            out[a, b] = out[b, a] = i2(C, a, b)
    return out


@njit(cache=True, error_model="numpy")
def J2(C):
    n = C.shape[0]
    out = np.empty((n, n))
    for a in range(n):
        for b in range(a, n):
            out[a, b] = out[b, a] = j2(C, a, b)
    return out


@njit(cache=True, error_model="numpy")
def I3(C):
    n = C.shape[0]
    out = np.empty((n, n, n))
    for a in range(n):
        for b in range(n):
            for c in range(n):
                out[a, b, c] = i3(C, a, b, c)
    return out


@njit(cache=True, error_model="numpy")
def I4(C):
    n = C.shape[0]
    out = np.empty((n, n, n, n))
    for a in range(n):
        for b in range(a, n):
            for c in range(n):
                for d in range(c, n):
                    x = i4(C, a, b, c, d)
                    out[a, b, c, d] = out[b, a, c, d] = out[a, b, d, c] = out[b, a, d, c] = x
    return out


@njit(cache=True, error_model="numpy")
def I3g(C):
    n = C.shape[0]
    out = np.empty((n, n, n))
    for a in range(n):
        for c in range(n):
            for d in range(c, n):
                out[a, c, d] = out[a, d, c] = i3g(C, a, c, d)
    return out


@njit(cache=True, error_model="numpy")
def Eg1(C):
    n = C.shape[0]
    out = np.empty(n)
    for a in range(n):
        out[a] = eg1(C, a)
    return out
