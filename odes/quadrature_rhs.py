"""Right-hand sides from their definitions, with the expectations evaluated by quadrature.

Every rule updates the first layer as w_k <- w_k - (eta/sqrt(D)) (phi_k(u) x + psi_k(u) F)
(theory.md Appendix A; psi_k = -s phi_k e for the presynaptic factor x - s F e, with s = 1 when
the Fe terms are kept) and the second layer as v_k <- v_k - (eta_v/D) r_k(u).  Per rule:

    bp, fa, afa     phi_k = f_k g'(lambda_k) e     psi_k = 0           r_k = e g(lambda_k)
    pepita-lin      phi_k = a_k g'(lambda_k) e     psi_k = -phi_k e    r_k = e (g(lambda_k) - a_k g'(lambda_k) e)
    pepita          phi_k = Delta_k                psi_k = -phi_k e    r_k = e g(lambda~_k)
    pepita-hebbian  phi_k = Delta_k                psi_k = g(lambda~_k) e   r_k = yhat g(lambda_k) - y g(lambda~_k)
    pepita-tl       the same with lambda~_k replaced by lambda~'_k = lambda~_k - eta g(lambda_k)

with Delta_k = g(lambda_k) - g(lambda~_k), lambda~_k = lambda_k - a_k e (theory.md 2.4, 8.3), and
the order parameters move as (zeta = F.x, q = (a, p); E[phi_k zeta] = sum_j q_j E[d_j phi_k]
by Stein's lemma, so zeta costs no dimension)

    dR_kn/dt = -eta (E[phi_k nu_n] + p_n E[psi_k])
    dQ_kl/dt = -eta (E[phi_l lambda_k] + a_k E[psi_l] + (k <-> l)) + eta^2 E[phi_k phi_l]
    dv_k/dt  = -eta_v E[r_k]
    da_k/dt  = -eta (E[phi_k zeta] + phi_F E[psi_k])               (adaptive feedback only)

with sum_j q_j d_j phi_k = f_k (a_k g''_k e + g'_k S) for the Taylor rules and
a_k (g'(lambda_k) - g'(lambda~_k)) + a_k g'(lambda~_k) S for exact PEPITA, S = sum_j q_j c_j g'(u_j)
(time-local: a_k (g'(lambda_k) - g'(lambda~'_k) (1 - eta g'(lambda_k))) + a_k g'(lambda~'_k) S).

For exact PEPITA this is the only right-hand side (there is no closed form); for the other rules it
is a second, independent path to the closed-form kernel of `odes.rhs` (`quadrature=True`), which
the tests hold against each other.  One pass over the nodes of the folded product rule (`odes.expectations`) accumulates
all the moments; label noise adds the node coordinate xi (e = sum_i c_i g(u_i) - sigma xi).
"""

from numba import njit

from .activations import ERF, g, g_prime
from .expectations import factor
from .fields import fill_fields
from .parameters import (ACTIVATION, ETA, ETA_V, EXACT, FE_TERMS, FEEDBACK, HEBBIAN, N_NODES, PHI_F,
                         SIGMA, TIME_LOCAL, TRAIN_V)
from .rules import FEEDBACK_ADAPTIVE


def workspace_size(K, M):
    n = K + M
    d = n + 1
    return 2 * n * n + 4 * n + K * n + K * K + 6 * K + 3 * d


