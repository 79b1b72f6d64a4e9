"""The packed state's layout (`offsets`, the one definition every kernel reads) and, from it, the
fields' covariance C = [[Q, R], [R^T, T]], the error's coefficients c = (v, -v*) and the
first-layer feedback f (shared by both kernels)."""
from numba import njit

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
