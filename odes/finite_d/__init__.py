"""Finite D (theory.md section 10): the noise of one step, the linear-noise approximation
of the seed-to-seed fluctuations around the ODE, and (to come) the O(1/D) bias and plateau
escape.

    increments   G, the one-step increments, and their drift and noise matrix B by quadrature
    observables  gradients of eps_g and the coordinates
    lna          the covariance ODE along the ODE's solution: `fluctuations`, `Fluctuations`
    stationary   the stationary covariance at a stable fixed point (Lyapunov): `stationary`
"""
from .increments import Increments
from .lna import Fluctuations, fluctuations
from .stationary import Stationary, stationary

__all__ = ["Increments", "Fluctuations", "fluctuations", "Stationary", "stationary"]
