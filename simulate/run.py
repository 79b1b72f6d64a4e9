"""Run online SGD for several seeds in parallel: `run(...) -> Simulation`.

Seed s draws its teacher, student, F and b with `odes.weights.draw_weights(K, M, D, s)` (the same
draw that the ODE side's ``--seed s`` uses) and its inputs and label noise from the fourth
("data") stream of the same SeedSequence, which seeds the kernel's own xoshiro256++ generator; a
Monte-Carlo test set, when requested, comes from a child of that data stream.  Each seed owns all
of its state, so the numbers do not depend on `jobs`.  The compiled kernel releases the GIL and
seeds run on a thread pool.
"""
import math
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
from tqdm.auto import tqdm

import odes
from odes.activations import activation_code, g_numpy
from odes.divergence import BLOWUP
from odes.rules import codes, ff_keywords, ff_options, get_rule
from odes.weights import (STUDENT_INITS, V_STAR_INITS, Weights, check_sizes, default_sigma_F,
                          draw_weights)

from . import kernel, overlaps
from .result import STATUS_DIVERGED, STATUS_OK, Simulation
from .rng import seed_state


class DivergenceWarning(RuntimeWarning):
    """Some seeds of a simulation diverged (their weights blew up)."""


_NS_PER_MAC = 0.6     # rough cost of the kernel per multiply-add, for the progress-bar decision
_NS_PER_CHAIN_STEP = 150.0    # rough cost of one step of the overlap chain, one seed (K = M = 2)
#: the samplers of `run`: the D-dimensional weights, or the exact overlap chain (theory.md 10.1)
SAMPLERS = ("weights", "overlaps")


def _finite_nonneg(name, x, allow_none=False):
    if x is None and allow_none:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {x!r}") from None
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {x!r}")
    return x


def _positive_int(name, x):
    try:
        ok = int(x) == x and int(x) >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    return int(x)


def seed_list(seeds, seed=0):
    """Seeds as a list of ints: `seeds` itself if a sequence, else seed, seed+1, ..., seed+seeds-1."""
    if np.ndim(seeds) == 0:
        n = _positive_int("seeds", seeds)
        base = int(seed)
        if base != seed or base < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        return list(range(base, base + n))
    out = [int(s) for s in seeds]
    if not out or any(s < 0 or s != t for s, t in zip(out, seeds)):
        raise ValueError(f"seeds must be non-negative integers, got {seeds!r}")
    return out


def record_steps(D, times=None, t_max=None, dt=0.01):
    """Integer step counts step = round(t D) of the record times and the exact times step/D.

    Step 0 (the initial state, the ODE's handoff) is always included and duplicates are merged.
    Default times: `odes.default_times(t_max, dt)`."""
    if times is None:
        if t_max is None:
            raise ValueError("give t_max or times")
        times = odes.default_times(_finite_nonneg("t_max", t_max), dt)
    times = np.asarray(times, dtype=float).ravel()
    if times.size == 0 or not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ValueError("times must be finite and >= 0")
    if np.any(np.diff(times) < 0):
        raise ValueError("times must be increasing")
    steps = np.unique(np.concatenate([[0], np.round(times * D).astype(np.int64)]))
    return steps, steps / D


