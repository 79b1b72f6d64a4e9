"""The store of a sweep: one file per finished task, and the consolidated dataset.

Layout of the directory given as --out:

    sweep.json         the spec as given, its fingerprint, the coordinates; written first
    tasks/<name>.npz   one file per finished task (point index and seed block in the name),
                       written atomically (temporary name, then rename) as soon as it is done
    sweep.zarr/        the consolidated xarray Dataset, written once every task is in, chunk
                       by chunk (a chunk: up to 64 points along the last grid axis, every seed),
                       so the driver never holds more than one chunk of the sweep

A task file that is missing or unreadable (truncated, corrupt) is a task still to do; nothing else
is ever recomputed.  `Store.dataset()` assembles whatever tasks exist (missing ones have status
'missing' and NaN values), so an interrupted sweep can be looked at before it is resumed.

Dataset layout: one dimension per grid axis in spec order (coordinates = the values), then
`seed` (the seed numbers), then `t`; order parameters add `k` (student unit), `l` (second student
index of Q) and `m` (teacher unit), padded with NaN where K or M vary over the grid.
"""
import json
import shutil
from pathlib import Path

import numpy as np

from odes.io import atomic_write, unwritable

from .spec import SpecError
from .task import MISSING, STATUS_NAMES

SPEC_FILE, TASK_DIR, DATASET_DIR = "sweep.json", "tasks", "sweep.zarr"


def versions():
    import dask
    import numba
    import xarray

    import odes
    return dict(tsode=odes.__version__, numpy=np.__version__, numba=numba.__version__,
                dask=dask.__version__, xarray=xarray.__version__)


def variable_dims(name):
    """The dimensions after (grid..., seed) of a task variable, by its name."""
    if name.startswith("status") or name.startswith("t_diverged"):
        return ()
    base = name.split("_")[0]
    return {"Q": ("t", "k", "l"), "R": ("t", "k", "m"), "v": ("t", "k"), "a": ("t", "k"),
            "b": ("t", "k"), "p": ("t", "m")}.get(base, ("t",))


