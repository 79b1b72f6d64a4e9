"""The simulator's Gaussian generator (interleaved xoshiro256++ and a ziggurat): exactness of the
integer generator, lane by lane, against a pure-Python transcription, the ziggurat's fast path
against the same transcription, and the distribution of its normal numbers against N(0, 1) with
tolerances from standard errors (fixed seeds)."""
import math

import numpy as np
import pytest
from scipy import stats

from simulate import rng

N = 4_000_000
MASK = (1 << 64) - 1


def xoshiro_python(s, n):
    """xoshiro256++ with Python integers (the specification, independent of numba's typing)."""
    s = [int(x) for x in s]
    out = []
    rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & MASK
    for _ in range(n):
        out.append((rotl((s[0] + s[3]) & MASK, 23) + s[0]) & MASK)
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return out, s


@pytest.fixture(scope="module")
def sample():
    return rng.standard_normal(rng.seed_state(20240229), N)


def test_single_stream_matches_python_reference():
    s = rng.seed_state(7)
    expected, state_after = xoshiro_python(s[:, rng.LANES], 1000)
    lanes_before = s[:, :rng.LANES].copy()
    got = [int(rng.next_u64(s)) for _ in range(1000)]
    assert got == expected
    assert [int(x) for x in s[:, rng.LANES]] == state_after
    assert np.array_equal(s[:, :rng.LANES], lanes_before)          # the lanes are untouched


@pytest.mark.parametrize("n", [0, 5, rng.LANES, 37 * rng.LANES + 11])
def test_lanes_match_python_reference(n):
    s = rng.seed_state(11)
    start = s.copy()
    w = np.zeros(n + 3, dtype=np.uint64)
    rng.words(s, w, n)
    assert not w[n:].any()                                            # nothing written past n
    for lane in range(rng.LANES):
        mine = w[lane:n:rng.LANES]
        expected, state_after = xoshiro_python(start[:, lane], mine.size)
        assert [int(x) for x in mine] == expected
        assert [int(x) for x in s[:, lane]] == state_after
    assert np.array_equal(s[:, rng.LANES], start[:, rng.LANES])