def check_params(rule, K, M, D, eta, eta_v=None, sigma=0.0, sigma_F=None, init="large",
                 v_star="gaussian", n_test=0, jobs=1, activation="erf", sampler="weights"):
    """Validate the parameters of a run; returns (Rule, eta, eta_v, sigma, sigma_F).

    The checks `run` makes before anything is drawn, with the same parameters (see there).

    Parameters
    ----------
    rule, K, M, D, eta, eta_v, sigma, sigma_F, init, v_star, n_test, jobs, activation, sampler
        As in `run`.

    Returns
    -------
    rule : Rule
        The rule, looked up if given by name.
    eta, eta_v, sigma : float
        The rates and the noise, eta_v defaulting to eta.
    sigma_F : float or None
        As given (None: the default of `odes.weights.draw_weights`).

    Raises
    ------
    ValueError
        For an unknown rule, activation, init, v_star or sampler; K, M, D or jobs not a positive
        integer; a rate, sigma or sigma_F not finite and >= 0; n_test not an integer >= 0, or not
        0 with sampler 'overlaps'; D below the number of vectors of the overlap chain; or (with
        sampler 'weights') weights that do not fit in memory.

    Examples
    --------
    >>> import simulate
    >>> simulate.check_params("bp", K=2, M=2, D=500, eta=0.5)[1:]
    (0.5, 0.5, 0.0, None)
    """
    rule = get_rule(rule) if isinstance(rule, str) else rule
    activation_code(activation)
    for name, x in (("K", K), ("M", M), ("D", D), ("jobs", jobs)):
        _positive_int(name, x)
    check_sampler(sampler, n_test, K, M, D, rule)
    if sampler == "weights":            # the overlap chain keeps no D-dimensional vectors
        check_sizes(K, M, D)
    eta = _finite_nonneg("eta", eta)
    eta_v = eta if eta_v is None else _finite_nonneg("eta_v", eta_v)
    sigma = _finite_nonneg("sigma", sigma)
    sigma_F = _finite_nonneg("sigma_F", sigma_F, allow_none=True)
    if init not in STUDENT_INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {', '.join(STUDENT_INITS)}")
    if v_star not in V_STAR_INITS:
        raise ValueError(f"unknown v_star {v_star!r}; choose one of {', '.join(V_STAR_INITS)}")
    if int(n_test) != n_test or n_test < 0:
        raise ValueError(f"n_test must be an integer >= 0, got {n_test!r}")
    return rule, eta, eta_v, sigma, sigma_F


def check_sampler(sampler, n_test=0, K=1, M=1, D=1, rule=None):
    """ValueError (one line) unless `sampler` is one of SAMPLERS and the run can use it: the
    overlap chain has no weights, so no held-out test set (n_test), and needs D >= the number of
    vectors it follows."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if sampler == "overlaps":
        if n_test:
            raise ValueError("n_test: a held-out test set needs the weights, which the overlaps "
                             "sampler does not keep; use sampler='weights'")
        r = K + M + (1 if rule is not None and rule.uses_F else 0)
        if D < r:
            raise ValueError(f"D = {D}: the overlaps sampler needs D >= {r}, the number of vectors "
                             f"whose overlaps it follows")


def data_seed_sequences(seed):
    """(kernel stream, test-set stream): children of the data stream of `odes.weights.streams`."""
    data = np.random.SeedSequence(seed).spawn(4)[3]
    return data.spawn(2)


class _SeedRun:
    """One seed's weights, generator and output arrays, advanced in chunks by the kernel."""

    def __init__(self, seed, weights, rule, steps, flags, par, n_test, activation="erf",
                 pre_steps=0):
        self.seed, self.steps = seed, steps
        w = weights.copy()
        self.W, self.W_star = np.ascontiguousarray(w.W), np.ascontiguousarray(w.W_star)
        self.v, self.v_star = np.ascontiguousarray(w.v), np.ascontiguousarray(w.v_star)
        self.F, self.b = np.ascontiguousarray(w.F), np.ascontiguousarray(w.b)
        K, D = self.W.shape
        M = self.W_star.shape[0]
        self.K, self.M, self.D = K, M, D
        self.initial = odes.State.from_weights(self.W, self.W_star, self.v, self.v_star,
                                               F=self.F if rule.uses_F else None,
                                               b=self.b if rule.feedback_name == "b" else None)
        # the student's state of kernel.sgd_steps: W = u, alpha = 0 and UF = u . F
        self.alpha, self.UF = np.zeros(K), np.zeros(K)
        kernel.fold(self.W, self.F, self.alpha, self.UF)
        kern_ss, test_ss = data_seed_sequences(seed)
        self.rng = seed_state(kern_ss)
        if n_test:
            X = np.random.default_rng(test_ss).standard_normal((n_test, D))
            y = g_numpy(activation, X @ self.W_star.T / np.sqrt(D)) @ self.v_star   # clean labels
        else:
            X, y = np.zeros((0, D)), np.zeros(0)
        self.X_test, self.y_test = X, y
        n = steps.size
        self.Q, self.R = np.zeros((n, K, K)), np.zeros((n, K, M))
        self.v_rec, self.f_rec, self.test = np.zeros((n, K)), np.zeros((n, K)), np.zeros(n)
        self.p_rec, self.phi_rec = np.zeros((n, M)), np.zeros(n)
        self.flags, self.par = flags, par
        self.step, self.r, self.status = 0, 0, kernel.OK
        # pre-mirroring: mirroring steps alone (kernel.P_FROZEN) before step 0 of learning
        self.pre_left, self.pre_done = int(pre_steps), 0
        if self.pre_left:
            self.par_frozen = par.copy()
            self.par_frozen[kernel.P_FROZEN] = 1.0

    @property
    def done(self):
        return self.status != kernel.OK or (self.r >= self.steps.size and not self.pre_left)

    @property
    def ns_per_step(self):
        """Rough cost of a step in nanoseconds (chunk size and progress-bar decision): with
        mirroring, B more passes of K + 3 rows and a fold."""
        extra = 0
        if self.par.size > kernel.P_MIRROR_ETA and self.par[kernel.P_MIRROR_ETA] != 0.0:
            extra = self.par[kernel.P_MIRROR_BATCH] * (self.K + 3) + self.K + 2
        return _NS_PER_MAC * (self.K + self.M + 2 + extra) * self.D

    n_seeds = 1

    def skipped(self):
        """The steps it will not take if it diverged (for the progress bar)."""
        return int(self.steps[-1]) - self.step + self.pre_left

    @property
    def lanes(self):
        return [self]

    def advance(self, n_steps):
        """Run up to n_steps more steps (pre-mirroring first); returns the number done."""
        if self.pre_left:
            n = min(n_steps, self.pre_left)
            _, self.pre_done = kernel.sgd_steps(
                self.W, self.alpha, self.UF, self.W_star, self.v, self.v_star, self.F, self.b,
                self.flags, self.par_frozen, self.rng, self.pre_done, self.pre_done + n)
            self.pre_left -= n
            return n
        stop = min(self.step + n_steps, int(self.steps[-1]))
        before = self.step
        self.status, self.step, self.r = kernel.advance(
            self.W, self.alpha, self.UF, self.W_star, self.v, self.v_star, self.F, self.b,
            self.flags, self.par,
            self.rng, self.step, stop, self.steps, self.r, self.X_test, self.y_test,
            self.Q, self.R, self.v_rec, self.f_rec, self.test, self.p_rec, self.phi_rec)
        return self.step - before