class Store:
    """A sweep's directory; see the module docstring."""

    def __init__(self, path, spec):
        self.path, self.spec = Path(path), spec
        self.K, self.M = spec.max_sizes()

    # ---- creation ------------------------------------------------------------------------------
    @classmethod
    def prepare(cls, path, spec, resume=False):
        """Check that `path` can take this sweep (refusals raise SpecError before anything is
        written), then create it or, with resume, reopen it."""
        path = Path(path)
        head = path / SPEC_FILE
        if path.exists() and not path.is_dir():
            raise SpecError(f"out: {path} exists and is not a directory")
        if head.exists():
            if not resume:
                raise SpecError(f"out: {path} already holds a sweep; pass --resume to finish it "
                                f"or choose another --out")
            try:
                old = json.loads(head.read_text())
            except (OSError, json.JSONDecodeError):
                raise SpecError(f"out: {head} is unreadable; not a sweep store") from None
            if old.get("fingerprint") != spec.fingerprint():
                keys = sorted(k for k in set(old.get("spec", {})) | set(spec.to_dict())
                              if old.get("spec", {}).get(k) != spec.to_dict().get(k))
                raise SpecError(f"out: {path} holds a sweep of a different spec (differs in "
                                f"{', '.join(keys) or 'the initial state'}); refusing to resume")
        elif path.exists() and any(path.iterdir()):
            raise SpecError(f"out: {path} is a non-empty directory that holds no sweep")
        reason = unwritable(head)
        if reason:
            raise SpecError(f"out: cannot write the store {path}: {reason}")
        store = cls(path, spec)
        if not head.exists():
            (path / TASK_DIR).mkdir(parents=True, exist_ok=True)
            meta = dict(spec=spec.to_dict(), fingerprint=spec.fingerprint(), kind=spec.kind,
                        axes=spec.axes, n_tasks=len(spec.tasks()), seeds=spec.seed_numbers,
                        times=spec.times.tolist(), versions=versions(),
                        state=None if spec.state is None else spec.state.to_dict())
            with atomic_write(head) as fh:
                fh.write(json.dumps(meta, indent=1, default=lambda x: np.asarray(x).tolist()))
        return store

    @classmethod
    def open(cls, path):
        from .spec import load_spec
        head = Path(path) / SPEC_FILE
        try:
            meta = json.loads(head.read_text())
        except (OSError, json.JSONDecodeError):
            raise SpecError(f"{path} is not a sweep store (no readable {SPEC_FILE})") from None
        spec = meta["spec"]
        if meta.get("state") is not None:
            spec["state"] = meta["state"]
        return cls(path, load_spec(spec))

    # ---- task files ----------------------------------------------------------------------------
    def task_path(self, task):
        return self.path / TASK_DIR / f"{task.name}.npz"

    def write(self, task, arrays, info):
        """One finished task, atomically."""
        with atomic_write(self.task_path(task), "wb") as fh:
            np.savez(fh, _info=np.array(json.dumps(info)), **arrays)

    def read(self, task):
        """(arrays, info) of a task file, or None if it is missing or unreadable."""
        try:
            with np.load(self.task_path(task)) as z:
                arrays = {k: z[k] for k in z.files}      # reading every member checks its CRC
            info = json.loads(str(arrays.pop("_info")))
        except FileNotFoundError:
            return None
        except Exception:                                # truncated or corrupt: redo the task
            return None
        S = len(task.seed_indices)
        if "status" not in arrays or arrays["status"].shape != (S,):
            return None
        return arrays, info

    def missing(self):
        """Tasks whose file is missing or unreadable (an unreadable file is removed)."""
        out = []
        for task in self.spec.tasks():
            if self.read(task) is None:
                self.task_path(task).unlink(missing_ok=True)
                out.append(task)
        return out

    # ---- the dataset ---------------------------------------------------------------------------
    def _coords(self):
        spec = self.spec
        coords = {axis: np.asarray(values) for axis, values in spec.grid.items()}
        coords.update(seed=np.asarray(spec.seed_numbers), t=spec.times,
                      k=np.arange(self.K), l=np.arange(self.K), m=np.arange(self.M))
        return coords

    def _layout(self, names):
        """{name: (dims, shape, chunks, dtype)} of the dataset's variables."""
        spec = self.spec
        lead = tuple(spec.axes) + ("seed",)
        sizes = dict(zip(spec.axes, spec.shape), seed=spec.seeds_n, t=spec.times.size,
                     k=self.K, l=self.K, m=self.M)
        out = {}
        for name in names:
            dims = lead + variable_dims(name)
            shape = tuple(sizes[d] for d in dims)
            chunks = self._chunk_lead() + shape[len(lead):]
            out[name] = dims, shape, chunks, np.int8 if name.startswith("status") else float
        return out

    #: points per chunk along the last grid axis of the consolidated store
    PIECE = 64

    def _chunk_lead(self):
        """Chunk sizes of the (grid..., seed) dimensions: one point of every axis but the last,
        up to PIECE points of the last, every seed."""
        shape = self.spec.shape
        if not shape:
            return (self.spec.seeds_n,)
        return (1,) * (len(shape) - 1) + (min(self.PIECE, shape[-1]), self.spec.seeds_n)

    def _pieces(self):
        """The tasks grouped by chunk: (index of the chunk's first point, number of points along
        the last axis, tasks)."""
        tasks = self.spec.tasks()
        if not self.spec.shape:
            yield (), 1, tasks
            return
        groups = {}
        for task in tasks:
            head, last = tuple(task.index[:-1]), task.index[-1]
            groups.setdefault(head + (last // self.PIECE,), []).append(task)
        n_last = self.spec.shape[-1]
        for key, members in groups.items():
            j0 = key[-1] * self.PIECE
            yield key[:-1] + (j0,), min(self.PIECE, n_last - j0), members

    def _place(self, task, arrays, layout):
        """(region, padded array) per variable of one task."""
        S = len(task.seed_indices)
        lead = tuple(task.index) + (slice(task.seed_indices[0], task.seed_indices[-1] + 1),)
        for name, x in arrays.items():
            dims, shape, _, dtype = layout[name]
            full = np.full((S,) + shape[len(lead):],
                           MISSING if dtype == np.int8 else np.nan, dtype)
            full[(slice(None),) + tuple(slice(0, n) for n in x.shape[1:])] = x
            yield name, lead, full

    def _names(self):
        names = {"status", "t_diverged"}
        for task in self.spec.tasks():
            try:
                with np.load(self.task_path(task)) as z:
                    names.update(k for k in z.files if k != "_info")
            except Exception:
                continue
        order = ["eps_g", "eps_test", "Q", "R", "v", "a", "b"]
        return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))

    def _attrs(self):
        meta = json.loads((self.path / SPEC_FILE).read_text())
        return dict(kind=self.spec.kind, spec=json.dumps(meta["spec"]),
                    fingerprint=meta["fingerprint"], versions=json.dumps(meta["versions"]),
                    state=json.dumps(meta.get("state")),
                    seed_rule="seed index i of every point uses seed number seed + i")

    def dataset(self):
        """The sweep as an in-memory xarray.Dataset from the task files present."""
        import xarray as xr
        layout = self._layout(self._names())
        data = {name: np.full(shape, MISSING if dtype == np.int8 else np.nan, dtype)
                for name, (dims, shape, _, dtype) in layout.items()}
        for task in self.spec.tasks():
            got = self.read(task)
            if got is None:
                continue
            for name, region, x in self._place(task, got[0], layout):
                data[name][region] = x
        ds = xr.Dataset({name: (layout[name][0], x) for name, x in data.items()},
                        coords=self._coords(), attrs=self._attrs())
        return decode(ds)

    def consolidate(self):
        """Write sweep.zarr task by task (one chunk per task and variable)."""
        import dask.array as da
        import xarray as xr
        import zarr
        layout = self._layout(self._names())
        template = xr.Dataset(
            {name: (dims, da.zeros(shape, dtype=dtype, chunks=chunks))
             for name, (dims, shape, chunks, dtype) in layout.items()},
            coords=self._coords(), attrs=self._attrs())
        for name in template.data_vars:
            template[name].attrs.update(_variable_attrs(name))
        target, tmp = self.path / DATASET_DIR, self.path / f".{DATASET_DIR}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        template.to_zarr(tmp, mode="w", compute=False, consolidated=False, zarr_format=2)
        group = zarr.open_group(tmp, mode="r+")
        targets = {name: group[name] for name in layout}       # open each array once
        n_axes = len(self.spec.axes)
        for start, width, tasks in self._pieces():
            # the chunk in memory (at most PIECE points x every seed), then one write per variable
            buf = {name: np.full(((width,) if n_axes else ()) + shape[n_axes:],
                                 MISSING if dtype == np.int8 else np.nan, dtype)
                   for name, (dims, shape, _, dtype) in layout.items()}
            for task in tasks:
                got = self.read(task)
                if got is None:
                    raise RuntimeError(f"task {task.name} went missing during consolidation")
                for name, region, x in self._place(task, got[0], layout):
                    seeds = region[-1]
                    where = ((task.index[-1] - start[-1],) if n_axes else ()) + (seeds,)
                    buf[name][where] = x
            region = tuple(start[:-1]) + ((slice(start[-1], start[-1] + width),) if n_axes else ())
            for name, x in buf.items():
                targets[name][region] = x
        zarr.consolidate_metadata(str(tmp))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        return target


