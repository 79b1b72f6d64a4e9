"""The coordinates of the linear-noise approximation, the drift and eps_g as functions of them,
and their derivatives.

The coordinates are the physical ones that move (`odes.fixed_points.coordinates`: Q_kl for
k <= l, R_km, v_k when trained, a_k for adaptive feedback) and, for a random start
(theory.md 10.2), the static overlaps a seed draws once and keeps: T_mn for m <= n and, for the
rules with F, p_m and phi_F.  Their drift is zero, but they move the others' drift and eps_g, so
they enter the linearisation as coordinates whose rows of J and B are zero.  With weight
mirroring p and phi_F move and are dynamic coordinates (held |F|^2: phi_F, which a random start
still draws, static).
"""
import numpy as np

from ..fixed_points import differentiate
from ..observables import angles as _angles
from ..observables import eps_g as _eps_g
from ..rhs import evaluate, layout
from ..rhs.parameters import PHI_F
from ..state import State


def static_names(M, uses_F, mirror=None):
    """The static overlaps of a random start: 'T[m,n]' (m <= n), and 'p[m]', 'phi_F' with F
    (with weight mirroring `mirror` on, p moves, and phi_F too unless its norm is held)."""
    names = [f"T[{m},{n}]" for m in range(M) for n in range(m, M)]
    if not uses_F:
        return names
    if mirror is None or not mirror.on:
        return names + [f"p[{m}]" for m in range(M)] + ["phi_F"]
    return names + (["phi_F"] if mirror.fixed_norm else [])


def wishart_cov(names, state):
    """D times the covariance of the named overlaps of random weights whose Gram matrix has mean
    `state.gram()` (theory.md 10.2): Cov(S_ij, S_kl) = (S_ik S_jl + S_il S_jk)/D for the rows of
    (w*/sqrt(D), [F], w/sqrt(D)) with independent Gaussian entries; v (and v*, b) are O(1) and
    conditioned on: zero."""
    S = state.gram()
    pairs = [_gram_pair(name, state.M, S.shape[0] - state.K) for name in names]
    n = len(names)
    cov = np.zeros((n, n))
    for x in range(n):
        for y in range(n):
            if pairs[x] is not None and pairs[y] is not None:
                (i, j), (k, l) = pairs[x], pairs[y]
                cov[x, y] = S[i, k] * S[j, l] + S[i, l] * S[j, k]
    return cov


def _gram_pair(name, M, s0):
    """(i, j): the entry of the Gram matrix of (w*, [F], w) that the coordinate `name` is (s0 the
    first student row); None for v."""
    kind, _, rest = name.partition("[")
    ix = [int(i) for i in rest.rstrip("]").split(",")] if rest else []
    if kind == "Q":
        return s0 + ix[0], s0 + ix[1]
    if kind == "R":
        return s0 + ix[0], ix[1]
    if kind == "a":
        return s0 + ix[0], M
    if kind == "T":
        return ix[0], ix[1]
    if kind == "p":
        return ix[0], M
    if kind == "phi_F":
        return M, M
    return None


