"""tsode theory: closed order-parameter ODEs of two-layer teacher-student networks.

    import odes
    st = odes.State.random(K=2, M=2, D=500, seed=0)          # or odes.State(Q=..., R=..., ...)
    res = odes.integrate(st, "bp", eta=0.5, t_max=1000)      # adaptive dopri5, rtol 1e-8
    res.t, res.eps_g, res.Q, res.angles["v_vstar"]

The package by its layers, each importing only from those before it:

    gaussian/    integrals (the closed-form Gaussian integrals of erf), relu_integrals (of
                 ReLU), second_moment (I2 of every activation, the one definition eps_g uses),
                 expectations (E[f(u)], u ~ N(0, C), by quadrature), vecmath (arcsin, erf, exp
                 over arrays from libmvec)
    activations, rules, weights, state, observables
                 g and g'; the learning rules as data and their integer codes; random weights;
                 the order parameters (and weights that realise them exactly); eps_g and the
                 angles
    rhs/         the right-hand sides: parameters (the parameter vector), fields (the packed
                 state's offsets, the covariance read from it, its eps_g), kernel (the layout,
                 the kernel arguments as one record, the closed-form kernel and the dispatch),
                 quadrature (exact PEPITA and its variants)
    divergence   when a run has diverged (on the packed state; the simulator's threshold too)
    solvers/     the METHODS registry and the stepper contract (common: Problem, Outcome,
                 Status); dopri5, bdf (compiled), fixed_step (rk4, euler), scipy_ivp
    integrate, fixed_points, result, symbolic (sympy oracle), io, plot, command_line, cli
    finite_d/    finite D (theory.md 10): increments (the drift and noise matrix B of one step),
                 lna (the seed-to-seed covariance around the ODE and the O(1/D) bias:
                 `fluctuations`), stationary (at a fixed point), escape (plateau-escape times:
                 `escape_time`)
"""
from . import activations
from .activations import ACTIVATIONS
from .finite_d import Escape, Fluctuations, escape_time, fluctuations
from .fixed_points import FixedPoint, FixedPointError, fixed_point, jacobian
from .integrate import AccuracyWarning, IntegrationError, default_times, integrate
from .observables import angle, angles, degenerate_solution, eps_g
from .result import Result, __version__
from .rhs import Mirroring, derivatives, mirroring
from .rules import ODE_RULES, RULES, Rule, get_rule
from .solvers import METHODS
from .state import State, StateError, realise
from .weights import Weights, draw_weights

__all__ = ["activations", "ACTIVATIONS", "Escape", "escape_time", "Fluctuations", "fluctuations", "FixedPoint", "FixedPointError", "fixed_point", "jacobian", "AccuracyWarning", "IntegrationError", "default_times", "integrate", "angle", "angles",
           "degenerate_solution", "eps_g", "Result", "derivatives", "Mirroring", "mirroring", "METHODS", "ODE_RULES", "RULES", "Rule",
           "get_rule", "State", "StateError", "Weights", "draw_weights", "realise", "__version__"]
