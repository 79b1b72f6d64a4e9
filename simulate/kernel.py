"""The compiled online-SGD kernel: the steps of theory.md Appendix B, and the loop that records.

Per step (inputs x ~ N(0, I_D) drawn inside the compiled loop, nothing allocated; g the activation
of `odes.activations`, erf, linear or ReLU, read from the flags):

    nu = W* x / sqrt(D),  y = v*.g(nu) + sigma xi,  lambda = W x / sqrt(D),  h = g(lambda),
    e = v.h - y,
    w_k <- w_k - (eta/sqrt(D)) phi_k x',     v_k <- v_k - (eta_v/D) e h'_k,

and, with weight decay kappa > 0 (theory.md 8.1), w_k and a trained v_k are first multiplied by
1 - kappa/D (in the same pass over the rows; kappa = 0 runs the code without the factor),

with the rule read from its data (`odes.rules.Rule`), not from its name:

* feedback f = v (BP), b (FA) or the AF vector a = W F/sqrt(D) of the current weights (adaptive);
* Taylor rules: phi_k = f_k g'(lambda_k) e; with ``fe_terms`` the presynaptic input is
  x' = x - F e and h'_k = h_k - a_k g'(lambda_k) e (PEPITA-linearised), else x' = x, h' = h;
* ``exact_pepita``: a second forward pass on x~ = x - F e, h~ = g(W x~/sqrt(D)),
  phi_k = h_k - h~_k, x' = x~, h' = h~ (computed as W x~/sqrt(D) = lambda - e W F/sqrt(D));
* ``hebbian`` (PEPITA's Hebbian/anti-Hebbian form, theory.md 8.3): w_k <- w_k - (eta/sqrt(D))
  (h_k x - h~_k x~) = w_k - (eta/sqrt(D)) (phi_k x + h~_k e F), v_k <- v_k - (eta_v/D)
  (yhat h_k - y h~_k);
* ``ff`` (Forward-Forward, theory.md 11.1): both passes as for exact PEPITA, each weighted by a
  logistic of its goodness (`ff_signals`), w_k <- w_k - (eta/sqrt(D)) (phi_k x + psi_k F), and
  v by the delta rule on the clean pass;
* ``time_local`` (theory.md 8.3, the Hebbian form's halves in sequence): w_k -= (eta/sqrt(D)) h_k x
  and v -= (eta_v/D) yhat h, then the modulated pass with those weights, h~'_k = g(w'_k . x~/sqrt(D))
  = g(lambda~_k - (eta/D) h_k (x.x - e x.F)), and w_k += (eta/sqrt(D)) h~'_k x~, v += (eta_v/D) y h~';
  together the Hebbian update with h~' for h~.

`advance` runs a simulation from step `step` to step `stop`, recording the order parameters
Q = W W^T/D, R = W W*^T/D, v and the feedback vector (a = W F/sqrt(D), or b) whenever the step
counter equals one of `rec_steps` (a recorded state is the state *after* that many steps), and,
if a test set is given, the Monte-Carlo error 1/2 <(yhat - y_clean)^2>.  A run whose error is
non-finite, or whose |Q_kk| or v_k^2 exceeds `blowup`, stops with status DIVERGED.  All state
(weights, held as described in `sgd_steps`, and generator) lives in the arrays passed in, so a
run can be advanced in chunks, and recorded at any times, with identical numbers.  Only the step
at which a blow-up is noticed can differ: |Q_kk| and v_k^2 are checked every 64 steps and at the
end of every call (before each record).

Where the time goes (D = 500, K = M = 2, ~0.6 us per step): drawing the D inputs (~0.4 us, see
simulate/rng.py), one pass of x over the teacher's and students' rows (and F) together, one pass
that updates the students' rows, and a few erf.  The passes are bound by memory loads and stores,
hence the rows projected together, rows padded to 64-byte boundaries (`padded_rows`), the F
part of the weights kept as a number per unit, and all steps of a call in one loop.

numba's on-disk cache (cache=True) is keyed on this file only: after editing simulate/rng.py,
delete simulate/__pycache__ so that the kernel is recompiled with the new generator.
"""
import math

