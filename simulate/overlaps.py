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
columns: a few dozen flops) by a semidefinite Cholesky factorisation without pivoting: a pivot
below ZERO_PIVOT times its diagonal entry counts as zero (its column of L is zero and z loses that
dimension), so that an S that is singular in exact arithmetic (a student equal to a teacher unit,
w = 0 at init = 'zero', F = 0) is sampled in its rank.  The updates above are symmetric by
construction (Q_kl and Q_lk are one number).  Rounding moves S by about 1e-16 of its entries per
step; a pivot below -LOST_PIVOT times its diagonal entry (S no longer positive semidefinite beyond
rounding) stops the seed with status NOT_PSD, reported as diverged with that reason.
"""
import math

import numpy as np
from numba import njit

from odes.activations import g
from odes.rules import (ACTIVATION, EXACT, FE_TERMS, FEEDBACK, FEEDBACK_ADAPTIVE, FEEDBACK_FIXED,
                        HEBBIAN, TIME_LOCAL, TRAIN_V)

from .kernel import (DIVERGED, FASTMATH, OK, P_BLOWUP, P_DECAY, P_ETA, P_ETA_V, P_SIGMA,
                     blank_records, error_signals)
from .rng import chi_square, fill_normal

#: a pivot of the factorisation below this fraction of its diagonal entry is zero (S singular)
ZERO_PIVOT = 1e-12
#: a pivot below minus this fraction of its diagonal entry: S has lost positive semidefiniteness
LOST_PIVOT = 1e-8
#: status of a seed whose overlap matrix is no longer positive semidefinite
NOT_PSD = 2
#: standard normal numbers drawn at once into a seed's buffer (a multiple of the generator's lanes)
N_BUFFER = 256


@njit(cache=True, nogil=True, inline="always")
def factor(S, L, used, start=0):
    """The semidefinite Cholesky factor L (lower, L L^T = S) of S, without pivoting; used[j] = 1.0
    where column j carries a dimension, 0.0 where its pivot is zero.  Rows and columns below
    `start` are taken as already factorised (L[:start, :start] and used[:start] from an earlier
    call with the same S[:start, :start]): only rows start.. are computed.  Returns (rank, lost):
    lost is True if some pivot fell below -LOST_PIVOT times its diagonal entry."""
    r = S.shape[0]
    lost = False
    for j in range(r):
        if j >= start:
            d = S[j, j]
            for k in range(j):
                d -= L[j, k] * L[j, k]
            scale = max(S[j, j], 0.0)
            if d <= ZERO_PIVOT * scale or d <= 0.0:
                if d < -LOST_PIVOT * scale or not math.isfinite(d):
                    lost = True
                used[j] = 0.0
                for i in range(j, r):
                    L[i, j] = 0.0
                continue
            used[j] = 1.0
            L[j, j] = math.sqrt(d)
            for k in range(j + 1, r):
                L[j, k] = 0.0
        elif used[j] == 0.0:
            for i in range(start, r):
                L[i, j] = 0.0
            continue
        for i in range(max(j + 1, start), r):
            s = S[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            L[i, j] = s / L[j, j]
    rank = 0
    for j in range(r):
        rank += used[j] != 0.0
    return rank, lost


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def chain_steps(S, v, v_star, b, K, M, D, flags, par, rng, step, stop, work, normals):
    """The overlap chain in place on S (r x r, rows w*, [sqrt(D) F,] w: see the module docstring)
    and v from step counter
    `step` to `stop`.  Returns (status, step reached): OK, DIVERGED (the error not finite, or some
    Q_kk or v_k^2 beyond the blowup parameter, checked every 64 steps as in `simulate.kernel`) or
    NOT_PSD.  work: scratch of shape (r + 6, r).  normals: the seed's buffer of standard normal
    numbers, N_BUFFER of them drawn at once by `fill_normal` (r + 2 a step: z, the chi-square's
    first candidate, the label noise), with normals[N_BUFFER] the position of the next unused one
    (N_BUFFER at the start); it is part of the seed's state, so that the numbers do not depend on
    how a run is cut into calls."""
    r = S.shape[0]
    uses_F = r > K + M
    fb, fe, exact, train_v = flags[FEEDBACK], flags[FE_TERMS] != 0, flags[EXACT] != 0, flags[TRAIN_V] != 0
    hebbian = flags[HEBBIAN] != 0
    time_local = flags[TIME_LOCAL] != 0
    act = flags[ACTIVATION]
    eta, eta_v, sigma, blowup = par[P_ETA], par[P_ETA_V], par[P_SIGMA], par[P_BLOWUP]
    keep = 1.0 - par[P_DECAY] / D
    L = work[:r]
    z, u, used = work[r], work[r + 1], work[r + 2]
    lam, a, phi, psi, hv = work[r + 3, :K], work[r + 4, :K], work[r + 5, :K], np.zeros(K), np.zeros(K)
    psi_F = np.zeros(K)
    oF, s0 = M, r - K                            # the rows of sqrt(D) F and of w_1
    phi_F = S[oF, oF] if uses_F else 0.0
    c = eta / D
    scratch = np.empty(N_BUFFER, np.uint64)
    pos = int(normals[N_BUFFER])
    rank, lost = factor(S, L, used, 0)           # the teacher's rows, once: they do not change
    while step < stop:
        rank, lost = factor(S, L, used, s0)
        if lost:
            return NOT_PSD, step
        if pos + r + 2 > N_BUFFER:
            fill_normal(rng, normals, N_BUFFER, scratch)
            pos = 0
        zz = 0.0
        for j in range(r):
            z[j] = normals[pos + j] if used[j] != 0.0 else 0.0
            zz += z[j] * z[j]
        for i in range(r):
            s = 0.0
            for j in range(i + 1):
                s += L[i, j] * z[j]
            u[i] = s
        xx = zz + chi_square(rng, D - rank, normals[pos + r])      # |x|^2
        zeta = u[oF] if uses_F else 0.0          # x.F
        y = sigma * normals[pos + r + 1] if sigma > 0.0 else 0.0
        pos += r + 2
        normals[N_BUFFER] = pos
        for m in range(M):
            y += v_star[m] * g(act, u[m])
        yhat = 0.0
        for k in range(K):
            lam[k] = u[s0 + k]
            a[k] = S[s0 + k, oF] if uses_F else 0.0
            hv[k] = g(act, lam[k])
            yhat += v[k] * hv[k]
            psi[k] = 0.0
        e = yhat - y
        error_signals(K, fb, fe, exact, hebbian, time_local, act, lam, a, v, b, e, yhat, y, eta, D,
                      xx, zeta, phi, psi, hv)
        for k in range(K):                       # the F coefficient of w_k's move
            psi_F[k] = psi[k] if hebbian else (-phi[k] * e if (fe or exact) else 0.0)
        # the students' rows of S: Q, R and a, from the old values
        for k in range(K):
            for l in range(k + 1):
                q = (keep * keep * S[s0 + k, s0 + l]
                     - keep * c * (phi[k] * lam[l] + phi[l] * lam[k] + psi_F[k] * a[l] + psi_F[l] * a[k])
                     + c * eta * (phi[k] * phi[l] * xx / D
                                  + (phi[k] * psi_F[l] + psi_F[k] * phi[l]) * zeta / D
                                  + psi_F[k] * psi_F[l] * phi_F / D))
                S[s0 + k, s0 + l] = q
                S[s0 + l, s0 + k] = q
            for n in range(M):
                p_n = S[n, oF] if uses_F else 0.0
                q = keep * S[s0 + k, n] - c * (phi[k] * u[n] + psi_F[k] * p_n)
                S[s0 + k, n] = q
                S[n, s0 + k] = q
            if uses_F:
                q = keep * a[k] - c * (phi[k] * zeta + psi_F[k] * phi_F)
                S[s0 + k, oF] = q
                S[oF, s0 + k] = q
        if train_v:
            cv = eta_v / D * (1.0 if hebbian else e)
            for k in range(K):
                v[k] = keep * v[k] - cv * hv[k]
        step += 1
        if not math.isfinite(e):
            return DIVERGED, step
        if (step & 63) == 0 and too_large(S, v, K, blowup):
            return DIVERGED, step
    return OK, step


@njit(cache=True, nogil=True)
def too_large(S, v, K, blowup):
    """True if some Q_kk or v_k^2 exceeds blowup or is not finite (`odes.divergence`)."""
    s0 = S.shape[0] - K
    for k in range(K):
        if not (S[s0 + k, s0 + k] <= blowup and v[k] * v[k] <= blowup):
            return True
    return False


@njit(cache=True, nogil=True)
def record(r, S, v, b, K, M, fb, Q_out, R_out, v_out, f_out):
    """Store Q, R, v and the feedback vector (a, or b) at record index r."""
    s0 = S.shape[0] - K
    for k in range(K):
        for l in range(K):
            Q_out[r, k, l] = S[s0 + k, s0 + l]
        for m in range(M):
            R_out[r, k, m] = S[s0 + k, m]
        v_out[r, k] = v[k]
        if fb == FEEDBACK_ADAPTIVE:
            f_out[r, k] = S[s0 + k, M]
        elif fb == FEEDBACK_FIXED:
            f_out[r, k] = b[k]
        else:
            f_out[r, k] = np.nan


@njit(cache=True, nogil=True)
def advance(S, v, v_star, b, K, M, D, flags, par, rng, step, stop, rec_steps, r, Q_out, R_out,
            v_out, f_out, work, normals):
    """Run the chain from step counter `step` up to `stop`, recording at every rec_steps[r'] in
    [step, stop] with r' >= r, as `simulate.kernel.advance` does for the weights.  Returns
    (status, step, r); after a divergence (or NOT_PSD) the records from r on are NaN."""
    n_rec = rec_steps.size
    status = OK
    fb = flags[FEEDBACK]
    while True:
        while r < n_rec and rec_steps[r] == step:
            record(r, S, v, b, K, M, fb, Q_out, R_out, v_out, f_out)
            r += 1
        if step >= stop:
            break
        target = stop if r >= n_rec else min(stop, rec_steps[r])
        status, step = chain_steps(S, v, v_star, b, K, M, D, flags, par, rng, step, target, work,
                                   normals)
        if status == OK and too_large(S, v, K, par[P_BLOWUP]):
            status = DIVERGED
        if status != OK:
            blank_records(r, Q_out, R_out, v_out, f_out, v_out[:0, 0])
            r = n_rec
            break
    return status, step, r


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
