"""Stationary fluctuations at a stable fixed point (theory.md 10.2): the Lyapunov equation.

At a stable fixed point the linear-noise covariance stops moving: J Sigma~ + Sigma~ J^T + B = 0
(J the physical Jacobian there, B the noise matrix of one step, `odes.finite_d.increments`),
solved by scipy.linalg.solve_continuous_lyapunov.  With label noise sigma > 0 the noise does not
vanish at the teacher, so the asymptotic eps_g of a seed spreads by ~D^-1/2 around the ODE's.
"""
import numpy as np
from scipy.linalg import solve_continuous_lyapunov

from ..fixed_points import _Flow
from ..rhs import mirroring
from ..rhs.mirroring import KEYWORDS
from ..rules import FF_KEYWORDS, ff_options, get_rule
from .increments import Increments
from .observables import Coordinates


class Stationary:
    """The stationary covariance Sigma~ at a stable fixed point (`stationary`).

    Attributes
    ----------
    fixed_point : FixedPoint
        Where.
    names : list of str
        The physical coordinates, the axes of `cov`.
    cov : ndarray
        Shape (p, p). Sigma~: D times the stationary covariance of a seed's physical coordinates.
    """

    def __init__(self, fp, coords, cov):
        self.fixed_point, self.names, self.cov, self._coords = fp, coords.names, cov, coords

    def std(self, name, D):
        """The stationary standard deviation of one seed's eps_g or coordinate at dimension D."""
        st, rule = self.fixed_point.state, self._coords.flow.rule
        f = st.feedback(rule) if rule.feedback_name else None
        moving = dict(p=st.p, phi_F=st.phi_F) if self._coords.mirrored else {}
        grad = self._coords.gradient(name, *self._coords.point(st.Q, st.R, st.v, f, **moving))
        return float(np.sqrt(max(grad @ self.cov @ grad, 0.0) / D))


def stationary(fp, nodes=None):
    """The stationary linear-noise covariance at a fixed point found by `odes.fixed_point`.

    Parameters
    ----------
    fp : FixedPoint
        A stable fixed point (no eigenvalue with positive real part).
    nodes : int, optional
        The quadrature of B (`Increments`).

    Returns
    -------
    Stationary

    Raises
    ------
    ValueError
        If the fixed point is not stable (then there is no stationary state around it), or some
        eigenvalue is zero (a direction that neither decays nor grows: a frozen slot, or a
        continuum of fixed points), where the Lyapunov equation has no unique solution.
    """
    if fp.unstable:
        raise ValueError(f"the fixed point has {fp.unstable} unstable direction(s): no stationary "
                         f"fluctuations around it")
    st, params = fp.state, dict(fp.params)
    rule = get_rule(params.pop("rule"))
    eta = params.pop("eta")
    mirror = mirroring(rule, **{k: params.pop(k) for k in KEYWORDS if k in params})
    ff = {k: params.pop(k) for k in FF_KEYWORDS if k in params}
    flow = _Flow(st, rule, eta, params["eta_v"], params["sigma"], params["train_v"],
                 params.get("nodes"), params["weight_decay"], params["activation"], mirror,
                 ff_options(rule, **ff))
    coords = Coordinates(flow, st, params["activation"], mirror=mirror)
    J = fp.jacobian[flow.idx] @ flow.E
    if np.abs(np.linalg.eigvals(J).real).min() < 1e-12 * max(1.0, np.abs(J).max()):
        raise ValueError("the Jacobian has a zero eigenvalue at this fixed point: no unique "
                         "stationary covariance")
    inc = Increments(st, rule, eta, nodes=nodes, mirror=mirror, **ff, **params)
    moving = dict(p=st.p, phi_F=st.phi_F) if mirror.on else {}
    B = inc.moments(st.Q, st.R, st.v, st.a if rule.feedback_name == "a" else None, **moving)[1]
    cov = solve_continuous_lyapunov(J, -B)
    return Stationary(fp, coords, 0.5 * (cov + cov.T))