import numpy as np
from numba import literally, njit

from odes.activations import g, g_prime
from odes.rules import (ACTIVATION, EXACT, FE_TERMS, FEEDBACK, FEEDBACK_ADAPTIVE, FEEDBACK_FIXED,
                        FEEDBACK_V, FF_THETA, HEBBIAN, TIME_LOCAL, TRAIN_V)
from odes.rules import FF as FORWARD_FORWARD      # (FF is |F|^2 in sgd_steps)

from .rng import fill_normal, normal

# reassociation lets LLVM vectorise the dot-product reductions; NaN/inf semantics are kept so
# that divergence is detected
FASTMATH = {"reassoc", "contract"}
OK, DIVERGED = 0, 1

# the integer flags are the run's rule codes (`odes.rules.codes`, positions FEEDBACK ... ACTIVATION);
# the float parameters of the kernel: the rates, label noise, blowup, weight decay, then weight
# mirroring's (`mirror_step`) rate eta_M, noise scale s, batch B, decay kappa_M, 1.0 for a fixed
# norm of F, and 1.0 to freeze W and v (pre-mirroring), then Forward-Forward's options; a vector
# of the first five only is a run without mirroring, not of the rule 'ff'
P_ETA, P_ETA_V, P_SIGMA, P_BLOWUP, P_DECAY = range(5)
P_MIRROR_ETA, P_MIRROR_S, P_MIRROR_BATCH, P_MIRROR_DECAY, P_MIRROR_FIXED, P_FROZEN = range(5, 11)
# Forward-Forward's threshold theta and 1.0 if its clean pass is the positive one (rule 'ff')
P_FF_THETA, P_FF_CLEAN_POSITIVE = 11, 12
N_PAR = 13


def kernel_params(eta, eta_v, sigma, blowup, weight_decay=0.0, mirror=None, ff=None):
    """The kernels' float parameters: the first five, then (all N_PAR) weight mirroring's (`mirror`,
    an `odes.Mirroring`) and Forward-Forward's (`ff`, from `odes.rules.ff_options`) where given."""
    par = np.array([eta, eta_v, sigma, blowup, weight_decay], dtype=float)
    if (mirror is None or not mirror.on) and ff is None:
        return par
    par = np.concatenate([par, np.zeros(N_PAR - par.size)])
    if mirror is not None and mirror.on:
        par[P_MIRROR_ETA:P_FROZEN] = (mirror.eta, mirror.noise, mirror.batch, mirror.decay,
                                      float(mirror.fixed_norm))
    if ff is not None:
        par[P_FF_THETA], par[P_FF_CLEAN_POSITIVE] = ff[0], float(ff[1])
    return par

