"""tsode theory: closed order-parameter ODEs of two-layer teacher-student networks.

    import odes
    st = odes.State.random(K=2, M=2, D=500, seed=0)          # or odes.State(Q=..., R=..., ...)
    res = odes.integrate(st, "bp", eta=0.5, t_max=1000)      # adaptive dopri5, rtol 1e-8
    res.t, res.eps_g, res.Q, res.angles["v_vstar"]

Modules: integrals (Gaussian integrals of erf), state (order parameters), rules (BP, FA, AFA,
PEPITA as data), rhs (the ODE right-hand sides), integrate (solvers), result (Result object),
observables (eps_g, angles), fixed_points (fixed points and their stability),
adaptive (the compiled Dormand-Prince stepper), bdf (the compiled stiff stepper), weights (random
and exact-overlap weights), symbolic (sympy oracle), expectations and quadrature_rhs (Gaussian
expectations by quadrature; exact PEPITA), vecmath (vectorised arcsin, erf, exp from libmvec).
"""
from . import activations
from .activations import ACTIVATIONS
from .fixed_points import FixedPoint, FixedPointError, fixed_point, jacobian
from .integrate import AccuracyWarning, IntegrationError, default_times, integrate
from .observables import angle, angles, degenerate_solution, eps_g
from .result import Result, __version__
from .rhs import derivatives
from .rules import ODE_RULES, RULES, Rule, get_rule
from .state import State, StateError
from .weights import Weights, draw_weights, realise

__all__ = ["activations", "ACTIVATIONS", "FixedPoint", "FixedPointError", "fixed_point", "jacobian", "AccuracyWarning", "IntegrationError", "default_times", "integrate", "angle", "angles",
           "degenerate_solution", "eps_g", "Result", "derivatives", "ODE_RULES", "RULES", "Rule",
           "get_rule", "State", "StateError", "Weights", "draw_weights", "realise", "__version__"]
