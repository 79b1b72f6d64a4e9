"""tsode theory: closed order-parameter ODEs of two-layer teacher-student networks.

    import odes
    st = odes.State.random(K=2, M=2, D=500, seed=0)          # or odes.State(Q=..., R=..., ...)
    res = odes.integrate(st, "bp", eta=0.5, t_max=1000)      # adaptive dopri5, rtol 1e-8
    res.t, res.eps_g, res.Q, res.angles["v_vstar"]

The package by its layers, each importing only from those before it:

    gaussian/    integrals (the closed-form Gaussian integrals of erf), relu_integrals (of
                 ReLU), expectations (E[f(u)], u ~ N(0, C), by quadrature), vecmath (arcsin,
                 erf, exp over arrays from libmvec)
    activations, rules, state, weights, observables, divergence
                 g and g'; the learning rules as data; the order parameters; random and
                 exact-overlap weights; eps_g and the angles; when a run has diverged
    rhs/         the right-hand sides: parameters (the parameter vector), fields (the covariance
                 read from the packed state), kernel (the layout, the closed-form kernel and the
                 dispatch), quadrature (exact PEPITA and its variants)
    solvers/     dopri5 (the compiled Dormand-Prince stepper), bdf (the compiled stiff stepper)
    integrate, fixed_points, result, symbolic (sympy oracle), io, plot, cli
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
