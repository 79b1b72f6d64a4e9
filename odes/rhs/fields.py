"""The packed state's layout (`offsets`, the one definition every kernel reads) and, from it, the
fields' covariance C = [[Q, R], [R^T, T]], the error's coefficients c = (v, -v*) and the
first-layer feedback f (shared by both kernels), and eps_g of a packed state with the stop test of
the steppers."""
from numba import njit

from ..gaussian.second_moment import i2_pair
from ..rules import FEEDBACK_V


@njit(cache=True, inline="always")
def offsets(K, M):
    """Where Q (K x K, row-major), R (K x M), v (K) and the feedback vector f (K) start in the
    packed state y, and its size: (oQ, oR, ov, of, size)."""
    oR = K * K
    ov = oR + K * M
    of = ov + K
    return 0, oR, ov, of, of + K


@njit(cache=True, error_model="numpy", inline="always")
def fill_fields(y, K, M, T, vstar, fb, C, c, f):
    """Write C (K+M square), c (K+M) and f (K: v for BP, else the slot after v) from y."""
    oQ, oR, ov, of, _ = offsets(K, M)
    for k in range(K):
        for l in range(K):
            C[k, l] = y[oQ + k * K + l]
        for m in range(M):
            C[k, K + m] = y[oR + k * M + m]
            C[K + m, k] = y[oR + k * M + m]
        c[k] = y[ov + k]
        f[k] = y[ov + k] if fb == FEEDBACK_V else y[of + k]
    for m in range(M):
        for m2 in range(M):
            C[K + m, K + m2] = T[m, m2]
        c[K + m] = -vstar[m]


@njit(cache=True, error_model="numpy")
def eps_g(y, K, M, T, vstar, act):
    """The generalisation error of the packed state y (theory.md 1.2): 1/2 (v^T I2(Q) v
    - 2 v^T I2(R) v* + v*^T I2(T) v*) with the I2 of `odes.gaussian.second_moment`, the same
    formula as `odes.observables.eps_g`."""
    oQ, oR, ov, _, _ = offsets(K, M)
    e = 0.0
    for k in range(K):
        qkk = y[oQ + k * K + k]
        for l in range(K):
            e += y[ov + k] * y[ov + l] * i2_pair(act, y[oQ + k * K + l], qkk, y[oQ + l * K + l])
        for m in range(M):
            e -= 2.0 * y[ov + k] * vstar[m] * i2_pair(act, y[oR + k * M + m], qkk, T[m, m])
    for m in range(M):
        for n in range(M):
            e += vstar[m] * vstar[n] * i2_pair(act, T[m, n], T[m, m], T[n, n])
    return 0.5 * e


@njit(cache=True, error_model="numpy")
def stop_reached(y, K, M, T, vstar, act, below, above):
    """Whether the run should stop at the packed state y: eps_g < below, or eps_g > above or not a
    number (a bound that is NaN is not checked)."""
    if below != below and above != above:
        return False
    e = eps_g(y, K, M, T, vstar, act)
    return e < below or (above == above and not e <= above)
