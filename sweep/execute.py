"""Running a sweep: `run(spec, out, ...)` -> xarray.Dataset.

Backends: with jobs = 1 and no scheduler the tasks run in this process, one after another; with
jobs > 1, on a `distributed.LocalCluster` of `jobs` single-threaded worker processes; with
`scheduler`, on the workers of a running Dask scheduler at that address; with `cluster` ('slurm',
'pbs', 'sge'), on batch jobs started by dask-jobqueue with the spec's [cluster] table as keyword
arguments (and `jobs` batch jobs).  The numbers do not depend on which: a task's random streams come
from its seed numbers alone (`sweep.spec`).

The driver writes each finished task to the store at once and forgets it, so its memory does not
grow with the number of points.  A worker that dies is replaced by Dask and its task rerun; a task
that raises is reported and left missing (a later --resume retries it); a run that diverges is
data (status 'diverged'), not an error.
"""
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from .spec import Spec, SpecError, load_spec
from .store import Store, open_dataset
from .task import run_task

CLUSTERS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster"}


@dataclass
class Summary:
    """What a call of `run` did: tasks found done in the store and computed now, tasks that
    failed (name, message), points complete, points with a diverged seed, wall time.

    Returned by `execute`; `run` puts its `line` in ``ds.attrs["summary"]``.

    Attributes
    ----------
    n_tasks : int
        Tasks of the sweep (grid points x seed blocks).
    n_points : int
        Grid points.
    found : int
        Tasks found done in the store.
    computed : int
        Tasks computed by this call.
    failed : list of (str, str)
        Tasks that failed: (name, message); a later resume retries them.
    points_done : int
        Points complete (no seed missing).
    points_diverged : int
        Points with a diverged seed.
    seeds_diverged : int
        Diverged seeds over all points.
    seconds : float
        Wall time of the call.
    run_id : str
        An identifier of the call, recorded with each task it computed.
    """
    n_tasks: int
    n_points: int
    found: int = 0
    computed: int = 0
    failed: list = field(default_factory=list)
    points_done: int = 0
    points_diverged: int = 0
    seeds_diverged: int = 0
    seconds: float = 0.0
    run_id: str = ""

    def line(self):
        """The summary in one line, e.g. '4 of 4 points done (0 tasks from the store, 4 computed),
        0 diverged (0 seeds); 2.1 s wall', and how many tasks failed (rerun with --resume).

        Returns
        -------
        str
        """
        text = (f"{self.points_done} of {self.n_points} points done ({self.found} tasks from the "
                f"store, {self.computed} computed), {self.points_diverged} diverged "
                f"({self.seeds_diverged} seeds); {self.seconds:.1f} s wall")
        if self.failed:
            text += f"; {len(self.failed)} tasks failed (rerun with --resume)"
        return text

    def count(self, ds):
        """Fill the point counts from the dataset's status.

        Parameters
        ----------
        ds : xarray.Dataset
            The sweep's dataset, with its ``status`` variable.
        """
        status = ds["status"]
        axes = [d for d in status.dims if d != "seed"]
        self.points_done = int((status != "missing").all("seed").sum()) if axes else \
            int(bool((status != "missing").all()))
        diverged = status == "diverged"
        self.seeds_diverged = int(diverged.sum())
        self.points_diverged = int(diverged.any("seed").sum())


def _arguments(spec, task):
    seeds = [spec.seed_numbers[i] for i in task.seed_indices]
    return spec.kind, task.params, spec.times, seeds, spec.state


def jobqueue_cluster(kind, jobs, options):
    """A dask-jobqueue cluster of `kind` with `options` (the spec's [cluster] table; `processes`
    defaults to `cores`: one single-threaded worker per core), scaled to `jobs` batch jobs."""
    import dask_jobqueue
    if kind not in CLUSTERS:
        raise SpecError(f"cluster: expected one of {', '.join(CLUSTERS)}, got {kind!r}")
    options = dict(options)
    options.setdefault("processes", options.get("cores", 1))    # single-threaded workers
    try:
        cluster = getattr(dask_jobqueue, CLUSTERS[kind])(**options)
    except (TypeError, ValueError) as err:
        raise SpecError(f"cluster: {str(err).splitlines()[0]}") from None
    cluster.scale(jobs=jobs)
    return cluster


def local_cluster(jobs):
    """The LocalCluster of `--jobs N`: N single-threaded worker processes on 127.0.0.1, no
    dashboard."""
    import logging

    from distributed import LocalCluster
    return LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address=None, silence_logs=logging.ERROR)


@contextmanager
def client_for(jobs, scheduler=None, cluster=None, cluster_options=None):
    """A dask.distributed Client for the chosen backend, closed (with its cluster) on exit."""
    from distributed import Client
    own = None
    if scheduler is not None:
        client = Client(scheduler, timeout="30s")
    else:
        own = (jobqueue_cluster(cluster, jobs, cluster_options or {}) if cluster is not None
               else local_cluster(jobs))
        client = Client(own)
    try:
        yield client
    finally:
        client.close()
        if own is not None:
            own.close()


def _compute(spec, todo, jobs, scheduler, cluster, on_done, on_error):
    if scheduler is None and cluster is None and jobs == 1:
        for task in todo:
            try:
                result = run_task(*_arguments(spec, task))
            except Exception as err:          # a bug or a refusal inside one task: keep going
                on_error(task, err)
                continue
            on_done(task, result)
        return
    from distributed import as_completed
    with client_for(jobs, scheduler, cluster, spec.cluster) as client:
        futures = {client.submit(run_task, *_arguments(spec, task),
                                 key=f"sweep-{spec.fingerprint()}-{task.name}"): task
                   for task in todo}
        for future in as_completed(futures):
            task = futures.pop(future)
            try:
                result = future.result()
            except Exception as err:
                on_error(task, err)
            else:
                on_done(task, result)
            future.release()


