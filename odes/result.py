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

    Attributes: t (n,), Q (n,K,K), R (n,K,M), v (n,K), a or b (n,K) where the rule has them,
    the constants T, v_star, p, phi_F, eps_g (n,), angles (dict of (n,) arrays in degrees),
    params (dict of every parameter of the run), status ('finished', 'stopped' by stop_eps or
    stop_above, or 'diverged': see `odes.divergence`) and message, t_diverged (when it diverged,
    else None; the outputs end before it), stats (the solver's work: n_steps accepted steps,
    n_rejected rejected steps, n_rhs right-hand-side evaluations; None where a solver does not
    say).
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
        self.phi_F = phi_F
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
                        t_diverged=None):
        """Build from the order parameters at the output times (n, ...) of a run from `state`."""
        return cls(t, Q.copy(), R.copy(), v.copy(), state.T, state.v_star, rule, params, status,
                   message, f=f.copy() if rule.feedback_name else None, p=state.p, phi_F=state.phi_F,
                   stats=stats, t_diverged=t_diverged)

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
        for name, x in self.angles.items():
            out[f"theta_{name}"] = x
        return out

    def metadata(self):
        return dict(params=self.params, status=self.status, message=self.message,
                    stats=self.stats, t_diverged=self.t_diverged, phi_F=self.phi_F,
                    tsode_version=__version__,
                    rule=self.rule.name)

    def save(self, path):
        """Write arrays to `path` (.npz) and the parameters to the .json sidecar."""
        return io.save(path, self.arrays(), self.metadata())

    @classmethod
    def load(cls, path):
        arr, meta = io.load(path)
        if "rule" not in meta or "Q" not in arr:
            raise ValueError(f"{path} is not an odes result (a simulate output loads with "
                             f"simulate.Comparison.load or simulate.Simulation.load)")
        rule = get_rule(meta["rule"])
        return cls(arr["t"], arr["Q"], arr["R"], arr["v"], arr["T"], arr["v_star"], rule,
                   meta["params"], meta["status"], meta["message"],
                   f=arr.get(rule.feedback_name) if rule.feedback_name else None,
                   p=arr.get("p"), phi_F=meta.get("phi_F"), stats=meta.get("stats"),
                   t_diverged=meta.get("t_diverged"))

    def columns(self):
        """Flat columns (name, (n,) array): t, eps_g, angles, then every order parameter."""
        cols = [("t", self.t), ("eps_g", self.eps_g)]
        cols += [(f"theta_{k}", x) for k, x in self.angles.items()]
        for name, X in (("Q", self.Q), ("R", self.R), ("v", self.v), (self.feedback_name, self.f)):
            if X is None:
                continue
            for idx in np.ndindex(X.shape[1:]):
                cols.append((f"{name}_{'_'.join(map(str, idx))}", X[(slice(None),) + idx]))
        return cols

    def plot(self, path=None, **kw):
        """eps_g and the angles over time; see `odes.plot.plot_result`."""
        from .plot import plot_result
        return plot_result(self, path, **kw)

    def to_csv(self, path):
        """A header line, then one row per time with the `columns` (written atomically)."""
        return io.save_table(path, self.columns())

