"""Weight mirroring (theory.md 11.2): the drift of the feedback's order parameters a, p and phi_F.

Each learning step is followed by a mirroring step: B noise inputs xi_b ~ N(0, s^2 I_D) pass
through the student, and

    F <- F + (eta_M/D) <yhat(xi) xi>_B - (eta_M kappa_M/D) F,     yhat(xi) = sum_j v_j g(w_j.xi/sqrt(D)),

<.>_B the mean over the batch; with a fixed norm F is then rescaled to |F|^2 = phi_0 (the paper's
code).  The fields kappa_j = w_j.xi/sqrt(D) are N(0, s^2 Q), and Stein's lemma gives
E[g(kappa_j) kappa_k] = s^2 Q_kj gamma_j with the gain gamma_j = E[g'(kappa_j)].  With
u = gamma * v (elementwise) and one mirroring step per learning step (t = steps/D):

    da/dt     = eta_M (s^2 Q u - kappa_M a)
    dp/dt     = eta_M (s^2 R^T u - kappa_M p)
    dphi_F/dt = 2 eta_M (s^2 a.u - kappa_M phi_F) + eta_M^2 s^2 E[yhat^2]/B

(the last term: the isotropic heating of F by the noise, E[yhat^2] = v^T I2(s^2 Q) v), and with
the fixed norm (phi_F = phi_0 held; kappa_M drops out)

    da/dt = eta_M s^2 (Q u - a (a.u)/phi_0) - a eta_M^2 s^2 E[yhat^2]/(2 B phi_0),

p likewise with R^T u.  Mirroring moves neither Q, R, T nor v.  Compiled, for the ODE kernels
(which do not call it yet); `drift` is the Python entry point.
"""
import math

import numpy as np
from numba import njit

from ..activations import ERF, LINEAR, activation_code
from ..gaussian.second_moment import i2_pair


@njit(cache=True, error_model="numpy", inline="always")
def gain(act, q):
    """gamma = E[g'(kappa)], kappa ~ N(0, q): sqrt(2/pi)/sqrt(1 + q) for erf, 1 for linear, 1/2
    for ReLU."""
    if act == ERF:
        return math.sqrt(2.0 / math.pi) / math.sqrt(1.0 + q)
    if act == LINEAR:
        return 1.0
    return 0.5


@njit(cache=True, error_model="numpy", inline="always")
def _component(target, x, au, phi_F, s2, eta_m, kappa_m, heat, fixed_norm):
    """d/dt of one component x of a (or p) pulled toward `target`, (Q u)_k (or (R^T u)_m)."""
    if fixed_norm:
        return eta_m * s2 * (target - x * au / phi_F) - x * heat / (2.0 * phi_F)
    return eta_m * (s2 * target - kappa_m * x)


@njit(cache=True, error_model="numpy")
def mirror_drift(act, Q, R, v, a, p, phi_F, s2, eta_m, kappa_m, batch, fixed_norm, u, da, dp):
    """Writes da/dt and dp/dt of mirroring into da (K,) and dp (M,) and returns dphi_F/dt (0 with
    the fixed norm); u (K,) is scratch (module docstring; s2 = s^2)."""
    K, M = Q.shape[0], R.shape[1]
    for j in range(K):
        u[j] = gain(act, s2 * Q[j, j]) * v[j]
    y2 = 0.0                                        # E[yhat^2] = v^T I2(s^2 Q) v
    au = 0.0
    for j in range(K):
        au += a[j] * u[j]
        for l in range(K):
            y2 += v[j] * v[l] * i2_pair(act, s2 * Q[j, l], s2 * Q[j, j], s2 * Q[l, l])
    heat = eta_m * eta_m * s2 * y2 / batch
    for k in range(K):
        qu = 0.0                                    # (Q u)_k
        for j in range(K):
            qu += Q[k, j] * u[j]
        da[k] = _component(qu, a[k], au, phi_F, s2, eta_m, kappa_m, heat, fixed_norm)
    for m in range(M):
        ru = 0.0                                    # (R^T u)_m
        for j in range(K):
            ru += R[j, m] * u[j]
        dp[m] = _component(ru, p[m], au, phi_F, s2, eta_m, kappa_m, heat, fixed_norm)
    if fixed_norm:
        return 0.0
    return 2.0 * eta_m * (s2 * au - kappa_m * phi_F) + heat


def drift(state, *, mirror_eta, mirror_noise=1.0, mirror_batch=1, mirror_decay=0.0,
          mirror_fixed_norm=False, activation="erf"):
    """The mirroring drift of a `State` with F (a, p, phi_F): dict 'a' (K,), 'p' (M,), 'phi_F'
    (module docstring; mirror_noise is s, the noise inputs' standard deviation per entry)."""
    if state.a is None or state.p is None or state.phi_F is None:
        raise ValueError("weight mirroring needs F: a state with a, p and phi_F")
    for name, x in (("mirror_eta", mirror_eta), ("mirror_decay", mirror_decay)):
        if not (np.isfinite(x) and x >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {x!r}")
    if not (np.isfinite(mirror_noise) and mirror_noise > 0):
        raise ValueError(f"mirror_noise must be finite and > 0, got {mirror_noise!r}")
    if int(mirror_batch) != mirror_batch or mirror_batch < 1:
        raise ValueError(f"mirror_batch must be an integer >= 1, got {mirror_batch!r}")
    K, M = state.K, state.M
    da, dp = np.empty(K), np.empty(M)
    dphi = mirror_drift(activation_code(activation), np.asarray(state.Q, float),
                        np.asarray(state.R, float), np.asarray(state.v, float),
                        np.asarray(state.a, float), np.asarray(state.p, float),
                        float(state.phi_F), float(mirror_noise) ** 2, float(mirror_eta),
                        float(mirror_decay), float(mirror_batch), bool(mirror_fixed_norm),
                        np.empty(K), da, dp)
    return {"a": da, "p": dp, "phi_F": dphi}
