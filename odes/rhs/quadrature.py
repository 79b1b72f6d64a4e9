"""Right-hand sides from their definitions, with the expectations evaluated by quadrature.

Every rule updates the first layer as w_k <- w_k - (eta/sqrt(D)) (phi_k(u) x + psi_k(u) F)
(theory.md Appendix A; psi_k = -s phi_k e for the presynaptic factor x - s F e, with s = 1 when
the Fe terms are kept) and the second layer as v_k <- v_k - (eta_v/D) r_k(u).  Per rule:

    bp, fa, afa     phi_k = f_k g'(lambda_k) e     psi_k = 0           r_k = e g(lambda_k)
    pepita-lin      phi_k = a_k g'(lambda_k) e     psi_k = -phi_k e    r_k = e (g(lambda_k) - a_k g'(lambda_k) e)
    pepita          phi_k = Delta_k                psi_k = -phi_k e    r_k = e g(lambda~_k)
    pepita-hebbian  phi_k = Delta_k                psi_k = g(lambda~_k) e   r_k = yhat g(lambda_k) - y g(lambda~_k)
    pepita-tl       the same with lambda~_k replaced by lambda~'_k = lambda~_k - eta g(lambda_k)
    ff              phi_k = 2 (b_c h(lambda_k) + b_m h(lambda~_k))   psi_k = -2 b_m h(lambda~_k) e
                    r_k = e g(lambda_k)

with Delta_k = g(lambda_k) - g(lambda~_k), lambda~_k = lambda_k - a_k e (theory.md 2.4, 8.3);
for Forward-Forward (theory.md 11.1) h = g g', the goodness G = sum_l g(lambda_l)^2 of the clean
pass and G~ of the modulated one, and each pass's weight b = s sigma(s (G - theta)) with s = +1
for the negative pass and -1 for the positive one (sigma the logistic function); and
the order parameters move as (zeta = F.x, q = (a, p); E[phi_k zeta] = sum_j q_j E[d_j phi_k]
by Stein's lemma, so zeta costs no dimension)

    dR_kn/dt = -eta (E[phi_k nu_n] + p_n E[psi_k])
    dQ_kl/dt = -eta (E[phi_l lambda_k] + a_k E[psi_l] + (k <-> l)) + eta^2 E[phi_k phi_l]
    dv_k/dt  = -eta_v E[r_k]
    da_k/dt  = -eta (E[phi_k zeta] + phi_F E[psi_k])               (adaptive feedback only)

with sum_j q_j d_j phi_k = f_k (a_k g''_k e + g'_k S) for the Taylor rules and
a_k (g'(lambda_k) - g'(lambda~_k)) + a_k g'(lambda~_k) S for exact PEPITA, S = sum_j q_j c_j g'(u_j)
(time-local: a_k (g'(lambda_k) - g'(lambda~'_k) (1 - eta g'(lambda_k))) + a_k g'(lambda~'_k) S;
Forward-Forward: 2 (b_c' dG h_k + b_c h'_k a_k + (b_m' dG~ h~_k + b_m h~'_k a_k)(1 - S)) with
b' = sigma (1 - sigma) of its pass, dG = 2 sum_l a_l g_l g'_l and dG~ likewise at lambda~, whose
own derivative along q is a (1 - S)).

For exact PEPITA this is the only right-hand side (there is no closed form); for the other rules it
is a second, independent path to the closed-form kernel of `odes.rhs` (`quadrature=True`), which
the tests hold against each other.  One pass over the nodes of the folded product rule (`odes.gaussian.expectations`) accumulates
all the moments; label noise adds the node coordinate xi (e = sum_i c_i g(u_i) - sigma xi).
"""
import math
from collections import namedtuple

import numpy as np
from numba import njit

from ..activations import ERF, g, g_pair_n, g_prime
from ..gaussian.expectations import contract, factor
from ..gaussian.vecmath import padded
from ..rules import FEEDBACK_ADAPTIVE
from .fields import fill_fields, offsets
from .parameters import (ACTIVATION, ETA, ETA_V, EXACT, FE_TERMS, FEEDBACK, FF, FF_CLEAN_POSITIVE,
                         FF_THETA, HEBBIAN, N_NODES, PHI_F, SIGMA, TIME_LOCAL, TRAIN_V)


