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

p likewise with R^T u.  Mirroring moves neither Q, R, T nor v.

With mirroring on, p and phi_F are state variables: the packed state of `odes.rhs` gains M + 1
slots after the feedback vector, (..., a, p, phi_F) (`odes.rhs.layout`); without it, the packed
state is as before.  The mirrored kernel (`odes.rhs.kernel`, chosen by the workspace's type when
mirroring is on) calls `load_feedback` (p and phi_F from those slots, where the learning drift
reads them), then the rule's own kernel, then `add_mirroring`; the other kernels are unchanged.  `Mirroring` is the options' record (validated by `mirroring`); `drift` is the Python entry
point of the drift alone.
"""
import math
import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..activations import ERF, LINEAR, activation_code
from ..gaussian.second_moment import i2_pair
from ..rules import RULES
from .fields import offsets
from .parameters import (ACTIVATION, MIRROR_BATCH, MIRROR_DECAY, MIRROR_ETA, MIRROR_FIXED,
                         MIRROR_S2, N_PAR, PHI_F, set_mirroring)


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


@njit(cache=True, error_model="numpy", inline="always")
def load_feedback(y, K, M, p, par):
    """With mirroring on, copy p and phi_F from their slots of the packed state y (`layout`) into
    the kernel's p and par[PHI_F], where the learning drift reads them; else nothing."""
    if par[MIRROR_ETA] == 0.0:
        return
    o = offsets(K, M)[4]
    for m in range(M):
        p[m] = y[o + m]
    par[PHI_F] = y[o + M]


@njit(cache=True, error_model="numpy", inline="always")
def add_mirroring(y, dy, K, M, par):
    """Add the mirroring drift (module docstring) to da/dt in dy and write dp/dt and dphi_F/dt
    into their slots, for the packed state y with mirroring on (par[MIRROR_ETA] > 0); else
    nothing.  Allocates nothing: the gains are recomputed where used."""
    eta_m = par[MIRROR_ETA]
    if eta_m == 0.0:
        return
    act = int(par[ACTIVATION])
    s2, kappa_m, fixed = par[MIRROR_S2], par[MIRROR_DECAY], par[MIRROR_FIXED] != 0.0
    oQ, oR, ov, of, o = offsets(K, M)
    phi_F = y[o + M]
    y2 = 0.0                                        # E[yhat^2] = v^T I2(s^2 Q) v
    au = 0.0                                        # a . u, u_j = gamma_j v_j
    for j in range(K):
        qjj = s2 * y[oQ + j * K + j]
        au += y[of + j] * gain(act, qjj) * y[ov + j]
        for l in range(K):
            y2 += y[ov + j] * y[ov + l] * i2_pair(act, s2 * y[oQ + j * K + l], qjj,
                                                  s2 * y[oQ + l * K + l])
    heat = eta_m * eta_m * s2 * y2 / par[MIRROR_BATCH]
    for k in range(K):
        qu = 0.0                                    # (Q u)_k
        for j in range(K):
            qu += y[oQ + k * K + j] * gain(act, s2 * y[oQ + j * K + j]) * y[ov + j]
        dy[of + k] += _component(qu, y[of + k], au, phi_F, s2, eta_m, kappa_m, heat, fixed)
    for m in range(M):
        ru = 0.0                                    # (R^T u)_m
        for j in range(K):
            ru += y[oR + j * M + m] * gain(act, s2 * y[oQ + j * K + j]) * y[ov + j]
        dy[o + m] = _component(ru, y[o + m], au, phi_F, s2, eta_m, kappa_m, heat, fixed)
    dy[o + M] = 0.0 if fixed else 2.0 * eta_m * (s2 * au - kappa_m * phi_F) + heat


#: the keywords of weight mirroring on every entry point (`mirroring`), in the order of `Mirroring`
KEYWORDS = ("mirror_eta", "mirror_noise", "mirror_batch", "mirror_decay", "mirror_fixed_norm",
            "pre_mirror")


