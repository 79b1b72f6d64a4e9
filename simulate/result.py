"""`Simulation`: the recorded order parameters of several seeds, their observables and statistics.

Arrays have a leading seed axis and a time axis: Q (S, n, K, K), R (S, n, K, M), v (S, n, K) and
the feedback vector f (S, n, K) -- the AF vector a = W F/sqrt(D) for adaptive rules, b for FA --
plus the per-seed constants T (S, M, M), v_star (S, M), p (S, M), phi_F (S,) (with weight
mirroring, which moves F, p (S, n, M) and phi_F (S, n) per record).  eps_g and the
alignment angles are computed from them by `odes.eps_g` and `odes.angles`, the project's single
definitions.  A seed that diverged has NaN from the first record after its divergence;
`status[s]` is 'diverged' and `t_diverged[s]` says when.

Statistics across seeds (`mean`, `sem`, `count`) use, at each time, the seeds with finite values:
diverged seeds drop out from the time they diverged on, and `n_diverged` counts them.
"""
import numpy as np

import odes
from odes import io
from odes.rules import get_rule

STATUS_OK, STATUS_DIVERGED = "ok", "diverged"


def seed_stats(x):
    """(mean, standard error, count) over axis 0, ignoring non-finite entries."""
    x = np.asarray(x, float)
    ok = np.isfinite(x)
    n = ok.sum(axis=0)
    xs = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = xs.sum(axis=0) / n
        var = (np.where(ok, x - mean, 0.0) ** 2).sum(axis=0) / (n - 1)
        sem = np.sqrt(var / n)
    mean = np.where(n > 0, mean, np.nan)
    sem = np.where(n > 1, sem, np.nan)
    return mean, sem, n


def observables(Q, R, T, v, v_star, f=None, feedback=None, phi_F=None, activation="erf"):
    """eps_g (S, n) and angles {name: (S, n)} of per-seed trajectories, via odes."""
    S, n = Q.shape[:2]
    M = T.shape[-1]
    Tb = np.broadcast_to(T[:, None], (S, n, M, M))
    vsb = np.broadcast_to(v_star[:, None], (S, n, M))
    eps = odes.eps_g(Q, R, Tb, v, vsb, activation)
    per_seed = []
    for s in range(S):
        per_seed.append(odes.angles(Q[s], R[s], T[s], v[s], v_star[s],
                                    f=None if f is None else f[s], feedback=feedback,
                                    phi_F=None if phi_F is None else phi_F[s]))
    names = []
    for d in per_seed:
        names += [k for k in d if k not in names]
    ang = {k: np.stack([d.get(k, np.full(n, np.nan)) for d in per_seed]) for k in names}
    return eps, ang


