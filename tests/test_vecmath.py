"""odes.gaussian.vecmath: arcsin, erf and exp over arrays, by libmvec's vector functions where the CPU and
glibc have them, against NumPy/SciPy; and the plain-libm fallback, in a fresh process."""
import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit
from scipy.special import erf

from odes.gaussian import vecmath

FUNCTIONS = {"asin": (vecmath.asin_n, np.arcsin), "erf": (vecmath.erf_n, erf),
             "exp": (vecmath.exp_n, np.exp)}


@njit
def _apply(which, x, out, n):
    if which == 0:
        vecmath.asin_n(x, out, n)
    elif which == 1:
        vecmath.erf_n(x, out, n)
    else:
        vecmath.exp_n(x, out, n)


def _points(name, rng):
    """Random points over each function's range, with its edge cases."""
    if name == "asin":
        x = rng.uniform(-1, 1, 997)
        edges = [-1.0, 1.0, 0.0, -0.0, 1e-300, 0.5, -0.5, 1 - 1e-16, np.nextafter(1, 0)]
    elif name == "erf":
        x = np.concatenate([rng.normal(0, 2, 900), rng.uniform(-30, 30, 97)])
        edges = [0.0, 1e-300, -1e-10, 6.0, -6.0, 27.0, 1e300]
    else:
        x = rng.uniform(-740, 700, 997)
        edges = [0.0, -745.0, 709.0, 1e-300, -1e-10]
    return np.concatenate([x, edges])


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_functions_match_numpy_to_a_few_ulp(name):
    """Every element within 4 ulp of NumPy/SciPy (libmvec's documented accuracy) over the range and
    at the edges (asin(+-1), erf's saturation, exp's under- and overflow), whatever the length:
    whole vectors, a tail of single elements, or none at all."""
    _, ref = FUNCTIONS[name]
    which = list(FUNCTIONS).index(name)
    x = _points(name, np.random.default_rng(5))
    want = ref(x)
    tol = 4 * np.spacing(np.abs(want)) + 1e-300
    for n in (x.size, 0, 1, vecmath.WIDTH - 1, vecmath.WIDTH + 1, 3 * vecmath.WIDTH + 5):
        out = np.full(n, np.nan)
        _apply(which, np.ascontiguousarray(x[:n]), out, n)
        bad = ~(np.abs(out - want[:n]) <= tol[:n])
        assert not bad.any(), (name, n, x[:n][bad], out[bad], want[:n][bad])


def test_padded_arrays_are_computed_whole_and_nothing_beyond():
    """With scratch padded to `padded(n)` every element up to there is computed by whole vectors;
    longer arrays are not written past padded(n), and shorter output arrays bound the vectors."""
    n = 2 * vecmath.WIDTH + 3 if vecmath.WIDTH > 1 else 5
    p = vecmath.padded(n)
    assert p % vecmath.WIDTH == 0 and n <= p < n + vecmath.WIDTH
    x = np.linspace(-0.9, 0.9, p + 7)
    out = np.full(p + 7, 7.0)
    _apply(0, x, out, n)
    np.testing.assert_allclose(out[:p], np.arcsin(x[:p]), rtol=1e-15)
    assert np.all(out[p:] == 7.0)
    big = np.full(p + 7, 7.0)
    short = big[:n]                              # an output exactly n long: no vector past it
    _apply(0, x, short, n)
    np.testing.assert_allclose(short, np.arcsin(x[:n]), rtol=1e-15)
    assert np.all(big[n:] == 7.0)


def test_width_follows_the_cpu_and_library():
    """WIDTH is 8 with AVX-512F, 4 with AVX2, else 1, and 1 without libmvec; the symbols it names
    exist in the library it loaded."""
    import ctypes
    features = vecmath._target_features()
    if vecmath.LIBRARY is None:
        assert vecmath.WIDTH == 1
        return
    assert vecmath.WIDTH == (8 if features.get("avx512f") else 4)
    lib = ctypes.CDLL(vecmath.LIBRARY)
    isa = {8: "e", 4: "d"}[vecmath.WIDTH]
    for f in vecmath.FUNCTIONS:
        assert hasattr(lib, f"_ZGV{isa}N{vecmath.WIDTH}v_{f}")


def test_scalar_fallback_when_numba_targets_another_cpu(tmp_path):
    """With NUMBA_CPU_NAME=generic (numba compiles for no particular CPU; a fresh cache) WIDTH is 1,
    no library is loaded and the values come from plain libm; listing the features in
    NUMBA_CPU_FEATURES brings the vector width back (checked without compiling)."""
    code = ("import numpy as np; from odes.gaussian import vecmath as vm; from numba import njit\n"
            "@njit\n"
            "def f(x, a, b, c, n):\n"
            "    vm.asin_n(x, a, n); vm.erf_n(x, b, n); vm.exp_n(x, c, n)\n"
            "x = np.linspace(-0.9, 0.9, 13); a, b, c = (np.zeros(13) for _ in range(3)); f(x, a, b, c, 13)\n"
            "from scipy.special import erf\n"
            "assert vm.WIDTH == 1 and vm.LIBRARY is None, vm.WIDTH\n"
            "np.testing.assert_allclose(a, np.arcsin(x), rtol=1e-15)\n"
            "np.testing.assert_allclose(b, erf(x), rtol=1e-15, atol=1e-300)\n"
            "np.testing.assert_allclose(c, np.exp(x), rtol=1e-15)\n"
            "print('ok')\n")
    env = dict(os.environ, NUMBA_CPU_NAME="generic", NUMBA_CACHE_DIR=str(tmp_path))
    env.pop("NUMBA_CPU_FEATURES", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    env["NUMBA_CPU_FEATURES"] = "+avx2,+fma,-avx512f"
    out = subprocess.run([sys.executable, "-c", "from odes.gaussian import vecmath as vm; print(vm.WIDTH)"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == ("4" if vecmath.LIBRARY else "1"), out.stderr