@dataclass(frozen=True)
class Mirroring:
    """Weight-mirroring options of a run (theory.md 11.2), validated by `mirroring`.

    Attributes
    ----------
    eta : float
        The mirroring rate eta_M (0: F is fixed, plain PEPITA).
    noise : float
        s, the standard deviation of each entry of a noise input.
    batch : int
        B, noise inputs per mirroring step.
    decay : float
        kappa_M, F's weight decay in the mirroring step.
    fixed_norm : bool
        F rescaled to its initial |F|^2 after every mirroring step (the paper's code).
    pre : float
        Time (in units of D steps) of mirroring alone, W and v frozen, before learning starts.
    """
    eta: float = 0.0
    noise: float = 1.0
    batch: int = 1
    decay: float = 0.0
    fixed_norm: bool = False
    pre: float = 0.0

    @property
    def on(self):
        """Whether F moves (eta > 0)."""
        return self.eta > 0.0

    def keywords(self):
        """The options under their keyword names (mirror_eta, ..., pre_mirror), as the entry
        points take them and results record them."""
        return dict(zip(KEYWORDS, (self.eta, self.noise, self.batch, self.decay, self.fixed_norm,
                                   self.pre)))


def mirroring(rule=None, *, mirror_eta=0.0, mirror_noise=1.0, mirror_batch=1, mirror_decay=0.0,
              mirror_fixed_norm=False, pre_mirror=0.0):
    """The `Mirroring` of the entry points' keywords, validated: ValueError, in one line, for a
    negative or non-finite rate, decay or pre-mirroring time, a noise scale that is not > 0, a
    batch that is not an integer >= 1, pre-mirroring without mirroring, and any mirroring option
    for a rule (a `Rule`) without F."""
    for name, x in (("mirror_eta", mirror_eta), ("mirror_decay", mirror_decay),
                    ("pre_mirror", pre_mirror)):
        if not (isinstance(x, numbers.Real) and math.isfinite(x) and x >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {x!r}")
    if not (isinstance(mirror_noise, numbers.Real) and math.isfinite(mirror_noise)
            and mirror_noise > 0):
        raise ValueError(f"mirror_noise must be finite and > 0, got {mirror_noise!r}")
    if isinstance(mirror_batch, bool) or int(mirror_batch) != mirror_batch or mirror_batch < 1:
        raise ValueError(f"mirror_batch must be an integer >= 1, got {mirror_batch!r}")
    out = Mirroring(float(mirror_eta), float(mirror_noise), int(mirror_batch), float(mirror_decay),
                    bool(mirror_fixed_norm), float(pre_mirror))
    if out.pre > 0 and not out.on:
        raise ValueError(f"pre_mirror = {pre_mirror:g} needs mirror_eta > 0")
    if rule is not None and not rule.uses_F and out != Mirroring():
        with_F = ", ".join(name for name, r in RULES.items() if r.uses_F)
        raise ValueError(f"weight mirroring needs a rule with F ({with_F}); {rule.name} has none")
    return out


def drift(state, *, mirror_eta, mirror_noise=1.0, mirror_batch=1, mirror_decay=0.0,
          mirror_fixed_norm=False, activation="erf"):
    """The mirroring drift of a `State` with F (a, p, phi_F): dict 'a' (K,), 'p' (M,), 'phi_F'
    (module docstring; mirror_noise is s, the noise inputs' standard deviation per entry).  The
    compiled `add_mirroring` that the ODE kernels call, evaluated once."""
    if state.a is None or state.p is None or state.phi_F is None:
        raise ValueError("weight mirroring needs F: a state with a, p and phi_F")
    mirror = mirroring(mirror_eta=mirror_eta, mirror_noise=mirror_noise, mirror_batch=mirror_batch,
                       mirror_decay=mirror_decay, mirror_fixed_norm=mirror_fixed_norm)
    if not mirror.on:
        raise ValueError("mirror_eta must be > 0")
    K, M = state.K, state.M
    oQ, oR, ov, of, o = offsets(K, M)
    y = np.concatenate([state.Q.ravel(), state.R.ravel(), state.v, state.a, state.p,
                        [state.phi_F]]).astype(float)
    par = np.zeros(N_PAR)
    par[ACTIVATION] = activation_code(activation)
    set_mirroring(par, mirror)
    dy = np.zeros_like(y)
    add_mirroring(y, dy, K, M, par)
    return {"a": dy[of:o].copy(), "p": dy[o:o + M].copy(), "phi_F": float(dy[o + M])}
