"""Speed of the ODE right-hand side and of the integrators (issue targets in brackets).

    python benchmarks/ode.py [--full] [--long | --pepita | --baseline-only | --layout]

1. Right-hand-side evaluations per second of the compiled kernel (called from a compiled loop, as
   the steppers do) and the ratio to a plain NumPy implementation of the same right-hand side
   contained here, timed in interleaved rounds; then the ratio to the baseline kernel, the package
   `odes` as of commit BASELINE (extracted with `git archive` into a temporary directory and
   imported as `odes_baseline`), timed in interleaved rounds in the same process (--baseline-only
   runs just this).
2. Long runs: BP K = M = 2, eta = 0.01, t = 1e5 (rtol 1e-8) with dopri5, bdf, scipy-LSODA and RK4
   (dt = 0.01), and K = M = 10, eta = 0.05, t = 1e3 with dopri5 and RK4; each with its error
   against solve_ivp DOP853 at rtol 1e-12 (max over outputs and entries, relative to the entry or
   to 1e-2 of the largest entry at that time).  dopri5, bdf and LSODA are timed in interleaved
   rounds (best of 15 for K = 2, of 2 for K = 10), and LSODA's time is divided by the compiled
   methods'.  RK4's cost is exactly linear in its step count, so it is timed over the first 1/10
   (K = 2) or 1/100 (K = 10) of the run, best of 3, and scaled; its error is that of the full run
   for K = 2 only with --full (--long runs just this section).
3. The README example run twice in fresh processes (the second loads the on-disk numba cache).
(--layout) Whole integrations (dopri5, bdf, rk4, LSODA; closed-form and quadrature kernels)
   against the package as of BEFORE_LAYOUT, before issue 21's restructuring, in interleaved rounds.
(--mirroring) The same integrations against the package as of BEFORE_MIRRORING, before issue 24
   put the mirroring hooks into every kernel (runs without mirroring: bit-identical numbers).
4. Exact PEPITA's right-hand side by quadrature (theory.md 3.6): time per evaluation and relative
   error (max over entries, relative to the largest) against a converged rule (36 nodes per
   dimension at K = M = 2, 12 at K = M = 3), at several node counts, for a state with O(1) AF
   vector, one further into the runaway and a learned one; beside the closed-form pepita-lin
   kernel's time.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

import odes
from odes.rhs import kernel_args, rhs_kernel

ROOT = Path(__file__).resolve().parents[1]
#: the kernel before the vectorised arcsines and the static choice of kernel (issue 10's baseline)
BASELINE = "c7bd12b"
#: the package before issue 21 (the layout by layers, the solver contract, the kernel arguments
#: as one record): `--layout` times whole integrations against it
BEFORE_LAYOUT = "7b370ef"
#: the package before issue 24 (weight mirroring's hooks in every kernel, the rule ff):
#: `--mirroring` times whole integrations without mirroring against it
BEFORE_MIRRORING = "c585567"


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


def repeater(kernel, flat=False):
    """A compiled loop calling `kernel` n times, as the steppers call it: repeat(n, y, dy, args).
    flat=True for a kernel of the packages before issue 21, which took the arguments one by one."""
    if flat:
        @njit
        def repeat_flat(n, y, dy, K, M, T, vstar, p, par, ws, quad):
            for _ in range(n):
                kernel(y, dy, K, M, T, vstar, p, par, ws, quad)
                y[0] += 1e-15 * dy[0]       # keep the calls from being hoisted
            return dy[0]
        return lambda n, y, dy, args: repeat_flat(n, y, dy, args)

    @njit
    def repeat(n, y, dy, args):
        for _ in range(n):
            kernel(y, dy, args)
            y[0] += 1e-15 * dy[0]           # keep the calls from being hoisted
        return dy[0]
    return repeat


_repeat_rhs = repeater(rhs_kernel)


def best_of(fn, rounds):
    best = np.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def rhs_rates(K, rounds=5):
    """(compiled, NumPy) seconds per BP right-hand side, timed in interleaved rounds."""
    st = odes.State.random(K, K, 1000, seed=0)
    ref = numpy_rhs_bp(st.Q, st.R, st.T, st.v, st.v_star, 0.5)
    got = odes.derivatives(st, "bp", 0.5)
    assert np.allclose(ref[0], got["Q"]) and np.allclose(ref[1], got["R"]), "baseline disagrees"
    y, args = kernel_args(st, odes.get_rule("bp"), 0.5)
    dy = np.zeros_like(y)
    _repeat_rhs(10, y, dy, args)
    n_c = max(1000, int(2e5 / K**4))
    n_np = max(20, int(2000 / K**2))
    fast, slow = np.inf, np.inf
    for _ in range(rounds):
        fast = min(fast, best_of(lambda: _repeat_rhs(n_c, y, dy, args), 1) / n_c)
        slow = min(slow, best_of(lambda: [numpy_rhs_bp(st.Q, st.R, st.T, st.v, st.v_star, 0.5)
                                          for _ in range(n_np)], 1) / n_np)
    return fast, slow


def baseline_package(commit=BASELINE):
    """The package `odes` as of `commit`, importable as `odes_baseline` (cached per commit in the
    temporary directory, so that its numba cache survives between runs)."""
    import tempfile
    root = Path(tempfile.gettempdir()) / f"tsode-baseline-{commit}"
    if not (root / "odes_baseline").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "odes"], check=True,
                             capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=tar, check=True)
        (root / "odes").rename(root / "odes_baseline")
    sys.path.insert(0, str(root))
    import odes_baseline
    return odes_baseline


def baseline_rates(rounds=9):
    """{(rule, K): (this kernel, baseline kernel)} seconds per right-hand side, bp and pepita-lin,
    each kernel called from its own compiled loop, in interleaved rounds (best of `rounds`)."""
    old = baseline_package()
    repeat_old = repeater(old.rhs.rhs_kernel, flat=True)

    out = {}
    for rule in ("bp", "pepita-lin"):
        for K in (2, 4, 10):
            cases = []
            for pkg, rep in ((odes, _repeat_rhs), (old, repeat_old)):
                st = pkg.State.random(K, K, 1000, seed=0)
                if rule == "pepita-lin":
                    st = pkg.State(Q=st.Q, R=st.R, T=st.T, v=st.v, v_star=st.v_star,
                                   a=0.1 * np.ones(K), p=0.1 * np.ones(K), phi_F=1.0)
                y, args = pkg.rhs.kernel_args(st, pkg.get_rule(rule), 0.5)
                dy = np.zeros_like(y)
                rep(10, y, dy, args)
                cases.append((rep, y, dy, args))
            assert np.allclose(cases[0][2], cases[1][2], rtol=1e-12, atol=1e-15), "kernels disagree"
            n = max(500, int(2e5 / K**4))
            best = [np.inf, np.inf]
            for _ in range(rounds):
                for i, (rep, y, dy, args) in enumerate(cases):
                    best[i] = min(best[i], best_of(lambda: rep(n, y, dy, args), 1) / n)
            out[(rule, K)] = tuple(best)
    return out


#: whole integrations timed by `layout_rates`: label -> (rule, K, eta, integrate keywords)
LAYOUT_CASES = {
    "bp K=M=2 dopri5 t=1e3": ("bp", 2, 0.5, dict(t_max=1e3)),
    "bp K=M=2 bdf eta=0.01 t=1e5": ("bp", 2, 0.01, dict(t_max=1e5, method="bdf")),
    "bp K=M=2 rk4 t=100": ("bp", 2, 0.5, dict(t_max=100.0, method="rk4")),
    "bp K=M=2 LSODA t=1e3": ("bp", 2, 0.5, dict(t_max=1e3, method="scipy-LSODA")),
    "pepita-lin K=M=3 dopri5 t=300": ("pepita-lin", 3, 0.3, dict(t_max=300.0)),
    "fa K=M=10 dopri5 t=100": ("fa", 10, 0.05, dict(t_max=100.0)),
    "pepita K=M=2 dopri5 t=20": ("pepita", 2, 0.3, dict(t_max=20.0)),
}
_LAYOUT_RUNNER = """
import json, sys, time
import numpy as np
import odes
cases = json.loads(sys.argv[1])
best = {}
for label, (rule, K, eta, kw) in cases.items():
    st = odes.State.random(K, K, 500, 3, sigma_F=np.sqrt(0.5 / 500))
    odes.integrate(st, rule, eta, progress=False, **kw)             # compile / load the cache
    best[label] = float('inf')
    for _ in range(5):
        t0 = time.perf_counter()
        odes.integrate(st, rule, eta, progress=False, **kw)
        best[label] = min(best[label], time.perf_counter() - t0)
