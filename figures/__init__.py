"""Paper figures of the tsode project, each a short script over the public APIs of `odes` and
`simulate` (no physics of its own), so that a change in the library shows up in the figures.

    python -m figures fig2              # writes runs/figures/fig2.png and .pdf (under the cwd)
    python -m figures all               # every figure
    python -m figures all --small       # quick, small sizes (or TSODE_SMALL=1): runs/figures/small/
    python -m figures fig2 --committed  # updates the committed figures/fig2.png and .pdf

The committed figures in this directory are written only when asked for (--committed, or this
directory as outdir), and a file whose bytes would not change is never rewritten.

From Python or a notebook::

    from figures import fig2
    data = fig2.compute()             # simulations and ODEs -> dict of arrays and parameters
    fig = fig2.plot(data)             # matplotlib Figure
    fig2.save(fig)                    # runs/figures/fig2.png and .pdf (runs/figures/small/ with
                                      # TSODE_SMALL=1); fig2.save(fig, outdir) elsewhere
    figures.make("fig2")              # compute + plot + save

Every figure module has PARAMS (full size), SMALL (overrides for quick runs), ``compute(small=None,
**overrides)``, ``plot(data)``, ``summary(data)`` (the numbers quoted in the text) and
``save(fig, outdir=None)``; `figures.make(NAME, small=None, outdir=None, **overrides)` does all
three.  ``small=None`` reads the TSODE_SMALL environment switch.

Figures:
  fig2               the paper's Figure 2 b-d: PEPITA vs AFA, D=500, eta=0.05, K=M=2
  bp_plateau         the Saad-Solla plateau of BP (soft committee machine), K=M=2 and 3
  fa_align_memorise  feedback alignment's two phases, eps_g and theta(v, b)
  pepita_f_scale     where PEPITA ~ AFA holds: eps_g at fixed t against |F|^2
  pepita_regimes     maps over (|F|^2, eta) from the exact-PEPITA ODE: where AFA and pepita-lin
                     hold, where PEPITA diverges
  sweep_bp_noise     a sweep example: BP's residual error over (eta, label noise sigma)
  pepita_variants    the paper's variants: PEPITA with weight decay, Hebbian, time-local
  finite_size        finite D: the predicted seed-to-seed band, O(1/D) bias and escape times
  pepita_mirroring   weight mirroring (with and without the fixed norm, pre-mirroring) and the
                     Forward-Forward rule beside PEPITA and PEPITA Hebbian
"""
import importlib

FIGURES = {
    "fig2": "the paper's Figure 2 b-d: PEPITA vs AFA at D=500, eta=0.05, K=M=2 (eps_g, angles, "
            "second-layer plane)",
    "bp_plateau": "Saad-Solla plateau of BP (soft committee machine) for K=M=2 and 3",
    "fa_align_memorise": "feedback alignment's two phases: eps_g and theta(v, b)",
    "pepita_f_scale": "where PEPITA ~ AFA holds: eps_g at a fixed time against |F|^2",
    "pepita_regimes": "maps over (|F|^2, eta) from the exact-PEPITA ODE: where AFA and "
                      "PEPITA-linearised hold, where PEPITA diverges",
    "pepita_variants": "the paper's training variants of PEPITA: weight decay (two kappa), "
                       "Hebbian and time-local forms; eps_g, theta_net and |a|, ODE over simulation",
    "finite_size": "finite D: the seed-to-seed band, the O(1/D) bias and the plateau-escape "
                   "times predicted against the overlap chain; the cost of a seed against D",
    "pepita_mirroring": "weight mirroring of PEPITA's feedback (fixed and free norm, "
                        "pre-mirroring) and Forward-Forward beside PEPITA and PEPITA Hebbian; "
                        "eps_g, theta_net, |a|, |F|^2, ODE over simulation",
    "sweep_bp_noise": "a sweep example (python -m sweep): BP's residual error over the learning "
                      "rate and the label noise, ODE over simulation",
}


def module(name):
    """The module of figure `name` (raises ValueError for an unknown name)."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; choose one of {', '.join(FIGURES)} or 'all'")
    return importlib.import_module(f"{__name__}.{name}")


def make(name, small=None, outdir=None, **overrides):
    """Compute, draw and save figure `name` (runs/figures/NAME.png and .pdf under the working
    directory, runs/figures/small/ for small sizes, or into outdir); returns the matplotlib
    Figure."""
    from .style import output_dir
    mod = module(name)
    fig = mod.plot(mod.compute(small, **overrides))
    mod.save(fig, output_dir(small) if outdir is None else outdir)
    return fig


def __getattr__(name):
    # `from figures import fig2` and `figures.fig2` work without importing every figure up front
    if name in FIGURES:
        return module(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FIGURES", "module", "make"]
