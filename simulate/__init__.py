"""tsode simulations: compiled online SGD of the teacher-student networks that `odes` describes.

    import simulate
    sim = simulate.run("bp", K=2, M=2, D=500, eta=0.5, t_max=100, seeds=8, jobs=2)
    sim.t, sim.eps_g (seeds x times), sim.mean("eps_g"), sim.sem("eps_g")
    cmp = simulate.compare("afa", K=2, M=2, D=500, eta=0.05, t_max=1000)   # simulation vs ODE
    cmp.plot("afa.png"); cmp.save("afa.npz")

Modules: rng (xoshiro256++ and a ziggurat Gaussian generator), kernel (the compiled SGD step and
recording loop, theory.md Appendix B), run (seeds in parallel), result (Simulation: arrays,
statistics, save/load), comparison (simulation vs ODE from each seed's measured initial state),
plot, cli.  `simulate` imports `odes`, never the reverse; the networks are `odes.weights`.
"""
from odes.rules import RULES, get_rule
from odes.state import realise
from odes.weights import Weights, draw_weights

from .comparison import Comparison, check_also, compare, integrate_seeds
from .result import Simulation
from .run import DivergenceWarning, check_params, run

__all__ = ["Comparison", "check_also", "compare", "integrate_seeds", "RULES", "get_rule",
           "Weights", "draw_weights", "realise", "Simulation", "run", "check_params",
           "DivergenceWarning"]
