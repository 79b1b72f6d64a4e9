"""Speed of the online-SGD simulator (a script, not a test): ``python benchmarks/simulate.py``.

Prints, at D = 500, K = M = 2 on one core:
* SGD steps/s of every rule (`simulate.run`, one seed, one job);
* the ratio to a plain NumPy loop doing the same BP step per input;
* the ratio to the rate at which the same compiled loop can merely draw the D Gaussian inputs per
  step (the generator's limit), and, for reference, numba's own np.random.standard_normal;
* the wall time of 2 seeds on 2 workers relative to 1 seed;
* rows with weight decay and with the linear and ReLU activations, against erf's rate;
* exact PEPITA with weight mirroring (B = 1 and 8 noise inputs per step: each a pass of D
  numbers through the K students and F, and one more over F) and the rule ff, against PEPITA's.
Targets: BP >= 2e5 steps/s, exact PEPITA >= 1.2e5, >= 60 % of the drawing limit, >= 20x NumPy,
2 seeds on 2 cores <= 1.2x one seed.

``python benchmarks/simulate.py --overlaps``: the exact overlap sampler (`simulate.overlaps`)
instead: its steps/s per core for bp and pepita at D = 500, 10^5 and 10^6 (K = M = 2; 128 seeds on
one job, which it runs in lockstep; and one seed alone) and at K = M = 10, and its speed-up over
the weights sampler (one seed at a time, so its rate per core is one seed's) timed in the same
interleaved rounds at D = 500 and D = 10^5 (the latter on a short run).  Targets (issue 22): >= 5e6 steps/s for bp, >= 2e6 for pepita, at
both D; >= 8x the weights at D = 500, >= 1000x at D = 10^5.
"""
import argparse
import math
import os
import sys
import time

# this file is named like the package: import the package from the repository root, not itself
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402
from scipy.special import erf  # noqa: E402

import simulate  # noqa: E402
from simulate.kernel import padded_rows  # noqa: E402
from simulate.rng import fill_normal, seed_state  # noqa: E402

RULES = ("bp", "fa", "afa", "pepita-lin", "pepita")
LOCKSTEP = 128         # seeds of the overlap sampler's timings (two groups of simulate.overlaps.GROUP)
DECAY_RULES = ("bp", "pepita")
ACTIVATION_RULES = ("bp", "pepita")
MIRROR_BATCHES = (1, 8)   # noise inputs per mirroring step of the weight-mirroring rows


def sgd_timer(rule, D, steps, K=2, M=2, weight_decay=0.0, activation="erf", sampler="weights",
              seeds=1, **extra):
    """A function that runs `steps` SGD steps in all (steps/seeds for each of `seeds` seeds, one
    job) and returns the seconds it took; extra: more keywords of simulate.run (mirroring)."""
    # a small F keeps the adaptive rules finite over the run; the cost does not depend on values
    kw = dict(times=[0, steps / seeds / D], seeds=list(range(seeds)), jobs=1,
              sigma_F=0.1 / math.sqrt(D), progress=False,
              weight_decay=weight_decay, activation=activation, sampler=sampler, **extra)
    simulate.run(rule, K, M, D, 0.05, **dict(kw, times=[0, 10 / D]))         # compile / load

    def go():
        t0 = time.perf_counter()
        sim = simulate.run(rule, K, M, D, 0.05, **kw)
        dt = time.perf_counter() - t0
        assert set(sim.status) == {"ok"}, f"{rule} diverged during the benchmark"
        return dt
    return go


@njit(cache=True, nogil=True)
def draw_only(state, D, n):
    """The generator's limit: the kernel's input drawing alone, n steps of D numbers."""
    x = padded_rows(1, D)[0, :D]                 # aligned as in the kernel
    sc = np.empty(D, np.uint64)
    acc = 0.0
    for _ in range(n):
        fill_normal(state, x, D, sc)
        acc += x[0]
    return acc


@njit(cache=True)
def draw_numba_random(D, n):
    x = np.empty(D)
    acc = 0.0
    for _ in range(n):
        for i in range(D):
            x[i] = np.random.standard_normal()
        acc += x[0]
    return acc


def numpy_bp_seconds(D, steps, K=2, M=2, eta=0.05):
    """Seconds for `steps` steps of plain NumPy, one input per step: the BP step of theory.md
    Appendix B."""
    w = simulate.draw_weights(K, M, D, 0)
    W, v = w.W.copy(), w.v.copy()
    rng = np.random.default_rng(1)
    sq = math.sqrt(D)
    g = lambda z: erf(z / math.sqrt(2))
    t0 = time.perf_counter()
    for _ in range(steps):
        x = rng.standard_normal(D)
        y = w.v_star @ g(w.W_star @ x / sq)
        lam = W @ x / sq
        h = g(lam)
        e = v @ h - y
        W -= (eta / sq) * np.outer(v * math.sqrt(2 / math.pi) * np.exp(-lam * lam / 2) * e, x)
        v -= (eta / D) * e * h
    return time.perf_counter() - t0