#: the scratch of `quadrature_rhs`, one named array each (n = K + M fields, d = n + 1 dimensions
#: with xi, m = nodes per field dimension, m_in the inner loop's nodes, padded for whole vectors):
#: C, L (n x n) the covariance and its Cholesky factor; u, gv, gp, c (n) the fields, their g and
#: g', the error coefficients; P (K x n) E[phi_k u_j]; PP (K x K) E[phi_k phi_l]; Ps, Hl, Zs (K)
#: E[psi], E[r], E[phi zeta]; f, q (K) the feedback and a; idx, z, wprod (d) the odometer's node
#: indices (as floats), node coordinates and running weight products; rules (n x m x 2) the
#: contracted (node, weight) per field dimension; ul, gl, gpl, wr, er, Sr (m_in) per inner node
#: the last field, its g and g', the weight, e and S; lt, gt, gpt, tmp (K m_in) per student and
#: inner node lambda~_k, its g and g', scratch; phr (K x m_in) Delta_k (or phi_k) at the inner nodes;
#: bm, bmd (m_in) Forward-Forward's modulated-pass weight b_m and b_m' dG~ at the inner nodes
QuadratureScratch = namedtuple("QuadratureScratch", "C L u gv gp c P PP Ps Hl Zs f q idx z wprod "
                                                    "rules ul gl gpl wr er Sr lt gt gpt tmp phr "
                                                    "bm bmd")


def workspace(K, M, nodes, xi_nodes):
    """The `QuadratureScratch` of `quadrature_rhs` with `nodes` nodes per field dimension and
    `xi_nodes` for xi."""
    n, d, m_in = K + M, K + M + 1, max(nodes, xi_nodes)
    shapes = dict(C=(n, n), L=(n, n), u=n, gv=n, gp=n, c=n, P=(K, n), PP=(K, K), Ps=K, Hl=K, Zs=K,
                  f=K, q=K, idx=d, z=d, wprod=d, rules=(n, nodes, 2))
    shapes.update({name: padded(m_in) for name in ("ul", "gl", "gpl", "wr", "er", "Sr", "bm",
                                                   "bmd")})
    shapes.update({name: padded(K * m_in) for name in ("lt", "gt", "gpt", "tmp")})
    shapes["phr"] = (K, m_in)
    return QuadratureScratch(**{name: np.zeros(shapes[name]) for name in QuadratureScratch._fields})


