"""tsode sweeps: parameter grids x seeds of `odes` and `simulate` runs, on every core or on a Dask
cluster, stored task by task and returned as labelled arrays (xarray).

    import sweep
    ds = sweep.run("spec.toml", out="runs/pepita")        # or sweep.run(kind="sim", rule=..., grid=...)
    ds = sweep.open("runs/pepita")                       # the same, later
    ds.eps_g.sel(eta=0.1).mean("seed")
    sweep.plot.heatmap(ds, "eta", "phi_F", "eps_g", at_t=300)

Modules: spec (the spec and its checks), task (one grid point x block of seeds), store (task files
and the consolidated zarr dataset), execute (backends: in-process, LocalCluster, a scheduler
address, dask-jobqueue), plot, cli.  `sweep` imports `odes` and `simulate`, never the reverse.
"""
from . import plot
from .execute import Summary, execute, run
from .spec import Spec, SpecError, load_spec
from .store import open_dataset as open

__all__ = ["plot", "Summary", "execute", "run", "Spec", "SpecError", "load_spec", "open"]
