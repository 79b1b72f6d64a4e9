"""Speed and memory of the sweep layer (a script, not a test): ``python benchmarks/sweep.py``.

Prints:
* the overhead per task of the sweep machinery (spec, store, task files, consolidation, Dask),
  on 200 tiny ODE tasks: wall time minus the tasks' own compute time (recorded in each task
  file), per task, in-process (--jobs 1) and on a 2-worker LocalCluster (its start-up, timed
  separately in the same run, subtracted);
* the 24-point simulation sweep of the issue (BP, D = 500, t = 300, 4 seeds per point) on 1
  worker and on 2, in interleaved rounds: (a) on LocalClusters started (and warmed) before the
  clock runs, which is the scaling of the sweep itself; (b) as `python -m sweep` in a fresh process,
  start-up and imports included; and (c) the host's own ceiling for this work: the same 24 tasks
  (`sweep.task.run_task`) on a plain process pool of 1 and of 2 (no Dask, no store), warmed too.
  (a)/(c) is the parallel efficiency the sweep layer achieves on the cores it was given, and the
  fraction of wall time the workers spend inside tasks (task seconds / (workers x wall)) is the
  same thing in work units, free of the host's speed changes;
* a 1000-point ODE sweep (K = M = 2, t = 10^3) on 2 workers, wall time;
* the driver's peak resident memory (ru_maxrss of a child process that runs the sweep on a
  2-worker LocalCluster) for 250 and 1000 ODE points.
Targets: overhead <= 20 ms per task; 2 workers >= 1.8x one ((a)); 1000 ODE points < 60 s; the driver's
peak memory independent of the number of points.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import numpy as np  # noqa: E402

import sweep  # noqa: E402
from sweep.execute import _arguments, local_cluster  # noqa: E402
from sweep.spec import load_spec  # noqa: E402
from sweep.task import run_task  # noqa: E402

TINY = dict(kind="ode", rule="bp", times=[0.0, 0.01], seeds=1, method="rk4")
SIM24 = dict(kind="sim", rule="bp", K=2, M=2, D=500, t_max=300.0, seeds=4,
             grid=dict(eta=[0.1, 0.2, 0.3, 0.5, 0.7, 1.0], sigma=[0.0, 0.1, 0.2, 0.3]))


def ode_grid(n):
    """n = a x b ODE points (BP, K = M = 2, t = 10^3) over eta and sigma."""
    a = 25
    return dict(kind="ode", rule="bp", K=2, M=2, t_max=1e3, seeds=1,
                grid=dict(eta=[round(float(x), 4) for x in np.linspace(0.1, 1.0, a)],
                          sigma=[round(float(x), 4) for x in np.linspace(0.0, 0.5, n // a)]))


def timed(spec, jobs, tmp, scheduler=None):
    out = tempfile.mkdtemp(dir=tmp)
    t0 = time.perf_counter()
    ds, summary = sweep.execute(spec, f"{out}/s", jobs=jobs, scheduler=scheduler, progress=False)
    wall = time.perf_counter() - t0
    compute = 0.0
    for path in sorted(os.listdir(f"{out}/s/tasks")):
        with np.load(f"{out}/s/tasks/{path}") as z:
            compute += json.loads(str(z["_info"]))["seconds"]
    return wall, compute, summary


def cli_seconds(spec_file, jobs, tmp):
    out = tempfile.mkdtemp(dir=tmp)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sweep", spec_file, "--out", f"{out}/s", "--jobs",
                    str(jobs), "--quiet"], check=True, capture_output=True,
                   cwd=os.path.dirname(_HERE))
    return time.perf_counter() - t0


def warm_clusters(sizes):
    """Started LocalClusters of each size in `sizes` (single-threaded workers, as `--jobs N`
    makes), every worker having run one short task of the 24-point sweep (imports, numba caches)."""
    from distributed import Client
    clusters = {}
    for n in sizes:
        cluster = local_cluster(n)
        with Client(cluster) as client:
            short = _short_task()
            client.run(run_task, *short)              # on every worker
        clusters[n] = cluster
    return clusters


def _short_task():
    spec = load_spec(**dict(SIM24, grid={}, eta=0.1, t_max=1.0))
    return _arguments(spec, spec.tasks()[0])


def _pool_warm():
    run_task(*_short_task())


def pool_seconds(pool, tasks):
    """Wall time of `tasks` (argument tuples of run_task) on a warmed process pool."""
    t0 = time.perf_counter()
    for _ in pool.map(_star_run_task, tasks):
        pass
    return time.perf_counter() - t0


def _star_run_task(args):
    return run_task(*args)


def cluster_startup(jobs):
    from sweep.execute import client_for
    t0 = time.perf_counter()
    with client_for(jobs) as client:
        client.submit(sum, [1]).result()
        return time.perf_counter() - t0


def peak_memory(n, tmp):
    """Peak RSS (MiB) of a driver process running an n-point ODE sweep on 2 workers."""
    code = (f"import resource, sys\nsys.path.insert(0, {os.path.dirname(_HERE)!r})\n"
            f"import sweep\n"
            f"spec = {ode_grid(n)!r}\n"
            f"sweep.execute(spec, {tempfile.mkdtemp(dir=tmp) + '/s'!r}, jobs=2, progress=False)\n"
            f"print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--scaling-only", action="store_true", help="only the 1-vs-2-worker rounds")
    args = ap.parse_args(argv)
    print(f"# machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        tiny = dict(TINY, grid=dict(eta=[round(float(x), 3) for x in np.linspace(0.1, 1.0, 20)],
                                    sigma=[round(float(x), 3) for x in np.linspace(0.0, 0.9, 10)]))
        if not args.scaling_only:
            timed(dict(tiny, grid=dict(eta=[0.1])), 1, tmp)                  # compile / load caches
            wall, compute, s = timed(tiny, 1, tmp)
            print(f"overhead per task, in-process: {(wall - compute) / s.n_tasks * 1e3:.1f} ms "
                  f"({s.n_tasks} tasks, {wall:.2f} s wall, {compute:.2f} s in the tasks)")
            start = cluster_startup(2)
            wall, compute, s = timed(tiny, 2, tmp)
            print(f"overhead per task, LocalCluster of 2: "
                  f"{(wall - start - compute / 2) / s.n_tasks * 1e3:.1f} ms (start-up {start:.1f} s "
                  f"subtracted; {wall:.2f} s wall)")

        spec_file = os.path.join(tmp, "sim24.toml")
        with open(spec_file, "w") as fh:
            fh.write("\n".join(f"{k} = {json.dumps(v)}" for k, v in SIM24.items() if k != "grid")
                     + "\n[grid]\n"
                     + "\n".join(f"{k} = {json.dumps(v)}" for k, v in SIM24["grid"].items()) + "\n")
        spec24 = load_spec(**SIM24)
        tasks = [_arguments(spec24, task) for task in spec24.tasks()]
        clusters = warm_clusters((1, 2))
        pools = {n: ProcessPoolExecutor(n, mp_context=get_context("spawn"), initializer=_pool_warm)
                 for n in (1, 2)}
        for pool in pools.values():
            pool_seconds(pool, tasks[:2])
        rows = {key: [] for key in ("dask1", "dask2", "pool1", "pool2", "cli1", "cli2")}
        busy, work = {1: [], 2: []}, {1: [], 2: []}
        try:
            for _ in range(args.rounds):
                for n in (1, 2):
                    wall, compute, _ = timed(SIM24, None, tmp,
                                             scheduler=clusters[n].scheduler_address)
                    rows[f"dask{n}"].append(wall)
                    busy[n].append(compute / (n * wall))
                    work[n].append(compute)
                    rows[f"pool{n}"].append(pool_seconds(pools[n], tasks))
                    rows[f"cli{n}"].append(cli_seconds(spec_file, n, tmp))
        finally:
            for cluster in clusters.values():
                cluster.close()
            for pool in pools.values():
                pool.shutdown()
        best = {key: min(v) for key, v in rows.items()}
        paired = {w: np.median(np.array(rows[f"{w}1"]) / np.array(rows[f"{w}2"]))
                  for w in ("dask", "pool", "cli")}
        dask, pool, cli = (paired[w] for w in ("dask", "pool", "cli"))
        print(f"24-point simulation sweep (BP, D = 500, t = 300, 4 seeds), {args.rounds} "
              f"interleaved rounds, 1 worker vs 2 (best times; the ratio is the median of the "
              f"rounds' ratios):")
        print(f"  (a) sweep on started LocalClusters: {best['dask1']:.1f} s vs "
              f"{best['dask2']:.1f} s, ratio {dask:.2f}")
        print(f"  (b) python -m sweep --jobs 1 / --jobs 2, fresh processes: {best['cli1']:.1f} s vs "
              f"{best['cli2']:.1f} s, ratio {cli:.2f}")
        print(f"  (c) the same 24 tasks on a plain process pool (the host's ceiling): "
              f"{best['pool1']:.1f} s vs {best['pool2']:.1f} s, ratio {pool:.2f}")
        print(f"  parallel efficiency of the sweep layer, (a)/(c): {dask / pool:.2f}")
        print(f"  (a) in work units: the workers were busy (task seconds / (workers x wall)) "
              f"{min(busy[1]):.2f}-{max(busy[1]):.2f} of the time on 1 worker, "
              f"{min(busy[2]):.2f}-{max(busy[2]):.2f} on 2; the tasks' own seconds were "
              f"{min(work[2]) / min(work[1]):.2f}x longer (best vs best) when two ran at once; "
              f"2 x busy(2) / busy(1) = {2 * np.median(busy[2]) / np.median(busy[1]):.2f}")
        print("  all rounds (s): " + "; ".join(f"{k} " + ", ".join(f"{x:.1f}" for x in v)
                                              for k, v in rows.items()))

        if args.scaling_only:
            return
        wall, compute, s = timed(ode_grid(1000), 2, tmp)
        print(f"1000-point ODE sweep (BP, K = M = 2, t = 1e3) on 2 workers: {wall:.1f} s wall "
              f"({compute:.1f} s in the tasks)")
        if not args.skip_memory:
            small, large = peak_memory(250, tmp), peak_memory(1000, tmp)
            print(f"driver peak RSS: {small:.0f} MiB at 250 points, {large:.0f} MiB at 1000 points "
                  f"(ratio {large / small:.3f})")


if __name__ == "__main__":
    main()