class _OverlapGroup:
    """Seeds of the overlap chain (`simulate.overlaps`) run in lockstep, one per lane: their
    overlap matrices S (r x r x lanes), v, generators and output arrays, advanced in chunks; the
    interface of `_SeedRun`, with `lanes` the per-seed records."""

    def __init__(self, seeds, starts, rule, steps, flags, par, D, pre_steps=0):
        G = self.n_seeds = len(seeds)
        self.seeds, self.steps, self.D = list(seeds), steps, D
        self.S = np.ascontiguousarray(np.stack([np.array(s[0], float) for s in starts], axis=-1))
        self.v, self.v_star, self.b = (np.array([np.array(s[i], float) for s in starts])
                                       for i in (1, 2, 3))
        self.K, self.M = self.v.shape[1], self.v_star.shape[1]
        self.initial = [overlaps.state_of(self.S[:, :, g], self.v[g], self.v_star[g], self.b[g],
                                          rule) for g in range(G)]
        self.rng = np.stack([seed_state(data_seed_sequences(s)[0]) for s in seeds])
        n, K, M = steps.size, self.K, self.M
        self.Q, self.R = np.zeros((G, n, K, K)), np.zeros((G, n, K, M))
        self.v_rec, self.f_rec = np.zeros((G, n, K)), np.zeros((G, n, K))
        self.p_rec, self.phi_rec = np.zeros((G, n, M)), np.zeros((G, n))
        self.flags, self.par = flags, par
        self.pre_left = int(pre_steps)           # pre-mirroring's steps, as in _SeedRun
        if self.pre_left:
            self.par_frozen = par.copy()
            self.par_frozen[kernel.P_FROZEN] = 1.0
        self.normals = np.zeros((G, overlaps.N_BUFFER + 1))
        self.normals[:, -1] = overlaps.N_BUFFER         # empty: drawn at the first step
        self.uniforms = np.zeros((G, overlaps.N_BUFFER))
        self.status, self.at = np.full(G, kernel.OK), np.zeros(G, np.int64)
        self.step, self.r = 0, 0

    @property
    def done(self):
        return bool((self.status != kernel.OK).all()) or (self.r >= self.steps.size
                                                          and not self.pre_left)

    @property
    def ns_per_step(self):
        """Rough cost of a step of the group (all its lanes) in nanoseconds: a lane in lockstep
        costs about a third of a seed alone."""
        return _NS_PER_CHAIN_STEP * (self.S.shape[0] / 5) ** 2 * (2 + self.S.shape[2]) / 3

    def lane_steps(self):
        """The step each lane has reached (where it stopped, for a lane that did)."""
        return np.where(self.status == kernel.OK, self.step, self.at)

    def advance(self, n_steps):
        """Run up to n_steps more steps (pre-mirroring first); returns the number done, summed
        over the lanes."""
        if self.pre_left:
            n = min(n_steps, self.pre_left)
            no_records = np.zeros(0, np.int64)
            overlaps.advance(self.S, self.v, self.v_star, self.b, self.K, self.M, self.D,
                             self.flags, self.par_frozen, self.rng, self.normals, self.uniforms,
                             self.status, self.at, 0, n, no_records, 0, self.Q, self.R, self.v_rec,
                             self.f_rec, self.p_rec, self.phi_rec)
            self.at[:] = 0                     # a lane lost in pre-mirroring stopped at step 0
            self.pre_left -= n
            return n * self.n_seeds
        stop = min(self.step + n_steps, int(self.steps[-1]))
        before = self.lane_steps().sum()
        self.step, self.r = overlaps.advance(
            self.S, self.v, self.v_star, self.b, self.K, self.M, self.D, self.flags, self.par,
            self.rng, self.normals, self.uniforms, self.status, self.at, self.step, stop,
            self.steps, self.r, self.Q, self.R, self.v_rec, self.f_rec, self.p_rec, self.phi_rec)
        return int(self.lane_steps().sum() - before)

    def skipped(self):
        """The steps its stopped lanes will not take (for the progress bar)."""
        return int((int(self.steps[-1]) + self.pre_left - self.lane_steps()).sum())

    @property
    def lanes(self):
        """One record per seed, as `_SeedRun` has them (views of the group's arrays)."""
        steps = self.lane_steps()
        return [SimpleNamespace(seed=s, status=int(self.status[g]), step=int(steps[g]),
                                Q=self.Q[g], R=self.R[g], v_rec=self.v_rec[g], f_rec=self.f_rec[g],
                                p_rec=self.p_rec[g], phi_rec=self.phi_rec[g],
                                test=np.zeros(self.steps.size), initial=self.initial[g],
                                v_star=self.v_star[g])
                for g, s in enumerate(self.seeds)]