def fill_python(state, n):
    """fill_normal transcribed with Python integers and floats: the lanes' words, the ziggurat's
    fast path, and the rejected words finished in order from the single-draw stream."""
    lanes = [xoshiro_python(state[:, lane], -(-n // rng.LANES))[0] for lane in range(rng.LANES)]
    words = [lanes[i % rng.LANES][i // rng.LANES] for i in range(n)]
    single = [int(x) for x in state[:, rng.LANES]]
    x_edge, f_edge, r_tail = rng.X_EDGE, rng.F_EDGE, rng.R_TAIL

    def next_word():
        word, single[:] = xoshiro_python(single, 1)
        return word[0]

    def uniform():
        return ((next_word() >> 11) + 0.5) * 2.0**-53

    def strip(u):
        j = u & (rng.N_LAYERS - 1)
        k = (u - (1 << 64) if u >> 63 else u) >> 11            # the signed top 53 bits
        x = k * (x_edge[j] * 2.0**-52)
        return j, x, abs(x) < x_edge[j + 1]

    def wedge_or_tail(j, x):
        if j == 0:
            while True:
                a = -math.log(uniform()) / r_tail
                b = -math.log(uniform())
                if 2 * b > a * a:
                    return True, math.copysign(r_tail + a, x)
        y = f_edge[j] + uniform() * (f_edge[j + 1] - f_edge[j])
        return y < math.exp(-0.5 * x * x), x

    def normal():
        while True:
            j, x, inside = strip(next_word())
            if inside:
                return x
            ok, x = wedge_or_tail(j, x)
            if ok:
                return x

    out, rejected = [], []
    for i, u in enumerate(words):
        j, x, inside = strip(u)
        out.append(x)
        if not inside:
            rejected.append((i, j))
    for i, j in rejected:
        ok, x = wedge_or_tail(j, out[i])
        out[i] = x if ok else normal()
    return np.array(out), len(rejected), sum(j == 0 for _, j in rejected)


def test_fill_normal_matches_python_transcription():
    n = 120_000
    s = rng.seed_state(5)
    expected, n_rejected, n_tail = fill_python(s.copy(), n)
    got = rng.standard_normal(s, n)
    assert np.array_equal(got, expected)
    assert n_tail > 0                                    # the tail branch was exercised too
    # words outside the fast strips: P = mean over layers of 1 - x_{j+1}/x_j (0.4 % for 1024)
    p = np.mean(1 - rng.X_EDGE[1:] / rng.X_EDGE[:-1])
    assert abs(n_rejected / n - p) < 4.5 * math.sqrt(p * (1 - p) / n)


def test_tables_close_the_ziggurat():
    # every layer, and the base strip with its tail beyond r, has the same area V_AREA under
    # exp(-x^2/2), and the top layer closes at the peak
    x = rng.X_EDGE
    f = np.exp(-0.5 * x**2)
    areas = x[1:-1] * (f[2:] - f[1:-1])
    assert np.allclose(areas, rng.V_AREA, rtol=1e-9)
    r = rng.R_TAIL
    base = r * f[1] + math.sqrt(math.pi / 2) * math.erfc(r / math.sqrt(2))
    assert base == pytest.approx(rng.V_AREA, rel=1e-12)
    assert x[0] * f[1] == pytest.approx(rng.V_AREA, rel=1e-12)
    # N layers of area V cover the area sqrt(pi/2) under the half curve, plus the overhangs
    assert rng.N_LAYERS * rng.V_AREA > math.sqrt(math.pi / 2)
    assert x[-1] == 0.0 and np.all(np.diff(x[1:]) < 0)


def test_moments_within_standard_errors(sample):
    z = sample
    n = z.size
    # standard errors of the sample mean, variance, skewness and excess kurtosis of N(0,1)
    assert abs(z.mean()) < 4.5 / math.sqrt(n)
    assert abs(z.var() - 1) < 4.5 * math.sqrt(2 / n)
    assert abs(stats.skew(z)) < 4.5 * math.sqrt(6 / n)
    assert abs(stats.kurtosis(z)) < 4.5 * math.sqrt(24 / n)
    # sixth moment (15 for N(0,1); variance of z^6 is 10395 - 225)
    assert abs(np.mean(z**6) - 15) < 4.5 * math.sqrt((10395 - 225) / n)


def test_distribution_and_tail(sample):
    z = sample
    assert stats.kstest(z[:1_000_000], "norm").pvalue > 1e-3
    # the tail beyond r is drawn by a separate branch: its frequency and shape
    tail = np.abs(z) > rng.R_TAIL
    p = 2 * stats.norm.sf(rng.R_TAIL)
    assert abs(tail.mean() - p) < 4.5 * math.sqrt(p * (1 - p) / z.size)
    beyond = np.abs(z[tail]) - rng.R_TAIL
    # conditional law of |z| - r given |z| > r: compare its CDF at a few points
    for q in (0.05, 0.15, 0.4):
        cond = stats.norm.sf(rng.R_TAIL + q) / stats.norm.sf(rng.R_TAIL)
        frac = (beyond > q).mean()
        assert abs(frac - cond) < 4.5 * math.sqrt(cond * (1 - cond) / beyond.size)
    # chi-square over 200 equiprobable bins (covers all wedges)
    edges = stats.norm.ppf(np.linspace(0, 1, 201))
    counts = np.histogram(z, edges)[0]
    chi2 = ((counts - z.size / 200) ** 2 / (z.size / 200)).sum()
    assert stats.chi2.sf(chi2, 199) > 1e-3


def test_fill_is_deterministic_and_seeds_differ():
    a = rng.standard_normal(rng.seed_state(3), 1000)
    assert np.array_equal(a, rng.standard_normal(rng.seed_state(3), 1000))
    assert not np.allclose(a[:100], rng.standard_normal(rng.seed_state(4), 100))
    s1, s2 = rng.seed_state(3), rng.seed_state(3)
    singles = [rng.normal(s1) for _ in range(50)]
    assert singles == [rng.normal(s2) for _ in range(50)]
    assert np.array_equal(s1, s2)


def test_short_buffers_are_refused():
    s = rng.seed_state(1)
    with pytest.raises(ValueError, match="hold n words"):
        rng.words(s, np.empty(10, np.uint64), 11)
    with pytest.raises(ValueError, match="generator state"):
        rng.words(s[:, :4].copy(), np.empty(100, np.uint64), 50)
    with pytest.raises(ValueError, match="out must hold n"):
        rng.fill_normal(s, np.empty(5), 6, np.empty(6, np.uint64))
    with pytest.raises(ValueError, match="hold n words"):
        rng.fill_normal(s, np.empty(6), 6, np.empty(5, np.uint64))


def test_consecutive_numbers_uncorrelated(sample):
    z = sample
    for lag in (1, 2, 500):
        r = np.mean(z[:-lag] * z[lag:])
        assert abs(r) < 4.5 / math.sqrt(z.size - lag)


def test_fill_uniform_is_the_lanes_words_on_the_open_interval():
    """fill_uniform maps the lanes' words (checked above against the reference) to (w >> 11 + 1/2)
    / 2^53, as `uniform` does for the single stream: exact values against Python's, none at 0 or
    1, and uniform in law (KS on 10^6 numbers)."""
    s = rng.seed_state(5)
    w = np.zeros(1000, dtype=np.uint64)
    rng.words(s.copy(), w, 1000)
    u = np.zeros(1000)
    rng.fill_uniform(s, u, 1000, np.zeros(1000, dtype=np.uint64))
    assert [float(x) for x in u] == [((int(x) >> 11) + 0.5) * 2.0**-53 for x in w]
    big = np.zeros(10**6)
    rng.fill_uniform(rng.seed_state(6), big, big.size, np.zeros(big.size, dtype=np.uint64))
    assert 0.0 < big.min() and big.max() < 1.0
    assert stats.kstest(big, "uniform").pvalue > 1e-4