def _variable_attrs(name):
    if name.startswith("status"):
        return dict(flag_values=list(range(len(STATUS_NAMES))), flag_meanings=" ".join(STATUS_NAMES))
    return {}


def decode(ds):
    """Status codes as their names ('finished', 'diverged', 'missing')."""
    for name in [n for n in ds.data_vars if n.startswith("status")]:
        codes = np.asarray(ds[name].values)
        ds[name] = (ds[name].dims, np.asarray(STATUS_NAMES)[codes])
    return ds


def open_dataset(path):
    """The dataset of a sweep store: the consolidated sweep.zarr if the sweep is complete, else
    the tasks present (the rest 'missing').

    Exported as `sweep.open`.  An interrupted sweep can so be looked at before it is resumed.

    Parameters
    ----------
    path : str or path-like
        The store directory (the ``out`` of `sweep.run`).

    Returns
    -------
    xarray.Dataset
        One dimension per grid axis in spec order (coordinates = the values), then seed (the
        seed numbers), then t; order parameters add k (student unit), l (second student index of
        Q) and m (teacher unit), padded with NaN where K or M vary over the grid.  Status is
        'finished', 'diverged' or 'missing'; missing tasks have NaN values.

    Raises
    ------
    SpecError
        If `path` is not a sweep store (no readable sweep.json).

    Examples
    --------
    >>> import sweep
    >>> ds = sweep.open("runs/pepita")
    >>> m = ds.eps_g.sel(eta=0.1).mean("seed")        # the seed mean at eta = 0.1
    """
    import xarray as xr
    path = Path(path)
    store = Store.open(path)
    if (path / DATASET_DIR).exists():
        ds = xr.open_zarr(path / DATASET_DIR, consolidated=True)
        return decode(ds)
    return store.dataset()