def _state_start(state, weights, rule, K, M, D, seeds, sampler):
    """Check a given initial `odes.State` against the run; returns the weights that realise it
    per seed for the weights sampler (theory.md 3.7, each seed its own rotation), None for the
    overlaps sampler (which starts from the state's overlaps, whatever D)."""
    if weights is not None:
        raise ValueError("give weights or state, not both")
    state.check_rule(rule)
    if (state.K, state.M) != (K, M):
        raise ValueError(f"the state has K={state.K}, M={state.M}, but the run K={K}, M={M}")
    if rule.uses_F and state.phi_F is None:
        raise ValueError(f"state: phi_F (and a, p) are needed for a {rule.name} run")
    if sampler == "overlaps":
        return None
    return [odes.realise(state, D, seed=s, b=state.b) for s in seeds]


def _chunk(ns_per_step):
    """Steps per kernel call: about 20 ms of work, so progress and threads stay responsive."""
    return max(1, int(2e7 / ns_per_step))


def _initial_weights(weights, seeds, K, M, D, **draw):
    """Each seed's initial `Weights`: `draw_weights(K, M, D, seed, **draw)` if `weights` is None,
    else `weights` (one `Weights` for every seed, or a sequence of one per seed) after checking
    their number and the shapes of W (K, D) and W* (M, D)."""
    if weights is None:
        return [draw_weights(K, M, D, s, **draw) for s in seeds]
    wlist = [weights] * len(seeds) if isinstance(weights, Weights) else list(weights)
    if len(wlist) != len(seeds):
        raise ValueError(f"got {len(wlist)} weights for {len(seeds)} seeds")
    for w in wlist:
        if w.W.shape != (K, D) or w.W_star.shape != (M, D):
            raise ValueError(f"weights have shapes W {w.W.shape}, W_star {w.W_star.shape}; "
                             f"expected {(K, D)} and {(M, D)}")
    return wlist


