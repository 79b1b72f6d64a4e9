"""The compiled online-SGD kernel: one step of theory.md Appendix B, and the loop that records.

Per step (inputs x ~ N(0, I_D) drawn inside the compiled loop, nothing allocated):

    nu = W* x / sqrt(D),  y = v*.g(nu) + sigma xi,  lambda = W x / sqrt(D),  h = g(lambda),
    e = v.h - y,
    w_k <- w_k - (eta/sqrt(D)) phi_k x',     v_k <- v_k - (eta_v/D) e h'_k,

with the rule read from its data (`odes.rules.Rule`), not from its name:

* feedback f = v (BP), b (FA) or the AF vector a = W F/sqrt(D) recomputed every step (adaptive);
* Taylor rules: phi_k = f_k g'(lambda_k) e; with ``fe_terms`` the presynaptic input is
  x' = x - F e and h'_k = h_k - a_k g'(lambda_k) e (PEPITA-linearised), else x' = x, h' = h;
* ``exact_pepita``: a second forward pass on x~ = x - F e, h~ = g(W x~/sqrt(D)),
  phi_k = h_k - h~_k, x' = x~, h' = h~.

`advance` runs a simulation from step `step` to step `stop`, recording the order parameters
Q = W W^T/D, R = W W*^T/D, v and the feedback vector (a = W F/sqrt(D), or b) whenever the step
counter equals one of `rec_steps` (a recorded state is the state *after* that many steps), and,
if a test set is given, the Monte-Carlo error 1/2 <(yhat - y_clean)^2>.  A run whose error is
non-finite, or whose |Q_kk| or v_k^2 exceeds `blowup`, stops with status DIVERGED.  All state
(weights and generator) lives in the arrays passed in, so a run can be advanced in chunks with
identical results.

numba's on-disk cache (cache=True) is keyed on this file only: after editing simulate/rng.py,
delete simulate/__pycache__ so that the kernel is recompiled with the new generator.
"""
import math

import numpy as np
from numba import njit

from odes.rules import FEEDBACK_ADAPTIVE, FEEDBACK_FIXED, FEEDBACK_V

from .rng import fill_normal, normal

# reassociation lets LLVM vectorise the dot-product reductions; NaN/inf semantics are kept so
# that divergence is detected
FASTMATH = {"reassoc", "contract"}
OK, DIVERGED = 0, 1

# integer rule flags and float parameters of the kernel
I_FEEDBACK, I_FE_TERMS, I_EXACT, I_TRAIN_V = range(4)
P_ETA, P_ETA_V, P_SIGMA, P_BLOWUP = range(4)

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_SQRT_2_PI = math.sqrt(2.0 / math.pi)


@njit(cache=True, nogil=True)
def g(z):
    """Activation g(z) = erf(z/sqrt(2))."""
    return math.erf(z * _INV_SQRT2)


