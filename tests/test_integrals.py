"""The closed-form Gaussian integrals against Monte-Carlo estimates and exact values."""
import itertools
import math

import numpy as np
import pytest
from scipy.special import erf

from odes.gaussian import integrals
from conftest import random_gram

N_MC = 400_000
Z = 5.0      # tolerance in standard errors; 5 sigma over a few hundred tuples fails by chance < 1e-4


def g(x):
    return erf(x / math.sqrt(2))


def gp(x):
    return math.sqrt(2 / math.pi) * np.exp(-x * x / 2)


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(7)
    C = random_gram(4, rng)
    u = rng.multivariate_normal(np.zeros(4), C, size=N_MC)
    return C, u, g(u), gp(u)


def check(exact, draws_of, tuples):
    worst = 0.0
    for idx in tuples:
        x = draws_of(*idx)
        mean, se = x.mean(), x.std() / math.sqrt(len(x))
        dev = abs(exact[idx] - mean) / se
        worst = max(worst, dev)
        assert dev < Z, f"index {idx}: closed form {exact[idx]:.6f}, Monte Carlo {mean:.6f} +- {se:.1e}"
    return worst


def test_I2_J2_Eg1(samples):
    C, u, G, Gp = samples
    pairs = list(itertools.product(range(4), repeat=2))
    check(integrals.I2(C), lambda a, b: G[:, a] * G[:, b], pairs)
    check(integrals.J2(C), lambda a, b: Gp[:, a] * Gp[:, b], pairs)
    check(integrals.Eg1(C), lambda a: Gp[:, a], [(a,) for a in range(4)])


def test_I3(samples):
    C, u, G, Gp = samples
    check(integrals.I3(C), lambda a, b, c: Gp[:, a] * u[:, b] * G[:, c],
          list(itertools.product(range(4), repeat=3)))


def test_I3g(samples):
    C, u, G, Gp = samples
    check(integrals.I3g(C), lambda a, c, d: Gp[:, a] * G[:, c] * G[:, d],
          list(itertools.product(range(4), repeat=3)))


def test_I4(samples):
    C, u, G, Gp = samples
    check(integrals.I4(C), lambda a, b, c, d: Gp[:, a] * Gp[:, b] * G[:, c] * G[:, d],
          list(itertools.product(range(4), repeat=4)))


def test_exact_values():
    # I2 of one field with variance Q: (2/pi) arcsin(Q/(1+Q)); Q = 0.7 gives 0.270175 (theory.md 6.1)
    assert integrals.I2(np.array([[0.7]]))[0, 0] == pytest.approx(0.270175, abs=1e-6)
    # unit variance: E[g^2] = 1/3, E[g'^2] = (2/pi)/sqrt(3), E[g'] = 1/sqrt(pi)
    C = np.eye(1)
    assert integrals.I2(C)[0, 0] == pytest.approx(1 / 3, rel=1e-14)
    assert integrals.J2(C)[0, 0] == pytest.approx(2 / math.pi / math.sqrt(3), rel=1e-14)
    assert integrals.Eg1(C)[0] == pytest.approx(1 / math.sqrt(math.pi), rel=1e-14)
    # independent fields: I4 and I3 factorise; I3(a,b,c) with b independent of a and c is 0
    C = np.eye(3)
    assert integrals.I4(C)[0, 1, 2, 2] == pytest.approx((1 / math.sqrt(math.pi)) ** 2 / 3, rel=1e-14)
    assert integrals.I3(C)[0, 1, 2] == 0.0


def test_arcsin_clipped_at_perfect_correlation():
    # two copies of one field: correlation exactly 1 up to round-off; no NaN
    C = np.full((2, 2), 1.0 + 1e-16)
    C[0, 0] = C[1, 1] = 1.0
    for f in (integrals.I2, integrals.I4, integrals.I3g):
        assert np.all(np.isfinite(f(C)))
    assert integrals.I2(C)[0, 1] == pytest.approx(1 / 3, rel=1e-12)