@njit(cache=True, nogil=True, fastmath=FASTMATH)
def vdot(u, x):
    """u . x"""
    s = 0.0
    for i in range(x.size):
        s += u[i] * x[i]
    return s


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def project(A, x, out):
    """out[r] = A[r] . x for every row r.

    These passes are bound by memory loads, so rows go four or five per pass over x (x is loaded
    once for all of them), the last one to three rows two and one at a time.  Only the first
    x.size columns of A are used (see `padded_rows`)."""
    R = A.shape[0]
    D = x.size
    r = 0
    while R - r >= 4:
        five = R - r == 5                # a fifth row rather than a pass of its own
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        s4 = 0.0
        for i in range(D):
            xi = x[i]
            s0 += A[r, i] * xi
            s1 += A[r + 1, i] * xi
            s2 += A[r + 2, i] * xi
            s3 += A[r + 3, i] * xi
            if five:
                s4 += A[r + 4, i] * xi
        out[r], out[r + 1], out[r + 2], out[r + 3] = s0, s1, s2, s3
        if five:
            out[r + 4] = s4
        r += 5 if five else 4
    if R - r >= 2:
        s0 = 0.0
        s1 = 0.0
        for i in range(D):
            s0 += A[r, i] * x[i]
            s1 += A[r + 1, i] * x[i]
        out[r], out[r + 1] = s0, s1
        r += 2
    if r < R:
        s0 = 0.0
        for i in range(D):
            s0 += A[r, i] * x[i]
        out[r] = s0


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def subtract_outer(W, c, x):
    """W[k, :x.size] <- W[k, :x.size] - c[k] x for every row k, two rows per pass over x."""
    K = W.shape[0]
    D = x.size
    for k in range(0, K - 1, 2):
        c0, c1 = c[k], c[k + 1]
        for i in range(D):
            W[k, i] -= c0 * x[i]
            W[k + 1, i] -= c1 * x[i]
    if K % 2:
        c0 = c[K - 1]
        for i in range(D):
            W[K - 1, i] -= c0 * x[i]


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def scale_subtract_outer(W, s, c, x):
    """W[k, :x.size] <- s W[k, :x.size] - c[k] x for every row k, two rows per pass over x (the
    weight decay in the same pass as the update)."""
    K = W.shape[0]
    D = x.size
    for k in range(0, K - 1, 2):
        c0, c1 = c[k], c[k + 1]
        for i in range(D):
            W[k, i] = s * W[k, i] - c0 * x[i]
            W[k + 1, i] = s * W[k + 1, i] - c1 * x[i]
    if K % 2:
        c0 = c[K - 1]
        for i in range(D):
            W[K - 1, i] = s * W[K - 1, i] - c0 * x[i]


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def fold(W, F, alpha, UF):
    """W[k] <- W[k] + alpha[k] F, alpha <- 0, and UF[k] = W[k] . F afresh (see `sgd_steps`);
    only the first F.size columns of W are used.  With alpha = 0 it just sets UF."""
    K = W.shape[0]
    D = F.size
    for k in range(K):
        if alpha[k] != 0.0:
            for i in range(D):
                W[k, i] += alpha[k] * F[i]
            alpha[k] = 0.0
    project(W, F, UF)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def true_weights(W, alpha, F, out):
    """out = the student's weights w_k = u_k + alpha_k F, with u_k = W[k] (see `sgd_steps`)."""
    K, D = W.shape
    for k in range(K):
        for i in range(D):
            out[k, i] = W[k, i] + alpha[k] * F[i]


@njit(cache=True, nogil=True)
def padded_rows(R, n):
    """A zeroed (R, n') float array, n' >= n, whose rows start on 64-byte boundaries and whose
    adjacent rows are not 4096 bytes apart: vector loads and stores of a row then never straddle
    two cache lines, and two rows updated together never look alike to the CPU's store-to-load
    check (which compares addresses modulo 4096).  With n = 500 this made the passes over W about
    30 % faster."""
    n_pad = (n + 7) // 8 * 8
    if n_pad * 8 % 4096 == 0:
        n_pad += 8
    buf = np.zeros(R * n_pad + 8)
    start = (-buf.ctypes.data) % 64 // 8
    return buf[start:start + R * n_pad].reshape((R, n_pad))


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def modulated_field(time_local, lam_k, a_k, h_k, e, eta, D, xx, xF):
    """Exact PEPITA's second pass on x~ = x - F e for a unit with field lambda_k, AF entry a_k and
    activity h_k = g(lambda_k): W x~/sqrt(D) = lambda_k - e a_k, and in the time-local form with
    the weights after the Hebbian half-step (minus (eta/D) h_k (|x|^2 - e x.F))."""
    lam_mod = lam_k - e * a_k
    if time_local:
        lam_mod -= eta / D * h_k * (xx - e * xF)
    return lam_mod


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def goodness_weight(sign, good, theta):
    """A Forward-Forward pass's weight sign sigma(sign (G - theta)): sign = +1 for the negative
    pass (its goodness G lowered), -1 for the positive one (theory.md 11.1)."""
    return sign / (1.0 + math.exp(-sign * (good - theta)))


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def ff_signals(K, e, gx, phi, psi, hv, theta, s_clean, gpc, gpm, g=0):
    """Forward-Forward's signals of one step of seed g (theory.md 11.1), for both samplers (the
    rows of `error_signals`): gx holds g(lambda~), gpc and gpm g'(lambda) and g'(lambda~), hv
    g(lambda); with s_clean = +1 (the clean pass negative) or -1 and each pass's
    `goodness_weight` b, phi_k = 2 (b_c h_k g'_k + b_m h~_k g~'_k) and psi_k = -2 b_m h~_k g~'_k e
    (w_k <- w_k - (eta/sqrt(D)) (phi_k x + psi_k F)); hv stays h, for the delta rule on the clean
    pass.  A function of its own, called on a branch per step: inside `error_signals` it slowed
    every rule's step by 15 %."""
    good = 0.0
    good_mod = 0.0
    for k in range(K):
        good += hv[g, k] * hv[g, k]
        good_mod += gx[g, k] * gx[g, k]
    b_c = goodness_weight(s_clean, good, theta)
    b_m = goodness_weight(-s_clean, good_mod, theta)
    for k in range(K):
        h_mod = gx[g, k] * gpm[g, k]
        phi[g, k] = 2.0 * (b_c * hv[g, k] * gpc[g, k] + b_m * h_mod)
        psi[g, k] = -2.0 * b_m * h_mod * e


@njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def error_signals(K, fb, fe, exact, hebbian, a, v, b, e, yhat, y, gx, phi, psi, hv, g=0):
    """The rule's signals of one step of seed g, shared by both samplers (this kernel, g = 0, and
    `simulate.overlaps`, one seed per lane g), from row g of the arrays (seeds x K): the AF vector
    a, the error e = yhat - y and gx: for exact PEPITA h~_k = g(`modulated_field`), for the other
    rules g'(lambda_k); hv holds h = g(lambda) on entry.  Sets phi[g, k], the coefficient of x
    (w_k <- w_k - (eta/sqrt(D)) phi_k x' with x' = x - F e for the rules with Fe terms and exact
    PEPITA), psi[g, k] the Hebbian form's F coefficient h~_k e, and hv[g, k] the activity h'_k of
    v's update (see the module docstring).  Forward-Forward's are `ff_signals`.  Rows, not views
    of them: a view made per step would cost more than the arithmetic."""
    for k in range(K):
        if exact:
            h_mod = gx[g, k]
            phi[g, k] = hv[g, k] - h_mod
            if hebbian:              # v's update: yhat h - y h~ (stored with e = 1 below)
                psi[g, k] = h_mod * e
                hv[g, k] = yhat * hv[g, k] - y * h_mod
            else:
                hv[g, k] = h_mod
        else:
            if fb == FEEDBACK_V:
                f_k = v[g, k]
            elif fb == FEEDBACK_FIXED:
                f_k = b[g, k]
            else:
                f_k = a[g, k]
            gp_e = gx[g, k] * e
            phi[g, k] = f_k * gp_e
            if fe:
                hv[g, k] -= a[g, k] * gp_e


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def mirror_step(Z, M, K, D, alpha, UF, FF, phi0, v, act, par, rng, x, scratch, S, fields, uS):
    """One weight-mirroring step (theory.md 11.2) on the student held as in `sgd_steps` (rows
    M .. M+K of Z are u_k, row M+K is F): B noise inputs xi_b = s x_b pass through the network,

        F <- (1 - eta_M kappa_M/D) F + (eta_M/(D B)) sum_b yhat(xi_b) xi_b,

    then, with the fixed norm, F is rescaled to |F|^2 = phi0.  alpha is first folded into u (w_k
    is unchanged), so that u_k . F' follows from the fields already computed: UF and the returned
    |F|^2 are updated without another pass over u.  x, S (D) and fields, uS are scratch."""
    isd = 1.0 / math.sqrt(D)
    eta_m, s, B = par[P_MIRROR_ETA], par[P_MIRROR_S], int(par[P_MIRROR_BATCH])
    F = Z[M + K, :D]
    for k in range(K):                   # w_k = u_k + alpha_k F  ->  u_k = w_k, alpha_k = 0
        if alpha[k] != 0.0:
            a_k = alpha[k]
            for i in range(D):
                Z[M + k, i] += a_k * F[i]
            UF[k] += a_k * FF
            alpha[k] = 0.0
    for i in range(D):
        S[i] = 0.0
    FS = 0.0
    for k in range(K):
        uS[k] = 0.0
    Zs = Z[M:M + K + 1]
    for _ in range(B):
        fill_normal(rng, x, D, scratch)
        project(Zs, x, fields)          # u_k . x and F . x
        yhat = 0.0
        for k in range(K):
            yhat += v[k] * g(act, s * fields[k] * isd)
        cb = eta_m / (D * B) * yhat * s  # S += cb x, since xi = s x
        for i in range(D):
            S[i] += cb * x[i]
        for k in range(K):
            uS[k] += cb * fields[k]
        FS += cb * fields[K]
    shrink = 1.0 - eta_m * par[P_MIRROR_DECAY] / D
    FF_new = shrink * shrink * FF + 2.0 * shrink * FS + vdot(S, S)
    r = math.sqrt(phi0 / FF_new) if par[P_MIRROR_FIXED] != 0.0 else 1.0
    for i in range(D):
        F[i] = r * (shrink * F[i] + S[i])
    for k in range(K):
        UF[k] = r * (shrink * UF[k] + uS[k])
    return r * r * FF_new


