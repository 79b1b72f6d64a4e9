"""The exact overlap sampler (theory.md 10.1): online SGD of the teacher-student network simulated
through the overlaps of its weights, at a cost per step independent of D.

Stack the vectors a rule touches as the rows of V = (w*_1..w*_M[, sqrt(D) F], w_1..w_K) (r rows;
sqrt(D) F only for the rules with F) and keep their overlap matrix S = V V^T / D,

    S = [[T, p, R^T], [p^T, phi_F, a^T], [R, a, Q]],

the covariance of the fields u = V x / sqrt(D) = (nu, zeta, lambda) for x ~ N(0, I_D).  The
teacher's rows come first because they never change: their part of the factor below is computed
once per call, and a step refactorises only the students' rows.  With P the projector on
the rows of V, one step's input enters only through u (P x) and the squared norm
``|x|^2 = |P x|^2 + |P_perp x|^2``, whose parts are independent: u = L z with L L^T = S,
z ~ N(0, I) in rank(S) dimensions, and ``|x|^2 = |z|^2 + chi^2`` with D - rank(S) degrees of
freedom.  Every rule moves w_k along x and F only, w_k <- kappa w_k - (eta/sqrt(D)) (phi_k x + psi_k F) (kappa = 1 - weight_decay/D), with
the scalars phi_k, psi_k of `simulate.kernel.error_signals` (the same function the weights
kernel calls), so with w_k.x = sqrt(D) lambda_k, w_k.F = sqrt(D) a_k, x.F = zeta, ``|F|^2`` = phi_F,

    Q_kl <- kappa^2 Q_kl - kappa (eta/D) (phi_k lambda_l + phi_l lambda_k + psi_k a_l + psi_l a_k)
            + (eta^2/D) (phi_k phi_l x.x/D + (phi_k psi_l + psi_k phi_l) zeta/D + psi_k psi_l phi_F/D)
    R_kn <- kappa R_kn - (eta/D) (phi_k nu_n + psi_k p_n)
    a_k  <- kappa a_k - (eta/D) (phi_k zeta + psi_k phi_F)

and v as in the weights kernel.  Nothing is dropped: one step has the law of one step of the
D-dimensional simulation, for every observable of the overlaps (eps_g, the angles, Q, R, v, a).

Numerics.  The students' rows of S are factorised afresh at every step (K rows of r <= K + M + 1
columns: a few dozen flops) by a semidefinite Cholesky factorisation without pivoting (the
reciprocal pivots kept, so that the rows below are multiplied, not divided): a pivot
below ZERO_PIVOT times its diagonal entry counts as zero (its column of L is zero and z loses that
dimension), so that an S that is singular in exact arithmetic (a student equal to a teacher unit,
w = 0 at init = 'zero', F = 0) is sampled in its rank.  The updates above are symmetric by
construction (Q_kl and Q_lk are one number).  Rounding moves S by about 1e-16 of its entries per
step; a pivot below -LOST_PIVOT times its diagonal entry (S no longer positive semidefinite beyond
rounding) stops the seed with status NOT_PSD, reported as diverged with that reason.

Lanes.  One step of one seed is a short chain of dependent operations (factor, fields, error,
update: ~170 ns, most of it waiting on the previous result), so the seeds of a job run in
lockstep, up to GROUP of them, one per lane: every array carries the lanes as its last (fastest)
axis, each stage loops over the lanes innermost, and the CPU overlaps (and partly vectorises) the
lanes' independent work.  Every operation is element by element over the lanes, in the same order
as for a lane alone, without fast-math reassociation, so a seed's numbers do not depend on which
or how many seeds share its group (tested).  A lane that stops (diverged, NOT_PSD) is left out of
the random draws and updates while the others go on.
"""
import math

import numpy as np
from numba import njit

from odes.activations import g_n, g_pair_n
from odes.gaussian.vecmath import padded
from odes.rules import (ACTIVATION, EXACT, FE_TERMS, FEEDBACK, FEEDBACK_ADAPTIVE, FEEDBACK_FIXED, FF,
                        FF_THETA, HEBBIAN, TIME_LOCAL, TRAIN_V)

