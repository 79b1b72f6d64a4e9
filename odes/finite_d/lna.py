"""The linear-noise approximation (theory.md 10.2): the seed-to-seed covariance around the ODE.

A seed's order parameters are y(t) = y_inf(t) + delta(t)/sqrt(D) + O(1/D), with y_inf the ODE's
solution and delta Gaussian of covariance Sigma~ (`Fluctuations.cov`, in the physical coordinates
of `odes.fixed_points.coordinates`: Q_kl for k <= l, R_km, v_k when trained, a_k for adaptive
feedback), which obeys

    d Sigma~/dt = J Sigma~ + Sigma~ J^T + B,     Sigma~(0) = 0 ('exact': a given start),

J = df/dy the Jacobian of the ODE (5-point differences, `odes.fixed_points`) and B = Cov[G] the
noise matrix of one step (`odes.finite_d.increments`), both along y_inf(t).  J and B are
evaluated on a grid (`grid` times: log- and linearly spaced, plus the output times), and on each
interval Sigma~ is advanced exactly for J and B held at their interval means (Van Loan's block
exponential), so the error is second order in the grid spacing.  A seed's standard deviation of an
observable O(y) is sqrt(grad O^T Sigma~ grad O / D) (`Fluctuations.std`).

The approximation holds while fluctuations stay small: it fails at a plateau's escape, where the
unstable direction amplifies them, and once seeds have escaped at different times (theory.md
10.4).
"""
import numpy as np
from scipy.linalg import expm

from ..fixed_points import _Flow
from ..integrate import default_times, integrate
from ..rhs import layout
from ..rules import get_rule
from .increments import Increments
from .observables import gradient

#: points of each of the two spacings of the grid on which J and B are evaluated
GRID = 200
INITIALS = ("exact",)


class Fluctuations:
    """What `fluctuations` returns: the ODE and the covariance of the fluctuations around it.

    Attributes
    ----------
    ode : Result
        The ODE at the output times.
    t : ndarray
        Shape (n,). The output times.
    names : list of str
        The physical coordinates ('Q[0,1]', 'R[1,0]', 'v[0]', 'a[1]', ...), the axes of `cov`.
    cov : ndarray
        Shape (n, p, p). Sigma~ at the output times: D times the covariance of a seed's physical
        coordinates.
    D : int
        The dimension `std` is for.
    """

    def __init__(self, ode, names, cov, D, flow, activation):
        self.ode, self.t, self.names, self.cov, self.D = ode, ode.t, names, cov, D
        self._flow, self._activation = flow, activation

    def gradient(self, name, i):
        """d(observable)/d(physical coordinates) at output i (`odes.finite_d.observables`)."""
        ode = self.ode
        return gradient(name, self.names, ode.Q[i], ode.R[i], ode.v[i], ode.T, ode.v_star,
                        self._activation, self._flow.E)

    def std(self, name):
        """The standard deviation of one seed's value of an observable at dimension D, at the
        output times: sqrt(grad O^T Sigma~ grad O / D).  name: 'eps_g' or a coordinate of
        `names`."""
        out = np.empty(len(self.t))
        for i in range(len(self.t)):
            grad = self.gradient(name, i)
            out[i] = np.sqrt(max(grad @ self.cov[i] @ grad, 0.0) / self.D)
        return out


def _advance(S, J, B, dt):
    """Sigma~ after dt of d Sigma/dt = J Sigma + Sigma J^T + B with constant J and B (Van Loan:
    the exponential of [[-J, B], [0, J^T]] dt gives e^{J dt} and the integral of the noise)."""
    p = J.shape[0]
    block = np.zeros((2 * p, 2 * p))
    block[:p, :p], block[:p, p:], block[p:, p:] = -J, B, J.T
    X = expm(block * dt)
    Phi = X[p:, p:].T                           # e^{J dt}
    noise = Phi @ X[:p, p:]
    return Phi @ S @ Phi.T + 0.5 * (noise + noise.T)