@njit(cache=True, nogil=True)
def sgd_steps(W, alpha, UF, W_star, v, v_star, F, b, flags, par, rng, step, stop):
    """Online SGD in place on (W, alpha, UF) and v from step counter `step` to `stop`.

    Returns (status, step reached).  A step whose error e = yhat - y is not finite, or a check
    (every 64 steps) that finds |w_k|^2/D or v_k^2 above the blowup parameter, ends the run with
    status DIVERGED.  The steps are one loop in one function: a call per step would cost more
    than the step's arithmetic (numba passes and reference-counts every array argument).

    Rules that use F move w_k along x and along F.  The F part is kept as a number per unit:
    the student's weights are w_k = u_k + alpha_k F with u_k = W[k], and UF[k] = u_k . F is
    updated from x . F, so that a step costs one more row in the projection of x (x . F) instead
    of three passes per unit.  Then lambda_k = (u_k . x + alpha_k x . F)/sqrt(D) and
    a_k = (u_k . F + alpha_k |F|^2)/sqrt(D).  Whenever the step counter is a multiple of 64,
    alpha is folded into W and UF is recomputed; (W, alpha, UF) is the state between calls, so
    the numbers do not depend on where a run is cut into calls.  Start from alpha = 0 and UF set
    by `fold`; `true_weights` gives w.  For the other rules alpha stays 0 and W is w.

    With weight mirroring on (par beyond P_DECAY, `mirror_step`) each step is followed by a
    mirroring step, F moves and is written back at the end; with P_FROZEN set the steps are
    mirroring steps alone (pre-mirroring: W and v do not move).  A fixed norm holds |F|^2 at its
    value at the call's start (the caller starts from the initial F; rescaling keeps it).
    """
    if flags[FORWARD_FORWARD] != 0:
        return _sgd_loop(W, alpha, UF, W_star, v, v_star, F, b, flags, par, rng, step, stop, True)
    return _sgd_loop(W, alpha, UF, W_star, v, v_star, F, b, flags, par, rng, step, stop, False)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _sgd_loop(W, alpha, UF, W_star, v, v_star, F, b, flags, par, rng, step, stop, ff):
    """`sgd_steps`' loop, compiled once for Forward-Forward and once for the other rules (ff a
    literal: its branches in the loop are compiled away, which keeps the other rules' steps as
    fast as before the rule existed)."""
    ff = literally(ff)
    K, D = W.shape
    M = W_star.shape[0]
    fb, fe, exact, train_v = flags[FEEDBACK], flags[FE_TERMS] != 0, flags[EXACT] != 0, flags[TRAIN_V] != 0
    hebbian = flags[HEBBIAN] != 0
    time_local = flags[TIME_LOCAL] != 0
    act = flags[ACTIVATION]            # odes.activations: erf, linear or relu
    full = par.size > P_FF_CLEAN_POSITIVE     # else Forward-Forward's defaults (odes.rules)
    theta = par[P_FF_THETA] if full else FF_THETA
    s_clean = -1.0 if full and par[P_FF_CLEAN_POSITIVE] != 0.0 else 1.0
    eta, eta_v, sigma, blowup = par[P_ETA], par[P_ETA_V], par[P_SIGMA], par[P_BLOWUP]
    decaying = par[P_DECAY] != 0.0
    keep = 1.0 - par[P_DECAY] / D        # the weight-decay factor per step
    uses_F = fe or exact or fb == FEEDBACK_ADAPTIVE
    isd = 1.0 / math.sqrt(D)
    c = eta * isd
    x = padded_rows(1, D)[0, :D]
    scratch = np.empty(D, np.uint64)
    # every vector an input is projected on, in one array: the teacher's rows, the students' (u_k,
    # updated here and copied back to W at the end) and F if used
    Z = padded_rows(M + K + uses_F, D)
    Z[:M, :D] = W_star
    Z[M:M + K, :D] = W
    if uses_F:
        Z[M + K, :D] = F
    U = Z[M:M + K]
    fields = np.empty(M + K + uses_F)    # Z x: teacher fields and student fields (times sqrt(D))
    lam = np.empty(K)
    a = np.zeros(K)                      # AF vector W F/sqrt(D) before the step
    phi = np.empty(K)                    # the error signal of unit k (then times eta/sqrt(D))
    hv = np.empty(K)                     # h_k, then the activity h'_k in the update of v
    psi = np.zeros(K)                    # Hebbian form: the F coefficient h~_k e of the update
    gx = np.empty(K)                     # h~_k (exact PEPITA) or g'(lambda_k): see error_signals
    gpc = np.empty((1, K))               # Forward-Forward: g'(lambda_k) and g'(lambda~_k)
    gpm = np.empty((1, K))
    # error_signals reads rows of (seeds x K) arrays: this seed's as one row, made once
    a_, v_, b_, gx_, phi_, psi_, hv_ = (a.reshape((1, K)), v.reshape((1, K)), b.reshape((1, K)),
                                        gx.reshape((1, K)), phi.reshape((1, K)),
                                        psi.reshape((1, K)), hv.reshape((1, K)))
    FF = vdot(F, F) if uses_F else 0.0
    mirroring = par.size > P_MIRROR_ETA and par[P_MIRROR_ETA] != 0.0
    learning = not (par.size > P_FROZEN and par[P_FROZEN] != 0.0)
    phi0 = FF
    S = np.empty(D if mirroring else 0)
    uS = np.empty(K)
    mfields = np.empty(K + 1)
    Fz = Z[M + K, :D] if uses_F else F   # F as the kernel holds it (mirroring moves it)

    status = OK
    while step < stop and not learning:      # pre-mirroring: mirroring steps alone
        FF = mirror_step(Z, M, K, D, alpha, UF, FF, phi0, v, act, par, rng, x, scratch, S,
                         mfields, uS)
        step += 1
        if (step & 63) == 0:
            FF = vdot(Fz, Fz)
    while step < stop:
        fill_normal(rng, x, D, scratch)
        y = sigma * normal(rng) if sigma > 0.0 else 0.0
        project(Z, x, fields)
        for m in range(M):
            y += v_star[m] * g(act, fields[m] * isd)
        xF = fields[M + K] if uses_F else 0.0
        xx = vdot(x, x) if time_local else 0.0
        yhat = 0.0
        for k in range(K):
            if uses_F:
                a[k] = (UF[k] + alpha[k] * FF) * isd
            lam[k] = (fields[M + k] + alpha[k] * xF) * isd
            hv[k] = g(act, lam[k])
            yhat += v[k] * hv[k]
        e = yhat - y

        if ff:
            for k in range(K):
                lam_mod = lam[k] - e * a[k]
                gx[k] = g(act, lam_mod)
                gpc[0, k] = g_prime(act, lam[k])
                gpm[0, k] = g_prime(act, lam_mod)
            ff_signals(K, e, gx_, phi_, psi_, hv_, theta, s_clean, gpc, gpm)
        else:
            for k in range(K):
                gx[k] = (g(act, modulated_field(time_local, lam[k], a[k], hv[k], e, eta, D, xx, xF))
                         if exact else g_prime(act, lam[k]))
            error_signals(K, fb, fe, exact, hebbian, a_, v_, b_, e, yhat, y, gx_, phi_, psi_, hv_)

        if decaying:                     # w_k = u_k + alpha_k F and v shrink by `keep`
            for k in range(K):
                alpha[k] *= keep
                UF[k] *= keep
                if train_v:
                    v[k] *= keep
        for k in range(K):               # w_k <- w_k - c phi_k x', x' = x - F e if modified
            phi[k] *= c
            if uses_F:
                UF[k] -= phi[k] * xF
                if hebbian or ff:
                    alpha[k] -= c * psi[k]
                elif fe or exact:
                    alpha[k] += phi[k] * e
        if decaying:
            scale_subtract_outer(U, keep, phi, x)
        else:
            subtract_outer(U, phi, x)
        if train_v:
            cv = eta_v / D * (1.0 if hebbian else e)
            for k in range(K):
                v[k] -= cv * hv[k]
        if mirroring:
            FF = mirror_step(Z, M, K, D, alpha, UF, FF, phi0, v, act, par, rng, x, scratch, S,
                             mfields, uS)

        step += 1
        if not math.isfinite(e):
            status = DIVERGED
            break
        if (step & 63) == 0:
            if uses_F:
                fold(U, Fz, alpha, UF)
                if mirroring:
                    FF = vdot(Fz, Fz)
            if diverged(U, v, blowup, D):
                status = DIVERGED
                break
    W[:, :] = U[:, :D]
    if mirroring:
        F[:] = Fz
    return status, step


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def diverged(W, v, blowup, D):
    """True if some |w_k|^2/D or v_k^2 exceeds blowup, or is not finite (w_k = W[k, :D])."""
    K = W.shape[0]
    for k in range(K):
        s = 0.0
        for i in range(D):
            s += W[k, i] * W[k, i]
        if not (s / D <= blowup and v[k] * v[k] <= blowup):
            return True
    return False


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def record(r, W, W_star, v, F, b, fb, act, X_test, y_test, Q_out, R_out, v_out, f_out, test_out,
           p_out, phi_out):
    """Store the order parameters (and the test error if X_test has rows) at record index r; for
    adaptive feedback also p = W* F/sqrt(D) and phi_F = |F|^2 (which weight mirroring moves)."""
    K, D = W.shape
    M = W_star.shape[0]
    isd = 1.0 / math.sqrt(D)
    for k in range(K):
        for l in range(k, K):
            s = 0.0
            for i in range(D):
                s += W[k, i] * W[l, i]
            Q_out[r, k, l] = s / D
            Q_out[r, l, k] = s / D
        for m in range(M):
            s = 0.0
            for i in range(D):
                s += W[k, i] * W_star[m, i]
            R_out[r, k, m] = s / D
        v_out[r, k] = v[k]
        if fb == FEEDBACK_ADAPTIVE:
            s = 0.0
            for i in range(D):
                s += W[k, i] * F[i]
            f_out[r, k] = s * isd
            if k == 0:
                for m in range(M):
                    p_out[r, m] = vdot(F, W_star[m]) * isd
                phi_out[r] = vdot(F, F)
        elif fb == FEEDBACK_FIXED:
            f_out[r, k] = b[k]
        else:
            f_out[r, k] = np.nan
    P = X_test.shape[0]
    if P > 0:
        err = 0.0
        for p in range(P):
            yhat = 0.0
            for k in range(K):
                s = 0.0
                for i in range(D):
                    s += W[k, i] * X_test[p, i]
                yhat += v[k] * g(act, s * isd)
            err += (yhat - y_test[p]) ** 2
        test_out[r] = 0.5 * err / P


