"""The float parameter vector `par` shared by the right-hand-side kernels (`odes.rhs`,
`odes.rhs.quadrature`): positions and the validated builder."""
import numpy as np

from ..activations import RELU, activation_code
from ..rules import (ACTIVATION, EXACT, FE_TERMS, FEEDBACK, FF, HEBBIAN, N_CODES, TIME_LOCAL, TRAIN_V,
                     codes, get_rule)

# positions in `par`: first the run's rule codes (`odes.rules.codes`: FEEDBACK, FE_TERMS, EXACT,
# TRAIN_V, HEBBIAN, TIME_LOCAL, ACTIVATION), then the learning rates, label noise, |F|^2, 1.0 to
# evaluate the expectations by quadrature, the quadrature's nodes per field dimension and the
# weight decay kappa (theory.md 8.1); then weight mirroring's rate eta_M (0: F fixed), the noise
# variance s^2, the noise inputs per step B, the decay kappa_M and 1.0 for a fixed norm of F
# (theory.md 11.2, `odes.rhs.mirroring`)
ETA, ETA_V, SIGMA, PHI_F, QUADRATURE, N_NODES, DECAY = range(N_CODES, N_CODES + 7)
MIRROR_ETA, MIRROR_S2, MIRROR_BATCH, MIRROR_DECAY, MIRROR_FIXED = range(N_CODES + 7, N_CODES + 12)
# then Forward-Forward's threshold theta and 1.0 if its clean pass is the positive one (theory.md
# 11.1, `odes.rules.ff_options`)
FF_THETA, FF_CLEAN_POSITIVE = N_CODES + 12, N_CODES + 13
N_PAR = N_CODES + 14
__all__ = ["ACTIVATION", "DECAY", "ETA", "ETA_V", "EXACT", "FE_TERMS", "FEEDBACK", "FF", "FF_CLEAN_POSITIVE",
           "FF_THETA", "HEBBIAN",
           "MIRROR_BATCH", "MIRROR_DECAY", "MIRROR_ETA", "MIRROR_FIXED", "MIRROR_S2",
           "N_NODES", "N_PAR", "PHI_F", "QUADRATURE", "SIGMA", "TIME_LOCAL", "TRAIN_V",
           "check_activation", "params", "set_mirroring"]


def check_activation(rule, activation, quadrature=False):
    """The activation's code, if the ODE of `rule` can be evaluated with it; ValueError otherwise
    (ReLU with the rules evaluated by quadrature)."""
    rule = get_rule(rule) if isinstance(rule, str) else rule
    act = activation_code(activation)
    if act == RELU and (quadrature or rule.exact_pepita):
        raise ValueError(f"activation relu: the {rule.name} ODE needs the quadrature engine, which "
                         f"takes erf and linear only (ReLU's kink would spoil its rule); "
                         f"simulate it, or use a Taylor rule (bp, fa, afa, pepita-lin)")
    return act


def params(state, rule, eta, eta_v=None, sigma=0.0, train_v=True, quadrature=False,
           weight_decay=0.0, activation="erf", mirror=None, ff=None):
    """The float parameter vector of the kernels, validated.  Exact PEPITA always uses quadrature,
    which takes the smooth activations (erf, linear) only.  mirror: a validated
    `odes.rhs.mirroring.Mirroring` (None: F fixed); ff: Forward-Forward's (theta,
    clean_positive) of `odes.rules.ff_options` (for the rule 'ff')."""
    rule = get_rule(rule) if isinstance(rule, str) else rule
    check_activation(rule, activation, quadrature)
    eta_v = eta if eta_v is None else eta_v
    for name, x in (("eta", eta), ("eta_v", eta_v), ("sigma", sigma),
                    ("weight_decay", weight_decay)):
        if not np.isfinite(x) or x < 0:
            raise ValueError(f"{name} must be finite and >= 0, got {x!r}")
    par = np.zeros(N_PAR)
    par[:N_CODES] = codes(rule, train_v, activation)
    par[ETA], par[ETA_V], par[SIGMA] = eta, eta_v, sigma
    par[PHI_F] = state.phi_F if state.phi_F is not None else 0.0
    par[QUADRATURE] = float(bool(quadrature) or rule.exact_pepita)
    par[DECAY] = weight_decay
    if ff is not None:
        par[FF_THETA], par[FF_CLEAN_POSITIVE] = ff[0], float(ff[1])
    if mirror is not None and mirror.on:
        set_mirroring(par, mirror)
    return par


def set_mirroring(par, mirror):
    """Write weight mirroring's options (a `odes.rhs.mirroring.Mirroring`) into their slots of
    the parameter vector `par`."""
    par[MIRROR_ETA], par[MIRROR_S2] = mirror.eta, mirror.noise ** 2
    par[MIRROR_BATCH], par[MIRROR_DECAY] = mirror.batch, mirror.decay
    par[MIRROR_FIXED] = float(mirror.fixed_norm)
