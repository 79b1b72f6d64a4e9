"""The one-step increments of the order parameters and their first two moments (theory.md 10.2).

One SGD step moves the flat state by (1/D) G(y; u, rho, xi), with u = (lambda, nu, zeta) the fields
of the input (lambda = W x/sqrt(D), nu = W* x/sqrt(D), zeta = F.x for the rules with F), xi the
label noise and rho = |x|^2/D.  To leading order in 1/D (rho -> 1), in the physical coordinates of
`odes.fixed_points.coordinates` (Q_kl for k <= l, R_km, v_k when trained, a_k for adaptive
feedback):

    G_Q[k,l] = -eta (phi_k lambda_l + phi_l lambda_k + psi_k a_l + psi_l a_k) + eta^2 phi_k phi_l
    G_R[k,m] = -eta (phi_k nu_m + psi_k p_m)
    G_v[k]   = -eta_v chi_k
    G_a[k]   = -eta (phi_k zeta + psi_k phi_F)

with the rule's scalars (theory.md 2, 8.3, 10.1): for the Taylor rules phi_k = f_k g'(lambda_k) e
(f = v, b or a), psi = 0 and chi_k = e h_k, with the Fe terms (pepita-lin) psi_k = -phi_k e and
chi_k = e (h_k - a_k g'(lambda_k) e); for exact PEPITA h~_k = g(lambda_k - e a_k), phi_k = h_k -
h~_k, psi_k = -phi_k e, chi_k = e h~_k; in the Hebbian form psi_k = h~_k e and chi_k = yhat h_k - y h~_k;
in the time-local form h~_k = g(lambda_k - e a_k - eta h_k) (the weights after the Hebbian
half-step, |x|^2/D -> 1).  Weight decay kappa adds the deterministic -2 kappa Q, -kappa (R, v, a).

Forward-Forward (theory.md 11.1): h~_k = g(lambda_k - e a_k), each pass's weight b = s sigma(s (G -
theta)) (s = +1 for the negative pass), phi_k = 2 (b_c h_k g'(lambda_k) + b_m h~_k g'(lambda~_k)),
psi_k = -2 b_m h~_k g'(lambda~_k) e, chi_k = e h_k.

Weight mirroring (theory.md 11.2) adds, after every step, an independent move of the feedback's
coordinates (a, p and, with a free norm, phi_F, which are then coordinates too): with B noise
inputs of fields (lambda, nu, zeta) of the same law as the input's and yhat = sum_j v_j g(s
lambda_j), G_mirror = <g>_B plus the decay (-eta_M kappa_M (a, p, 2 phi_F)), with g_a = eta_M s
yhat lambda, g_p = eta_M s yhat nu, g_phi = 2 eta_M s yhat zeta + eta_M^2 s^2 yhat^2 / B (and with
the fixed norm g_a - a g_phi/(2 phi_F), g_p likewise, no phi_F): its mean adds to f, Cov[g]/B
to B.  Its O(1/D) drift is not implemented (`first_order` leaves it out; `odes.fluctuations`
gives no bias with mirroring).

`Increments.moments` returns the drift f = E[G] (+ decay), which is the ODE's right-hand side
(tested against `odes.rhs`, an independent implementation), and the noise matrix B = Cov[G] of the
linear-noise approximation, both by the product quadrature of `odes.gaussian.expectations` over
(u, xi).  Accuracy: the integrands are smooth for erf and linear g (B at the default nodes,
`noise_nodes`, K = M = 2: 1e-3 - 1e-2); for ReLU they have kinks and the quadrature converges
slowly (~1e-2).
"""
import warnings

import numpy as np

from ..activations import g_numpy
from ..fixed_points import coordinates
from ..gaussian.expectations import hermite_rule, nodes
from ..integrate import AccuracyWarning
from ..rules import FEEDBACK_ADAPTIVE, FEEDBACK_FIXED, FEEDBACK_V, ff_options, get_rule