def run(spec=None, out=None, *, jobs=None, scheduler=None, cluster=None, resume=False,
        progress=None, **keys):
    """Run a sweep and return its xarray.Dataset.

    Every point is checked before anything starts.  With jobs = 1 and no scheduler the tasks run
    in this process, one after another; with jobs > 1, on a `distributed.LocalCluster` of `jobs`
    single-threaded worker processes; with `scheduler` or `cluster`, on those workers.  The
    numbers do not depend on which: a task's random streams come from its seed numbers alone.
    Each finished task is written to the store at once; a task that raises is reported and left
    missing, and a run that diverges is data (status 'diverged'), not an error.

    Parameters
    ----------
    spec : str, path-like, dict or Spec, optional
        A TOML file, a dict or a `Spec` (keyword arguments `keys` add to or override it).
    out : str or path-like, optional
        The store directory (default: a temporary one, removed after loading).
    jobs : int, optional
        Local worker processes (default: all cores), or batch jobs with `cluster`.
    scheduler : str, optional
        Address of a running Dask scheduler.
    cluster : {'slurm', 'pbs', 'sge'}, optional
        dask-jobqueue, options from the spec's [cluster] table.
    resume : bool, default False
        Finish the sweep already in `out` (refused if its spec differs).
    progress : bool, optional
        Show a bar over tasks (default True).
    **keys
        Spec keys (`sweep.spec`), e.g. kind, rule, eta, t_max, seeds, grid.

    Returns
    -------
    xarray.Dataset
        One dimension per grid axis, then seed and t (and k, l, m for the order parameters);
        the `Summary` of the call, as a line, in ``ds.attrs["summary"]`` (the record itself is
        returned by `execute`).

    Raises
    ------
    SpecError
        For a spec that cannot run (the message names the key, and the grid point), jobs < 1,
        both a scheduler and a cluster, an unknown cluster, or a store that cannot take the sweep
        (it holds another sweep, or another spec when resuming, or cannot be written).

    Examples
    --------
    >>> import sweep
    >>> ds = sweep.run(kind="ode", rule="bp", eta=0.5, t_max=100, grid={"K": [2, 3]}, jobs=1)
    >>> ds.eps_g.dims
    ('K', 'seed', 't')
    >>> ds = sweep.run("spec.toml", out="runs/pepita", jobs=4)     # stored; resume=True finishes it
    >>> m = ds.eps_g.sel(eta=0.1).mean("seed")        # the seed mean at eta = 0.1
    """
    import tempfile
    if out is None:
        with tempfile.TemporaryDirectory(prefix="tsode-sweep-") as tmp:
            ds, _ = execute(spec, f"{tmp}/sweep", jobs=jobs, scheduler=scheduler,
                            cluster=cluster, progress=progress, **keys)
            return ds.load()
    return execute(spec, out, jobs=jobs, scheduler=scheduler, cluster=cluster, resume=resume,
                   progress=progress, **keys)[0]


def execute(spec, out, *, jobs=None, scheduler=None, cluster=None, resume=False, progress=None,
            **keys):
    """`run`, returning (dataset, Summary).

    Unlike `run`, the store directory `out` is required.

    Parameters
    ----------
    spec : str, path-like, dict or Spec
        As in `run`.
    out : str or path-like
        The store directory.
    jobs, scheduler, cluster, resume, progress, **keys
        As in `run`.

    Returns
    -------
    dataset : xarray.Dataset
        As `run` returns it.
    summary : Summary
        What the call did.

    Raises
    ------
    SpecError
        As in `run`.

    Examples
    --------
    >>> import sweep
    >>> ds, summary = sweep.execute(None, "runs/k", kind="ode", rule="bp", eta=0.5, t_max=100,
    ...                             grid={"K": [2, 3]}, jobs=1)
    >>> summary.computed, summary.failed
    (2, [])
    """
    start = time.perf_counter()
    if not isinstance(spec, Spec) or keys:
        spec = load_spec(spec if not isinstance(spec, Spec) else spec.to_dict(), **keys)
    jobs = (os.cpu_count() or 1) if jobs is None else int(jobs)
    if jobs < 1:
        raise SpecError(f"jobs: expected an integer >= 1, got {jobs}")
    if scheduler is not None and cluster is not None:
        raise SpecError("scheduler, cluster: give one backend")
    if cluster is not None and cluster not in CLUSTERS:
        raise SpecError(f"cluster: expected one of {', '.join(CLUSTERS)}, got {cluster!r}")
    store = Store.prepare(out, spec, resume=resume)
    tasks = spec.tasks()
    todo = store.missing()
    summary = Summary(len(tasks), spec.n_points, found=len(tasks) - len(todo),
                      run_id=uuid.uuid4().hex[:12])
    with tqdm(total=len(tasks), initial=summary.found, disable=progress is False, unit="task",
              desc=f"sweep {spec.kind}", leave=False) as bar:
        def on_done(task, result):
            arrays, info = result
            info.update(run_id=summary.run_id, task=task.name)
            store.write(task, arrays, info)
            summary.computed += 1
            bar.update(1)

        def on_error(task, err):
            summary.failed.append((task.name, f"{type(err).__name__}: {err}"))
            bar.update(1)

        _compute(spec, todo, jobs, scheduler, cluster, on_done, on_error)
    if not summary.failed:
        store.consolidate()
    summary.seconds = time.perf_counter() - start
    ds = open_dataset(out)
    summary.count(ds)
    ds.attrs["summary"] = summary.line()
    return ds, summary
