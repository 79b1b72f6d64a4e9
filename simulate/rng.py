"""Fast compiled Gaussian numbers for the SGD kernel: a ziggurat on xoshiro256++.

numba's ``np.random.standard_normal`` costs ~25 ns per number, more than the whole O(K D) SGD step
at D = 500; drawing the D inputs of a step would dominate.  This module provides

* xoshiro256++ (Blackman & Vigna 2018), a small 64-bit generator with 256 bits of state: `next_u64`.
  The state is a uint64 array of length 4, seeded with `seed_state` from a numpy SeedSequence.
* The ziggurat method (Marsaglia & Tsang 2000) with 256 layers of equal area under
  exp(-x^2/2), in the variant that takes the layer index and the abscissa from disjoint bits of
  one 64-bit word (Doornik 2005): ~99 % of the draws cost one generator call, one table lookup,
  one integer compare and one multiply.  The tail beyond r is sampled with Marsaglia's
  exponential method.  The tables are computed here (not copied), with r solved numerically.

`normal(state)` returns one N(0, 1) number; `fill_normal(state, out, n)` fills out[:n].
"""
import math

import numpy as np
from numba import int64, njit
from scipy.optimize import brentq
from scipy.special import erfc

N_LAYERS = 256


def _layers(r, n=N_LAYERS):
    """Layer edges x_0 > x_1 = r > ... > x_n = 0 of the ziggurat with base-layer tail start r.

    Every layer has the area v = r f(r) + int_r^inf f of the base strip (rectangle plus tail),
    f(x) = exp(-x^2/2).  Returns (x, v, mismatch); r is right when the top layer closes at
    f = 1 exactly (mismatch 0); a positive mismatch means r is too small.
    """
    f = lambda z: math.exp(-0.5 * z * z)
    v = r * f(r) + math.sqrt(math.pi / 2) * erfc(r / math.sqrt(2))
    x = np.zeros(n + 1)
    x[0], x[1] = v / f(r), r
    for j in range(1, n - 1):
        y = f(x[j]) + v / x[j]
        if y >= 1.0:
            return x, v, float(n - j)
        x[j + 1] = math.sqrt(-2.0 * math.log(y))
    return x, v, f(x[n - 1]) + v / x[n - 1] - 1.0


R_TAIL = brentq(lambda r: _layers(r)[2], 3.0, 4.0, xtol=1e-15, rtol=1e-15)
_X, V_AREA, _ = _layers(R_TAIL)
# abscissa of layer j: x = s * X_SCALED[j], s the signed 53-bit integer of the word's high bits
X_SCALED = _X * 2.0**-52
# fast acceptance: |s| < ACCEPT[j]  <=>  |x| < x_{j+1}, the strip entirely under the curve
ACCEPT = np.array([int(_X[j + 1] / _X[j] * 2.0**52) for j in range(N_LAYERS)], dtype=np.int64)
F_EDGE = np.exp(-0.5 * _X * _X)

_U11, _U17, _U19, _U23, _U41, _U45 = (np.uint64(k) for k in (11, 17, 19, 23, 41, 45))
_LOW8 = np.uint64(N_LAYERS - 1)
_TWO52 = np.int64(2**52)
_INV53 = 2.0**-53


@njit(cache=True, nogil=True)
def xoshiro(s0, s1, s2, s3):
    """xoshiro256++ on a state held in four scalars: returns (word, s0, s1, s2, s3)."""
    t = s0 + s3
    out = ((t << _U23) | (t >> _U41)) + s0
    t = s1 << _U17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << _U45) | (s3 >> _U19)
    return out, s0, s1, s2, s3


@njit(cache=True, nogil=True)
def next_u64(s):
    """The next 64-bit word of the state array s (uint64[4]), advanced in place."""
    out, s[0], s[1], s[2], s[3] = xoshiro(s[0], s[1], s[2], s[3])
    return out


@njit(cache=True, nogil=True)
def uniform(s):
    """Uniform on the open interval (0, 1), 53 bits."""
    return (float(next_u64(s) >> _U11) + 0.5) * _INV53


@njit(cache=True, nogil=True)
def _slow(s, j, k):
    """The ~1 % of draws outside the fast strip of layer j (k: the signed integer abscissa).
    Returns (accepted, x)."""
    if j == 0:                                     # tail |x| > r: Marsaglia's exponential method
        while True:
            a = -math.log(uniform(s)) / R_TAIL
            b = -math.log(uniform(s))
            if 2.0 * b > a * a:
                return True, (R_TAIL + a) if k > 0 else -(R_TAIL + a)
    x = k * X_SCALED[j]                            # wedge: accept under the curve
    y = F_EDGE[j] + uniform(s) * (F_EDGE[j + 1] - F_EDGE[j])
    return y < math.exp(-0.5 * x * x), x


@njit(cache=True, nogil=True)
def normal(s):
    """One standard normal number (ziggurat)."""
    while True:
        u = next_u64(s)
        j = int64(u & _LOW8)                       # layer index: low 8 bits
        k = int64(u >> _U11) - _TWO52              # signed abscissa: high 53 bits
        if abs(k) < ACCEPT[j]:
            return k * X_SCALED[j]
        ok, x = _slow(s, j, k)
        if ok:
            return x


@njit(cache=True, nogil=True)
def fill_normal(s, out, n):
    """out[:n] = independent standard normal numbers (the same numbers as n calls of `normal`).

    The generator state is kept in registers for the fast path, so the loop costs the same
    wherever it is inlined."""
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    i = 0
    while i < n:
        u, s0, s1, s2, s3 = xoshiro(s0, s1, s2, s3)
        j = int64(u & _LOW8)
        k = int64(u >> _U11) - _TWO52
        if abs(k) < ACCEPT[j]:
            out[i] = k * X_SCALED[j]
            i += 1
        else:
            s[0], s[1], s[2], s[3] = s0, s1, s2, s3
            ok, x = _slow(s, j, k)
            s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
            if ok:
                out[i] = x
                i += 1
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3


def seed_state(seed_sequence):
    """A xoshiro256++ state (uint64[4]) from a numpy SeedSequence (or anything it accepts)."""
    if not isinstance(seed_sequence, np.random.SeedSequence):
        seed_sequence = np.random.SeedSequence(seed_sequence)
    s = seed_sequence.generate_state(4, dtype=np.uint64)
    if not s.any():                                # the all-zero state is a fixed point
        s[0] = 1
    return s


@njit(cache=True, nogil=True)
def _standard_normal(s, n):
    out = np.empty(n)
    fill_normal(s, out, n)
    return out


def standard_normal(state, n):
    """n standard normal numbers as a numpy array; advances `state` (for tests and checks)."""
    return _standard_normal(state, int(n))


__all__ = ["N_LAYERS", "R_TAIL", "V_AREA", "xoshiro", "next_u64", "uniform", "normal", "fill_normal",
           "seed_state", "standard_normal"]
