"""Fast compiled Gaussian numbers for the SGD kernel: a ziggurat on interleaved xoshiro256++.

numba's ``np.random.standard_normal`` costs ~25 ns per number, more than the whole O(K D) SGD step
at D = 500; drawing the D inputs of a step would dominate.  This module provides

* xoshiro256++ (Blackman & Vigna 2018), a small 64-bit generator with 256 bits of state.  The
  generator state is a uint64 array of shape (4, LANES + 1): column l holds the four state words of
  stream l.  Streams 0 .. LANES-1 are *lanes*: `words` advances them together, one word per lane
  per round, as vector integer instructions on state held in registers (~0.12 ns per word instead
  of ~0.75 ns for one stream).  Stream LANES serves single draws (`next_u64`,
  `uniform`, `normal`) and the rare draws that fall outside the ziggurat's fast strips.  All
  streams are seeded from one numpy SeedSequence (`seed_state`); with 2^256 states, overlaps of
  the 17 streams are out of reach.
* The ziggurat method (Marsaglia & Tsang 2000) with N_LAYERS = 1024 layers of equal area under
  exp(-x^2/2), in the variant that takes the layer index and the abscissa from disjoint bits of
  one 64-bit word (Doornik 2005): the low 10 bits give the layer j, the top 53 bits a signed
  integer k, and x = k x_j / 2^52.  If |x| < x_{j+1} (the strip lies under the curve, 99.6 % of
  the words) x is the number; otherwise a wedge test, or Marsaglia's exponential method
  for the tail beyond R_TAIL, decides.  The tables are computed here (not copied), with R_TAIL
  solved numerically.

`normal(state)` returns one N(0, 1) number, `chi_square(state, k)` one chi-square number with k degrees
of freedom; `fill_normal(state, out, n, scratch)` fills out[:n]
(the words of all n numbers first, then the ziggurat's fast path, the rare rejected words last).
"""
import math

import numpy as np
from llvmlite import ir
from numba import int64, njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from scipy.optimize import brentq
from scipy.special import erfc

N_LAYERS = 1024
LANES = 16


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


R_TAIL = brentq(lambda r: _layers(r)[2], 3.0, 5.0, xtol=1e-15, rtol=1e-15)
X_EDGE, V_AREA, _ = _layers(R_TAIL)
F_EDGE = np.exp(-0.5 * X_EDGE * X_EDGE)
# the fast path's table, one row per layer j (both numbers on one cache line):
# x = k * STRIP[j, 0] (k the signed 53-bit integer of the word's high bits), and x is accepted at
# once if |x| < STRIP[j, 1] = x_{j+1}, i.e. inside the strip that lies entirely under the curve
STRIP = np.column_stack([X_EDGE[:N_LAYERS] * 2.0**-52, X_EDGE[1:]])

_U11, _U17, _U19, _U23, _U41, _U45 = (np.uint64(k) for k in (11, 17, 19, 23, 41, 45))
_S11 = np.int64(11)
_LAYER_BITS = np.uint64(N_LAYERS.bit_length() - 1)
_LOW = np.uint64(N_LAYERS - 1)
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
    """The next 64-bit word of the single-draw stream (column LANES of s), advanced in place."""
    c = LANES
    out, s[0, c], s[1, c], s[2, c], s[3, c] = xoshiro(s[0, c], s[1, c], s[2, c], s[3, c])
    return out