def g_prime_numpy(name, x):
    """g' over an array (NumPy): erf's sqrt(2/pi) exp(-x^2/2), 1, or the step Theta(x)."""
    x = np.asarray(x, float)
    if name == "erf":
        return np.sqrt(2.0 / np.pi) * np.exp(-0.5 * x * x)
    if name == "linear":
        return np.ones_like(x)
    return (x > 0.0).astype(float)


#: quadrature nodes per dimension of `Increments` by default, by dimension: B's largest entry to
#: 1e-3 - 1e-2 relative at K = M = 2 (bp: 8 nodes in 4 and 5 dimensions, 7e-3 against 14; exact
#: PEPITA: 7 in 5 dimensions, 8e-4; 6 in 6 dimensions, 1.2e-2), enough for the linear-noise
#: approximation's covariance; the right-hand sides' `default_nodes` for more.  Beyond 7 field
#: dimensions (K + M, and 1 more with F) 4 nodes, unchecked: `Increments` warns
#: (AccuracyWarning), and it refuses a rule of more than MAX_POINTS points
NOISE_NODES = {1: 24, 2: 16, 3: 12, 4: 8, 5: 8, 6: 6, 7: 5}
#: nodes of the label noise xi: 3 for the Taylor rules (exact: polynomials of degree <= 4 in xi),
#: 6 for exact PEPITA and its variants (xi inside g; as the right-hand side's quadrature)
XI_NODES = {False: 3, True: 6}


#: the most points the product quadrature of B may take at one state (~100 MB of field values)
MAX_POINTS = 3_000_000


def noise_nodes(d):
    """Nodes per dimension of `Increments`' default rule in d dimensions (`NOISE_NODES`)."""
    return NOISE_NODES.get(d, 4)


