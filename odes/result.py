"""The result of an ODE integration: order parameters over time, eps_g, angles and parameters.

A `Result` saves to ``run.npz`` (arrays) with a ``run.json`` sidecar (every parameter, the initial
state, status), loads back with `Result.load`, and exports CSV with `to_csv`.
"""

import functools

import numpy as np

from . import io
from .observables import angles as _angles
from .observables import eps_g as _eps_g
from .rules import get_rule

def _version():
    """tsode's version, from the installed package's metadata (setup.cfg is its one source)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("tsode")
    except PackageNotFoundError:          # run from a checkout that was never installed
        return "unknown"


__version__ = _version()


class Result:
    """Order parameters at the output times.

    What `odes.integrate` returns (and `IntegrationError.result` carries).  It saves to
    ``run.npz`` (arrays) with a ``run.json`` sidecar (every parameter, the initial state, status),
    loads back with `Result.load`, and exports CSV with `to_csv`.  The alignment angles are the
    property `angles`.

    Attributes
    ----------
    t : ndarray
        Shape (n,). The output times.
    Q : ndarray
        Shape (n, K, K). Student-student overlaps.
    R : ndarray
        Shape (n, K, M). Student-teacher overlaps.
    v : ndarray
        Shape (n, K). The student's second layer.
    a : ndarray
        Shape (n, K). The AF vector, for the adaptive rules (AFA and the PEPITA family).
    b : ndarray
        Shape (n, K). FA's feedback vector (constant), for 'fa'.
    f : ndarray or None
        Shape (n, K). The feedback vector under either name (None for BP).
    T : ndarray
        Shape (M, M). The teacher's overlaps (constant).
    v_star : ndarray
        Shape (M,). The teacher's second layer (constant).
    p : ndarray or None
        Shape (M,). The teacher projection of F where the rule has F (constant); shape (n, M),
        at every output time, with weight mirroring (which moves F).
    phi_F : float, ndarray or None
        ``|F|^2`` where the rule has F; shape (n,) with weight mirroring.
    eps_g : ndarray
        Shape (n,). The generalisation error (`odes.eps_g`).
    rule : Rule
        The rule integrated.
    params : dict
        Every parameter of the run.
    status : str
        'finished', 'stopped' by stop_eps or stop_above, or 'diverged' (see `odes.divergence`).
    message : str
        How the run ended, in words.
    t_diverged : float or None
        When it diverged, else None; the outputs end before it.
    stats : dict
        The solver's work: n_steps accepted steps, n_rejected rejected steps, n_rhs
        right-hand-side evaluations; None where a solver does not say.
    K : int
        The student's width.
    M : int
        The teacher's width.

    Examples
    --------
    >>> import odes
    >>> res = odes.integrate(odes.State.random(2, 2, 500, seed=0), "afa", 0.5, t_max=100)
    >>> res.Q.shape, res.a.shape, res.status
    ((85, 2, 2), (85, 2), 'finished')
    >>> sorted(res.angles)
    ['a_v', 'net', 'v_deg', 'v_vstar']
    >>> res.save("afa.npz")                       # afa.npz and afa.json
    PosixPath('afa.npz')
    >>> odes.Result.load("afa.npz").status
    'finished'
    """

    def __init__(self, t, Q, R, v, T, v_star, rule, params, status="finished", message="",
                 f=None, p=None, phi_F=None, stats=None, t_diverged=None):
        self.t = np.asarray(t, float)
        self.Q, self.R, self.v = np.asarray(Q, float), np.asarray(R, float), np.asarray(v, float)
        self.T, self.v_star = np.asarray(T, float), np.asarray(v_star, float)
        self.rule = get_rule(rule) if isinstance(rule, str) else rule
        self.feedback_name = self.rule.feedback_name
        self.f = None if f is None else np.asarray(f, float)
        self.p = None if p is None else np.asarray(p, float)
        self.phi_F = (None if phi_F is None else float(phi_F) if np.ndim(phi_F) == 0
                      else np.asarray(phi_F, float))
        self.params, self.status, self.message = dict(params), status, message
        self.stats = dict(stats or {})
        self.t_diverged = None if t_diverged is None else float(t_diverged)
        self.eps_g = _eps_g(self.Q, self.R, self.T, self.v, self.v_star,
                            self.params.get("activation", "erf"))

    @functools.cached_property
    def angles(self):
        """The alignment angles of `odes.angles` at every output time, computed when first read
        (they take about 0.2 ms for 100 output times, a tenth of a long K = 2 run)."""
        return _angles(self.Q, self.R, self.T, self.v, self.v_star, f=self.f,
                       feedback=self.feedback_name, phi_F=self.phi_F)

    @classmethod
    def from_trajectory(cls, t, Q, R, v, f, state, rule, params, status, message, stats=None,
                        t_diverged=None, p=None, phi_F=None):
        """Build from the order parameters at the output times (n, ...) of a run from `state`;
        p (n, M) and phi_F (n,) where weight mirroring moves them, else the state's."""
        moving = p is not None
        return cls(t, Q.copy(), R.copy(), v.copy(), state.T, state.v_star, rule, params, status,
                   message, f=f.copy() if rule.feedback_name else None,
                   p=p.copy() if moving else state.p, phi_F=phi_F.copy() if moving else state.phi_F,
                   stats=stats, t_diverged=t_diverged)

    @property
    def mirrored(self):
        """Whether F moved (weight mirroring): p and phi_F then have a time axis."""
        return isinstance(self.phi_F, np.ndarray)

    def __getattr__(self, name):
        # a / b are the feedback vector under its physical name
        if name in ("a", "b") and self.__dict__.get("feedback_name") == name:
            return self.f
        raise AttributeError(name)

    @property
    def K(self):
        return self.Q.shape[-1]

    @property
    def M(self):
        return self.T.shape[-1]

    def __repr__(self):
        return (f"Result(rule={self.rule.name!r}, K={self.K}, M={self.M}, n_times={len(self.t)}, "
                f"t_end={self.t[-1] if len(self.t) else None}, status={self.status!r}, "
                f"eps_g_end={self.eps_g[-1] if len(self.t) else None:.6g})")

    # ---- persistence -------------------------------------------------------------------------
    def arrays(self):
        """Named arrays, as written to .npz."""
        out = dict(t=self.t, eps_g=self.eps_g, Q=self.Q, R=self.R, v=self.v, T=self.T,
                   v_star=self.v_star)
        if self.feedback_name:
            out[self.feedback_name] = self.f
        if self.p is not None:
            out["p"] = self.p
        if self.mirrored:
            out["phi_F"] = self.phi_F
        for name, x in self.angles.items():
            out[f"theta_{name}"] = x
        return out

    def metadata(self):
        return dict(params=self.params, status=self.status, message=self.message,
                    stats=self.stats, t_diverged=self.t_diverged,
                    phi_F=None if self.mirrored else self.phi_F,
                    tsode_version=__version__,
                    rule=self.rule.name)

    def save(self, path):
        """Write arrays to `path` (.npz) and the parameters to the .json sidecar.

        The arrays are those of `arrays` (t, eps_g, the order parameters, the constants and the
        angles as theta_<name>); the sidecar holds every parameter, the initial state, status,
        message, stats and tsode's version.  Both are written atomically.

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
        >>> res = odes.integrate(odes.State.random(2, 2, 500, seed=0), "bp", 0.5, t_max=100)
        >>> res.save("bp.npz")                   # bp.npz and bp.json
        PosixPath('bp.npz')
        """
        return io.save(path, self.arrays(), self.metadata())

    @classmethod
    def load(cls, path):
        """Read a result written by `save`.

        Parameters
        ----------
        path : str or path-like
            The .npz file (or its name with another suffix); its .json sidecar must be beside it.

        Returns
        -------
        Result

        Raises
        ------
        ValueError
            If the files are not an odes result (a simulate output loads with
            `simulate.Comparison.load` or `simulate.Simulation.load`).
        OSError
            If a file cannot be read (FileNotFoundError when it is missing).

        Examples
        --------
        >>> res = odes.Result.load("bp.npz")              # bp.npz and bp.json
        """
        arr, meta = io.load(path)
        if "rule" not in meta or "Q" not in arr:
            raise ValueError(f"{path} is not an odes result (a simulate output loads with "
                             f"simulate.Comparison.load or simulate.Simulation.load)")
        rule = get_rule(meta["rule"])
        return cls(arr["t"], arr["Q"], arr["R"], arr["v"], arr["T"], arr["v_star"], rule,
                   meta["params"], meta["status"], meta["message"],
                   f=arr.get(rule.feedback_name) if rule.feedback_name else None,
                   p=arr.get("p"), phi_F=arr["phi_F"] if "phi_F" in arr else meta.get("phi_F"),
                   stats=meta.get("stats"),
                   t_diverged=meta.get("t_diverged"))

    def columns(self):
        """Flat columns (name, (n,) array): t, eps_g, angles, then every order parameter.

        Returns
        -------
        list of (str, ndarray)
            ('t', t), ('eps_g', eps_g), ('theta_<angle>', ...), then Q_k_l, R_k_m, v_k, the
            feedback vector's a_k or b_k, and with weight mirroring p_m and phi_F.
        """
        cols = [("t", self.t), ("eps_g", self.eps_g)]
        cols += [(f"theta_{k}", x) for k, x in self.angles.items()]
        moving = (("p", self.p),) if self.mirrored else ()
        for name, X in (("Q", self.Q), ("R", self.R), ("v", self.v), (self.feedback_name, self.f),
                        *moving):
            if X is None:
                continue
            for idx in np.ndindex(X.shape[1:]):
                cols.append((f"{name}_{'_'.join(map(str, idx))}", X[(slice(None),) + idx]))
        if self.mirrored:
            cols.append(("phi_F", self.phi_F))
        return cols

    def plot(self, path=None, **kw):
        """eps_g and the angles over time; see `odes.plot.plot_result`.

        Parameters
        ----------
        path : str or path-like, optional
            Save the figure there.
        **kw
            axes, label of `odes.plot.plot_result`.

        Returns
        -------
        matplotlib.figure.Figure
            A figure outside pyplot (see `odes.plot`).

        Examples
        --------
        >>> res = odes.integrate(odes.State.random(2, 2, 500, seed=0), "bp", 0.5, t_max=100)
        >>> fig = res.plot("bp.png")
        """
        from .plot import plot_result
        return plot_result(self, path, **kw)

    def to_csv(self, path):
        """A header line, then one row per time with the `columns` (written atomically).

        Parameters
        ----------
        path : str or path-like
            The CSV file, written as named.

        Returns
        -------
        pathlib.Path
            `path`.

        Examples
        --------
        >>> res = odes.integrate(odes.State.random(2, 2, 500, seed=0), "bp", 0.5, t_max=100)
        >>> res.to_csv("bp.csv")                      # t, eps_g, theta_..., Q_0_0, ...
        PosixPath('bp.csv')
        """
        return io.save_table(path, self.columns())

