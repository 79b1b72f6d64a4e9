"""The fields' covariance C = [[Q, R], [R^T, T]], the error's coefficients c = (v, -v*) and the
first-layer feedback f, read from the packed state y of `odes.rhs` (shared by both kernels)."""
from numba import njit

from ..rules import FEEDBACK_V


@njit(cache=True, error_model="numpy", inline="always")
def fill_fields(y, K, M, T, vstar, fb, C, c, f):
    """Write C (K+M square), c (K+M) and f (K: v for BP, else the slot after v) from y."""
    oQ, oR, ov, of = 0, K * K, K * K + K * M, K * K + K * M + K
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