def fluctuations(state, rule, eta, D, *, times=None, t_max=None, initial="exact", eta_v=None,
                 sigma=0.0, train_v=True, weight_decay=0.0, activation="erf", nodes=None,
                 grid=GRID, **integrate_kw):
    """The ODE from `state` and the linear-noise covariance of a seed's order parameters around
    it at dimension D (module docstring; theory.md 10.2).

    Parameters
    ----------
    state : State
        The start, as in `odes.integrate`.
    rule : str or Rule
        A rule of `odes.ODE_RULES`.
    eta : float
        First-layer learning rate.
    D : int
        The input dimension (`Fluctuations.std` is for it; `cov` does not depend on it).
    times, t_max
        The output times, as in `odes.integrate`.
    initial : {'exact'}
        'exact': every seed starts from `state` itself (a realised state, or the per-seed ODE
        handoff of `simulate.compare`), Sigma~(0) = 0.
    eta_v, sigma, train_v, weight_decay, activation, nodes
        As in `odes.integrate` (nodes: also the quadrature of B, `Increments`).
    grid : int, default 200
        Points of each spacing of the grid of J and B.
    **integrate_kw
        Passed to `odes.integrate` (method, rtol, atol, ...).

    Returns
    -------
    Fluctuations

    Raises
    ------
    ValueError
        For an unknown `initial`, a bad D, or what `odes.integrate` refuses.
    RuntimeError
        If the ODE does not reach the last output time (diverged or failed).
    """
    if initial not in INITIALS:
        raise ValueError(f"initial must be one of {', '.join(INITIALS)}, got {initial!r}")
    if not (isinstance(D, (int, np.integer)) and D >= 1):
        raise ValueError(f"D must be an integer >= 1, got {D!r}")
    rule = get_rule(rule) if isinstance(rule, str) else rule
    params = dict(eta_v=eta_v, sigma=sigma, train_v=train_v, weight_decay=weight_decay,
                  activation=activation, nodes=nodes)
    if times is None:
        if t_max is None:
            raise ValueError("give times or t_max")
        times = default_times(t_max)
    times = np.asarray(times, float)
    t_end = float(times[-1])
    fine = np.unique(np.concatenate([default_times(t_end, dt=t_end / (100 * grid), n=grid),
                                     np.linspace(0.0, t_end, grid), times, [0.0]]))
    run = integrate(state, rule, eta, times=fine, **params, **integrate_kw)
    if run.status != "finished":
        raise RuntimeError(f"the ODE did not reach t = {t_end:g}: {run.status} {run.message}")
    flow = _Flow(state, rule, eta, eta_v, sigma, train_v, nodes, weight_decay, activation)
    inc = Increments(state, rule, eta, eta_v=eta_v, sigma=sigma, train_v=train_v,
                     weight_decay=weight_decay, activation=activation, nodes=nodes)
    lay = layout(state.K, state.M)
    Js, Bs = [], []
    for i in range(len(fine)):
        y = np.zeros(lay["size"])
        y[lay["Q"]], y[lay["R"]], y[lay["v"]] = run.Q[i].ravel(), run.R[i].ravel(), run.v[i]
        if run.f is not None:
            y[lay["f"]] = run.f[i]
        Js.append(flow.jacobian(y)[flow.idx] @ flow.E)
        Bs.append(inc.moments(run.Q[i], run.R[i], run.v[i],
                              run.f[i] if rule.feedback_name == "a" else None)[1])
    p = len(inc.names)
    S = np.zeros((p, p))
    covs = [S]
    for i in range(1, len(fine)):
        S = _advance(S, 0.5 * (Js[i - 1] + Js[i]), 0.5 * (Bs[i - 1] + Bs[i]), fine[i] - fine[i - 1])
        covs.append(S)
    keep = np.searchsorted(fine, times)
    ode = integrate(state, rule, eta, times=times, **params, **integrate_kw)
    return Fluctuations(ode, inc.names, np.array(covs)[keep], int(D), flow, activation)