def _seconds(fn, *args, **kwargs):
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t0


def parallel_ratio(D, steps, repeat):
    """Wall time of 1 seed on 1 worker and of 2 seeds on 2 workers (best of interleaved rounds),
    and the CPU time / wall time of the latter (2 if the threads really ran at once, whatever
    else loads the machine)."""
    kw = dict(times=[0, steps / D], progress=False)
    one = two = math.inf
    cpu = 0.0
    for _ in range(repeat):
        one = min(one, _seconds(simulate.run, "bp", 2, 2, D, 0.05, seeds=[0], jobs=1, **kw))
        c0 = time.process_time()
        wall = _seconds(simulate.run, "bp", 2, 2, D, 0.05, seeds=[0, 1], jobs=2, **kw)
        two, cpu = min(two, wall), max(cpu, (time.process_time() - c0) / wall)
    return one, two, cpu


def overlaps_section(rep):
    """Steps/s of the overlap sampler and its ratio to the weights sampler (interleaved rounds).

    The overlap sampler runs the seeds of a job in lockstep (`simulate.overlaps.GROUP` at a
    time), so its rate per core is timed on many seeds (LOCKSTEP, on one job: the rate of a sweep
    or of a run with `seeds` >> `jobs`) and, for reference, on one seed alone.  The weights
    sampler runs one seed at a time whatever the number of seeds: its rate per core is that of
    one seed."""
    n_chain, n_w500, n_w1e5 = 4_000_000, 300_000, 20_000
    many = LOCKSTEP
    timers, steps = {}, {}
    for rule in ("bp", "pepita"):
        for D in (500, 10**5, 10**6):
            timers[(rule, "overlaps", D)] = sgd_timer(rule, D, n_chain, sampler="overlaps",
                                                      seeds=many)
            steps[(rule, "overlaps", D)] = n_chain
        timers[(rule, "overlaps 1 seed", 500)] = sgd_timer(rule, 500, n_chain // 4,
                                                           sampler="overlaps")
        steps[(rule, "overlaps 1 seed", 500)] = n_chain // 4
        for D, n in ((500, n_w500), (10**5, n_w1e5)):
            timers[(rule, "weights", D)] = sgd_timer(rule, D, n)
            steps[(rule, "weights", D)] = n
        timers[(rule, "overlaps K=10", 500)] = sgd_timer(rule, 500, n_chain // 10, K=10, M=10,
                                                         sampler="overlaps", seeds=many)
        steps[(rule, "overlaps K=10", 500)] = n_chain // 10
    best = {key: math.inf for key in timers}
    for _ in range(rep):
        for key, timer in timers.items():
            best[key] = min(best[key], timer())
    rate = {key: steps[key] / best[key] for key in timers}
    print(f"overlap sampler, one core, best of {rep} interleaved rounds; {many} seeds in lockstep "
          f"unless said; load average {os.getloadavg()[0]:.2f}")
    checks = []
    for rule in ("bp", "pepita"):
        for D in (500, 10**5, 10**6):
            print(f"{rule:>7} K=M=2  D={D:<8d} overlaps {rate[(rule, 'overlaps', D)]:10.4g} steps/s")
        print(f"{rule:>7} K=M=2  D=any      overlaps {rate[(rule, 'overlaps 1 seed', 500)]:10.4g} "
              f"steps/s  (one seed alone)")
        print(f"{rule:>7} K=M=10 D=any      overlaps {rate[(rule, 'overlaps K=10', 500)]:10.4g} steps/s")
        for D in (500, 10**5):
            ratio = rate[(rule, "overlaps", D)] / rate[(rule, "weights", D)]
            print(f"{rule:>7} K=M=2  D={D:<8d} weights  {rate[(rule, 'weights', D)]:10.4g} steps/s"
                  f"   overlaps / weights {ratio:8.1f}x")
            checks.append((f"{rule} overlaps >= {8 if D == 500 else 1000}x weights at D = {D}",
                           ratio >= (8 if D == 500 else 1000)))
        need = 5e6 if rule == "bp" else 2e6
        checks.append((f"{rule} overlaps >= {need:.0e} steps/s at D = 500 and 1e6",
                       min(rate[(rule, "overlaps", 500)], rate[(rule, "overlaps", 10**6)]) >= need))
    for what, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {what}")
    return 0 if all(ok for _, ok in checks) else 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--D", type=int, default=500)
    p.add_argument("--steps", type=int, default=300_000, help="SGD steps per timing")
    p.add_argument("--repeat", type=int, default=5, help="best of this many timings")
    p.add_argument("--overlaps", action="store_true", help="the overlap sampler's section only")
    args = p.parse_args(argv)
    D, n, rep = args.D, args.steps, args.repeat
    if args.overlaps:
        return overlaps_section(rep)

    # every timing is repeated in rounds that interleave all of them, and the best of each is
    # kept, so that a slow spell of the machine does not bias one ratio
    s = seed_state(0)
    draw_only(s, D, 10)
    draw_numba_random(D, 10)
    nr_steps, np_steps = max(1, n // 10), max(1, n // 30)
    timers = {"draw": lambda: _seconds(draw_only, s, D, n),
              "numba": lambda: _seconds(draw_numba_random, D, nr_steps),
              "numpy": lambda: numpy_bp_seconds(D, np_steps)}
    timers.update({rule: sgd_timer(rule, D, n) for rule in RULES})
    timers.update({rule + " +wd": sgd_timer(rule, D, n, weight_decay=0.1) for rule in DECAY_RULES})
    for act in ("linear", "relu"):
        timers.update({f"{rule} {act}": sgd_timer(rule, D, n, activation=act)
                       for rule in ACTIVATION_RULES})
    timers.update({f"pepita +WM B={B}": sgd_timer("pepita", D, n, mirror_eta=0.01,
                                                  mirror_batch=B, mirror_fixed_norm=True)
                   for B in MIRROR_BATCHES})
    timers["ff"] = sgd_timer("ff", D, n)
    best = {name: math.inf for name in timers}
    for _ in range(rep):
        for name, timer in timers.items():
            best[name] = min(best[name], timer())
    draw_rate, numba_rate, np_rate = n / best["draw"], nr_steps / best["numba"], np_steps / best["numpy"]
    rates = {rule: n / best[rule] for rule in RULES}
    decay = {rule: n / best[rule + " +wd"] for rule in DECAY_RULES}
    acts = {(rule, act): n / best[f"{rule} {act}"] for rule in ACTIVATION_RULES
            for act in ("linear", "relu")}

    print(f"D = {D}, K = M = 2, one core, best of {rep} interleaved rounds; {n} steps per timing")
    print(f"drawing limit (ziggurat on xoshiro256++, D inputs/step): {draw_rate:12.4g} steps/s "
          f"({1e9 / (draw_rate * D):.2f} ns per number)")
    print(f"  numba np.random.standard_normal, same loop:              {numba_rate:12.4g} steps/s "
          f"({1e9 / (numba_rate * D):.2f} ns per number)")
    print(f"plain NumPy BP loop:                                       {np_rate:12.4g} steps/s")
    print(f"{'rule':>11} {'steps/s':>12} {'/ drawing':>10} {'/ NumPy':>9}")
    for rule in RULES:
        print(f"{rule:>11} {rates[rule]:12.4g} {rates[rule] / draw_rate:10.2f} "
              f"{rates[rule] / np_rate:9.1f}")
    for rule in DECAY_RULES:
        print(f"{rule + ' +wd':>11} {decay[rule]:12.4g} {decay[rule] / draw_rate:10.2f} "
              f"{decay[rule] / np_rate:9.1f}   (weight decay 0.1: {decay[rule] / rates[rule]:.2f}x "
              f"the rate without)")
    for (rule, act), rate in acts.items():
        print(f"{rule + ' ' + act:>11} {rate:12.4g} {rate / draw_rate:10.2f} {rate / np_rate:9.1f}"
              f"   ({act} activation: {rate / rates[rule]:.2f}x the erf rate)")
    for B in MIRROR_BATCHES:
        rate = n / best[f"pepita +WM B={B}"]
        print(f"{'pepita +WM':>11} {rate:12.4g} {rate / draw_rate:10.2f} {rate / np_rate:9.1f}"
              f"   (weight mirroring, B = {B} noise inputs: {rate / rates['pepita']:.2f}x the rate "
              f"without)")
    rate = n / best["ff"]
    print(f"{'ff':>11} {rate:12.4g} {rate / draw_rate:10.2f} {rate / np_rate:9.1f}"
          f"   (Forward-Forward: {rate / rates['pepita']:.2f}x exact PEPITA's rate)")
    one, two, par = parallel_ratio(D, n, rep)
    print(f"bp, {n} steps: 1 seed on 1 worker {one:.3f} s; 2 seeds on 2 workers {two:.3f} s "
          f"(ratio {two / one:.2f}; CPU time / wall time {par:.2f})")
    print(f"load average while measuring: {os.getloadavg()[0]:.2f} (other processes slow the "
          f"2-worker timing)")

    checks = [("BP >= 2e5 steps/s", rates["bp"] >= 2e5),
              ("exact PEPITA >= 1.2e5 steps/s", rates["pepita"] >= 1.2e5),
              ("every rule >= 60 % of the drawing limit", min(rates.values()) >= 0.6 * draw_rate),
              ("BP >= 20x NumPy", rates["bp"] >= 20 * np_rate),
              ("2 seeds on 2 workers <= 1.2x one seed", two <= 1.2 * one),
              ("weight decay within 10 % of the rate without",
               all(decay[r] >= 0.9 * rates[r] for r in DECAY_RULES)),
              ("linear and ReLU within 10 % of erf's rate",
               all(rate >= 0.9 * rates[rule] for (rule, _), rate in acts.items()))]
    for what, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {what}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