@njit(cache=True, nogil=True)
def advance(W, alpha, UF, W_star, v, v_star, F, b, flags, par, rng, step, stop, rec_steps, r,
            X_test, y_test, Q_out, R_out, v_out, f_out, test_out, p_out, phi_out):
    """Run SGD from step counter `step` up to `stop` (inclusive of a record at `stop`).

    Records at every rec_steps[r'] in [step, stop] with r' >= r (rec_steps sorted), into Q_out,
    R_out, v_out, f_out, test_out, and for adaptive feedback p_out and phi_out.  Returns
    (status, step, r): the status (OK or DIVERGED), the step counter reached and the next record
    index.  On divergence the records from r on are set to NaN and step is where it was detected.
    (W, alpha, UF) is the student's state of `sgd_steps`.
    """
    w = np.empty_like(W)                 # the student's weights, for records and checks
    true_weights(W, alpha, F, w)
    fb = flags[FEEDBACK]
    blowup = par[P_BLOWUP]
    n_rec = rec_steps.size
    status = OK
    while True:
        while r < n_rec and rec_steps[r] == step:
            record(r, w, W_star, v, F, b, fb, flags[ACTIVATION], X_test, y_test, Q_out, R_out, v_out,
                   f_out, test_out, p_out, phi_out)
            r += 1
        if step >= stop:
            break
        target = stop if r >= n_rec else min(stop, rec_steps[r])
        status, step = sgd_steps(W, alpha, UF, W_star, v, v_star, F, b, flags, par, rng, step, target)
        true_weights(W, alpha, F, w)
        if status == OK and diverged(w, v, blowup, W.shape[1]):
            status = DIVERGED
        if status != OK:
            blank_records(r, Q_out, R_out, v_out, f_out, test_out)
            p_out[r:] = np.nan
            phi_out[r:] = np.nan
            r = n_rec
            break
    return status, step, r


