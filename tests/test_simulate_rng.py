"""The simulator's Gaussian generator (xoshiro256++ and a ziggurat): exactness of the integer
generator against a pure-Python transcription, and the distribution of its normal numbers against
N(0, 1) with tolerances from standard errors (fixed seeds)."""
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


def test_xoshiro_matches_python_reference():
    s = rng.seed_state(7)
    expected, state_after = xoshiro_python(s, 1000)
    got = [int(rng.next_u64(s)) for _ in range(1000)]
    assert got == expected
    assert [int(x) for x in s] == state_after


def test_tables_close_the_ziggurat():
    # the tail start of a 256-layer ziggurat, solved here; every layer has area V_AREA
    assert rng.R_TAIL == pytest.approx(3.6541528853610088, rel=1e-12)
    x = rng.X_SCALED * 2.0**52
    f = np.exp(-0.5 * x**2)
    areas = x[1:-1] * (f[2:] - f[1:-1])
    assert np.allclose(areas, rng.V_AREA, rtol=1e-9)
    assert x[0] * f[1] == pytest.approx(rng.V_AREA, rel=1e-12)


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


def test_fill_equals_repeated_calls_and_seeds_differ():
    s1, s2 = rng.seed_state(3), rng.seed_state(3)
    out = np.empty(1000)
    rng.fill_normal(s1, out, 1000)
    assert np.array_equal(out, [rng.normal(s2) for _ in range(1000)])
    assert np.array_equal(s1, s2)
    a = rng.standard_normal(rng.seed_state(3), 100)
    b = rng.standard_normal(rng.seed_state(4), 100)
    assert not np.allclose(a, b)
    assert np.array_equal(a, rng.standard_normal(rng.seed_state(3), 100))


def test_consecutive_numbers_uncorrelated(sample):
    z = sample
    for lag in (1, 2, 500):
        r = np.mean(z[:-lag] * z[lag:])
        assert abs(r) < 4.5 / math.sqrt(z.size - lag)
