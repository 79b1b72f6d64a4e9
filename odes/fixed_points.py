"""Fixed points of the order-parameter ODEs and their stability (theory.md section 9).

    fp = odes.fixed_point(state, "bp", eta=0.05, train_v=False)   # Newton-type root from `state`
    fp.state, fp.eps_g, fp.residual, fp.eigenvalues, fp.unstable, fp.jacobian

Coordinates.  The flat state vector of `odes.rhs` holds Q in full, so Q_kl and Q_lk are two
coordinates of one quantity, and it keeps slots that do not move (BP's unused feedback slot, FA's
constant b, a frozen v).  The *physical* coordinates are the independent ones that move: Q_kl for
k <= l, R, v when it is trained, a for adaptive feedback.  With E the embedding of physical into
flat coordinates (Q_kl written to both slots) and P the selection of the physical entries, the flat
right-hand side satisfies J_flat = E (P J_flat), so the spectrum of J_flat is that of the physical
Jacobian J = P J_flat E plus structural zeros.  `eigenvalues` and `unstable` are those of J;
`jacobian` is J_flat.

Derivatives are 5-point central differences, (f(y-2h) - 8 f(y-h) + 8 f(y+h) - f(y+2h)) / (12 h),
with h = 1e-3 max(1, |y_j|): truncation error O(h^4), round-off O(1e-13) relative.
"""
from dataclasses import dataclass, field

import numpy as np

from .observables import eps_g as _eps_g
from .rhs import evaluate, kernel_args, layout, mirroring, unpack, unpack_mirrored
from .rhs.mirroring import KEYWORDS
from .rules import FEEDBACK_ADAPTIVE, ff_keywords, ff_options, get_rule
from .state import State, StateError

class FixedPointError(RuntimeError):
    """The root finder did not converge, or its root is not a realisable state.

    Raised by `fixed_point`; the message gives the residual max ``|dy/dt|`` and the root
    finder's word, or why the root is not a state.
    """


_STENCIL = ((-2, 1.0 / 12), (-1, -8.0 / 12), (1, 8.0 / 12), (2, -1.0 / 12))


def coordinates(K, M, rule, train_v=True, mirror=None):
    """(names, flat indices) of the physical coordinates, e.g. 'Q[0,1]'; see the module docstring.
    With weight mirroring on (mirror, a `odes.rhs.Mirroring`) p and, unless its norm is held,
    phi_F are coordinates too."""
    rule = get_rule(rule) if isinstance(rule, str) else rule
    mirrored = mirror is not None and mirror.on
    lay = layout(K, M, mirrored)
    names, idx = [], []
    for k in range(K):
        for l in range(k, K):
            names.append(f"Q[{k},{l}]")
            idx.append(lay["Q"].start + k * K + l)
    for k in range(K):
        for m in range(M):
            names.append(f"R[{k},{m}]")
            idx.append(lay["R"].start + k * M + m)
    if train_v:
        names += [f"v[{k}]" for k in range(K)]
        idx += list(range(lay["v"].start, lay["v"].stop))
    if rule.feedback == FEEDBACK_ADAPTIVE:
        names += [f"a[{k}]" for k in range(K)]
        idx += list(range(lay["f"].start, lay["f"].stop))
    if mirrored:
        names += [f"p[{m}]" for m in range(M)]
        idx += list(range(lay["p"].start, lay["p"].stop))
        if not mirror.fixed_norm:
            names.append("phi_F")
            idx.append(lay["phi_F"].start)
    return names, np.array(idx)


def _embedding(K, M, idx, size):
    """E (size x n_phys): physical -> flat, with Q_kl (k < l) written to Q_lk as well."""
    E = np.zeros((size, len(idx)))
    E[idx, np.arange(len(idx))] = 1.0
    for j, i in enumerate(idx):
        if i < K * K:
            k, l = divmod(int(i), K)
            E[l * K + k, j] = 1.0
    return E


class _Flow:
    """The flat right-hand side of one (state constants, rule, parameters)."""

    def __init__(self, state, rule, eta, eta_v, sigma, train_v, nodes=None, weight_decay=0.0,
                 activation="erf", mirror=None, ff=None):
        self.rule = get_rule(rule) if isinstance(rule, str) else rule
        state.check_rule(self.rule)
        self.K, self.M = state.K, state.M
        self.y0, self.args = kernel_args(state, self.rule, eta, eta_v, sigma, train_v, nodes=nodes,
                                         weight_decay=weight_decay, activation=activation,
                                         mirror=mirror, ff=ff)
        self.names, self.idx = coordinates(self.K, self.M, self.rule, train_v, mirror)
        self.E = _embedding(self.K, self.M, self.idx, self.y0.size)
        self._upper = np.triu_indices(self.K, 1)

    def f(self, y):
        dy = np.zeros_like(y)
        evaluate(np.ascontiguousarray(y, dtype=float), dy, self.args)
        return dy

    def flat(self, z, base):
        """Flat vector with physical coordinates z and the rest from base."""
        y = base.copy()
        y[self.idx] = z
        Q = y[: self.K * self.K].reshape(self.K, self.K)
        iu = self._upper
        Q[iu[1], iu[0]] = Q[iu]
        return y

    def jacobian(self, y):
        """5-point central differences of the flat right-hand side at y (module docstring)."""
        return differentiate(self.f, y)


