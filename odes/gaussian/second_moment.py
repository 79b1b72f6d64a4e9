"""I2 = E[g(u_a) g(u_b)], the second moment of the activations of two jointly Gaussian fields with
covariances C_ab, C_aa, C_bb, for every activation (theory.md 3.2, 8.2): the one definition that the
generalisation error uses in both halves (the kernels' `odes.rhs.fields.eps_g` and
`odes.observables.eps_g`).

    erf     (2/pi) arcsin(C_ab / sqrt((1 + C_aa)(1 + C_bb)))      (`odes.gaussian.integrals`)
    linear  C_ab
    relu    sqrt(C_aa C_bb)/(2 pi) (sin th + (pi - th) cos th),
            cos th = C_ab / sqrt(C_aa C_bb)                        (`odes.gaussian.relu_integrals`)
"""
from numba import njit, vectorize

from ..activations import ERF, LINEAR
from . import integrals as _erf
from . import relu_integrals as _relu


@njit(cache=True, error_model="numpy", inline="always")
def i2_pair(act, cab, caa, cbb):
    """I2 of the activation with code `act` (`odes.activations`) from the three covariances."""
    if act == ERF:
        return _erf.i2_pair(cab, caa, cbb)
    if act == LINEAR:
        return cab
    return _relu.i2_pair(cab, caa, cbb)


@vectorize(["float64(int64, float64, float64, float64)"], cache=True)
def i2(act, cab, caa, cbb):
    """`i2_pair` as a NumPy ufunc: broadcasts over arrays of covariances."""
    return i2_pair(act, cab, caa, cbb)
