"""The linear-noise approximation (theory.md 10.2, 10.3): the seed-to-seed covariance around the ODE
and the O(1/D) shift of the seed mean.

A seed's order parameters are y(t) = y_inf(t) + delta(t)/sqrt(D) + O(1/D), with y_inf the ODE's
solution and delta Gaussian of covariance Sigma~ (`Fluctuations.cov`, in the coordinates of
`odes.finite_d.observables`: Q_kl for k <= l, R_km, v_k when trained, a_k for adaptive feedback,
and for a random start the static overlaps T, p, phi_F), which obeys

    d Sigma~/dt = J Sigma~ + Sigma~ J^T + B,

from Sigma~(0) = 0 ('exact': every seed from the given state) or the Wishart covariance of the
overlaps of random weights ('random', `observables.wishart_cov`),
J = df/dy the Jacobian of the ODE (5-point differences, `odes.fixed_points`) and B = Cov[G] the
noise matrix of one step (`odes.finite_d.increments`), both along y_inf(t).  J and B are
evaluated on a grid (`grid` times: log- and linearly spaced, plus the output times), and on each
interval Sigma~ is advanced exactly for J and B held at their interval means (Van Loan's block
exponential), so the error is second order in the grid spacing.  A seed's standard deviation of an
observable O(y) is sqrt(grad O^T Sigma~ grad O / D) (`Fluctuations.std`).

The mean of a seed is y_inf + mu/D + O(D^-2) (theory.md 10.3), with

    d mu/dt = J mu + 1/2 d^2f : Sigma~ + f_1 - 1/2 J f,     mu(0) = 0,

the curvature of the drift seen by the fluctuations (second differences along Sigma~'s
eigenvectors), the exact chain's O(1/D) drift f_1 (`Increments.first_order`) and the Euler
steps' own shift; it is advanced like Sigma~ (`Fluctuations.mu`, `Fluctuations.bias`).

The approximation holds while fluctuations stay small: it fails at a plateau's escape, where the
unstable direction amplifies them, and once seeds have escaped at different times (theory.md
10.4).
"""
import numpy as np
from scipy.linalg import expm

from ..fixed_points import _Flow
from ..integrate import default_times, integrate
from ..result import Result
from ..rhs import mirroring
from ..rules import ff_options, get_rule
from .increments import Increments
from .observables import Coordinates, curvature, wishart_cov

#: points of each of the two spacings of the grid on which J and B are evaluated
GRID = 200
INITIALS = ("exact", "random")