@intrinsic
def _lanes_rounds(typingctx, s, w, rounds):
    """w[r * LANES + l] = word r of lane l for r < rounds, advancing the lanes of s in place.

    xoshiro256++ written once more, on vectors of LANES words: numba cannot tell that w and s do
    not overlap, so a numba loop over the lanes reloads and stores the 16 x 4 state words every
    round (~0.4 ns per word); here they stay in vector registers (~0.12 ns per word).  The test
    suite checks every lane against a pure-Python xoshiro256++."""
    ok = (isinstance(s, types.Array) and s.ndim == 2 and s.dtype == types.uint64 and s.layout == "C"
          and isinstance(w, types.Array) and w.ndim == 1 and w.dtype == types.uint64
          and w.layout == "C" and isinstance(rounds, types.Integer))
    if not ok:
        return None

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        vec = ir.VectorType(i64, LANES)
        state = context.make_array(sig.args[0])(context, builder, args[0])
        out = builder.bitcast(context.make_array(sig.args[1])(context, builder, args[1]).data,
                              vec.as_pointer())
        row_bytes = builder.extract_value(state.strides, 0)
        base = builder.ptrtoint(state.data, i64)
        rows = [builder.inttoptr(builder.add(base, builder.mul(row_bytes, ir.Constant(i64, q))),
                                 vec.as_pointer()) for q in range(4)]
        regs = [cgutils.alloca_once(builder, vec) for _ in range(4)]    # promoted to registers
        for row, reg in zip(rows, regs):
            builder.store(builder.load(row, align=8), reg)
        splat = lambda k: ir.Constant(vec, [k] * LANES)
        rotl = lambda v, k: builder.or_(builder.shl(v, splat(k)), builder.lshr(v, splat(64 - k)))
        with cgutils.for_range(builder, args[2]) as loop:
            s0, s1, s2, s3 = (builder.load(reg) for reg in regs)
            word = builder.add(rotl(builder.add(s0, s3), 23), s0)
            t = builder.shl(s1, splat(17))
            s2 = builder.xor(s2, s0)
            s3 = builder.xor(s3, s1)
            s1 = builder.xor(s1, s2)
            s0 = builder.xor(s0, s3)
            s2 = builder.xor(s2, t)
            s3 = rotl(s3, 45)
            for reg, value in zip(regs, (s0, s1, s2, s3)):
                builder.store(value, reg)
            builder.store(word, builder.gep(out, [loop.index]), align=8)
        for row, reg in zip(rows, regs):
            builder.store(builder.load(reg), row, align=8)
        return context.get_dummy_value()

    return types.void(s, w, rounds), codegen


@njit(cache=True, nogil=True)
def words(s, w, n):
    """w[:n] = 64-bit words of the lanes: w[r * LANES + l] is the r-th word of lane l; the last
    n % LANES words come from lanes 0, 1, ... only."""
    if s.shape[0] != 4 or s.shape[1] != LANES + 1 or w.size < n or n < 0:
        raise ValueError("words: s must be a generator state (seed_state) and w hold n words")
    rounds = n // LANES
    _lanes_rounds(s, w, rounds)
    i0 = rounds * LANES
    for l in range(n - i0):
        w[i0 + l], s[0, l], s[1, l], s[2, l], s[3, l] = xoshiro(s[0, l], s[1, l], s[2, l], s[3, l])


@njit(cache=True, nogil=True)
def uniform(s):
    """Uniform on the open interval (0, 1), 53 bits, from the single-draw stream."""
    return (float(next_u64(s) >> _U11) + 0.5) * _INV53


@njit(cache=True, nogil=True)
def strip(u):
    """The fast path of the ziggurat for the word u: (layer j, abscissa x, x inside the strip)."""
    j = int64(u & _LOW)
    x = (int64(u) >> _S11) * STRIP[j, 0]
    return j, x, abs(x) < STRIP[j, 1]


@njit(cache=True, nogil=True)
def _wedge_or_tail(s, j, x):
    """The ~0.4 % of words outside the fast strip of layer j (x: their abscissa).
    Returns (accepted, number)."""
    if j == 0:                                     # tail |x| > r: Marsaglia's exponential method
        while True:
            a = -math.log(uniform(s)) / R_TAIL
            b = -math.log(uniform(s))
            if 2.0 * b > a * a:
                return True, (R_TAIL + a) if x > 0 else -(R_TAIL + a)
    y = F_EDGE[j] + uniform(s) * (F_EDGE[j + 1] - F_EDGE[j])     # wedge: accept under the curve
    return y < math.exp(-0.5 * x * x), x


@njit(cache=True, nogil=True)
def normal(s):
    """One standard normal number (ziggurat on the single-draw stream)."""
    while True:
        j, x, inside = strip(next_u64(s))
        if inside:
            return x
        ok, x = _wedge_or_tail(s, j, x)
        if ok:
            return x