@njit(cache=True, error_model="numpy")
def quadrature_rhs(y, dy, K, M, T, vstar, p, par, ws, rule1d):
    """dy = d/dt y (layout of `odes.rhs`) by the folded product of one-dimensional rules over the
    K+M fields and, when sigma > 0, the label noise xi.  `rule1d` has rows (node, weight): the
    par[N_NODES] rows of the plain Gauss-Hermite rule, which each field dimension contracts by its
    own factor (`odes.gaussian.expectations.contract`), then xi's rule; nodes ascending and symmetric.

    The nodes are visited in odometer order, the last dimension fastest, as an inner loop.  With
    u = L z and L lower triangular, field i depends on z_0..z_i only, so a change of z_j..z_{d-1}
    recomputes fields j..n-1 only: a node of the inner loop costs the last field (none when it is
    xi) plus the K second-pass fields.  Folding: z_0 runs over the non-negative nodes, a positive
    one counting twice (the integrands are even)."""
    n = K + M
    eta, eta_v, sigma = par[ETA], par[ETA_V], par[SIGMA]
    fb = int(par[FEEDBACK])
    s_fe = 1.0 if par[FE_TERMS] != 0.0 else 0.0
    exact = par[EXACT] != 0.0
    hebbian = par[HEBBIAN] != 0.0
    ff = par[FF] != 0.0
    theta = par[FF_THETA]
    s_clean = -1.0 if par[FF_CLEAN_POSITIVE] != 0.0 else 1.0    # +1: the clean pass is negative
    tl = eta if par[TIME_LOCAL] != 0.0 else 0.0     # the first half-step's shift of lambda~
    adaptive = fb == FEEDBACK_ADAPTIVE
    act = int(par[ACTIVATION])               # erf or linear (params() refuses ReLU here)
    noise = sigma > 0.0
    d = n + 1 if noise else n
    m1 = int(par[N_NODES])
    m_xi = rule1d.shape[0] - m1
    of = offsets(K, M)[3]
    C, L, u, gv, gp, c, P, PP = ws.C, ws.L, ws.u, ws.gv, ws.gp, ws.c, ws.P, ws.PP
    Ps, Hl, Zs, f, q, idx, z, wprod = ws.Ps, ws.Hl, ws.Zs, ws.f, ws.q, ws.idx, ws.z, ws.wprod
    rules, ul, gl, gpl, wr, er, Sr = ws.rules, ws.ul, ws.gl, ws.gpl, ws.wr, ws.er, ws.Sr
    lt, gt, gpt, tmp, phr, bm, bmd = ws.lt, ws.gt, ws.gpt, ws.tmp, ws.phr, ws.bm, ws.bmd

    fill_fields(y, K, M, T, vstar, fb, C, c, f)
    for k in range(K):
        q[k] = y[of + k] if adaptive else 0.0
    factor(C, L)
    contract(L, rule1d[:m1], rules)
    for k in range(K):
        Ps[k] = Hl[k] = Zs[k] = 0.0
        for j in range(n):
            P[k, j] = 0.0
        for l in range(K):
            PP[k, l] = 0.0

    # The last dimension (the last teacher field, or xi when sigma > 0) is the inner loop: with
    # the others fixed, the students' fields, the fixed part of e and of S are computed once.
    last = d - 1
    field_last = last < n
    m_last = m1 if field_last else m_xi
    n_fixed = last if field_last else n          # fields that do not move in the inner loop
    first0 = m1 // 2                             # the first non-negative node
    idx[0] = first0
    for j in range(1, last):
        idx[j] = 0
    changed = 0
    while True:
        for j in range(changed, last):
            node = int(idx[j])
            z[j] = rules[j, node, 0]
            wj = rules[j, node, 1]
            if j == 0:
                wprod[0] = 2.0 * wj if z[0] > 0.0 else wj
            else:
                wprod[j] = wprod[j - 1] * wj
        for i in range(changed, n_fixed):
            s = 0.0
            for j in range(i + 1):
                s += L[i, j] * z[j]
            u[i] = s
            gv[i] = g(act, s)
            gp[i] = g_prime(act, s)
        yhat = 0.0                       # the student's output; e adds -y (c = (v, -v*))
        for k in range(K):
            yhat += c[k] * gv[k]
        e0 = yhat
        for i in range(K, n_fixed):
            e0 += c[i] * gv[i]
        S0 = 0.0                                 # sum_j q_j c_j g'(u_j), q = (a, p)
        if adaptive:
            for k in range(K):
                S0 += q[k] * c[k] * gp[k]
            for m in range(K, n_fixed):
                S0 += p[m - K] * c[m] * gp[m]
        base = 0.0                               # the last field's part from the fixed z
        if field_last:
            for j in range(last):
                base += L[last, j] * z[j]
        if field_last:                           # e, S and the weight at the inner nodes
            for r in range(m_last):
                ul[r] = base + L[last, last] * rules[last, r, 0]
                wr[r] = wprod[last - 1] * rules[last, r, 1]
            g_pair_n(act, ul, gl, gpl, tmp, m_last)
            for r in range(m_last):
                er[r] = e0 + c[last] * gl[r]
                Sr[r] = S0 + p[M - 1] * c[last] * gpl[r] if adaptive else 0.0
        else:
            for r in range(m_last):
                ul[r] = 0.0
                wr[r] = wprod[last - 1] * rule1d[m1 + r, 1]
                er[r] = e0 - sigma * rule1d[m1 + r, 0]
                Sr[r] = S0
        if exact:                                # lambda~_k at every inner node, then g, g' at once
            for k in range(K):
                shift = u[k] - tl * gv[k]
                for r in range(m_last):
                    lt[k * m_last + r] = shift - q[k] * er[r]
            g_pair_n(act, lt, gt, gpt, tmp, K * m_last)
        bc = bcd = 0.0
        if ff:                                   # the passes' goodness weights (module docstring)
            good, dgood = 0.0, 0.0
            for k in range(K):
                good += gv[k] * gv[k]
                dgood += 2.0 * q[k] * gv[k] * gp[k]
            bc, bcd = _goodness_weight(s_clean, good, theta, dgood)
            for r in range(m_last):
                good, dgood = 0.0, 0.0
                for k in range(K):
                    gk = gt[k * m_last + r]
                    good += gk * gk
                    dgood += 2.0 * q[k] * gk * gpt[k * m_last + r]
                bm[r], bmd[r] = _goodness_weight(-s_clean, good, theta, dgood)
        _accumulate(u, gv, gp, q, f, ul, wr, er, Sr, gt, gpt, phr, P, Ps, Hl, Zs, PP, K, m_last,
                    n_fixed, last, field_last, yhat, exact, hebbian, tl, act, s_fe,
                    (ff, bc, bcd, bm, bmd, lt))
        # next outer node: advance dimension last - 1, carrying into earlier ones
        j = last - 1
        while j >= 0:
            idx[j] += 1
            if idx[j] < m1:
                break
            idx[j] = first0 if j == 0 else 0
            j -= 1
        if j < 0:
            break
        changed = j

    _assemble(dy, ws, K, M, p, par, eta, eta_v, adaptive)