def _advance_all(runs, jobs, progress, desc):
    """Run every seed of `runs` (`_SeedRun`s of one K, M, D) to its last record step, or until it
    diverges, in chunks of `_chunk` steps, `jobs` seeds at a time, under one tqdm bar over all
    the steps (progress None: shown when the run is estimated to take more than ~2 s)."""
    last = int(runs[0].steps[-1]) + getattr(runs[0], "pre_left", 0)
    total = last * sum(sr.n_seeds for sr in runs)
    est_seconds = last * len(runs) * runs[0].ns_per_step * 1e-9 / min(jobs, len(runs))
    if progress is None:
        progress = est_seconds > 2.0
    chunk = _chunk(runs[0].ns_per_step)
    lock = threading.Lock()
    cancel = threading.Event()          # set on Ctrl-C: the seeds in flight stop after a chunk
    runs[0].advance(0)                 # compile (or load from cache) once, before the bar starts
    with tqdm(total=total, disable=not progress, unit="step", unit_scale=True,
              desc=desc, leave=False) as bar:
        def work(sr):
            while not sr.done and not cancel.is_set():
                made = sr.advance(chunk)
                with lock:
                    bar.update(made)
            with lock:                  # a diverged seed skips the rest of its steps
                bar.update(sr.skipped())
            return sr

        _for_each_seed(work, runs, jobs, cancel)


def _for_each_seed(work, runs, jobs, cancel):
    """work(sr) for each seed run: in this thread if jobs == 1 or there is one seed, else on a
    pool of min(jobs, seeds) threads, where Ctrl-C sets `cancel` (which `work` polls between
    chunks) and is raised again once the seeds in flight have stopped."""
    if jobs == 1 or len(runs) == 1:
        for sr in runs:
            work(sr)
    else:
        with ThreadPoolExecutor(max_workers=min(jobs, len(runs))) as pool:
            futures = [pool.submit(work, sr) for sr in runs]
            try:
                for f in futures:
                    f.result()
            except KeyboardInterrupt:
                cancel.set()
                raise


def _simulation(runs, rule, t, steps, params):
    """The `Simulation` of the finished seed runs: their records stacked over the seeds, each
    seed's status and divergence time t = step/D (NaN if it did not diverge).  Warns
    (`DivergenceWarning`, at the line that called `run`) if some seeds diverged."""
    D, M, seeds = params["D"], params["M"], [sr.seed for sr in runs]
    status = [STATUS_DIVERGED if sr.status != kernel.OK else STATUS_OK for sr in runs]
    t_div = [sr.step / D if sr.status != kernel.OK else np.nan for sr in runs]
    if STATUS_DIVERGED in status:
        which = ", ".join(f"{sr.seed} (t = {td:.4g}"
                          + ("; its overlap matrix lost positive semidefiniteness"
                             if sr.status == overlaps.NOT_PSD else "") + ")"
                          for sr, st, td in zip(runs, status, t_div) if st == STATUS_DIVERGED)
        warnings.warn(f"{rule.name}: {status.count(STATUS_DIVERGED)} of {len(runs)} seeds diverged: "
                      f"seed {which}; statistics after that use the remaining seeds",
                      DivergenceWarning, stacklevel=3)
    stack = lambda name: np.stack([getattr(sr, name) for sr in runs])
    uses_F = rule.uses_F
    if params.get("mirror_eta"):        # F moved: p and phi_F as recorded
        p, phi_F = stack("p_rec"), stack("phi_rec")
    else:
        p = np.stack([sr.initial.p if uses_F else np.zeros(M) for sr in runs])
        phi_F = np.array([sr.initial.phi_F if uses_F else 0.0 for sr in runs])
    return Simulation(
        t, steps, stack("Q"), stack("R"), stack("v_rec"),
        stack("f_rec") if rule.feedback_name else None,
        np.stack([sr.initial.T for sr in runs]), np.stack([sr.v_star for sr in runs]), p, phi_F,
        params, seeds, status, t_div, eps_test=stack("test") if params["n_test"] else None)