class Fluctuations:
    """What `fluctuations` returns: the ODE and the covariance of the fluctuations around it.

    Attributes
    ----------
    ode : Result
        The ODE at the output times.
    t : ndarray
        Shape (n,). The output times.
    names : list of str
        The coordinates, the axes of `cov` and `mu`: the physical ones ('Q[0,1]', 'R[1,0]', 'v[0]',
        'a[1]', ...) and, for a random start, the static overlaps ('T[0,1]', 'p[0]', 'phi_F').
    cov : ndarray
        Shape (n, p, p). Sigma~ at the output times: D times the covariance of a seed's
        coordinates.
    D : int
        The dimension `std` and `bias` are for.
    mu : ndarray or None
        Shape (n, p). mu, D times the predicted shift of the seed mean (None for the rules whose
        f_1 is not implemented: pepita-tl).
    initial : str
        'exact' or 'random'.
    coords : Coordinates
        The coordinates and the functions of them (`odes.finite_d.observables`).
    """

    def __init__(self, ode, coords, cov, D, initial, mu=None):
        self.ode, self.t, self.names, self.cov, self.D = ode, ode.t, coords.names, cov, D
        self.mu, self.initial, self.coords = mu, initial, coords

    def point(self, i):
        """(z, base) of the ODE at output i: its coordinates (`coords`) and flat vector."""
        ode = self.ode
        moving = dict(p=ode.p[i], phi_F=ode.phi_F[i]) if ode.mirrored else {}
        return self.coords.point(ode.Q[i], ode.R[i], ode.v[i], ode.f[i] if ode.f is not None
                                  else None, **moving)

    def gradient(self, name, i):
        """d(observable)/d(coordinates) at output i (`odes.finite_d.observables`)."""
        return self.coords.gradient(name, *self.point(i))

    def bias(self, name):
        """The O(1/D) shift of the seed mean of an observable from the ODE at dimension D, at the
        output times (theory.md 10.3): (grad O . mu + 1/2 grad^2 O : Sigma~)/D (the second term
        for eps_g and the angles; the coordinates are linear).  name: 'eps_g', an angle of
        `odes.angles` ('net', 'a_v', ...) or a coordinate of `names`."""
        if self.mu is None:
            what = "weight mirroring" if self.ode.mirrored else self.ode.rule.name
            raise ValueError(f"the O(1/D) bias is not available for {what}")
        out = np.empty(len(self.t))
        for i in range(len(self.t)):
            z, base = self.point(i)
            shift = self.coords.gradient(name, z, base) @ self.mu[i]
            if name not in self.names:
                shift += curvature(lambda zz: self.coords.observable(name, zz, base), z,
                                   self.cov[i])[0]
            out[i] = shift / self.D
        return out

    def std(self, name):
        """The standard deviation of one seed's value of an observable at dimension D, at the
        output times: sqrt(grad O^T Sigma~ grad O / D).  name: 'eps_g', an angle of
        `odes.angles` ('net', 'a_v', ... in degrees) or a coordinate of `names`.  An angle near
        0 or 180 degrees, or between vectors whose fluctuations are as large as they are, is not
        linear in the fluctuations, and its prediction fails there."""
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
                 grid=GRID, mirror_eta=0.0, mirror_noise=1.0, mirror_batch=1, mirror_decay=0.0,
                 mirror_fixed_norm=False, ff_theta=None, ff_positive=None, **integrate_kw):
    """The ODE from `state` and the linear-noise covariance of a seed's order parameters around
    it at dimension D (module docstring; theory.md 10.2).

    Parameters
    ----------
    state : State
        The start, as in `odes.integrate`: with initial='random' the mean of the random start's
        overlaps (e.g. Q = I, R = 0, T = I, a = 0, p = 0, phi_F = D sigma_F^2 for 'large' weights).
    rule : str or Rule
        A rule of `odes.ODE_RULES`.
    eta : float
        First-layer learning rate.
    D : int
        The input dimension (`Fluctuations.std` is for it; `cov` does not depend on it).
    times, t_max
        The output times, as in `odes.integrate`.
    initial : {'exact', 'random'}
        'exact': every seed starts from `state` itself (a realised state, or the per-seed ODE
        handoff of `simulate.compare`), Sigma~(0) = 0.  'random': each seed draws Gaussian
        weights whose overlaps have mean `state` (v, v* and b are conditioned on): Sigma~(0) is
        the Wishart covariance of every overlap, and the static ones (T, p, phi_F) join the
        coordinates with zero drift (theory.md 10.2), so that a seed's own teacher moves it too.
    eta_v, sigma, train_v, weight_decay, activation, nodes
        As in `odes.integrate` (nodes: also the quadrature of B, `Increments`).
    grid : int, default 200
        Points of each spacing of the grid of J and B.
    mirror_eta, mirror_noise, mirror_batch, mirror_decay, mirror_fixed_norm
        Weight mirroring, as in `odes.integrate`: p and phi_F (with a held norm, p) become
        coordinates, and the mirroring steps' noise adds to B (`Increments`).  No pre-mirroring
        (start from the state after it), and no O(1/D) bias (its f_1 is not implemented).
    ff_theta, ff_positive
        Forward-Forward's options (rule 'ff').
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
    if integrate_kw.get("pre_mirror"):
        raise ValueError("pre_mirror: the finite-D theory starts where learning does; give the "
                         "state after pre-mirroring (odes.integrate with eta = eta_v = 0)")
    mirror = mirroring(rule, mirror_eta=mirror_eta, mirror_noise=mirror_noise,
                       mirror_batch=mirror_batch, mirror_decay=mirror_decay,
                       mirror_fixed_norm=mirror_fixed_norm)
    ff = dict(ff_theta=ff_theta, ff_positive=ff_positive)
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
    run = integrate(state, rule, eta, times=fine, **params, **integrate_kw, **ff,
                    **mirror.keywords())
    if run.status != "finished":
        raise RuntimeError(f"the ODE did not reach t = {t_end:g}: {run.status} {run.message}")
    flow = _Flow(state, rule, eta, eta_v, sigma, train_v, nodes, weight_decay, activation, mirror,
                 ff_options(rule, ff_theta, ff_positive))
    coords = Coordinates(flow, state, activation, static=initial == "random", mirror=mirror)
    inc = Increments(state, rule, eta, eta_v=eta_v, sigma=sigma, train_v=train_v,
                     weight_decay=weight_decay, activation=activation, nodes=nodes,
                     mirror=mirror, **ff)
    moving = [dict(p=run.p[i], phi_F=run.phi_F[i]) if run.mirrored else {}
              for i in range(len(fine))]
    points = [coords.point(run.Q[i], run.R[i], run.v[i], run.f[i] if run.f is not None else None,
                           **moving[i]) for i in range(len(fine))]
    p, n = len(coords.names), coords.n_dynamic
    no_bias = rule.time_local or mirror.on          # f_1 not implemented there: no bias
    Js, Bs, f1s = [], [], []
    for i, (z, base) in enumerate(points):
        Js.append(coords.jacobian(z, base))
        a = run.f[i] if rule.feedback_name == "a" else None
        B, f1 = np.zeros((p, p)), np.zeros(p)
        B[:n, :n] = inc.moments(run.Q[i], run.R[i], run.v[i], a, **moving[i])[1]
        if not no_bias:
            f1[:n] = inc.first_order(run.Q[i], run.R[i], run.v[i], a)
        Bs.append(B)
        f1s.append(f1)
    S = wishart_cov(coords.names, state) if initial == "random" else np.zeros((p, p))
    covs = [S]
    for i in range(1, len(fine)):
        S = _advance(S, 0.5 * (Js[i - 1] + Js[i]), 0.5 * (Bs[i - 1] + Bs[i]), fine[i] - fine[i - 1])
        covs.append(S)
    mus = None if no_bias else _bias_path(fine, points, coords, Js, covs, f1s)
    keep = np.searchsorted(fine, times)
    ode = Result.from_trajectory(times, run.Q[keep], run.R[keep], run.v[keep],
                                 run.f[keep] if run.f is not None else None, state, rule,
                                 run.params, run.status, run.message, stats=run.stats,
                                 **({k: x[keep] for k, x in dict(p=run.p, phi_F=run.phi_F).items()}
                                    if run.mirrored else {}))
    return Fluctuations(ode, coords, np.array(covs)[keep], int(D), initial,
                        None if mus is None else mus[keep])


def _bias_path(fine, points, coords, Js, covs, f1s):
    """mu on the grid (theory.md 10.3): d mu/dt = J mu + 1/2 d^2f : Sigma~ + f_1 - 1/2 J f,
    mu(0) = 0, advanced exactly over each interval for its mean source (the block exponential of
    [[J, s], [0, 0]])."""
    p = len(coords.names)
    sources = []
    for i, (z, base) in enumerate(points):
        curv = curvature(lambda zz: coords.f(zz, base), z, covs[i])
        sources.append(curv + f1s[i] - 0.5 * Js[i] @ coords.f(z, base))
    mu, mus = np.zeros(p), [np.zeros(p)]
    for i in range(1, len(fine)):
        J = 0.5 * (Js[i - 1] + Js[i])
        src = 0.5 * (sources[i - 1] + sources[i])
        block = np.zeros((p + 1, p + 1))
        block[:p, :p], block[:p, p] = J, src
        X = expm(block * (fine[i] - fine[i - 1]))
        mu = X[:p, :p] @ mu + X[:p, p]
        mus.append(mu)
    return np.array(mus)