from odes.activations import g as g_scalar

from .kernel import (DIVERGED, OK, P_BLOWUP, P_DECAY, P_ETA, P_ETA_V, P_FF_CLEAN_POSITIVE,
                     P_FF_THETA, P_FROZEN, P_MIRROR_BATCH, P_MIRROR_DECAY, P_MIRROR_ETA,
                     P_MIRROR_FIXED, P_MIRROR_S, P_SIGMA, blank_records, error_signals,
                     ff_signals, modulated_field)
from .rng import (chi_square_candidate, chi_square_constants, chi_square_with, fill_normal,
                  fill_uniform, normal)

#: a pivot of the factorisation below this fraction of its diagonal entry is zero (S singular)
ZERO_PIVOT = 1e-12
#: a pivot below minus this fraction of its diagonal entry: S has lost positive semidefiniteness
LOST_PIVOT = 1e-8
#: status of a seed whose overlap matrix is no longer positive semidefinite
NOT_PSD = 2
#: seeds run in lockstep by one call (at most; fewer when there are fewer seeds per job)
GROUP = 64
#: standard normal numbers drawn at once into a seed's buffer (a multiple of the generator's lanes)
N_BUFFER = 256


@njit(cache=True, nogil=True)
def factor(S, L, inv, used, lost, start=0, G=-1):
    """The semidefinite Cholesky factor L (lower, L L^T = S) of every lane's S, without pivoting
    (S, L: r x r x lanes); inv[j] = 1/L[j, j] and used[j] = 1.0 where column j carries a
    dimension, both 0.0 where its pivot is zero.  Rows below `start` are taken as already
    factorised (L, inv and used from an earlier call with the same S[:start, :start]): only rows
    start.. are computed.  lost[g] is set to 1.0 for a lane where some pivot fell below
    -LOST_PIVOT times its diagonal entry or is not a number.  The loops over lanes are innermost:
    each lane's numbers are those it would get alone."""
    r = S.shape[0]
    if G < 0:
        G = S.shape[2]
    for i in range(start, r):
        for j in range(i + 1):
            for g in range(G):
                L[i, j, g] = S[i, j, g]
            for k in range(j):
                for g in range(G):
                    L[i, j, g] -= L[i, k, g] * L[j, k, g]
            if j < i:
                for g in range(G):
                    L[i, j, g] *= inv[j, g]
        for g in range(G):                       # the pivot (numba leaves this loop scalar)
            d = L[i, i, g]
            scale = max(S[i, i, g], 0.0)
            ok = (d > ZERO_PIVOT * scale) & (d > 0.0)
            lost[g] = max(lost[g], 1.0 if (d < -LOST_PIVOT * scale) | (d != d) else 0.0)
            root = math.sqrt(d if ok else 1.0)
            L[i, i, g] = root if ok else 0.0
            inv[i, g] = 1.0 / root if ok else 0.0
            used[i, g] = 1.0 if ok else 0.0
        for j in range(i + 1, r):
            for g in range(G):
                L[i, j, g] = 0.0