def differentiate(f, y):
    """df/dy at y by 5-point central differences, h = 1e-3 max(1, |y_j|) (module docstring)."""
    J = np.zeros((y.size, y.size))
    for j in range(y.size):
        h = 1e-3 * max(1.0, abs(y[j]))
        for s, w in _STENCIL:
            yj = y.copy()
            yj[j] += s * h
            J[:, j] += w * f(yj) / h
    return J


def jacobian(state, rule, eta, *, eta_v=None, sigma=0.0, train_v=True, physical=False, nodes=None,
             weight_decay=0.0, activation="erf", **mirror):
    """d(dy/dt)/dy at `state` for the flat state vector y of `odes.rhs` (physical=False) or in the
    physical coordinates of `coordinates` (physical=True; see the module docstring).

    Derivatives are 5-point central differences of the right-hand side (module docstring of
    `odes.fixed_points`).

    Parameters
    ----------
    state : State
        Where to differentiate.
    rule : str or Rule
        A rule of `odes.ODE_RULES`.
    eta : float
        First-layer learning rate.
    eta_v : float, optional
        Second-layer learning rate (default eta).
    sigma : float, default 0.0
        Label-noise standard deviation.
    train_v : bool, default True
        Train the second layer (a frozen v is no physical coordinate).
    physical : bool, default False
        The Jacobian in the physical coordinates instead of the flat layout.
    nodes : int, optional
        The quadrature of exact PEPITA (see `odes.integrate`).
    weight_decay : float, default 0.0
        kappa of theory.md 8.1.
    activation : {'erf', 'linear', 'relu'}, default 'erf'
        As in `odes.integrate`.
    **mirror
        Weight mirroring's mirror_eta, mirror_noise, mirror_batch, mirror_decay and
        mirror_fixed_norm, and Forward-Forward's ff_theta and ff_positive, as in
        `odes.integrate` (with mirroring p and phi_F move).

    Returns
    -------
    ndarray
        J_flat (n_flat, n_flat), or the physical Jacobian J = P J_flat E (n_phys, n_phys).

    Raises
    ------
    ValueError
        For an unknown rule or activation, or a negative or non-finite parameter.
    StateError
        If `state` lacks a field that the rule needs.

    Examples
    --------
    >>> import odes
    >>> st = odes.State.random(K=2, M=2, D=500, seed=0)
    >>> odes.jacobian(st, "bp", 0.5, physical=True).shape     # Q_00, Q_01, Q_11, R (4), v (2)
    (9, 9)
    """
    flow = _Flow(state, rule, eta, eta_v, sigma, train_v, nodes, weight_decay, activation,
                 *_options(rule, mirror))
    J = flow.jacobian(flow.y0)
    return J[flow.idx] @ flow.E if physical else J


@dataclass
class FixedPoint:
    """A fixed point of the order-parameter ODEs and its linear stability.

    What `fixed_point` returns.

    Attributes
    ----------
    state : State
        The fixed point as an `odes.State`.
    eps_g : float
        eps_g there.
    residual : float
        max ``|dy/dt|`` there.
    jacobian : ndarray
        Of the flat right-hand side (layout of `odes.rhs`).
    eigenvalues : ndarray
        Of the physical Jacobian (module docstring of `odes.fixed_points`), sorted by real part,
        largest first.
    eigenvectors : ndarray
        The eigenvectors, as its columns (flat layout).
    unstable : int
        The number of eigenvalues with positive real part.
    coordinates : list of str
        Names of the physical coordinates, e.g. 'Q[0,1]'.
    success : bool
        The root finder's word.
    message : str
        The root finder's word.
    params : dict
        The rule and the parameters of the ODE.
    """
    state: State
    eps_g: float
    residual: float
    jacobian: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    unstable: int
    coordinates: list
    success: bool
    message: str
    params: dict = field(default_factory=dict)

    def __repr__(self):
        lead = ", ".join(f"{x:.4g}" for x in self.eigenvalues[:3])
        return (f"FixedPoint(eps_g={self.eps_g:.6g}, residual={self.residual:.2g}, "
                f"unstable={self.unstable}, eigenvalues=[{lead}, ...], success={self.success})")


