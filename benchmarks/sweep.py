"""Speed and memory of the sweep layer (a script, not a test): ``python benchmarks/sweep.py``.

Prints:
* the overhead per task of the sweep machinery (spec, store, task files, consolidation, Dask),
  on 200 tiny ODE tasks: wall time minus the tasks' own compute time (recorded in each task
  file), per task, in-process (--jobs 1) and on a 2-worker LocalCluster (its start-up, timed
  separately in the same run, subtracted);
* the 24-point simulation sweep of the issue (BP, D = 500, t = 300, 4 seeds per point): wall
  time on 1 worker and on 2, interleaved rounds, and their ratio;
* a 1000-point ODE sweep (K = M = 2, t = 10^3) on 2 workers, wall time;
* the driver's peak resident memory (ru_maxrss of a child process that runs the sweep on a
  2-worker LocalCluster) for 250 and 1000 ODE points.
Targets: overhead <= 20 ms per task; 2 workers >= 1.8x one; 1000 ODE points < 60 s; the driver's
peak memory independent of the number of points.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import numpy as np  # noqa: E402

import sweep  # noqa: E402

TINY = dict(kind="ode", rule="bp", times=[0.0, 0.01], seeds=1, method="rk4")
SIM24 = dict(kind="sim", rule="bp", K=2, M=2, D=500, t_max=300.0, seeds=4,
             grid=dict(eta=[0.1, 0.2, 0.3, 0.5, 0.7, 1.0], sigma=[0.0, 0.1, 0.2, 0.3]))


def ode_grid(n):
    """n = a x b ODE points (BP, K = M = 2, t = 10^3) over eta and sigma."""
    a = 25
    return dict(kind="ode", rule="bp", K=2, M=2, t_max=1e3, seeds=1,
                grid=dict(eta=[round(float(x), 4) for x in np.linspace(0.1, 1.0, a)],
                          sigma=[round(float(x), 4) for x in np.linspace(0.0, 0.5, n // a)]))


def timed(spec, jobs, tmp):
    out = tempfile.mkdtemp(dir=tmp)
    t0 = time.perf_counter()
    ds, summary = sweep.execute(spec, f"{out}/s", jobs=jobs, progress=False)
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
    args = ap.parse_args(argv)
    print(f"# machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        tiny = dict(TINY, grid=dict(eta=[round(float(x), 3) for x in np.linspace(0.1, 1.0, 20)],
                                    sigma=[round(float(x), 3) for x in np.linspace(0.0, 0.9, 10)]))
        timed(dict(tiny, grid=dict(eta=[0.1])), 1, tmp)                  # compile / load caches
        wall, compute, s = timed(tiny, 1, tmp)
        print(f"overhead per task, in-process: {(wall - compute) / s.n_tasks * 1e3:.1f} ms "
              f"({s.n_tasks} tasks, {wall:.2f} s wall, {compute:.2f} s in the tasks)")
        start = cluster_startup(2)
        wall, compute, s = timed(tiny, 2, tmp)
        print(f"overhead per task, LocalCluster of 2: "
              f"{(wall - start - compute / 2) / s.n_tasks * 1e3:.1f} ms (start-up {start:.1f} s "
              f"subtracted; {wall:.2f} s wall)")

        one, two, cli1, cli2 = [], [], [], []
        spec_file = os.path.join(tmp, "sim24.toml")
        with open(spec_file, "w") as fh:
            fh.write("\n".join(f"{k} = {json.dumps(v)}" for k, v in SIM24.items() if k != "grid")
                     + "\n[grid]\n"
                     + "\n".join(f"{k} = {json.dumps(v)}" for k, v in SIM24["grid"].items()) + "\n")
        for _ in range(args.rounds):
            one.append(timed(SIM24, 1, tmp)[0])
            two.append(timed(SIM24, 2, tmp)[0])
            cli1.append(cli_seconds(spec_file, 1, tmp))
            cli2.append(cli_seconds(spec_file, 2, tmp))
        print(f"24-point simulation sweep (BP, D = 500, t = 300, 4 seeds), best of "
              f"{args.rounds} interleaved rounds:")
        print(f"  in this process: 1 worker {min(one):.1f} s, 2 workers {min(two):.1f} s "
              f"(LocalCluster start-up included); ratio {min(one) / min(two):.2f}")
        print(f"  python -m sweep (a fresh process each, imports included): --jobs 1 "
              f"{min(cli1):.1f} s, --jobs 2 {min(cli2):.1f} s; ratio {min(cli1) / min(cli2):.2f}")

        wall, compute, s = timed(ode_grid(1000), 2, tmp)
        print(f"1000-point ODE sweep (BP, K = M = 2, t = 1e3) on 2 workers: {wall:.1f} s wall "
              f"({compute:.1f} s in the tasks)")
        if not args.skip_memory:
            small, large = peak_memory(250, tmp), peak_memory(1000, tmp)
            print(f"driver peak RSS: {small:.0f} MiB at 250 points, {large:.0f} MiB at 1000 points "
                  f"(ratio {large / small:.3f})")


if __name__ == "__main__":
    main()