class Coordinates:
    """The coordinates z of one rule and start (module docstring) and the functions of z that the
    linear-noise approximation differentiates.

    Parameters
    ----------
    flow : odes.fixed_points._Flow
        The right-hand side (its names, flat indices and kernel arguments).
    state : State
        T, v*, p, phi_F (the values of the static coordinates, and the constants otherwise).
    activation : str
        g.
    static : bool
        Include the static overlaps (a random start).
    mirror : Mirroring, optional
        Weight mirroring (`odes.rhs.mirroring`): p and phi_F are in the flat vector and move.
    """

    def __init__(self, flow, state, activation, static=False, mirror=None):
        self.flow, self.activation = flow, activation
        self.K, self.M = state.K, state.M
        uses_F = flow.rule.uses_F
        self.mirrored = mirror is not None and mirror.on
        self.static = static_names(self.M, uses_F, mirror) if static else []
        self.names = list(flow.names) + self.static
        self.n_dynamic = len(flow.names)
        self.T, self.v_star = np.array(state.T, float), np.array(state.v_star, float)
        self.phi_F = state.phi_F
        self._lay = layout(self.K, self.M, self.mirrored)
        self._iu = np.triu_indices(self.M)
        rest = [[state.p[m] for m in range(self.M) if f"p[{m}]" in self.static],
                [state.phi_F] if "phi_F" in self.static else []]
        self._static0 = np.concatenate([self.T[self._iu]] + rest) if static else np.zeros(0)
        args = flow.args                  # its T and p are the State's own arrays: not written to
        self._args = args._replace(T=args.T.copy(), p=args.p.copy(), par=args.par.copy())

    def point(self, Q, R, v, f=None, p=None, phi_F=None):
        """(z, base): the coordinates of the state (Q, R, v, f; with mirroring p and phi_F) with
        the static overlaps at their start values, and the flat vector of `odes.rhs` that holds
        the slots z does not."""
        lay = self._lay
        base = np.zeros(lay["size"])
        base[lay["Q"]], base[lay["R"]], base[lay["v"]] = np.ravel(Q), np.ravel(R), v
        if f is not None:
            base[lay["f"]] = f
        if self.mirrored:
            base[lay["p"]], base[lay["phi_F"]] = p, phi_F
        static0 = self._static0.copy()
        if self.mirrored and "phi_F" in self.static:     # the held norm: this run's phi_F
            static0[-1] = phi_F
        return np.concatenate([base[self.flow.idx], static0]), base

    def _split(self, z, base):
        """(flat y, T, p, phi_F) of z; with mirroring p and phi_F are in y (a static phi_F put
        there) and come back as None."""
        y = self.flow.flat(z[:self.n_dynamic], base)
        if not self.static:
            return y, self.T, None, None
        s = z[self.n_dynamic:]
        n = len(self._iu[0])
        T = np.empty((self.M, self.M))
        T[self._iu] = s[:n]
        T.T[self._iu] = s[:n]
        if self.mirrored:
            if "phi_F" in self.static:
                y[self._lay["phi_F"]] = s[-1]
            return y, T, None, None
        p, phi_F = (s[n:n + self.M], s[n + self.M]) if len(s) > n else (None, None)
        return y, T, p, phi_F

    def _feedback(self, y, p, phi_F):
        """(p, phi_F) at y: from its slots with mirroring, else the static values or None."""
        if self.mirrored:
            return y[self._lay["p"]], float(y[self._lay["phi_F"]][0])
        return p, phi_F

    def state(self, z, base, like):
        """The State at z (T, p, phi_F from z for a random start; v*, b and the rest from `like`)."""
        y, T, p, phi_F = self._split(z, base)
        p, phi_F = self._feedback(y, p, phi_F)
        lay, K, M, rule = self._lay, self.K, self.M, self.flow.rule
        kw = {}
        if rule.uses_F:
            kw = dict(a=y[lay["f"]], p=like.p if p is None else p,
                      phi_F=like.phi_F if phi_F is None else phi_F)
        elif like.b is not None:
            kw = dict(b=like.b)
        return State(Q=y[lay["Q"]].reshape(K, K), R=y[lay["R"]].reshape(K, M), T=T,
                     v=y[lay["v"]], v_star=like.v_star, **kw)

    def f(self, z, base):
        """The drift dz/dt (zero for the static overlaps)."""
        y, T, p, phi_F = self._split(z, base)
        args = self._args                       # the kernel's arguments, with copies of T, p, par
        if self.static:
            args.T[:] = T
            if p is not None:
                args.p[:], args.par[PHI_F] = p, phi_F
        dy = np.zeros_like(y)
        evaluate(y, dy, args)
        return np.concatenate([dy[self.flow.idx], np.zeros(len(self.static))])

    def jacobian(self, z, base):
        """dz/dt differentiated by z (`odes.fixed_points.differentiate`)."""
        return differentiate(lambda zz: self.f(zz, base), z)

    def observable(self, name, z, base):
        """eps_g, or an alignment angle of `odes.angles` in degrees ('net', 'a_v', 'b_v',
        'v_vstar', 'v_deg'), at z, as a 1-vector."""
        y, T, p, phi_F = self._split(z, base)
        _, phi_F = self._feedback(y, p, phi_F)
        lay, K, M = self._lay, self.K, self.M
        Q, R, v = y[lay["Q"]].reshape(K, K), y[lay["R"]].reshape(K, M), y[lay["v"]]
        if name == "eps_g":
            return np.atleast_1d(_eps_g(Q, R, T, v, self.v_star, self.activation))
        fb = self.flow.rule.feedback_name
        th = _angles(Q, R, T, v, self.v_star, f=y[lay["f"]] if fb else None, feedback=fb,
                     phi_F=self.phi_F if phi_F is None else phi_F)
        if name not in th:
            raise ValueError(f"unknown observable {name!r}: eps_g, an angle ({', '.join(th)}) or "
                             f"one of {', '.join(self.names)}")
        return np.atleast_1d(th[name])

    def gradient(self, name, z, base):
        """d(observable)/dz: a unit vector for a coordinate, central differences (step 1e-6) for
        eps_g and the angles (`observable`)."""
        grad = np.zeros(len(self.names))
        if name in self.names:
            grad[self.names.index(name)] = 1.0
            return grad
        h = 1e-6
        for j in range(len(z)):
            d = np.zeros(len(z))
            d[j] = h
            grad[j] = (self.observable(name, z + d, base)
                       - self.observable(name, z - d, base))[0] / (2 * h)
        return grad


def curvature(F, z, S, h=1e-3):
    """1/2 sum_ij d^2F/dz_i dz_j S_ij for a function F of the coordinates z: second differences
    along the eigenvectors of S."""
    lam, vec = np.linalg.eigh(0.5 * (S + S.T))
    F0 = F(z)
    out = np.zeros_like(F0)
    for k in range(len(lam)):
        if lam[k] <= 0.0:
            continue
        d = h * vec[:, k]
        out += 0.5 * lam[k] * (F(z + d) - 2.0 * F0 + F(z - d)) / (h * h)
    return out