print(json.dumps(best))
"""


def source_tree(commit):
    """The package `odes` as of `commit`, extracted into a temporary directory (kept, so that its
    numba cache survives between runs); returns the directory to put on PYTHONPATH."""
    import tempfile
    root = Path(tempfile.gettempdir()) / f"tsode-tree-{commit}"
    if not (root / "odes").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "odes"], check=True,
                             capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=tar, check=True)
    return root


def layout_rates(commit=BEFORE_LAYOUT, rounds=7):
    """{case: (this package, the package at `commit`)} seconds per integration (best over
    `rounds` rounds of fresh processes, this package's and the old one's interleaved, each
    taking the best of 5 runs after a warm-up): the ratio shows what the restructuring of
    issue 21 costs or saves (the trajectories are bit-identical).  The two packages run in
    separate processes, since both are named `odes`."""
    import json
    trees = (ROOT, source_tree(commit))
    cases = json.dumps(LAYOUT_CASES)
    best = {label: [np.inf, np.inf] for label in LAYOUT_CASES}
    for _ in range(rounds):
        for i, tree in enumerate(trees):
            env = dict(os.environ, PYTHONPATH=str(tree))
            out = subprocess.run([sys.executable, "-c", _LAYOUT_RUNNER, cases], env=env, cwd=tree,
                                 check=True, capture_output=True, text=True).stdout
            for label, sec in json.loads(out).items():
                best[label][i] = min(best[label][i], sec)
    return best


def print_layout(commit=BEFORE_LAYOUT, what="issue 21"):
    for label, (new, old) in layout_rates(commit).items():
        print(f"{label:32s} {1e3 * new:9.2f} ms   before {what} ({commit}) {1e3 * old:9.2f} ms"
              f"   new/old {new / old:5.3f}")


def print_baseline():
    for (rule, K), (new, old) in baseline_rates().items():
        print(f"{rule:10s} K=M={K:<2d}  {1e6 * new:9.3f} us/RHS   baseline ({BASELINE}) "
              f"{1e6 * old:9.3f} us/RHS   {old / new:5.2f}x faster")
    print("[targets, BP: K=M=2 <= 0.6 us, K=M=4 <= 4 us]")


def activation_rates(K=2, rounds=5):
    """Seconds per right-hand side of bp and pepita-lin for each activation (K = M = 2),
    interleaved rounds."""
    st = odes.State.random(K, K, 1000, seed=0, sigma_F=0.3 / 30)
    args_of = {}
    for rule in ("bp", "pepita-lin"):
        for act in odes.activations.ACTIVATIONS:
            y, args = kernel_args(st, odes.get_rule(rule), 0.5, activation=act)
            dy = np.zeros_like(y)
            _repeat_rhs(5, y, dy, args)
            args_of[(rule, act)] = (y, dy, args)
    n = 2000
    best = {key: np.inf for key in args_of}
    for _ in range(rounds):
        for key, (y, dy, args) in args_of.items():
            best[key] = min(best[key], best_of(lambda: _repeat_rhs(n, y, dy, args), 1) / n)
    return best


def rel_error(res, ref):
    def flat(r):
        n = len(r.t)
        return np.hstack([r.Q.reshape(n, -1), r.R.reshape(n, -1), r.v])
    Y, Yr = flat(res), flat(ref)
    scale = np.maximum(np.abs(Yr), 1e-2 * np.abs(Yr).max(axis=1, keepdims=True))
    return float((np.abs(Y - Yr) / scale).max())


def long_run(K, eta, t_max, seed, rk4_fraction, rounds, full_rk4=False):
    st = odes.State.random(K, K, 500, seed=seed)
    times = odes.default_times(t_max)
    run = dict(times=times, progress=False)
    ref = odes.integrate(st, "bp", eta, method="scipy-DOP853", rtol=1e-12, atol=1e-14, **run)
    methods = ["dopri5", "bdf"] + (["scipy-LSODA"] if K <= 4 else [])
    for m in methods:                                   # compile / load caches
        odes.integrate(st, "bp", eta, times=[0, 1.0], method=m, progress=False)
    best = {m: np.inf for m in methods}
    out = {}
    for _ in range(rounds):
        for m in methods:
            t0 = time.perf_counter()
            out[m] = odes.integrate(st, "bp", eta, method=m, **run)
            best[m] = min(best[m], time.perf_counter() - t0)
    part = t_max * rk4_fraction
    odes.integrate(st, "bp", eta, times=[0, 1.0], method="rk4", progress=False)
    t_rk4 = best_of(lambda: odes.integrate(st, "bp", eta, times=[0, part], method="rk4",
                                           progress=False), 3) / rk4_fraction
    rows = []
    for m in methods:
        rows.append((m, best[m], out[m].stats["n_rhs"], rel_error(out[m], ref)))
    err_rk4 = np.nan
    if full_rk4:
        err_rk4 = rel_error(odes.integrate(st, "bp", eta, method="rk4", **run), ref)
    rows.append((f"rk4 dt=0.01 (from 1/{round(1 / rk4_fraction)})", t_rk4,
                 4 * round(t_max / 0.01), err_rk4))
    return rows


#: K = M = 2 with an O(1) AF vector: the start of the runaway test (tests/test_simulate_compare.py)
PEPITA_START = dict(Q=[[1.0, 0.1], [0.1, 0.9]], R=[[0.2, 0.0], [0.0, 0.1]], T=np.eye(2),
                    v=[0.5, -0.4], v_star=[1.0, 1.0], a=[0.8, -0.5], p=[0.3, -0.2], phi_F=1.5)


def pepita_states():
    """The runaway test's start, where its exact-PEPITA ODE is at t = 6 (eps_g turning up), and a
    learned state: the same start with a small AF vector and |F|^2 = 0.1, at t = 300."""
    start = odes.State(**PEPITA_START)
    res = odes.integrate(start, "pepita", 0.3, eta_v=0.4, times=[0, 6.0], progress=False)
    later = odes.State(Q=res.Q[-1], R=res.R[-1], T=start.T, v=res.v[-1], v_star=start.v_star,
                       a=res.a[-1], p=start.p, phi_F=start.phi_F)
    small = odes.State(**dict(PEPITA_START, a=[0.05, -0.03], p=[0.1, -0.05], phi_F=0.1))
    res = odes.integrate(small, "pepita", 0.3, times=[0, 300.0], progress=False)
    learned = odes.State(Q=res.Q[-1], R=res.R[-1], T=small.T, v=res.v[-1], v_star=small.v_star,
                         a=res.a[-1], p=small.p, phi_F=small.phi_F)
    return {"a=O(1), t=0": start, "runaway, t=6": later, "learned, t=300": learned}


def pepita_state_3():
    rng = np.random.default_rng(3)
    V = rng.standard_normal((7, 12)) / np.sqrt(12)
    V[4:] += 0.6 * V[3]                    # students correlated with F: O(1) a
    G = V @ V.T * 1.5
    return odes.State(Q=G[4:, 4:], R=G[4:, :3], T=G[:3, :3], v=rng.standard_normal(3),
                      v_star=np.ones(3), a=G[4:, 3], p=G[:3, 3], phi_F=G[3, 3])


def pepita_rows(state, node_counts, ref_nodes, eta=0.3):
    """(nodes, seconds per RHS, relative error vs ref_nodes) rows for exact PEPITA at `state`."""
    rule = odes.get_rule("pepita")

    def flat(nodes):
        d = odes.derivatives(state, rule, eta, nodes=nodes)
        return np.concatenate([x.ravel() for x in d.values()])
    ref = flat(ref_nodes)
    rows = []
    for m in node_counts:
        y, args = kernel_args(state, rule, eta, nodes=m)
        dy = np.zeros_like(y)
        _repeat_rhs(1, y, dy, args)
        n = max(3, int(0.3 / (1e-7 * len(args.quad) * m ** (state.K + state.M - 1))))
        sec = best_of(lambda: _repeat_rhs(n, y, dy, args), 3) / n
        rows.append((m, sec, float(np.abs(flat(m) - ref).max() / np.abs(ref).max())))
    return rows


def pepita_section():
    from odes.gaussian.expectations import default_nodes
    lin = odes.State(**PEPITA_START)
    y, args = kernel_args(lin, odes.get_rule("pepita-lin"), 0.3)
    dy = np.zeros_like(y)
    _repeat_rhs(10, y, dy, args)
    t_lin = best_of(lambda: _repeat_rhs(20000, y, dy, args), 3) / 20000
    print(f"\nExact PEPITA right-hand side by quadrature, eta = 0.3 (closed-form pepita-lin: "
          f"{1e6 * t_lin:.2f} us)")
    cases = [(f"K=M=2, {name}", st, (12, 14, 16, 20), 36) for name, st in pepita_states().items()]
    cases.append(("K=M=3, O(1) a", pepita_state_3(), (6, 8), 12))
    for label, st, counts, ref in cases:
        default = default_nodes(st.K + st.M)
        for m, sec, err in pepita_rows(st, counts, ref):
            mark = "  <- default" if m == default else ""
            print(f"  {label:22s} {m:3d} nodes/dim  {1e3 * sec:9.3f} ms/RHS  rel. error {err:8.1e}  "
                  f"{sec / t_lin:9.0f}x pepita-lin{mark}")
    print("[targets: K=M=2 <= 2 ms (stretch 0.5 ms) at <= 2e-6; K=M=3 <= 40 ms]")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also the error of the full K=2 RK4 run (~1 min)")
    ap.add_argument("--pepita", action="store_true", help="only the exact-PEPITA section")
    ap.add_argument("--long", action="store_true", help="only the long runs")
    ap.add_argument("--baseline-only", action="store_true",
                    help=f"only the right-hand sides against the kernel of {BASELINE}")
    ap.add_argument("--layout", action="store_true",
                    help=f"only whole integrations against the package of {BEFORE_LAYOUT}")
    ap.add_argument("--mirroring", action="store_true",
                    help=f"only whole integrations against the package of {BEFORE_MIRRORING}")
    args = ap.parse_args()
    print(f"# tsode {odes.__version__}, ODE benchmark (one core); load average "
          f"{os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    if args.baseline_only:
        print_baseline()
        return
    if args.layout:
        print_layout()
        return
    if args.mirroring:
        print_layout(BEFORE_MIRRORING, "issue 24")
        return
    if args.pepita:
        pepita_section()
        return
    if not args.long:
        rhs_section()
    long_runs(args.full)
    if args.long:
        return
    readme_example()
    pepita_section()


def rhs_section():
    for K in (2, 4, 10):
        fast, slow = rhs_rates(K)
        print(f"BP K=M={K:<2d}  compiled {1e6 * fast:9.3f} us/RHS   NumPy {1e6 * slow:9.1f} us/RHS   "
              f"ratio {slow / fast:7.1f}x")
    print_baseline()
    rates = activation_rates()
    for rule in ("bp", "pepita-lin"):
        print(f"{rule} K=M=2 by activation: " + "   ".join(
            f"{act} {1e6 * rates[(rule, act)]:8.2f} us/RHS ({rates[(rule, act)] / rates[(rule, 'erf')]:.2f}x erf)"
            for act in odes.activations.ACTIVATIONS))


def long_runs(full):
    for K, eta, t_max, seed, frac in ((2, 0.01, 1e5, 1, 0.1), (10, 0.05, 1e3, 0, 0.01)):
        print(f"\nBP K=M={K}, eta={eta}, t={t_max:g}, seed {seed}, rtol 1e-8 (100 log-spaced outputs)")
        rows = long_run(K, eta, t_max, seed, frac, rounds=15 if K == 2 else 2, full_rk4=full and K == 2)
        base = rows[0][1]
        for name, sec, n_rhs, err in rows:
            err_s = f"{err:9.2e}" if np.isfinite(err) else "        -"
            print(f"  {name:32s} {sec:9.4f} s  {n_rhs:9d} RHS   rel. error {err_s}   "
                  f"{sec / base:8.1f}x dopri5's time")
        sec = {name: s for name, s, _, _ in rows}
        if "scipy-LSODA" in sec:
            print("  scipy-LSODA's time / " + ", ".join(
                f"{m}'s {sec['scipy-LSODA'] / sec[m]:.1f}x" for m in ("dopri5", "bdf")))
    print("\n[targets: K=2 a compiled adaptive method >= 10x faster than scipy-LSODA and >= 100x than RK4; "
          "K=10 >= 20x faster than RK4 (the old default)]")


def readme_example():
    cmd = [sys.executable, "-m", "odes", "--rule", "bp", "--K", "2", "--M", "2", "--eta", "0.05",
           "--t-max", "1000", "--quiet"]
    walls = []
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
    print(f"\nREADME example `python -m odes ... --t-max 1000`: first run {walls[0]:.2f} s, "
          f"second run {walls[1]:.2f} s   [target second < 2 s]")


if __name__ == "__main__":
    main()