class Simulation:
    """Order parameters of S seeds at n times; see the module docstring of `simulate.result`.

    What `simulate.run` returns.  eps_g and the alignment angles are computed from the order
    parameters by `odes.eps_g` and `odes.angles`, the project's single definitions.  A seed that
    diverged has NaN from the first record after its divergence; ``status[s]`` is 'diverged' and
    ``t_diverged[s]`` says when.  Statistics across seeds (`mean`, `sem`, `count`) use, at each
    time, the seeds with finite values: diverged seeds drop out from the time they diverged on.

    Attributes
    ----------
    t : ndarray
        Shape (n,). The record times t = steps/D.
    steps : ndarray of int
        Shape (n,). The SGD steps at which the order parameters were recorded (0: the initial
        state).
    Q : ndarray
        Shape (S, n, K, K). Student-student overlaps.
    R : ndarray
        Shape (S, n, K, M). Student-teacher overlaps.
    v : ndarray
        Shape (S, n, K). The student's second layer.
    f : ndarray or None
        Shape (S, n, K). The feedback vector -- the AF vector a = W F/sqrt(D) for adaptive rules, b
        for FA (also as ``a`` or ``b``); None for BP.
    T : ndarray
        Shape (S, M, M). Per-seed constant: the teacher's overlaps.
    v_star : ndarray
        Shape (S, M). Per-seed constant: the teacher's second layer.
    p : ndarray
        Shape (S, M). Per-seed constant: the teacher projection of F (zeros for the rules without
        F); (S, n, M) with weight mirroring.
    phi_F : ndarray
        Shape (S,). Per-seed constant: ``|F|^2`` (zeros for the rules without F); (S, n) with
        weight mirroring.
    eps_g : ndarray
        Shape (S, n). The generalisation error of each seed.
    angles : dict of str to ndarray
        The alignment angles, (S, n) each, in degrees (`odes.angles`).
    eps_test : ndarray or None
        Shape (S, n). The Monte-Carlo error on the held-out set (n_test > 0), else None.
    rule : Rule
        The rule simulated.
    params : dict
        Every parameter of the run.
    seeds : list of int
        The seed numbers.
    status : list of str
        Per seed, 'ok' or 'diverged'.
    t_diverged : ndarray
        Shape (S,). Per seed, when it diverged (NaN if it did not).
    n_seeds : int
        S.
    n_diverged : int
        The number of seeds that diverged.
    K : int
        The student's width.
    M : int
        The teacher's width.

    Examples
    --------
    >>> import simulate
    >>> sim = simulate.run("bp", K=2, M=2, D=500, eta=0.5, t_max=10, seeds=4)
    >>> sim.eps_g.shape                                   # seeds x times
    (4, 76)
    >>> m, se = sim.mean("eps_g"), sim.sem("eps_g")       # over the seeds, per time
    >>> st = sim.state(0)                                 # seed 0's initial odes.State
    """

    ARRAYS = ("Q", "R", "v", "f", "T", "v_star", "p", "phi_F", "eps_test")

    def __init__(self, t, steps, Q, R, v, f, T, v_star, p, phi_F, params, seeds, status,
                 t_diverged, eps_test=None):
        self.t, self.steps = np.asarray(t, float), np.asarray(steps, np.int64)
        self.Q, self.R, self.v = np.asarray(Q, float), np.asarray(R, float), np.asarray(v, float)
        self.T, self.v_star = np.asarray(T, float), np.asarray(v_star, float)
        self.p, self.phi_F = np.asarray(p, float), np.asarray(phi_F, float)
        self.params = dict(params)
        self.rule = get_rule(self.params["rule"])
        self.feedback_name = self.rule.feedback_name
        self.f = None if self.feedback_name is None else np.asarray(f, float)
        self.seeds = [int(s) for s in seeds]
        self.status = list(status)
        self.t_diverged = np.asarray(t_diverged, float)
        self.eps_test = None if eps_test is None else np.asarray(eps_test, float)
        self.eps_g, self.angles = observables(
            self.Q, self.R, self.T, self.v, self.v_star, f=self.f, feedback=self.feedback_name,
            phi_F=self.phi_F if self.rule.uses_F else None,
            activation=self.params.get("activation", "erf"))

    def __getattr__(self, name):
        if name in ("a", "b") and self.__dict__.get("feedback_name") == name:
            return self.f
        raise AttributeError(name)

    @property
    def mirrored(self):
        """Whether F moved (weight mirroring): p (S, n, M) and phi_F (S, n) per record."""
        return self.phi_F.ndim == 2

    # ---- sizes ---------------------------------------------------------------------------------
    @property
    def n_seeds(self):
        return len(self.seeds)

    @property
    def K(self):
        return self.Q.shape[-1]

    @property
    def M(self):
        return self.T.shape[-1]

    @property
    def n_diverged(self):
        return sum(s == STATUS_DIVERGED for s in self.status)

    def __repr__(self):
        return (f"Simulation(rule={self.rule.name!r}, K={self.K}, M={self.M}, "
                f"D={self.params['D']}, seeds={self.n_seeds}, n_times={len(self.t)}, "
                f"t_end={self.t[-1]:g}, diverged={self.n_diverged})")

    # ---- statistics ----------------------------------------------------------------------------
    def get(self, name):
        """An (S, n, ...) array by name: 'eps_g', 'eps_test', an order parameter, or an angle
        ('theta_v_vstar' or just 'v_vstar').

        Parameters
        ----------
        name : str
            'eps_g', 'eps_test' (with n_test > 0), 'Q', 'R', 'v', the feedback vector ('f', or
            its name 'a' or 'b'), 'p' and 'phi_F' (with weight mirroring, which moves them), or
            an angle.

        Returns
        -------
        ndarray, shape (S, n, ...)

        Raises
        ------
        KeyError
            For a quantity this simulation does not have.
        """
        if name == "eps_g":
            return self.eps_g
        if name in ("a", "b", "f") and self.f is not None and name in ("f", self.feedback_name):
            return self.f
        if name in ("Q", "R", "v", "eps_test") and getattr(self, name) is not None:
            return getattr(self, name)
        if name in ("p", "phi_F") and self.mirrored:
            return getattr(self, name)
        key = name[len("theta_"):] if name.startswith("theta_") else name
        if key in self.angles:
            return self.angles[key]
        raise KeyError(f"no quantity {name!r} in this simulation")

    def mean(self, name="eps_g"):
        """Mean over the seeds with a finite value, per time.

        Parameters
        ----------
        name : str, default 'eps_g'
            A quantity of `get`.

        Returns
        -------
        ndarray, shape (n, ...)
            NaN where no seed is finite.

        Raises
        ------
        KeyError
            For a quantity this simulation does not have.

        Examples
        --------
        >>> import simulate
        >>> sim = simulate.run("bp", K=2, M=2, D=500, eta=0.5, t_max=10, seeds=4)
        >>> sim.mean("eps_g").shape, sim.mean("Q").shape
        ((76,), (76, 2, 2))
        """
        return seed_stats(self.get(name))[0]

    def sem(self, name="eps_g"):
        """Standard error of `mean`, over the same seeds.

        Parameters
        ----------
        name : str, default 'eps_g'
            A quantity of `get`.

        Returns
        -------
        ndarray, shape (n, ...)
            NaN where fewer than two seeds are finite.

        Raises
        ------
        KeyError
            For a quantity this simulation does not have.
        """
        return seed_stats(self.get(name))[1]

    def count(self, name="eps_g"):
        """Number of seeds with a finite value, per time.

        Parameters
        ----------
        name : str, default 'eps_g'
            A quantity of `get`.

        Returns
        -------
        ndarray of int, shape (n, ...)
        """
        return seed_stats(self.get(name))[2]

    def state(self, s, i=0):
        """The `odes.State` of seed index s at time index i (i = 0: the per-seed ODE handoff).

        Parameters
        ----------
        s : int
            Index into `seeds` (not the seed number).
        i : int, default 0
            Index into `t`.

        Returns
        -------
        State
            With b for FA, or a, p and phi_F for the adaptive rules.

        Raises
        ------
        StateError
            If the recorded values are not a valid state (e.g. NaN after a divergence).

        Examples
        --------
        >>> import odes, simulate
        >>> sim = simulate.run("afa", K=2, M=2, D=500, eta=0.5, t_max=10, seeds=4)
        >>> res = odes.integrate(sim.state(0), "afa", 0.5, times=sim.t)   # seed 0's ODE
        """
        kw = {}
        if self.feedback_name == "b":
            kw["b"] = self.f[s, i]
        elif self.feedback_name == "a":
            moving = self.mirrored          # weight mirroring: p and phi_F per record
            kw.update(a=self.f[s, i], p=self.p[s, i] if moving else self.p[s],
                      phi_F=float(self.phi_F[s, i] if moving else self.phi_F[s]))
        return odes.State(Q=self.Q[s, i], R=self.R[s, i], T=self.T[s], v=self.v[s, i],
                          v_star=self.v_star[s], **kw)

    # ---- persistence ---------------------------------------------------------------------------
    def arrays(self):
        out = dict(t=self.t, steps=self.steps, seeds=np.array(self.seeds), eps_g=self.eps_g,
                   Q=self.Q, R=self.R, v=self.v, T=self.T, v_star=self.v_star, p=self.p,
                   phi_F=self.phi_F, t_diverged=self.t_diverged)
        if self.f is not None:
            out[self.feedback_name] = self.f
        if self.eps_test is not None:
            out["eps_test"] = self.eps_test
        for k, x in self.angles.items():
            out[f"theta_{k}"] = x
        return out

    def metadata(self):
        return dict(params=self.params, seeds=self.seeds, status=self.status,
                    t_diverged=[None if not np.isfinite(x) else float(x) for x in self.t_diverged],
                    tsode_version=odes.__version__)

    def save(self, path):
        """Arrays to `path` (.npz), parameters and status to the .json sidecar.

        Written atomically; `Simulation.load` reads them back.

        Parameters
        ----------
        path : str or path-like
            The .npz file (the suffix .npz is used whatever is given); the sidecar is the same
            name with .json.

        Returns
        -------
        pathlib.Path
            The .npz file written.

        Examples
        --------
        >>> import simulate
        >>> sim = simulate.run("bp", K=2, M=2, D=500, eta=0.5, t_max=10, seeds=4)
        >>> sim.save("sim.npz")                           # sim.npz and sim.json
        PosixPath('sim.npz')
        >>> simulate.Simulation.load("sim.npz").n_seeds
        4
        """
        return io.save(path, self.arrays(), self.metadata())

    @classmethod
    def from_arrays(cls, arr, meta):
        rule = get_rule(meta["params"]["rule"])
        return cls(arr["t"], arr["steps"], arr["Q"], arr["R"], arr["v"],
                   arr.get(rule.feedback_name) if rule.feedback_name else None,
                   arr["T"], arr["v_star"], arr["p"], arr["phi_F"], meta["params"], meta["seeds"],
                   meta["status"], arr["t_diverged"], eps_test=arr.get("eps_test"))

    @classmethod
    def load(cls, path):
        """Read a simulation written by `save` (or the simulation of a saved `Comparison`).

        Parameters
        ----------
        path : str or path-like
            The .npz file; its .json sidecar must be beside it.

        Returns
        -------
        Simulation
        """
        return cls.from_arrays(*io.load(path))