@njit(cache=True, nogil=True)
def blank_records(r, Q_out, R_out, v_out, f_out, test_out):
    """Set the records from index r on to NaN (a seed that diverged); test_out may be shorter
    (no test set)."""
    for rr in range(r, Q_out.shape[0]):
        Q_out[rr] = np.nan
        R_out[rr] = np.nan
        v_out[rr] = np.nan
        f_out[rr] = np.nan
        if rr < test_out.size:
            test_out[rr] = np.nan


@njit(cache=True, nogil=True)
def one_step_changes(W0, W_star, v0, v_star, F, b, flags, par, rng, n_samples, out_mean, out_sq):
    """D times the one-step changes of (Q, R, v, a) from fixed weights, over n_samples fresh inputs.

    The flat vector per sample is (Q.ravel(), R.ravel(), v, a) with a = W F/sqrt(D); its mean and
    mean square are accumulated in out_mean and out_sq (for tests of Appendix B against the ODE
    right-hand side: the mean is d/dt of the order parameters up to O(1/D)).
    """
    K, D = W0.shape
    M = W_star.shape[0]
    n = K * K + K * M + 2 * K
    W = np.empty_like(W0)
    w = np.empty_like(W0)
    v = np.empty_like(v0)
    alpha = np.zeros(K)
    UF0 = np.empty(K)
    UF = np.empty(K)
    fold(W0, F, alpha, UF0)
    before = np.empty(n)
    after = np.empty(n)
    _flat_state(W0, W_star, v0, F, before)
    out_mean[:] = 0.0
    out_sq[:] = 0.0
    for _ in range(n_samples):
        W[:, :] = W0
        v[:] = v0
        alpha[:] = 0.0
        UF[:] = UF0
        sgd_steps(W, alpha, UF, W_star, v, v_star, F, b, flags, par, rng, 0, 1)
        true_weights(W, alpha, F, w)
        _flat_state(w, W_star, v, F, after)
        for j in range(n):
            d = D * (after[j] - before[j])
            out_mean[j] += d
            out_sq[j] += d * d
    for j in range(n):
        out_mean[j] /= n_samples
        out_sq[j] /= n_samples


@njit(cache=True, nogil=True)
def _flat_state(W, W_star, v, F, out):
    K, D = W.shape
    M = W_star.shape[0]
    o = 0
    for k in range(K):
        for l in range(K):
            out[o] = np.dot(W[k], W[l]) / D
            o += 1
    for k in range(K):
        for m in range(M):
            out[o] = np.dot(W[k], W_star[m]) / D
            o += 1
    for k in range(K):
        out[o] = v[k]
        o += 1
    for k in range(K):
        out[o] = np.dot(W[k], F) / math.sqrt(D)
        o += 1