def run(rule, K, M, D, eta, *, times=None, t_max=None, seeds=8, seed=0, jobs=2, eta_v=None,
        sigma=0.0, train_v=True, sigma_F=None, init="large", v_star="gaussian", n_test=0,
        dt=0.01, blowup=BLOWUP, weights=None, weight_decay=0.0, activation="erf", progress=None,
        sampler="weights", state=None, mirror_eta=0.0, mirror_noise=1.0, mirror_batch=1,
        mirror_decay=0.0, mirror_fixed_norm=False, pre_mirror=0.0, ff_theta=None,
        ff_positive=None):
    """Online SGD of the teacher-student network for several seeds.

    Seed s draws its teacher, student, F and b with `odes.weights.draw_weights` (K, M, D, s), the
    draw of the ODE side's ``--seed s``, and its inputs and label noise from its own stream, so
    the numbers do not depend on `jobs`.

    Parameters
    ----------
    rule : str or Rule
        'bp', 'fa', 'afa', 'pepita-lin', 'pepita' (exact, two forward passes), 'pepita-hebbian'
        or 'pepita-tl' (`odes.rules.RULES`).
    K, M : int
        Student and teacher widths.
    D : int
        Input dimension.
    eta : float
        First-layer rate (step eta/sqrt(D)).
    times : array_like, optional
        Record times, rounded to the step grid t = step/D (step 0, the initial state, is always
        recorded).
    t_max : float, optional
        Instead of `times`: record at ``odes.default_times(t_max, dt)``.
    seeds : int or sequence of int, default 8
        Number of seeds (seed, seed+1, ...) or a list of seeds.
    seed : int, default 0
        The first seed when `seeds` is a number.
    jobs : int, default 2
        Worker threads.  With the overlaps sampler each thread runs its seeds in lockstep (up to
        `simulate.overlaps.GROUP` at once), which multiplies its rate; the numbers of a seed do
        not depend on jobs.
    eta_v : float, optional
        Second-layer rate (step eta_v/D, default eta).
    sigma : float, default 0.0
        Label-noise std.
    train_v : bool, default True
        Train the second layer.
    sigma_F : float, optional
        Std of the entries of F (default 0.05 sqrt(2/D) as in the paper's code,
        ``|F|^2 ~ 0.005``).
    init : str, default 'large'
        See `odes.weights.draw_weights`.
    v_star : str, default 'gaussian'
        See `odes.weights.draw_weights`.
    n_test : int, default 0
        n_test > 0 also records the Monte-Carlo error on a held-out set of n_test inputs.
    dt : float, default 0.01
        Spacing of the default record times.
    blowup : float, optional
        A seed has diverged once some ``|w_k|^2/D`` or v_k^2 exceeds it, checked every 64 steps
        (default `odes.divergence.BLOWUP`, the ODE's threshold too).
    weights : Weights or sequence of Weights, optional
        Used instead of the draw (one `Weights` for every seed, or one per seed); the data stream
        still comes from the seed.
    weight_decay : float, default 0.0
        kappa >= 0, per step w <- w - (kappa/D) w and v likewise (theory.md 8.1).
    activation : {'erf', 'linear', 'relu'}, default 'erf'
        g of teacher and student (theory.md 8.2).
    progress : bool, optional
        tqdm bar (default: runs > ~2 s).
    sampler : {'weights', 'overlaps'}, default 'weights'
        'weights' (the D-dimensional weights, O(K D) per step) or 'overlaps' (the exact overlap
        chain of theory.md 10.1, `simulate.overlaps`: the same law for every observable of the
        overlaps, at a cost per step independent of D; no test set, n_test = 0).
    state : State, optional
        Start every seed from weights that realise these order parameters.
    mirror_eta, mirror_noise, mirror_batch, mirror_decay, mirror_fixed_norm, pre_mirror
        Weight mirroring (theory.md 11.2), for the rules with F, as in `odes.integrate`: after
        every learning step, mirror_batch noise inputs of std mirror_noise per entry pass
        through the network and move F (the simulation's ``p`` and ``phi_F`` then have a time
        axis); pre_mirror * D mirroring steps alone come before learning starts, whose first
        record (t = 0) is after them.  Both samplers.
    ff_theta, ff_positive
        Forward-Forward's threshold and positive pass, for the rule 'ff' (as in
        `odes.integrate`).

    Returns
    -------
    Simulation
        The recorded order parameters of every seed, with eps_g, the angles and the statistics
        across seeds.

    Raises
    ------
    ValueError
        For the parameters `check_params` refuses; weights of all seeds that do not fit in
        memory; a negative or non-finite blowup or weight_decay; neither times nor t_max, or
        times that are not finite, >= 0 and increasing; `weights` of the wrong number or shapes.

    Warns
    -----
    DivergenceWarning
        If some seeds diverged; statistics after that use the remaining seeds.

    Examples
    --------
    >>> import simulate
    >>> sim = simulate.run("bp", K=2, M=2, D=500, eta=0.5, t_max=10, seeds=4, jobs=2)
    >>> sim.eps_g.shape, sim.mean("eps_g").shape                 # (seeds, times), (times,)
    ((4, 76), (76,))
    >>> big = simulate.run("pepita", K=2, M=2, D=100_000, eta=0.1, t_max=1, seeds=4,
    ...                    sampler="overlaps")                    # cost per step independent of D
    """
    rule, eta, eta_v, sigma, sigma_F = check_params(rule, K, M, D, eta, eta_v, sigma, sigma_F,
                                                    init, v_star, n_test, jobs, activation, sampler)
    mirror = odes.mirroring(rule, mirror_eta=mirror_eta, mirror_noise=mirror_noise,
                            mirror_batch=mirror_batch, mirror_decay=mirror_decay,
                            mirror_fixed_norm=mirror_fixed_norm, pre_mirror=pre_mirror)
    ff = ff_options(rule, ff_theta, ff_positive)
    K, M, D, jobs = int(K), int(M), int(D), int(jobs)
    seeds = seed_list(seeds, seed)
    if sampler == "weights":
        check_sizes(K, M, D, copies=len(seeds))
    steps, t = record_steps(D, times, t_max, dt)
    _finite_nonneg("blowup", blowup)
    weight_decay = _finite_nonneg("weight_decay", weight_decay)
    flags = codes(rule, train_v, activation)
    par = kernel.kernel_params(eta, eta_v, sigma, blowup, weight_decay, mirror, ff)
    draw = dict(init=init, v_star=v_star, sigma_F=sigma_F, train_v=train_v)
    custom = weights is not None or state is not None
    if state is not None:
        weights = _state_start(state, weights, rule, K, M, D, seeds, sampler)
    if sampler == "weights":
        initial = _initial_weights(weights, seeds, K, M, D, **draw)
        pre_steps = int(round(mirror.pre * D))
        runs = [_SeedRun(s, w, rule, steps, flags, par, int(n_test), activation, pre_steps)
                for s, w in zip(seeds, initial)]
    else:
        if state is not None:
            b = state.b if state.b is not None else np.zeros(K)
            starts = [(overlaps.overlaps_of_state(state, rule.uses_F), state.v, state.v_star, b)
                      for _ in seeds]
        elif weights is None:
            starts = [overlaps.draw_overlaps(K, M, D, s, uses_F=rule.uses_F, **draw) for s in seeds]
        else:
            starts = [(overlaps.overlaps_of(w, rule.uses_F), w.v, w.v_star, w.b)
                      for w in _initial_weights(weights, seeds, K, M, D)]
        size = min(overlaps.GROUP, -(-len(seeds) // jobs))      # lanes per group
        runs = [_OverlapGroup(seeds[i:i + size], starts[i:i + size], rule, steps, flags, par, D,
                              int(round(mirror.pre * D)))
                for i in range(0, len(seeds), size)]
    _advance_all(runs, jobs, progress, desc=f"{rule.name} D={D}" + (" overlaps" if sampler == "overlaps" else ""))

    params = dict(rule=rule.name, K=K, M=M, D=D, eta=eta, eta_v=eta_v, sigma=sigma,
                  train_v=bool(train_v), weight_decay=weight_decay, activation=activation,
                  sigma_F=sigma_F if sigma_F is not None else default_sigma_F(D),
                  init=init, v_star=v_star, n_test=int(n_test), blowup=float(blowup),
                  times_requested=None if times is None else np.asarray(times, float).tolist(),
                  t_max=None if t_max is None else float(t_max), dt=float(dt),
                  custom_weights=custom, sampler=sampler,
                  initial_state=None if state is None else state.to_dict())
    if mirror.on:
        params.update(mirror.keywords())
    params.update(ff_keywords(ff))
    return _simulation([lane for group in runs for lane in group.lanes], rule, t, steps, params)
