"""Activations g of teacher and student (theory.md 8.2), as data: a name and an integer code that
the compiled kernels read.

    erf     g(x) = erf(x/sqrt(2)), g'(x) = sqrt(2/pi) exp(-x^2/2)       (the default)
    linear  g(x) = x,              g'(x) = 1
    relu    g(x) = max(0, x),      g'(x) = Theta(x)  (Theta(0) = 0)

`g` and `g_prime` are the scalar compiled functions used by the simulator and the quadrature
engine, `g_n` and `g_pair_n` g and both over an array (for erf by libmvec's vector erf and exp,
`odes.gaussian.vecmath`);
the closed-form Gaussian integrals of each activation are in `odes.gaussian.integrals` (erf) and
`odes.gaussian.relu_integrals` (ReLU; linear ones are the covariances themselves).
"""
import math

from numba import njit

from .gaussian.vecmath import erf_n, exp_n

ACTIVATIONS = ("erf", "linear", "relu")
ERF, LINEAR, RELU = range(3)

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_SQRT_2_PI = math.sqrt(2.0 / math.pi)


def activation_code(name):
    """The integer code of an activation name; ValueError naming the choices otherwise."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS.index(name)


@njit(cache=True, inline="always")
def g(act, x):
    if act == ERF:
        return math.erf(x * _INV_SQRT2)
    if act == LINEAR:
        return x
    return x if x > 0.0 else 0.0


@njit(cache=True, inline="always")
def g_prime(act, x):
    if act == ERF:
        return _SQRT_2_PI * math.exp(-0.5 * x * x)
    if act == LINEAR:
        return 1.0
    return 1.0 if x > 0.0 else 0.0


@njit(cache=True, inline="always")
def g_n(act, x, gv, tmp, n):
    """gv[:n] = g(x[:n]); tmp is scratch as long as gv (`g_pair_n` without g')."""
    if act == ERF:
        for i in range(n):
            tmp[i] = x[i] * _INV_SQRT2
        erf_n(tmp, gv, n)
    else:
        for i in range(n):
            gv[i] = g(act, x[i])


@njit(cache=True, inline="always")
def g_pair_n(act, x, gv, gp, tmp, n):
    """gv[:n] = g(x[:n]) and gp[:n] = g'(x[:n]); tmp is scratch as long as gv.  Arrays padded to
    `odes.gaussian.vecmath.padded(n)` are computed by whole vectors."""
    if act == ERF:
        for i in range(n):
            tmp[i] = x[i] * _INV_SQRT2
        erf_n(tmp, gv, n)
        for i in range(n):
            tmp[i] = -0.5 * x[i] * x[i]
        exp_n(tmp, gp, n)
        for i in range(n):
            gp[i] *= _SQRT_2_PI
    else:
        for i in range(n):
            gv[i] = g(act, x[i])
            gp[i] = g_prime(act, x[i])


def g_numpy(name, x):
    """g applied to an array (NumPy), for the things done outside the kernels."""
    import numpy as np
    from scipy.special import erf
    x = np.asarray(x, float)
    if name == "erf":
        return erf(x * _INV_SQRT2)
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0.0)
    activation_code(name)