@njit(cache=True, nogil=True)
def g_prime(z):
    """g'(z) = sqrt(2/pi) exp(-z^2/2)."""
    return _SQRT_2_PI * math.exp(-0.5 * z * z)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def sgd_step(W, W_star, v, v_star, F, b, flags, par, rng, x, xt, a, phi, hv):
    """One online SGD step in place on W (K, D) and v (K,); returns the error e = yhat - y.

    x, xt (D,) and a, phi, hv (K,) are scratch arrays; for adaptive Taylor rules a holds the AF
    vector W F/sqrt(D) of the weights before the step.
    """
    K, D = W.shape
    M = W_star.shape[0]
    fb, fe, exact, train_v = flags[I_FEEDBACK], flags[I_FE_TERMS] != 0, flags[I_EXACT] != 0, flags[I_TRAIN_V] != 0
    eta, eta_v, sigma = par[P_ETA], par[P_ETA_V], par[P_SIGMA]
    isd = 1.0 / math.sqrt(D)

    fill_normal(rng, x, D)
    y = sigma * normal(rng) if sigma > 0.0 else 0.0
    for m in range(M):
        s = 0.0
        for i in range(D):
            s += W_star[m, i] * x[i]
        y += v_star[m] * g(s * isd)

    need_a = fb == FEEDBACK_ADAPTIVE and not exact
    yhat = 0.0
    for k in range(K):
        s = 0.0
        if need_a:
            sa = 0.0
            for i in range(D):
                s += W[k, i] * x[i]
                sa += W[k, i] * F[i]
            a[k] = sa * isd
        else:
            for i in range(D):
                s += W[k, i] * x[i]
        phi[k] = s * isd                 # lambda_k, until replaced below
        hv[k] = g(phi[k])                # h_k
        yhat += v[k] * hv[k]
    e = yhat - y

    if fe:
        for i in range(D):
            xt[i] = x[i] - F[i] * e
    xin = xt if fe else x

    for k in range(K):
        if exact:                        # second forward pass on x~ = x - F e
            s = 0.0
            for i in range(D):
                s += W[k, i] * xt[i]
            h_mod = g(s * isd)
            phi[k] = hv[k] - h_mod
            hv[k] = h_mod
        else:
            if fb == FEEDBACK_V:
                f_k = v[k]
            elif fb == FEEDBACK_FIXED:
                f_k = b[k]
            else:
                f_k = a[k]
            gp_e = g_prime(phi[k]) * e
            phi[k] = f_k * gp_e
            if fe:
                hv[k] -= a[k] * gp_e

    c = eta * isd
    for k in range(K):
        ck = c * phi[k]
        for i in range(D):
            W[k, i] -= ck * xin[i]
    if train_v:
        cv = eta_v / D * e
        for k in range(K):
            v[k] -= cv * hv[k]
    return e


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def diverged(W, v, blowup):
    """True if some |w_k|^2/D or v_k^2 exceeds blowup, or is not finite."""
    K, D = W.shape
    for k in range(K):
        s = 0.0
        for i in range(D):
            s += W[k, i] * W[k, i]
        if not (s / D <= blowup and v[k] * v[k] <= blowup):
            return True
    return False


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def record(r, W, W_star, v, F, b, fb, X_test, y_test, Q_out, R_out, v_out, f_out, test_out):
    """Store the order parameters (and the test error if X_test has rows) at record index r."""
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
                yhat += v[k] * g(s * isd)
            err += (yhat - y_test[p]) ** 2
        test_out[r] = 0.5 * err / P


@njit(cache=True, nogil=True)
def advance(W, W_star, v, v_star, F, b, flags, par, rng, step, stop, rec_steps, r,
            X_test, y_test, Q_out, R_out, v_out, f_out, test_out):
    """Run SGD from step counter `step` up to `stop` (inclusive of a record at `stop`).

    Records at every rec_steps[r'] in [step, stop] with r' >= r (rec_steps sorted).  Returns
    (status, step, r): the status (OK or DIVERGED), the step counter reached and the next record
    index.  On divergence the records from r on are set to NaN and step is where it was detected.
    """
    K, D = W.shape
    x = np.empty(D)
    xt = np.empty(D)
    a = np.zeros(K)
    phi = np.empty(K)
    hv = np.empty(K)
    fb = flags[I_FEEDBACK]
    blowup = par[P_BLOWUP]
    n_rec = rec_steps.size
    status = OK
    while True:
        while r < n_rec and rec_steps[r] == step:
            record(r, W, W_star, v, F, b, fb, X_test, y_test, Q_out, R_out, v_out, f_out, test_out)
            r += 1
        if step >= stop:
            break
        target = stop if r >= n_rec else min(stop, rec_steps[r])
        while step < target:
            e = sgd_step(W, W_star, v, v_star, F, b, flags, par, rng, x, xt, a, phi, hv)
            step += 1
            if not math.isfinite(e):
                status = DIVERGED
                break
            if (step & 63) == 0 and diverged(W, v, blowup):
                status = DIVERGED
                break
        if status == OK and diverged(W, v, blowup):
            status = DIVERGED
        if status != OK:
            for rr in range(r, n_rec):
                Q_out[rr] = np.nan
                R_out[rr] = np.nan
                v_out[rr] = np.nan
                f_out[rr] = np.nan
                test_out[rr] = np.nan
            r = n_rec
            break
    return status, step, r


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
    v = np.empty_like(v0)
    x = np.empty(D)
    xt = np.empty(D)
    a = np.zeros(K)
    phi = np.empty(K)
    hv = np.empty(K)
    before = np.empty(n)
    after = np.empty(n)
    _flat_state(W0, W_star, v0, F, before)
    out_mean[:] = 0.0
    out_sq[:] = 0.0
    for _ in range(n_samples):
        W[:, :] = W0
        v[:] = v0
        sgd_step(W, W_star, v, v_star, F, b, flags, par, rng, x, xt, a, phi, hv)
        _flat_state(W, W_star, v, F, after)
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
