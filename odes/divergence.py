"""When a run has diverged: one definition for the ODE and the simulation.

A run (an ODE solution or one seed of the simulation) has diverged once some self-overlap
Q_kk = ``|w_k|^2/D`` or some v_k^2 exceeds `BLOWUP`, or a quantity is no longer finite.  With
R_km^2 <= Q_kk T_mm and a_k^2 <= Q_kk phi_F every order parameter is then bounded by it, and
eps_g grows with them, so a run that stays below it is a run whose numbers can be read.  A
learning run that converges keeps Q_kk and v_k^2 of the order of the teacher's (O(1)); 1e8 is far
from any of them, and far below overflow (a blow-up crosses it within a few time units).

The simulator checks it every 64 steps (`simulate.kernel.diverged`), the ODE steppers after every
accepted step (`blown_up`, on the packed state of `odes.rhs`); both stop there and report the time.
"""
from numba import njit

from .rhs.fields import offsets

#: the threshold on Q_kk and v_k^2 beyond which a run has diverged
BLOWUP = 1e8


@njit(cache=True, error_model="numpy", inline="always")
def blown_up(y, K, M, limit):
    """Index of the first Q_kk or v_k of the packed state y with Q_kk > limit or v_k^2 > limit
    (or not finite), or of phi_F > limit where weight mirroring makes it a state variable (the
    last slot, `odes.rhs.layout`), else -1."""
    oQ, _, ov, _, size = offsets(K, M)
    for k in range(K):
        if not y[oQ + k * K + k] <= limit:
            return oQ + k * K + k
        if not y[ov + k] * y[ov + k] <= limit:
            return ov + k
    if y.size > size and not y[y.size - 1] <= limit:
        return y.size - 1
    return -1
