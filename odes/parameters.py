"""The float parameter vector `par` shared by the right-hand-side kernels (`odes.rhs`,
`odes.quadrature_rhs`): positions and the validated builder."""
import numpy as np

from .rules import get_rule

# positions in `par`: learning rates, label noise, |F|^2, the rule's fields (feedback kind, Fe
# terms, exact PEPITA), a trained second layer, 1.0 to evaluate the expectations by quadrature,
# the quadrature's nodes per field dimension, the weight decay kappa (theory.md 8.1), and 1.0 for
# PEPITA's Hebbian form and for its time-local form (theory.md 8.3)
(ETA, ETA_V, SIGMA, PHI_F, FEEDBACK, FE_TERMS, TRAIN_V, EXACT, QUADRATURE, N_NODES, DECAY, HEBBIAN,
 TIME_LOCAL) = range(13)
N_PAR = 13


def params(state, rule, eta, eta_v=None, sigma=0.0, train_v=True, quadrature=False,
           weight_decay=0.0):
    """The float parameter vector of the kernels, validated.  Exact PEPITA always uses quadrature."""
    rule = get_rule(rule) if isinstance(rule, str) else rule
    eta_v = eta if eta_v is None else eta_v
    for name, x in (("eta", eta), ("eta_v", eta_v), ("sigma", sigma),
                    ("weight_decay", weight_decay)):
        if not np.isfinite(x) or x < 0:
            raise ValueError(f"{name} must be finite and >= 0, got {x!r}")
    par = np.zeros(N_PAR)
    par[ETA], par[ETA_V], par[SIGMA] = eta, eta_v, sigma
    par[PHI_F] = state.phi_F if state.phi_F is not None else 0.0
    par[FEEDBACK] = rule.feedback
    par[FE_TERMS] = float(rule.fe_terms)
    par[TRAIN_V] = float(bool(train_v))
    par[EXACT] = float(rule.exact_pepita)
    par[QUADRATURE] = float(bool(quadrature) or rule.exact_pepita)
    par[DECAY] = weight_decay
    par[HEBBIAN] = float(rule.hebbian)
    par[TIME_LOCAL] = float(rule.time_local)
    return par