@njit(cache=True, error_model="numpy")
def quadrature_rhs(y, dy, K, M, T, vstar, p, par, ws, rule1d):
    """dy = d/dt y (layout of `odes.rhs`) by the folded product of one-dimensional rules over the
    K+M fields and, when sigma > 0, the label noise xi.  `rule1d` has rows (node, weight): the
    par[N_NODES] rows of the fields' rule, then xi's rule; nodes ascending and symmetric.

    The nodes are visited in odometer order, the last dimension fastest.  With u = L z and L
    lower triangular, field i depends on z_0..z_i only, so a change of z_j..z_{d-1} recomputes
    fields j..n-1 only: most nodes cost one field plus the K second-pass fields.  Folding: z_0
    runs over the non-negative nodes, a positive one counting twice (the integrands are even)."""
    n = K + M
    eta, eta_v, sigma = par[ETA], par[ETA_V], par[SIGMA]
    fb = int(par[FEEDBACK])
    s_fe = 1.0 if par[FE_TERMS] != 0.0 else 0.0
    exact = par[EXACT] != 0.0
    hebbian = par[HEBBIAN] != 0.0
    tl = eta if par[TIME_LOCAL] != 0.0 else 0.0     # the first half-step's shift of lambda~
    adaptive = fb == FEEDBACK_ADAPTIVE
    act = int(par[ACTIVATION])               # erf or linear (params() refuses ReLU here)
    noise = sigma > 0.0
    d = n + 1 if noise else n
    m1 = int(par[N_NODES])
    m_xi = rule1d.shape[0] - m1
    oQ, oR, ov, of = 0, K * K, K * K + K * M, K * K + K * M + K
    C = ws[: n * n].reshape((n, n))
    L = ws[n * n: 2 * n * n].reshape((n, n))
    o = 2 * n * n
    u, gv, gp, c = ws[o: o + n], ws[o + n: o + 2 * n], ws[o + 2 * n: o + 3 * n], ws[o + 3 * n: o + 4 * n]
    o += 4 * n
    P = ws[o: o + K * n].reshape((K, n))        # E[phi_k u_j]
    o += K * n
    PP = ws[o: o + K * K].reshape((K, K))       # E[phi_k phi_l]
    o += K * K
    Ps, Hl, Zs = ws[o: o + K], ws[o + K: o + 2 * K], ws[o + 2 * K: o + 3 * K]   # E[psi], E[r], E[phi zeta]
    f, q, phi = ws[o + 3 * K: o + 4 * K], ws[o + 4 * K: o + 5 * K], ws[o + 5 * K: o + 6 * K]
    o += 6 * K
    # odometer: node index per dimension (stored as floats), node coordinates, running weight products
    idx, z, wprod = ws[o: o + d], ws[o + d: o + 2 * d], ws[o + 2 * d: o + 3 * d]

    fill_fields(y, K, M, T, vstar, fb, C, c, f)
    for k in range(K):
        q[k] = y[of + k] if adaptive else 0.0
    factor(C, L)
    for k in range(K):
        Ps[k] = Hl[k] = Zs[k] = 0.0
        for j in range(n):
            P[k, j] = 0.0
        for l in range(K):
            PP[k, l] = 0.0

    first0 = m1 // 2                             # the first non-negative node
    idx[0] = first0
    for j in range(1, d):
        idx[j] = 0
    changed = 0
    while True:
        for j in range(changed, d):
            node = int(idx[j])
            row = node if j < n else m1 + node
            z[j] = rule1d[row, 0]
            wj = rule1d[row, 1]
            if j == 0:
                wprod[0] = 2.0 * wj if z[0] > 0.0 else wj
            else:
                wprod[j] = wprod[j - 1] * wj
        for i in range(changed, n):
            s = 0.0
            for j in range(i + 1):
                s += L[i, j] * z[j]
            u[i] = s
            gv[i] = g(act, s)
            gp[i] = g_prime(act, s)
        w = wprod[d - 1]
        yhat = 0.0                       # the student's output; e adds -y (c = (v, -v*))
        for k in range(K):
            yhat += c[k] * gv[k]
        e = yhat
        for i in range(K, n):
            e += c[i] * gv[i]
        if noise:
            e -= sigma * z[n]
        S = 0.0                                  # sum_j q_j c_j g'(u_j), q = (a, p)
        if adaptive:
            for k in range(K):
                S += q[k] * c[k] * gp[k]
            for m in range(M):
                S += p[m] * c[K + m] * gp[K + m]
        for k in range(K):
            if exact:
                lt = u[k] - q[k] * e - tl * gv[k]
                gt = g(act, lt)
                gpt = g_prime(act, lt)
                phi[k] = gv[k] - gt
                zk = q[k] * (gp[k] - gpt * (1.0 - tl * gp[k]) + gpt * S)
                if hebbian:              # y = yhat - e: the label, noise included
                    psi = gt * e
                    r_k = yhat * gv[k] - (yhat - e) * gt
                else:
                    psi = -phi[k] * e
                    r_k = e * gt
            else:
                phi[k] = f[k] * gp[k] * e
                psi = -s_fe * phi[k] * e
                r_k = e * (gv[k] - s_fe * q[k] * gp[k] * e)
                g2 = -u[k] * gp[k] if act == ERF else 0.0       # g'' (erf: -x g'; linear: 0)
                zk = f[k] * (q[k] * g2 * e + gp[k] * S)
            we = w * phi[k]
            for j in range(n):
                P[k, j] += we * u[j]
            Ps[k] += w * psi
            for l in range(k + 1):
                PP[k, l] += we * phi[l]
            Hl[k] += w * r_k
            Zs[k] += w * zk
        # next node: advance the last dimension, carrying into earlier ones
        j = d - 1
        while j >= 0:
            idx[j] += 1
            if idx[j] < (m1 if j < n else m_xi):
                break
            idx[j] = first0 if j == 0 else 0
            j -= 1
        if j < 0:
            break
        changed = j

    for k in range(K):
        for m in range(M):
            dy[oR + k * M + m] = -eta * (P[k, K + m] + p[m] * Ps[k])
        for l in range(k + 1):
            d_kl = (-eta * (P[l, k] + q[k] * Ps[l] + P[k, l] + q[l] * Ps[k])
                    + eta * eta * PP[k, l])
            dy[oQ + k * K + l] = d_kl
            dy[oQ + l * K + k] = d_kl
        dy[ov + k] = -eta_v * Hl[k] if par[TRAIN_V] != 0.0 else 0.0
        dy[of + k] = -eta * (Zs[k] + par[PHI_F] * Ps[k]) if adaptive else 0.0