@njit(cache=True, nogil=True)
def fill_normal(s, out, n, scratch):
    """out[:n] = independent standard normal numbers; scratch: uint64 array of length >= n.

    Pass 1 draws n words from the lanes (into scratch); pass 2 maps each word through the
    ziggurat's fast path and notes the position of the rare word that falls outside its strip
    (reusing scratch below the words still to be read); pass 3 finishes those with the wedge or
    tail test, and a fresh `normal` if that rejects.  Keeping the rare path out of pass 2 keeps its
    loop short."""
    if out.size < n:
        raise ValueError("fill_normal: out must hold n numbers")
    words(s, scratch, n)
    c = 0
    for i in range(n):
        j, x, inside = strip(scratch[i])
        out[i] = x
        if not inside:
            scratch[c] = (i << _LAYER_BITS) | j    # c <= i: overwrites a word already read
            c += 1
    for r in range(c):
        i, j = int64(scratch[r] >> _LAYER_BITS), int64(scratch[r] & _LOW)
        ok, x = _wedge_or_tail(s, j, out[i])
        out[i] = x if ok else normal(s)


@njit(cache=True, nogil=True)
def chi_square(s, k, x=np.nan):
    """One chi-square number with k >= 0 degrees of freedom (the single-draw stream): the sum of k
    squared normals for k < 16, else 2 Gamma(k/2) by Marsaglia & Tsang's method (2000), exact for
    shape >= 1 (a squeeze, then the log test).  x, if given, is a standard normal number drawn by
    the caller (e.g. from a `fill_normal` buffer) that the method uses as its first candidate."""
    d, c = chi_square_constants(k)
    return chi_square_with(s, k, d, c, x)


@njit(cache=True, nogil=True, inline="always")
def chi_square_constants(k):
    """Marsaglia & Tsang's constants (d, c) of `chi_square` with k degrees of freedom: a caller
    drawing many numbers with one k computes them once and calls `chi_square_with`."""
    d = 0.5 * k - 1.0 / 3.0
    return d, 1.0 / math.sqrt(9.0 * d) if k >= 16 else 0.0


@njit(cache=True, nogil=True, inline="always")
def chi_square_candidate(d, c, x, u):
    """One try of Marsaglia & Tsang's method with constants (d, c) (`chi_square_constants`, k >= 16)
    from a standard normal x and a uniform u on (0, 1): the chi-square number, or NaN if the
    pair is rejected (a caller then draws with `chi_square_with`)."""
    t = 1.0 + c * x
    if t > 0.0:
        t = t * t * t
        if u < 1.0 - 0.0331 * x * x * x * x or math.log(u) < 0.5 * x * x + d * (1.0 - t + math.log(t)):
            return 2.0 * d * t
    return np.nan


@njit(cache=True, nogil=True)
def chi_square_with(s, k, d, c, x=np.nan):
    """`chi_square` (s, k, x) with its constants (d, c) = `chi_square_constants(k)` given."""
    if k < 16:
        acc = 0.0
        for _ in range(k):
            z = normal(s)
            acc += z * z
        return acc
    while True:
        if x != x:
            x = normal(s)
        value = chi_square_candidate(d, c, x, uniform(s))
        if value == value:
            return value
        x = np.nan


@njit(cache=True, nogil=True)
def fill_uniform(s, out, n, scratch):
    """out[:n] = independent uniform numbers on (0, 1) (53 bits, as `uniform`) from the lanes;
    scratch: uint64 array of length >= n."""
    words(s, scratch, n)
    for i in range(n):
        out[i] = (float(scratch[i] >> _U11) + 0.5) * _INV53


def seed_state(seed_sequence):
    """The generator state (uint64, shape (4, LANES + 1)) from a numpy SeedSequence (or anything
    it accepts)."""
    if not isinstance(seed_sequence, np.random.SeedSequence):
        seed_sequence = np.random.SeedSequence(seed_sequence)
    s = seed_sequence.generate_state(4 * (LANES + 1), dtype=np.uint64).reshape(4, LANES + 1)
    s[0, ~s.any(axis=0)] = 1                       # the all-zero state is a fixed point
    return s


@njit(cache=True, nogil=True)
def _standard_normal(s, n):
    out = np.empty(n)
    fill_normal(s, out, n, np.empty(n, np.uint64))
    return out


def standard_normal(state, n):
    """n standard normal numbers as a numpy array; advances `state` (for tests and checks)."""
    return _standard_normal(state, int(n))


__all__ = ["N_LAYERS", "LANES", "R_TAIL", "V_AREA", "xoshiro", "next_u64", "words", "uniform", "normal",
           "fill_normal", "chi_square", "seed_state", "standard_normal"]