def fixed_point(state, rule, eta, *, eta_v=None, sigma=0.0, train_v=True, residual_tol=1e-12,
                nodes=None, weight_decay=0.0, activation="erf", **mirror):
    """The fixed point of the ODEs of `rule` nearest `state`, and its stability.

    The root is found by scipy.optimize.root ('hybr') on the physical coordinates with the
    difference Jacobian (module docstring of `odes.fixed_points`), and accepted when
    max ``|dy/dt| <= residual_tol`` there (hybr may stop, saying it makes no more progress, once it
    sits on the root to round-off).

    Parameters
    ----------
    state : State
        Where the search starts; its constants (T, v_star, b, p, phi_F) are kept.
    rule : str or Rule
        A rule of `odes.ODE_RULES`.
    eta : float
        First-layer learning rate.
    eta_v : float, optional
        Second-layer learning rate (default eta).
    sigma : float, default 0.0
        Label-noise standard deviation.
    train_v : bool, default True
        Train the second layer.
    residual_tol : float, default 1e-12
        The largest accepted max ``|dy/dt|`` at the root.
    nodes : int, optional
        The quadrature of exact PEPITA (see `odes.integrate`).
    weight_decay : float, default 0.0
        kappa of theory.md 8.1.
    activation : {'erf', 'linear', 'relu'}, default 'erf'
        As in `odes.integrate`.
    **mirror
        Weight mirroring's mirror_eta, mirror_noise, mirror_batch, mirror_decay and
        mirror_fixed_norm, as in `odes.integrate`: p and phi_F are then coordinates of the root
        (phi_F held with the fixed norm); Forward-Forward's ff_theta and ff_positive.

    Returns
    -------
    FixedPoint
        The root, its eps_g and residual, the Jacobian and the physical spectrum.

    Raises
    ------
    FixedPointError
        If the root is not accepted, or it is not a realisable state.
    ValueError
        For an unknown rule or activation, or a negative or non-finite parameter.
    StateError
        If `state` lacks a field that the rule needs.

    Examples
    --------
    >>> import odes
    >>> st = odes.State.random(K=2, M=2, D=500, seed=0)
    >>> learnt = odes.State(Q=st.T, R=st.T, T=st.T, v=st.v_star, v_star=st.v_star)
    >>> fp = odes.fixed_point(learnt, "bp", eta=0.05, train_v=False)   # student = teacher
    >>> fp.eps_g, fp.unstable
    (0.0, 0)
    """
    from scipy.optimize import root
    mirror, ff = _options(rule, mirror)
    flow = _Flow(state, rule, eta, eta_v, sigma, train_v, nodes, weight_decay, activation, mirror,
                 ff)
    base = flow.y0

    def F(z):
        return flow.f(flow.flat(z, base))[flow.idx]

    def dF(z):
        y = flow.flat(z, base)
        return flow.jacobian(y)[flow.idx] @ flow.E

    sol = root(F, base[flow.idx], jac=dF, method="hybr", options=dict(xtol=1e-12))
    y = flow.flat(sol.x, base)
    residual = float(np.abs(flow.f(y)).max())
    if not residual <= residual_tol:
        message = " ".join(str(sol.message).split())          # scipy's message has line breaks
        raise FixedPointError(f"no fixed point found from this state (max |dy/dt| = "
                              f"{residual:.2g} at the end): {message}")
    Q, R, v, f = unpack(y, flow.K, flow.M)
    kw = state.to_dict()
    kw.update(Q=Q, R=R, v=v)
    if flow.rule.feedback == FEEDBACK_ADAPTIVE:
        kw["a"] = f
    p, phi_F = unpack_mirrored(y, flow.K, flow.M)
    if p is not None:
        kw.update(p=p, phi_F=float(phi_F))
    try:
        fp_state = State(**kw)
    except StateError as err:
        raise FixedPointError(f"the root found is not a realisable state ({err})") from None
    J = flow.jacobian(y)
    Jp = J[flow.idx] @ flow.E
    lam, vec = np.linalg.eig(Jp)
    order = np.argsort(-lam.real, kind="stable")
    lam, vec = lam[order], flow.E @ vec[:, order]
    scale = max(1.0, np.abs(lam).max()) if lam.size else 1.0
    unstable = int(np.sum(lam.real > 1e-9 * scale))
    return FixedPoint(state=fp_state, eps_g=float(_eps_g(Q, R, state.T, v, state.v_star, activation)),
                      residual=residual, jacobian=J, eigenvalues=lam,
                      eigenvectors=vec, unstable=unstable, coordinates=flow.names,
                      success=bool(sol.success), message=str(sol.message),
                      params=dict(rule=flow.rule.name, eta=float(eta),
                                  eta_v=float(eta if eta_v is None else eta_v), sigma=float(sigma),
                                  train_v=bool(train_v), weight_decay=float(weight_decay),
                                  activation=activation,
                                  **({k: x for k, x in mirror.keywords().items()
                                      if k != "pre_mirror"} if mirror.on else {}),
                                  **ff_keywords(ff)))


def _options(rule, kw):
    """(`odes.rhs.Mirroring`, Forward-Forward's options) of the keywords `kw` (mirroring's of
    `odes.integrate` but pre_mirror, and ff_theta, ff_positive), for `rule`."""
    rule = get_rule(rule) if isinstance(rule, str) else rule
    kw = dict(kw)
    ff = ff_options(rule, kw.pop("ff_theta", None), kw.pop("ff_positive", None))
    unknown = set(kw) - set(KEYWORDS[:-1])                # all but pre_mirror
    if unknown:
        raise TypeError(f"unexpected keyword argument {sorted(unknown)[0]!r}")
    return mirroring(rule, **kw), ff