class Increments:
    """The increments G of one rule, its parameters and a state's constants (T, v*, p, phi_F, b).

    Parameters
    ----------
    state : State
        Gives K, M and the constants; its Q, R, v, a are not used (`moments` takes them).
    rule : str or Rule
        A rule of `odes.ODE_RULES`.
    eta, eta_v, sigma, train_v, weight_decay, activation
        As in `odes.integrate`.
    nodes : int, optional
        Quadrature nodes per field dimension (default `noise_nodes` of the number of fields; xi,
        when sigma > 0, has its own rule, `quadrature`).
    mirror : Mirroring, optional
        Weight mirroring (module docstring); p and phi_F then move, and `moments` takes them.
    ff_theta, ff_positive
        Forward-Forward's options (rule 'ff').
    """

    def __init__(self, state, rule, eta, *, eta_v=None, sigma=0.0, train_v=True, weight_decay=0.0,
                 activation="erf", nodes=None, mirror=None, ff_theta=None, ff_positive=None):
        self.rule = get_rule(rule) if isinstance(rule, str) else rule
        state.check_rule(self.rule)
        self.K, self.M = state.K, state.M
        self.eta = float(eta)
        self.eta_v = self.eta if eta_v is None else float(eta_v)
        self.sigma, self.train_v = float(sigma), bool(train_v)
        self.kappa, self.activation = float(weight_decay), activation
        self.T, self.v_star = np.asarray(state.T, float), np.asarray(state.v_star, float)
        F = self.rule.uses_F
        self.p = np.asarray(state.p, float) if F else np.zeros(self.M)
        self.phi_F = float(state.phi_F) if F else 0.0
        self.b = np.asarray(state.b, float) if state.b is not None else np.zeros(self.K)
        self.mirror = mirror if mirror is not None and mirror.on else None
        self.ff = ff_options(self.rule, ff_theta, ff_positive)
        self.names, _ = coordinates(self.K, self.M, self.rule, self.train_v, self.mirror)
        self.dims = self.K + self.M + (1 if F else 0) + (1 if self.sigma > 0 else 0)
        self.fields = self.dims - (1 if self.sigma > 0 else 0)
        self.n_nodes = noise_nodes(self.fields) if nodes is None else int(nodes)
        points = self.n_nodes ** self.fields * (XI_NODES[self.rule.exact_pepita] if self.sigma > 0
                                                 else 1)
        if points > MAX_POINTS:
            raise ValueError(f"B's product quadrature would take {points:.2g} points ({self.n_nodes} "
                             f"nodes in each of {self.fields} field dimensions; at most "
                             f"{MAX_POINTS:.0e}): use smaller K + M or fewer nodes=")
        self._last = (None, None)                 # `_at`'s state and its quadrature
        if nodes is None and self.fields > max(NOISE_NODES):
            warnings.warn(f"B by {self.n_nodes} quadrature nodes per field dimension in "
                          f"{self.fields} dimensions: its accuracy is not checked beyond "
                          f"{max(NOISE_NODES)} (1e-3 - 1e-2 up to there); nodes= sets it",
                          AccuracyWarning, stacklevel=3)

    def covariance(self, Q, R, a):
        """The covariance of the fields (lambda, nu[, zeta]) (xi, independent, has its own rule:
        `quadrature`)."""
        if self.rule.uses_F:
            return np.block([[Q, R, a[:, None]], [R.T, self.T, self.p[:, None]],
                             [a[None, :], self.p[None, :], np.array([[self.phi_F]])]])
        return np.block([[Q, R], [R.T, self.T]])

    def signals(self, U, v, a):
        """The rule's scalars (phi, psi, chi), each (N, K), at field values U (module docstring)."""
        K, M, rule, act = self.K, self.M, self.rule, self.activation
        eta = self.eta
        lam, nu = U[:, :K], U[:, K:K + M]
        xi = U[:, -1] if self.sigma > 0 else 0.0
        a = np.zeros(K) if a is None else a
        y = g_numpy(act, nu) @ self.v_star + self.sigma * xi
        h = g_numpy(act, lam)
        yhat = h @ v
        e = (yhat - y)[:, None]
        if rule.ff:                                 # Forward-Forward (module docstring)
            theta, clean_positive = self.ff
            s_c = -1.0 if clean_positive else 1.0
            lam_mod = lam - e * a
            ht = g_numpy(act, lam_mod)
            weight = lambda sign, good: sign / (1 + np.exp(-sign * (good - theta)))  # noqa: E731
            b_c = weight(s_c, (h * h).sum(axis=1))[:, None]
            b_m = weight(-s_c, (ht * ht).sum(axis=1))[:, None]
            h_mod = ht * g_prime_numpy(act, lam_mod)
            phi = 2 * (b_c * h * g_prime_numpy(act, lam) + b_m * h_mod)
            psi, chi = -2 * b_m * h_mod * e, e * h
        elif rule.exact_pepita:
            lam_mod = lam - e * a
            if rule.time_local:
                lam_mod = lam_mod - eta * h
            ht = g_numpy(act, lam_mod)
            phi = h - ht
            if rule.hebbian:
                psi, chi = ht * e, yhat[:, None] * h - y[:, None] * ht
            else:
                psi, chi = -phi * e, e * ht
        else:
            f = {FEEDBACK_V: v, FEEDBACK_FIXED: self.b, FEEDBACK_ADAPTIVE: a}[rule.feedback]
            gpe = g_prime_numpy(act, lam) * e
            phi = f * gpe
            if rule.fe_terms:
                psi, chi = -phi * e, e * (h - a * gpe)
            else:
                psi, chi = np.zeros_like(phi), e * h
        return phi, psi, chi

    def _assemble(self, U, a, phi, psi, chi):
        """G from the rule's scalars (module docstring)."""
        K, M, eta = self.K, self.M, self.eta
        lam, nu = U[:, :K], U[:, K:K + M]
        zeta = U[:, K + M] if self.rule.uses_F else np.zeros(len(U))
        a = np.zeros(K) if a is None else a
        cols = []
        for k in range(K):
            for l in range(k, K):
                cols.append(-eta * (phi[:, k] * lam[:, l] + phi[:, l] * lam[:, k]
                                    + psi[:, k] * a[l] + psi[:, l] * a[k])
                            + eta * eta * phi[:, k] * phi[:, l])
        for k in range(K):
            for m in range(M):
                cols.append(-eta * (phi[:, k] * nu[:, m] + psi[:, k] * self.p[m]))
        if self.train_v:
            cols += [-self.eta_v * chi[:, k] for k in range(K)]
        if self.rule.feedback == FEEDBACK_ADAPTIVE:
            cols += [-eta * (phi[:, k] * zeta + psi[:, k] * self.phi_F) for k in range(K)]
        if self.mirror is not None:                 # the learning step does not move F
            cols += [np.zeros(len(U))] * (M + (0 if self.mirror.fixed_norm else 1))
        return np.column_stack(cols)

    def decay(self, Q, R, v, a):
        """The deterministic drift of weight decay, in the physical coordinates."""
        K, M, kappa = self.K, self.M, self.kappa
        out = [-2 * kappa * Q[k, l] for k in range(K) for l in range(k, K)]
        out += [-kappa * R[k, m] for k in range(K) for m in range(M)]
        if self.train_v:
            out += list(-kappa * np.asarray(v))
        if self.rule.feedback == FEEDBACK_ADAPTIVE:
            out += list(-kappa * np.asarray(a))
        if self.mirror is not None:                 # F's own decay is mirroring's (`_mirroring`)
            out += [0.0] * (M + (0 if self.mirror.fixed_norm else 1))
        return np.array(out)

    def quadrature(self, Q, R, a):
        """Nodes (N, dims) and weights (N,) over (u, xi): the product rule of
        `odes.gaussian.expectations.nodes` over the fields, times a plain Gauss-Hermite rule of
        XI_NODES for xi (which enters e linearly: the Taylor rules' integrands are polynomials of
        degree <= 4 in xi, which 3 nodes integrate exactly; exact PEPITA's are smooth)."""
        U, w = nodes(self.covariance(Q, R, a if a is not None else np.zeros(self.K)), self.n_nodes)
        if self.sigma == 0:
            return U, w
        x, wx = hermite_rule(XI_NODES[self.rule.exact_pepita])
        return (np.column_stack([np.repeat(U, len(x), axis=0), np.tile(x, len(w))]),
                np.repeat(w, len(x)) * np.tile(wx, len(w)))

    def _feedback(self, p, phi_F):
        """Take the state's p and phi_F where mirroring moves them (else the constants stay)."""
        if p is not None:
            self.p, self.phi_F = np.asarray(p, float), float(phi_F)

    def _at(self, Q, R, v, a):
        """(nodes, weights, the rule's scalars there) at a state, kept for the next call at the
        same state (`moments` and `first_order` are called in turn along a trajectory)."""
        key = (Q.tobytes(), R.tobytes(), v.tobytes(), None if a is None else a.tobytes(),
               self.p.tobytes(), self.phi_F)
        if self._last[0] != key:
            U, w = self.quadrature(Q, R, a)
            self._last = key, (U, w, self.signals(U, v, a))
        return self._last[1]

    def first_order(self, Q, R, v, a=None, p=None, phi_F=None):
        """f_1 = lim D (E[D-step increment] - f) (theory.md 10.3): the exact chain's O(1/D) drift,
        in the physical coordinates.  From the chain's updates (theory.md 10.1) with rho = |x|^2/D,
        E[rho | u] = 1 + (|z|^2 - r)/D (|z|^2 = u^T S^+ u over the r = rank S fields) and the
        weight-decay factor (1 - kappa/D):

            f_1[Q_kl] = eta^2 E[phi_k phi_l (|z|^2 - r)] + eta^2 E[(phi_k psi_l + psi_k phi_l) zeta]
                        + eta^2 E[psi_k psi_l] phi_F + kappa^2 Q_kl
                        + kappa eta E[phi_k lambda_l + phi_l lambda_k + psi_k a_l + psi_l a_k]
            f_1[R_km] = f_1[v_k] = f_1[a_k] = 0

        (R, v and a are linear in the weights, whose decay multiplies the old value only; Q's cross
        term carries it once, hence its kappa eta term).

        Not for the time-local form, whose h~ depends on |x|^2/D inside g (refused)."""
        if self.rule.time_local:
            raise ValueError(f"{self.rule.name}: its O(1/D) drift (|x|^2/D inside g) is not "
                             f"implemented")
        if self.mirror is not None:
            raise ValueError("the O(1/D) drift of weight mirroring is not implemented")
        self._feedback(p, phi_F)
        K, M, eta, kappa = self.K, self.M, self.eta, self.kappa
        Q, R, v = np.asarray(Q, float), np.asarray(R, float), np.asarray(v, float)
        a = None if a is None else np.asarray(a, float)
        aa = np.zeros(K) if a is None else a
        U, w, (phi, psi, chi) = self._at(Q, R, v, a)
        n = self.fields
        C = self.covariance(Q, R, aa)
        X = U[:, :n]
        zz = np.einsum("ni,ij,nj->n", X, np.linalg.pinv(C, hermitian=True), X)
        rank = np.linalg.matrix_rank(C, hermitian=True)
        lam = U[:, :K]
        zeta = U[:, K + M] if self.rule.uses_F else np.zeros(len(U))
        E = lambda x: w @ x                                               # noqa: E731
        out = []
        for k in range(K):
            for l in range(k, K):
                out.append(eta * eta * (E(phi[:, k] * phi[:, l] * (zz - rank))
                                        + E((phi[:, k] * psi[:, l] + psi[:, k] * phi[:, l]) * zeta)
                                        + E(psi[:, k] * psi[:, l]) * self.phi_F)
                           + kappa * kappa * Q[k, l]
                           + kappa * eta * E(phi[:, k] * lam[:, l] + phi[:, l] * lam[:, k]
                                             + psi[:, k] * aa[l] + psi[:, l] * aa[k]))
        out += [0.0] * (K * M + (K if self.train_v else 0)
                        + (K if self.rule.feedback == FEEDBACK_ADAPTIVE else 0))
        return np.array(out)

    def moments(self, Q, R, v, a=None, p=None, phi_F=None):
        """(f, B): the drift E[G] plus weight decay (the ODE's right-hand side) and the noise
        matrix B = Cov[G], in the physical coordinates (`names`), at the state (Q, R, v, a; with
        mirroring also p and phi_F)."""
        self._feedback(p, phi_F)
        Q, R, v = np.asarray(Q, float), np.asarray(R, float), np.asarray(v, float)
        a = None if a is None else np.asarray(a, float)
        U, w, signals = self._at(Q, R, v, a)
        G = self._assemble(U, a, *signals)
        mean = w @ G
        second = (G * w[:, None]).T @ G
        f, B = mean + self.decay(Q, R, v, a), second - np.outer(mean, mean)
        if self.mirror is not None:
            n = len(f) - self.M - (0 if self.mirror.fixed_norm else 1) - self.K   # a's first
            fm, Bm = self._mirroring(U, w, v, a)
            f[n:] += fm
            B[n:, n:] += Bm
        return f, B

    def _mirroring(self, U, w, v, a):
        """(mean, covariance) of one mirroring step's increment of (a, p[, phi_F]) (module
        docstring), by the same quadrature: the noise inputs' fields have the input's law."""
        K, M, mirror = self.K, self.M, self.mirror
        eta_m, s, B, kappa_m = mirror.eta, mirror.noise, mirror.batch, mirror.decay
        lam, nu, zeta = U[:, :K], U[:, K:K + M], U[:, K + M]
        yhat = g_numpy(self.activation, s * lam) @ v
        g_a = eta_m * s * yhat[:, None] * lam
        g_p = eta_m * s * yhat[:, None] * nu
        g_phi = 2 * eta_m * s * yhat * zeta + (eta_m * s * yhat) ** 2 / B
        if mirror.fixed_norm:
            g = np.column_stack([g_a - np.outer(g_phi, a) / (2 * self.phi_F),
                                 g_p - np.outer(g_phi, self.p) / (2 * self.phi_F)])
            decay = np.zeros(K + M)
        else:
            g = np.column_stack([g_a, g_p, g_phi])
            decay = -eta_m * kappa_m * np.concatenate([a, self.p, [2 * self.phi_F]])
        mean = w @ g
        return mean + decay, ((g * w[:, None]).T @ g - np.outer(mean, mean)) / B
