"""Finite D (theory.md section 10): the noise of one step, the linear-noise approximation
of the seed-to-seed fluctuations around the ODE, the O(1/D) bias and plateau escape.

    increments   G, the one-step increments, and their drift and noise matrix B by quadrature
    observables  the coordinates (with a random start's static overlaps), eps_g and the drift
                 as functions of them, their derivatives, the Wishart start
    lna          the covariance ODE along the ODE's solution: `fluctuations`, `Fluctuations`
    stationary   the stationary covariance at a stable fixed point (Lyapunov): `stationary`
    escape       the distribution of plateau-escape times: `escape_time`, `Escape`
"""
from .increments import Increments
from .escape import Escape, escape_time
from .lna import Fluctuations, fluctuations
from .stationary import Stationary, stationary

__all__ = ["Escape", "escape_time", "Increments", "Fluctuations", "fluctuations", "Stationary", "stationary"]