@njit(cache=True, nogil=True, inline="always")
def mirror_chain(S, L, inv, used, lost, v, K, M, D, act, par, rng, status, zb, ub, yb, A, G):
    """One weight-mirroring step (theory.md 11.2, `simulate.kernel.mirror_step`) of every live
    lane, through the overlaps: B noise inputs xi_b = s x_b.  Their fields u_b = L z_b on the rows
    of V (refactorised first from F's row: F and the students may have moved) give yhat_b and the F rows' changes; the
    Gram matrix of the x_b is z_b . z_b' plus the part orthogonal to the rows, a B x B Wishart
    matrix with D - rank S degrees of freedom, drawn by Bartlett's construction (A A^T, A lower
    triangular, A_ii^2 ~ chi^2(D - rank - i), A_ij ~ N(0, 1) below).  Then, with c =
    eta_M s/(D B) and shrink = 1 - eta_M kappa_M/D,

        a_k   <- rho (shrink a_k + c sum_b yhat_b lambda_kb)      (p_m likewise with nu_mb)
        phi_F <- rho^2 (shrink^2 phi_F + 2 shrink c sum_b yhat_b zeta_b
                        + c^2 sum_bb' yhat_b yhat_b' x_b . x_b')

    with rho = 1, or with the fixed norm the rescaling to the old phi_F.  Scratch: zb, ub (B x r),
    yb (B), A (B x B)."""
    r = S.shape[0]
    oF, s0 = M, r - K
    eta_m, s, B = par[P_MIRROR_ETA], par[P_MIRROR_S], int(par[P_MIRROR_BATCH])
    shrink = 1.0 - eta_m * par[P_MIRROR_DECAY] / D
    c = eta_m * s / (D * B)
    factor(S, L, inv, used, lost, oF, G)
    for g in range(G):
        if status[g] != OK or lost[g] != 0.0:
            continue
        rank = 0
        for j in range(r):
            rank += used[j, g] != 0.0
        for bb in range(B):
            for j in range(r):
                zb[bb, j] = normal(rng[g]) if used[j, g] != 0.0 else 0.0
            for i in range(r):
                acc = 0.0
                for j in range(i + 1):
                    acc += L[i, j, g] * zb[bb, j]
                ub[bb, i] = acc
            yh = 0.0
            for k in range(K):
                yh += v[g, k] * g_scalar(act, s * ub[bb, s0 + k])
            yb[bb] = yh
        for i in range(B):                       # Bartlett's factor of the orthogonal part
            for j in range(i):
                A[i, j] = normal(rng[g])
            dof = D - rank - i
            d_c, c_c = chi_square_constants(dof)
            A[i, i] = math.sqrt(chi_square_with(rng[g], dof, d_c, c_c))
        cross = 0.0                              # sum_bb' yhat_b yhat_b' x_b . x_b'
        for i in range(B):
            for j in range(B):
                xx = 0.0
                for t in range(r):
                    xx += zb[i, t] * zb[j, t]
                for t in range(min(i, j) + 1):
                    xx += A[i, t] * A[j, t]
                cross += yb[i] * yb[j] * xx
        phi = S[oF, oF, g]
        drift = 0.0
        for bb in range(B):
            drift += yb[bb] * ub[bb, oF]
        phi_new = shrink * shrink * phi + 2.0 * shrink * c * drift + c * c * cross
        rho = math.sqrt(phi / phi_new) if par[P_MIRROR_FIXED] != 0.0 else 1.0
        for i in range(r):
            if i == oF:
                continue
            acc = 0.0
            for bb in range(B):
                acc += yb[bb] * ub[bb, i]
            q = rho * (shrink * S[i, oF, g] + c * acc)
            S[i, oF, g] = q
            S[oF, i, g] = q
        S[oF, oF, g] = rho * rho * phi_new