@njit(cache=True, error_model="numpy", inline="always")
def _goodness_weight(sign, good, theta, dgood):
    """(b, b' dG) of a Forward-Forward pass with goodness `good` (G) and its derivative dG along
    q: b = sign sigma(sign (G - theta)), b' = sigma (1 - sigma) (module docstring)."""
    sg = 1.0 / (1.0 + math.exp(-sign * (good - theta)))
    return sign * sg, sg * (1.0 - sg) * dgood


@njit(cache=True, error_model="numpy", inline="always")
def _g2(act, x, gpx):
    """g''(x) from g'(x): -x g'(x) for erf, 0 for linear."""
    return -x * gpx if act == ERF else 0.0


@njit(cache=True, error_model="numpy", inline="always")
def _accumulate(u, gv, gp, q, f, ul, wr, er, Sr, gt, gpt, phr, P, Ps, Hl, Zs, PP, K, m_last,
                n_fixed, last, field_last, yhat, exact, hebbian, tl, act, s_fe, ffw):
    """Add one outer node's inner sums to the moments P, Ps, Hl, Zs and PP (arrays of the
    `QuadratureScratch`), per student: phi_k (Delta_k for exact PEPITA), psi_k, r_k and
    sum_j q_j d_j phi_k at every inner node.  ffw: Forward-Forward's (on, b_c, b_c' dG, b_m,
    b_m' dG~, lambda~) (module docstring)."""
    ff, bc, bcd, bm, bmd, lt = ffw
    for k in range(K):                   # per student, scalar sums over the inner nodes
        uk, gk, gpk, qk, fk = u[k], gv[k], gp[k], q[k], f[k]
        s_we = s_weu = s_psi = s_r = s_z = 0.0
        hk = gk * gpk                            # Forward-Forward's h = g g' and h'
        dhk = gpk * gpk + gk * _g2(act, uk, gpk)
        for r in range(m_last):
            w, e, S = wr[r], er[r], Sr[r]
            if ff:
                gt_r = gt[k * m_last + r]
                gpt_r = gpt[k * m_last + r]
                ht = gt_r * gpt_r
                dht = gpt_r * gpt_r + gt_r * _g2(act, lt[k * m_last + r], gpt_r)
                ph = 2.0 * (bc * hk + bm[r] * ht)
                psi = -2.0 * bm[r] * ht * e
                r_k = e * gk
                zk = 2.0 * (bcd * hk + bc * dhk * qk + (bmd[r] * ht + bm[r] * dht * qk) * (1.0 - S))
            elif exact:
                gt_r = gt[k * m_last + r]
                gpt_r = gpt[k * m_last + r]
                ph = gk - gt_r
                zk = qk * (gpk - gpt_r * (1.0 - tl * gpk) + gpt_r * S)
                if hebbian:              # y = yhat - e: the label, noise included
                    psi = gt_r * e
                    r_k = yhat * gk - (yhat - e) * gt_r
                else:
                    psi = -ph * e
                    r_k = e * gt_r
            else:
                ph = fk * gpk * e
                psi = -s_fe * ph * e
                r_k = e * (gk - s_fe * qk * gpk * e)
                g2 = -uk * gpk if act == ERF else 0.0       # g'' (erf: -x g'; linear: 0)
                zk = fk * (qk * g2 * e + gpk * S)
            phr[k, r] = ph
            we = w * ph
            s_we += we
            s_weu += we * ul[r]
            s_psi += w * psi
            s_r += w * r_k
            s_z += w * zk
        for j in range(n_fixed):
            P[k, j] += s_we * u[j]
        if field_last:
            P[k, last] += s_weu
        Ps[k] += s_psi
        Hl[k] += s_r
        Zs[k] += s_z
        for l in range(k + 1):
            s = 0.0
            for r in range(m_last):
                s += wr[r] * phr[k, r] * phr[l, r]
            PP[k, l] += s


@njit(cache=True, error_model="numpy", inline="always")
def _assemble(dy, ws, K, M, p, par, eta, eta_v, adaptive):
    """dy from the moments (the order parameters' equations in the module docstring)."""
    oQ, oR, ov, of, _ = offsets(K, M)
    P, Ps, Hl, Zs, PP, q = ws.P, ws.Ps, ws.Hl, ws.Zs, ws.PP, ws.q
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
