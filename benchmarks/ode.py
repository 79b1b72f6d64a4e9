"""Speed of the ODE right-hand side and integrators (issue targets in brackets).

    python benchmarks/ode.py

Prints right-hand-side evaluations per second of the compiled kernel (called from a compiled loop,
as the integrators do) and the ratio to a plain NumPy implementation of the same right-hand side
contained here, measured in the same run; the time of a full RK4 integration; and the wall time of
the README example run twice in fresh processes (the second run loads the on-disk numba cache).
"""
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

import odes
from odes.rhs import constants, pack, params, rhs_kernel, workspace_size

ROOT = Path(__file__).resolve().parents[1]


# ---- plain NumPy baseline: every integral on index grids, then contractions --------------------
def numpy_rhs_bp(Q, R, T, v, v_star, eta):
    """BP right-hand side (dQ, dR, dv) with NumPy broadcasting over all index tuples."""
    K = len(v)
    C = np.block([[Q, R], [R.T, T]])
    c = np.concatenate([v, -v_star])
    d1 = 1 + np.diag(C)
    I2 = 2 / np.pi * np.arcsin(np.clip(C / np.sqrt(np.outer(d1, d1)), -1, 1))
    # I3[a,b,c] for a < K
    Ca = C[:K]
    lam3 = d1[:K, None] * d1[None, :] - Ca**2                           # (a, c)
    I3 = 2 / np.pi * (C[None, :, :] * d1[:K, None, None] - Ca[:, :, None] * Ca[:, None, :]) \
        / (d1[:K, None, None] * np.sqrt(lam3)[:, None, :])             # (a, b, c)
    # I4[a,b,c,d] for a, b < K
    caa, cbb, cab = d1[:K, None], d1[None, :K], C[:K, :K]
    lam4 = caa * cbb - cab**2                                           # (a, b)
    A4 = lam4[:, :, None, None]
    cac = Ca[:, None, :, None]
    cad = Ca[:, None, None, :]
    cbc = Ca[None, :, :, None]
    cbd = Ca[None, :, None, :]
    ab = cab[:, :, None, None]
    a1, b1 = caa[:, :, None, None], cbb[:, :, None, None]
    lam0 = A4 * C[None, None] - cbc * cbd * a1 - cac * cad * b1 + ab * cac * cbd + ab * cad * cbc
    lam1 = A4 * d1[None, None, :, None] - cbc**2 * a1 - cac**2 * b1 + 2 * ab * cac * cbc
    lam2 = A4 * d1[None, None, None, :] - cbd**2 * a1 - cad**2 * b1 + 2 * ab * cad * cbd
    I4 = 4 / np.pi**2 * np.arcsin(np.clip(lam0 / np.sqrt(lam1 * lam2), -1, 1)) / np.sqrt(A4)
    A = I3 @ c                                                          # (k, j)
    G = np.einsum("klij,i,j->kl", I4, c, c)
    H = I2[:K] @ c
    dR = -eta * v[:, None] * A[:, K:]
    dQ = -eta * v[:, None] * A[:, :K] - eta * (v[:, None] * A[:, :K]).T + eta**2 * np.outer(v, v) * G
    return dQ, dR, -eta * H


@njit(cache=True)
def _repeat_rhs(n, y, dy, K, M, T, vstar, p, par, ws):
    for _ in range(n):
        rhs_kernel(y, dy, K, M, T, vstar, p, par, ws)
        y[0] += 1e-15 * dy[0]       # keep the calls from being hoisted
    return dy[0]


def rate_compiled(state, seconds=1.0):
    y = pack(state, "bp")
    dy, ws = np.zeros_like(y), np.zeros(workspace_size(state.K, state.M))
    T, vs, p = constants(state)
    par = params(state, "bp", 0.5)
    args = (state.K, state.M, T, vs, p, par, ws)
    _repeat_rhs(10, y, dy, *args)
    n = 1000
    while True:
        t0 = time.perf_counter()
        _repeat_rhs(n, y, dy, *args)
        dt = time.perf_counter() - t0
        if dt > seconds:
            return n / dt
        n *= 4


def rate_numpy(state, seconds=1.0):
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        numpy_rhs_bp(state.Q, state.R, state.T, state.v, state.v_star, 0.5)
        n += 1
    return n / (time.perf_counter() - t0)


def main():
    print(f"# tsode {odes.__version__}, ODE benchmark (one core)")
    for K, target in ((2, "rate >= 1e6/s"), (4, "rate >= 2e5/s"), (10, "one RHS < 0.5 ms")):
        st = odes.State.random(K, K, 1000, seed=0)
        ref = numpy_rhs_bp(st.Q, st.R, st.T, st.v, st.v_star, 0.5)
        got = odes.derivatives(st, "bp", 0.5)
        assert np.allclose(ref[0], got["Q"]) and np.allclose(ref[1], got["R"]), "baseline disagrees"
        fast, slow = rate_compiled(st), rate_numpy(st)
        print(f"BP K=M={K:<2d}  compiled {fast:10.3g} RHS/s ({1e6 / fast:8.3f} us/RHS)   "
              f"NumPy {slow:9.3g} RHS/s   ratio {fast / slow:7.1f}x   [target {target}]")
    st = odes.State.random(2, 2, 500, seed=0)
    odes.integrate(st, "bp", 0.05, t_max=1, dt=0.05)
    t0 = time.perf_counter()
    odes.integrate(st, "bp", 0.05, t_max=1000, dt=0.05)
    print(f"BP K=M=2 RK4 dt=0.05 to t=1000: {time.perf_counter() - t0:.4f} s   [target < 0.1 s]")
    cmd = [sys.executable, "-m", "odes", "--rule", "bp", "--K", "2", "--M", "2", "--eta", "0.05",
           "--t-max", "1000", "--quiet"]
    walls = []
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
    print(f"README example `python -m odes ... --t-max 1000`: first run {walls[0]:.2f} s, "
          f"second run {walls[1]:.2f} s   [target second < 2 s]")


if __name__ == "__main__":
    main()