@njit(cache=True, nogil=True, inline="always")
def chain_steps(S, v, v_star, b, K, M, D, flags, par, rng, normals, uniforms, status, at, step,
                stop, G):
    """The overlap chain of a group of seeds in lockstep (its lanes), in place, from step counter
    `step` to `stop`; returns the step reached.  S: r x r x lanes (rows w*, [sqrt(D) F,] w: see
    the module docstring); v, v_star, b: lanes x K (M); rng: each lane's generator state;
    normals: each lane's buffer of standard normal numbers, N_BUFFER of them drawn at once by
    `fill_normal` (r + 2 a step: z, the chi-square's first candidate, the label noise), with
    normals[g, N_BUFFER] the position of the next unused one (N_BUFFER at the start), part of
    the lane's state so that its numbers do not depend on how a run is cut into calls;
    uniforms (lanes x N_BUFFER): the uniform numbers of the chi-square's first candidates, one a
    step (the step's is at pos // (r + 2) for its normals at pos), drawn with the normals.  Only
    lanes with status[g] == OK move; a lane whose error is not finite, or (checked every 64
    steps) whose Q_kk or v_k^2 goes beyond the blowup parameter, gets status DIVERGED, one whose S
    is no longer positive semidefinite NOT_PSD, and at[g] the step at which it stopped.

    The arithmetic of every stage runs over the lanes in the innermost loop (the CPU overlaps the
    lanes' independent chains, and vectorises those loops), and element by element, so that a
    lane's numbers do not depend on the others (nor on how many there are); the random numbers
    (one lane at a time) and the error signals (`simulate.kernel.error_signals`) are per lane."""
    r = S.shape[0]
    uses_F = r > K + M
    fb, fe, exact, train_v = flags[FEEDBACK], flags[FE_TERMS] != 0, flags[EXACT] != 0, flags[TRAIN_V] != 0
    hebbian = flags[HEBBIAN] != 0
    time_local = flags[TIME_LOCAL] != 0
    act = flags[ACTIVATION]
    ff = flags[FF] != 0                          # Forward-Forward (`simulate.kernel.error_signals`)
    full = par.size > P_FF_CLEAN_POSITIVE         # else Forward-Forward's defaults (odes.rules)
    theta = par[P_FF_THETA] if full else FF_THETA
    s_clean = -1.0 if full and par[P_FF_CLEAN_POSITIVE] != 0.0 else 1.0
    eta, eta_v, sigma, blowup = par[P_ETA], par[P_ETA_V], par[P_SIGMA], par[P_BLOWUP]
    keep = 1.0 - par[P_DECAY] / D
    c = eta / D
    oF, s0 = M, r - K                            # the rows of sqrt(D) F and of w_1
    L = np.zeros((r, r, G))
    inv, used, z = np.zeros((r, G)), np.zeros((r, G)), np.zeros((r, G))
    n_all, n_stu = padded(r * G), padded(K * G)
    u_flat, gu_flat, gp_flat, tmp = np.zeros(n_all), np.zeros(n_all), np.zeros(n_all), np.zeros(n_all)
    mod_flat, hmod_flat, gmod_flat = np.zeros(n_stu), np.zeros(n_stu), np.zeros(n_stu)
    u, gu, gp = u_flat[:r * G].reshape(r, G), gu_flat[:r * G].reshape(r, G), gp_flat[:r * G].reshape(r, G)
    mod, hmod = mod_flat[:K * G].reshape(K, G), hmod_flat[:K * G].reshape(K, G)
    gmod = gmod_flat[:K * G].reshape(K, G)
    gpc, gpm = np.zeros((G, K)), np.zeros((G, K))   # Forward-Forward: g'(lambda), g'(lambda~)
    lost, xx, zeta, noise, e = np.zeros(G), np.zeros(G), np.zeros(G), np.zeros(G), np.zeros(G)
    lam, a, phi, psi = np.zeros((G, K)), np.zeros((G, K)), np.zeros((G, K)), np.zeros((G, K))
    hv, gx = np.zeros((G, K)), np.zeros((G, K))
    phi_T, psi_T, a_T = np.zeros((K, G)), np.zeros((K, G)), np.zeros((K, G))
    yl, yhl, zeta_D, phi_F_D = np.zeros(G), np.zeros(G), np.zeros(G), np.zeros(G)
    k_chi, d_chi, c_chi = np.full(G, -1), np.zeros(G), np.zeros(G)
    scratch = np.empty(N_BUFFER, np.uint64)
    live = 0
    for g in range(G):
        live += status[g] == OK
    mirroring = par.size > P_MIRROR_ETA and par[P_MIRROR_ETA] != 0.0
    learning = not (par.size > P_FROZEN and par[P_FROZEN] != 0.0)
    B = int(par[P_MIRROR_BATCH]) if mirroring else 0
    zb, ub, yb, Am = np.zeros((B, r)), np.zeros((B, r)), np.zeros(B), np.zeros((B, B))
    moved = oF if mirroring else s0              # the first row a step changes
    factor(S, L, inv, used, lost, 0, G)             # the teacher's rows, once: they do not change
    while step < stop and live > 0 and not learning:    # pre-mirroring: mirroring alone
        mirror_chain(S, L, inv, used, lost, v, K, M, D, act, par, rng, status, zb, ub, yb, Am, G)
        step += 1
        for g in range(G):
            if status[g] == OK and lost[g] != 0.0:
                status[g], at[g] = NOT_PSD, step
                live -= 1
    while step < stop and live > 0:
        factor(S, L, inv, used, lost, moved, G)
        for g in range(G):                       # the random numbers of the step, lane by lane
            if status[g] != OK:
                xx[g], noise[g] = D, 0.0
                for j in range(r):
                    z[j, g] = 0.0
                continue
            if lost[g] != 0.0:
                status[g], at[g] = NOT_PSD, step
                live -= 1
                continue
            pos = int(normals[g, N_BUFFER])
            if pos + r + 2 > N_BUFFER:           # refill both buffers (the rare view of a lane)
                fill_normal(rng[g], normals[g], N_BUFFER, scratch)
                fill_uniform(rng[g], uniforms[g], N_BUFFER // (r + 2), scratch)
                pos = 0
            zz, rank = 0.0, 0
            for j in range(r):
                z[j, g] = normals[g, pos + j] if used[j, g] != 0.0 else 0.0
                zz += z[j, g] * z[j, g]
                rank += used[j, g] != 0.0
            if D - rank != k_chi[g]:
                k_chi[g] = D - rank
                d_chi[g], c_chi[g] = chi_square_constants(D - rank)
            chi = (chi_square_candidate(d_chi[g], c_chi[g], normals[g, pos + r],
                                         uniforms[g, pos // (r + 2)])
                   if D - rank >= 16 else np.nan)
            if chi != chi:                       # rejected (a few %), or few degrees of freedom
                chi = chi_square_with(rng[g], D - rank, d_chi[g], c_chi[g])
            xx[g] = zz + chi
            noise[g] = sigma * normals[g, pos + r + 1] if sigma > 0.0 else 0.0
            normals[g, N_BUFFER] = pos + r + 2
        if live == 0:
            break
        for i in range(r):                       # the fields u = L z
            for g in range(G):
                u[i, g] = 0.0
            for j in range(i + 1):
                for g in range(G):
                    u[i, g] += L[i, j, g] * z[j, g]
        if exact and not ff:                     # g (and g' for the Taylor rules and ff)
            g_n(act, u_flat, gu_flat, tmp, n_all)
        else:
            g_pair_n(act, u_flat, gu_flat, gp_flat, tmp, n_all)
        for g in range(G):                       # the error, and exact PEPITA's second pass
            zeta[g] = u[oF, g] if uses_F else 0.0
            y = noise[g]
            for m in range(M):
                y += v_star[g, m] * gu[m, g]
            yhat = 0.0
            for k in range(K):
                lam[g, k] = u[s0 + k, g]
                a[g, k] = S[s0 + k, oF, g] if uses_F else 0.0
                a_T[k, g] = a[g, k]
                hv[g, k] = gu[s0 + k, g]
                gx[g, k] = gp[s0 + k, g]
                yhat += v[g, k] * hv[g, k]
                psi[g, k] = 0.0
            yl[g], yhl[g], e[g] = y, yhat, yhat - y
            if exact:
                for k in range(K):
                    mod[k, g] = modulated_field(time_local, lam[g, k], a[g, k], hv[g, k], e[g], eta,
                                                D, xx[g], zeta[g])
        if ff:
            g_pair_n(act, mod_flat, hmod_flat, gmod_flat, tmp, n_stu)
        elif exact:
            g_n(act, mod_flat, hmod_flat, tmp, n_stu)
        for g in range(G):                       # the rule's signals, lane by lane
            if exact:
                for k in range(K):
                    gx[g, k] = hmod[k, g]
                    if ff:
                        gpc[g, k] = gp[s0 + k, g]
                        gpm[g, k] = gmod[k, g]
            if ff:
                ff_signals(K, e[g], gx, phi, psi, hv, theta, s_clean, gpc, gpm, g)
            else:
                error_signals(K, fb, fe, exact, hebbian, a, v, b, e[g], yhl[g], yl[g], gx, phi,
                              psi, hv, g)
            live_g = status[g] == OK
            for k in range(K):                   # phi and the F coefficient of w_k's move
                phi_T[k, g] = phi[g, k] if live_g else 0.0
                psi_T[k, g] = (0.0 if not live_g else psi[g, k] if (hebbian or ff)
                               else -phi[g, k] * e[g] if (fe or exact) else 0.0)
        # the students' rows of S: Q, R and a, from the old values
        for g in range(G):                       # |x|^2/D, x.F/D and |F|^2/D = phi_F/D
            xx[g] /= D
            zeta_D[g] = zeta[g] / D
            phi_F_D[g] = S[oF, oF, g] / D if uses_F else 0.0
        for k in range(K):
            for l in range(k + 1):
                for g in range(G):
                    q = (keep * keep * S[s0 + k, s0 + l, g]
                         - keep * c * (phi_T[k, g] * u[s0 + l, g] + phi_T[l, g] * u[s0 + k, g]
                                       + psi_T[k, g] * a_T[l, g] + psi_T[l, g] * a_T[k, g])
                         + c * eta * (phi_T[k, g] * phi_T[l, g] * xx[g]
                                      + (phi_T[k, g] * psi_T[l, g] + psi_T[k, g] * phi_T[l, g])
                                      * zeta_D[g]
                                      + psi_T[k, g] * psi_T[l, g] * phi_F_D[g]))
                    S[s0 + k, s0 + l, g] = q
                    S[s0 + l, s0 + k, g] = q
            for n in range(M):
                for g in range(G):
                    p_n = S[n, oF, g] if uses_F else 0.0
                    q = keep * S[s0 + k, n, g] - c * (phi_T[k, g] * u[n, g] + psi_T[k, g] * p_n)
                    S[s0 + k, n, g] = q
                    S[n, s0 + k, g] = q
            if uses_F:
                for g in range(G):
                    q = keep * a_T[k, g] - c * (phi_T[k, g] * zeta[g] + psi_T[k, g] * S[oF, oF, g])
                    S[s0 + k, oF, g] = q
                    S[oF, s0 + k, g] = q
        step += 1
        for g in range(G):
            if status[g] != OK:
                continue
            if train_v:
                cv = eta_v / D * (1.0 if hebbian else e[g])
                for k in range(K):
                    v[g, k] = keep * v[g, k] - cv * hv[g, k]
            if not math.isfinite(e[g]) or ((step & 63) == 0 and too_large(S, v, K, g, blowup)):
                status[g], at[g] = DIVERGED, step
                live -= 1
        if mirroring:
            mirror_chain(S, L, inv, used, lost, v, K, M, D, act, par, rng, status, zb, ub, yb, Am,
                         G)
    return step


@njit(cache=True, nogil=True)
def too_large(S, v, K, g, blowup):
    """True if some Q_kk or v_k^2 of lane g exceeds blowup or is not finite (`odes.divergence`)."""
    s0 = S.shape[0] - K
    for k in range(K):
        if not (S[s0 + k, s0 + k, g] <= blowup and v[g, k] * v[g, k] <= blowup):
            return True
    return False


@njit(cache=True, nogil=True)
def record(r, S, v, b, K, M, fb, Q_out, R_out, v_out, f_out, g, p_out, phi_out):
    """Store lane g's Q, R, v and feedback vector (a, or b) at record index r, and for adaptive
    feedback p and phi_F (which weight mirroring moves)."""
    s0 = S.shape[0] - K
    for k in range(K):
        for l in range(K):
            Q_out[g, r, k, l] = S[s0 + k, s0 + l, g]
        for m in range(M):
            R_out[g, r, k, m] = S[s0 + k, m, g]
        v_out[g, r, k] = v[g, k]
        if fb == FEEDBACK_ADAPTIVE:
            f_out[g, r, k] = S[s0 + k, M, g]
        elif fb == FEEDBACK_FIXED:
            f_out[g, r, k] = b[g, k]
        else:
            f_out[g, r, k] = np.nan
    if fb == FEEDBACK_ADAPTIVE:
        for m in range(M):
            p_out[g, r, m] = S[m, M, g]
        phi_out[g, r] = S[M, M, g]


@njit(cache=True, nogil=True)
def advance(S, v, v_star, b, K, M, D, flags, par, rng, normals, uniforms, status, at, step, stop,
            rec_steps, r, Q_out, R_out, v_out, f_out, p_out, phi_out):
    """Run a group's chain from step counter `step` up to `stop`, recording every lane still
    going at every rec_steps[r'] in [step, stop] with r' >= r, as `simulate.kernel.advance` does
    for the weights.  Returns (step, r); a lane that stops (status DIVERGED or NOT_PSD, at[g]
    its step) has NaN records from the one after its last on; records are lanes x times x ..."""
    n_rec = rec_steps.size
    fb = flags[FEEDBACK]
    G = S.shape[2]
    while True:
        while r < n_rec and rec_steps[r] == step:
            for g in range(G):
                if status[g] == OK:
                    record(r, S, v, b, K, M, fb, Q_out, R_out, v_out, f_out, g, p_out, phi_out)
            r += 1
        live = 0
        for g in range(G):
            live += status[g] == OK
        if step >= stop or live == 0:
            break
        target = stop if r >= n_rec else min(stop, rec_steps[r])
        before = status.copy()
        if G == 1:      # a copy of the kernel for one lane, its lane loops compiled away
            step = chain_steps(S, v, v_star, b, K, M, D, flags, par, rng, normals, uniforms,
                               status, at, step, target, 1)
        else:
            step = chain_steps(S, v, v_star, b, K, M, D, flags, par, rng, normals, uniforms,
                               status, at, step, target, G)
        for g in range(G):
            if status[g] == OK and too_large(S, v, K, g, par[P_BLOWUP]):
                status[g], at[g] = DIVERGED, step
            if status[g] != OK and before[g] == OK:
                blank_records(r, Q_out[g], R_out[g], v_out[g], f_out[g], v_out[g, :0, 0])
                p_out[g, r:] = np.nan
                phi_out[g, r:] = np.nan
    return step, r


@njit(cache=True)
def one_step_samples(S0, v0, v_star, b, K, M, D, flags, par, rng, n, out):
    """n independent single steps of the chain from (S0, v0) (rows w*, [sqrt(D) F,] w), one
    lane: out[i] = D times the change of (Q.ravel(), R.ravel(), v, a) of step i (a: 0 without
    F), and of (p, phi_F) too if out has the room for them (weight mirroring moves them).  For the
    tests of one step's law against the weights kernel and of the noise matrix B of
    `odes.fluctuations` (D times these changes are the increments G of theory.md 10.2)."""
    r = S0.shape[0]
    s0 = r - K
    S, v = np.empty((r, r, 1)), np.empty((1, K))
    rngs = rng.reshape((1,) + rng.shape)
    normals = np.zeros((1, N_BUFFER + 1))
    normals[0, -1] = N_BUFFER
    uniforms = np.zeros((1, N_BUFFER))
    status, at = np.zeros(1, np.int64), np.zeros(1, np.int64)
    vs, bs = v_star.reshape((1, M)), b.reshape((1, K))
    for i in range(n):
        S[:, :, 0] = S0
        v[0] = v0
        chain_steps(S, v, vs, bs, K, M, D, flags, par, rngs, normals, uniforms, status, at, 0, 1,
                    1)
        o = 0
        for k in range(K):
            for l in range(K):
                out[i, o] = D * (S[s0 + k, s0 + l, 0] - S0[s0 + k, s0 + l])
                o += 1
        for k in range(K):
            for m in range(M):
                out[i, o] = D * (S[s0 + k, m, 0] - S0[s0 + k, m])
                o += 1
        for k in range(K):
            out[i, o] = D * (v[0, k] - v0[k])
            o += 1
        for k in range(K):
            out[i, o] = D * (S[s0 + k, M, 0] - S0[s0 + k, M]) if r > K + M else 0.0
            o += 1
        if out.shape[1] > o and r > K + M:
            for m in range(M):
                out[i, o] = D * (S[m, M, 0] - S0[m, M])
                o += 1
            out[i, o] = D * (S[M, M, 0] - S0[M, M])


def overlaps_of(weights, uses_F):
    """S = V V^T / D of given weights (rows w*_1..w*_M, [sqrt(D) F,] w_1..w_K)."""
    D = weights.W.shape[1]
    rows = [weights.W_star] + ([np.sqrt(D) * weights.F[None, :]] if uses_F else []) + [weights.W]
    V = np.vstack(rows)
    return V @ V.T / D


def overlaps_of_state(state, uses_F):
    """S of a given `odes.State` (its T, and p and phi_F for the rules with F), rows as
    `overlaps_of`."""
    if uses_F:
        S = np.block([[state.T, state.p[:, None], state.R.T],
                      [state.p[None, :], np.array([[state.phi_F]]), state.a[None, :]],
                      [state.R, state.a[:, None], state.Q]])
    else:
        S = np.block([[state.T, state.R.T], [state.R, state.Q]])
    return np.ascontiguousarray(S)


def state_of(S, v, v_star, b, rule):
    """The `odes.State` of overlaps S (rows as `overlaps_of`) and v, v*, b under `rule`."""
    import odes
    K, M = len(v), len(v_star)
    s0, uses_F = S.shape[0] - K, rule.uses_F
    return odes.State(Q=S[s0:, s0:], R=S[s0:, :M], T=S[:M, :M], v=v, v_star=v_star,
                      b=b if rule.feedback_name == "b" else None,
                      a=S[s0:, M] if uses_F else None, p=S[:M, M] if uses_F else None,
                      phi_F=float(S[M, M]) if uses_F else None)


def draw_overlaps(K, M, D, seed, init="large", v_star="gaussian", sigma_F=None, train_v=True,
                  uses_F=True):
    """The initial overlaps of random weights drawn as `odes.weights.draw_weights` draws them,
    without the weights: (S, v, v_star, b).

    The rows of V (w*, [sqrt(D) F,] w) are independent with i.i.d. N(0, s_i^2) entries (teacher
    1; sqrt(D) F: D sigma_F^2; student 1, 1e-6 for init 'small', 1/D for 'mixed', 0 for 'zero'),
    so S = diag(s) G
    diag(s) with G = Z Z^T / D and Z a standard Gaussian r x D matrix: G is Wishart and is drawn
    by Bartlett's construction, Z Z^T = A A^T with A lower triangular, A_ii^2 ~ chi^2 with D - i
    degrees of freedom and A_ij ~ N(0, 1) below the diagonal (r(r+1)/2 numbers, whatever D).
    v*, v and b come from the teacher, student and feedback streams of `odes.weights.streams`
    (their laws are draw_weights'); A from a fifth stream of the seed."""
    from odes.weights import default_sigma_F, streams, student_init
    r = K + M + (1 if uses_F else 0)
    if D < r:
        raise ValueError(f"D = {D} is smaller than the {r} vectors whose overlaps the chain keeps")
    if sigma_F is None:
        sigma_F = default_sigma_F(D)
    rng_teacher, rng_student, rng_feedback, _ = streams(seed)
    rng_wishart = np.random.default_rng(np.random.SeedSequence(seed).spawn(5)[4])
    vs = rng_teacher.standard_normal(M) if v_star == "gaussian" else np.ones(M)
    scale, v = student_init(init, np.ones(1), rng_student.standard_normal(K), D, train_v, v_star)
    b = rng_feedback.standard_normal(K)
    A = np.tril(rng_wishart.standard_normal((r, r)), -1)
    A[np.diag_indices(r)] = np.sqrt(rng_wishart.chisquare(D - np.arange(r)))
    s = np.concatenate([np.ones(M)] + ([[np.sqrt(D) * sigma_F]] if uses_F else [])
                       + [np.full(K, scale[0])])
    S = s[:, None] * (A @ A.T / D) * s[None, :]
    return np.ascontiguousarray(S), v, vs, b
