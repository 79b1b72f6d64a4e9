"""sweep: specs and their refusals, the dataset against direct runs of odes and simulate, the
backends (in-process, LocalCluster, a scheduler and workers started here on the loopback), a
worker and the driver killed mid-sweep, a truncated task file, the plots."""
import json
import os
import signal
import subprocess
import sys
import time

import math

import numpy as np
import pytest

import odes
import simulate
import sweep
from sweep.cli import main as sweep_main

pytestmark = pytest.mark.filterwarnings("ignore:Consolidated metadata")

SIM = dict(kind="sim", rule="afa", K=2, M=2, D=200, t_max=20.0, seeds=2, block=1,
           grid=dict(eta=[0.1, 0.3], phi_F=[0.05, 0.5]))
# tasks of ~0.4 s each, so that a kill lands while work remains
SLOW = dict(kind="sim", rule="bp", D=1000, t_max=100.0, seeds=1,
            grid=dict(eta=[0.1, 0.2, 0.3, 0.4], sigma=[0.0, 0.2]))


def write_spec(path, d):
    lines = []
    for k, v in d.items():
        if k != "grid":
            lines.append(f"{k} = {json.dumps(v)}")
    lines.append("[grid]")
    lines += [f"{k} = {json.dumps(v)}" for k, v in d["grid"].items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def same(a, b):
    """Two sweep datasets hold identical numbers (attributes and chunking aside)."""
    a, b = a.load(), b.load()
    assert list(a.dims) == list(b.dims) and set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        x, y = a[name].values, b[name].values
        assert x.shape == y.shape, name
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), name
        else:
            assert np.array_equal(x, y), name
    return True


@pytest.fixture(scope="module")
def sim_ref(tmp_path_factory):
    return sweep.run(SIM, tmp_path_factory.mktemp("ref") / "s", jobs=1, progress=False).load()


@pytest.fixture(scope="module")
def slow_ref(tmp_path_factory):
    return sweep.run(SLOW, tmp_path_factory.mktemp("slow") / "s", jobs=1, progress=False).load()


# ---- the dataset against direct runs ----------------------------------------------------------

def test_ode_sweep_matches_direct_integrations(tmp_path):
    spec = dict(kind="ode", rule="pepita-lin", K=2, M=3, D=400, t_max=50.0, seeds=2, seed=5,
                eta_v=0.02, weight_decay=0.01, train_v=False,
                grid=dict(eta=[0.05, 0.2], sigma=[0.0, 0.3], phi_F=[0.02, 0.4]))
    ds = sweep.run(spec, tmp_path / "s", jobs=1, progress=False)
    assert list(ds.eps_g.dims) == ["eta", "sigma", "phi_F", "seed", "t"]
    assert list(ds.seed.values) == [5, 6] and ds.t.values[0] == 0 and ds.t.values[-1] == 50
    for eta, sigma, phi_F, seed in [(0.05, 0.0, 0.02, 5), (0.2, 0.3, 0.4, 6), (0.2, 0.0, 0.4, 5)]:
        st = odes.State.random(2, 3, 400, seed, sigma_F=np.sqrt(phi_F / 400), train_v=False)
        res = odes.integrate(st, "pepita-lin", eta, times=ds.t.values, eta_v=0.02, sigma=sigma,
                             train_v=False, weight_decay=0.01)
        point = ds.sel(eta=eta, sigma=sigma, phi_F=phi_F, seed=seed)
        np.testing.assert_array_equal(point.eps_g.values, res.eps_g)
        np.testing.assert_array_equal(point.Q.values, res.Q)
        np.testing.assert_array_equal(point.R.values, res.R)
        np.testing.assert_array_equal(point.a.values, res.a)
        np.testing.assert_array_equal(point.theta_net.values, res.angles["net"])
    assert set(np.unique(ds.status.values)) == {"finished"}


def test_sim_sweep_matches_direct_runs(sim_ref):
    ds = sim_ref
    assert list(ds.Q.dims) == ["eta", "phi_F", "seed", "t", "k", "l"]
    for eta, phi_F in [(0.1, 0.05), (0.3, 0.5)]:
        sim = simulate.run("afa", 2, 2, 200, eta, times=ds.t.values, seeds=2, seed=0, jobs=1,
                           sigma_F=np.sqrt(phi_F / 200))
        point = ds.sel(eta=eta, phi_F=phi_F)
        np.testing.assert_array_equal(point.eps_g.values, sim.eps_g)
        np.testing.assert_array_equal(point.a.values, sim.a)
        np.testing.assert_array_equal(point.v.values, sim.v)
        np.testing.assert_array_equal(point.theta_a_v.values, sim.angles["a_v"])


def test_compare_sweep_has_the_ode_line_and_the_paired_deviation(tmp_path):
    spec = dict(kind="compare", rule="fa", D=300, t_max=10.0, seeds=3, block=2, sigma=0.2,
                eta_v=0.3, grid=dict(eta=[0.2, 0.5]))
    ds = sweep.run(spec, tmp_path / "s", jobs=1, progress=False)
    cmp = simulate.compare("fa", 2, 2, 300, 0.5, times=ds.t.values, seeds=3, jobs=1, sigma=0.2,
                           eta_v=0.3)
    point = ds.sel(eta=0.5)
    np.testing.assert_array_equal(point.eps_g.values, cmp.get("eps_g"))
    np.testing.assert_array_equal(point.eps_g_ode.values, cmp.get("eps_g", "ode"))
    np.testing.assert_array_equal(point.theta_b_v_ode.values, cmp.get("b_v", "ode"))
    np.testing.assert_array_equal(point.eps_g_dev.values,
                                  cmp.get("eps_g") - cmp.get("eps_g", "ode"))
    assert set(np.unique(ds.status_ode.values)) == {"finished"}


def test_a_diverged_point_is_data(tmp_path):
    spec = dict(kind="sim", rule="pepita", D=500, eta=0.05, t_max=100.0, seeds=2,
                grid=dict(phi_F=[0.01, 500.0]))
    ds = sweep.run(spec, tmp_path / "s", jobs=1, progress=False)
    assert list(ds.status.sel(phi_F=0.01).values) == ["finished"] * 2
    assert list(ds.status.sel(phi_F=500.0).values) == ["diverged"] * 2
    t_div = ds.t_diverged.sel(phi_F=500.0).values
    assert np.all((t_div > 0) & (t_div < 100))
    eps = ds.eps_g.sel(phi_F=500.0, seed=0).values
    assert np.isnan(eps[-1]) and np.isfinite(eps[0])
    assert np.all(np.isnan(ds.t_diverged.sel(phi_F=0.01).values))
    assert "1 diverged (2 seeds)" in ds.attrs["summary"]


def test_a_diverged_ode_point_is_data(tmp_path):
    """The ODE of pepita-lin blows up at a huge |F|^2: status 'diverged' at that point only,
    with the values up to then."""
    spec = dict(kind="ode", rule="pepita-lin", D=500, eta=0.5, t_max=100.0, seeds=1,
                grid=dict(phi_F=[0.01, 500.0]))
    ds = sweep.run(spec, tmp_path / "s", jobs=1, progress=False)
    assert list(ds.status.values[:, 0]) == ["finished", "diverged"]
    t_div = float(ds.t_diverged.sel(phi_F=500.0, seed=0))
    assert 0 < t_div < 100 and np.isnan(float(ds.t_diverged.sel(phi_F=0.01, seed=0)))
    eps = ds.eps_g.sel(phi_F=500.0, seed=0).values
    assert np.isfinite(eps[0]) and np.isnan(eps[-1])


def test_test_error_and_activation_reach_the_runs(tmp_path):
    """n_test and activation are handed to each task: the sweep's eps_test and eps_g equal a
    direct simulate.run with them."""
    spec = dict(kind="sim", rule="bp", D=100, eta=0.5, t_max=5.0, seeds=2, n_test=200,
                grid=dict(activation=["erf", "relu"]))
    ds = sweep.run(spec, tmp_path / "s", jobs=1, progress=False)
    for act in ("erf", "relu"):
        sim = simulate.run("bp", 2, 2, 100, 0.5, times=ds.t.values, seeds=2, jobs=1, n_test=200,
                           activation=act)
        np.testing.assert_array_equal(ds.eps_test.sel(activation=act).values, sim.eps_test)
        np.testing.assert_array_equal(ds.eps_g.sel(activation=act).values, sim.eps_g)


def test_mirroring_reaches_the_runs(tmp_path):
    """The weight-mirroring keys reach both halves of a compare sweep (mirror_eta a grid axis):
    its eps_g, p and phi_F (which F's moving gives a time axis; NaN where F is fixed) equal a
    direct simulate.compare, and the ODE line its own."""
    spec = dict(kind="compare", rule="pepita-lin", D=100, eta=0.1, t_max=2.0, seeds=2, phi_F=0.5,
                mirror_batch=2, mirror_decay=0.5, grid=dict(mirror_eta=[0.0, 0.5]))
    ds = sweep.run(spec, tmp_path / "s", jobs=1, progress=False)
    cmp = simulate.compare("pepita-lin", 2, 2, 100, 0.1, times=ds.t.values, seeds=2, jobs=1,
                           sigma_F=math.sqrt(0.5 / 100), mirror_eta=0.5, mirror_batch=2,
                           mirror_decay=0.5, progress=False)
    at = ds.sel(mirror_eta=0.5)
    np.testing.assert_array_equal(at.eps_g.values, cmp.sim.eps_g)
    np.testing.assert_array_equal(at.phi_F.values, cmp.sim.phi_F)
    np.testing.assert_array_equal(at.p.values, cmp.sim.p)
    np.testing.assert_allclose(at.eps_g_ode.values, cmp.get("eps_g", "ode"), rtol=1e-12)
    assert np.isnan(ds.phi_F.sel(mirror_eta=0.0).values).all()


def test_blocking_and_seed_numbers_do_not_change_the_numbers(tmp_path, sim_ref):
    spec = dict(SIM, block=2)
    same(sweep.run(spec, tmp_path / "b2", jobs=1, progress=False), sim_ref)
    # a sweep of one point, seeds 1.. reproduces seed index 1 of the reference
    one = sweep.run(dict(SIM, seed=1, seeds=1, grid=dict(eta=[0.3], phi_F=[0.05])),
                    tmp_path / "one", jobs=1, progress=False)
    np.testing.assert_array_equal(one.eps_g.values[0, 0, 0],
                                  sim_ref.eps_g.sel(eta=0.3, phi_F=0.05, seed=1).values)


def test_a_given_state_is_realised_with_each_seed_number(tmp_path):
    """With `state`, seed number s starts from realise(state, D, seed=s), in every block: seeds
    2 and 3 (the second block) equal a direct run from those weights.  At t = 0 every realisation
    has the state's order parameters, so the check is at t > 0."""
    state = odes.State.random(2, 2, 100, seed=7)
    state.to_json(tmp_path / "ic.json")
    spec = dict(kind="sim", rule="bp", D=100, eta=0.5, t_max=2.0, seeds=4, block=2,
                sigma=0.1, state=str(tmp_path / "ic.json"))
    ds = sweep.run(spec, tmp_path / "s", jobs=1, progress=False)
    seeds = [2, 3]
    sim = simulate.run("bp", 2, 2, 100, 0.5, times=ds.t.values, seeds=seeds, jobs=1, sigma=0.1,
                       weights=[odes.realise(state, 100, seed=s, b=state.b) for s in seeds])
    assert ds.t.values[-1] == 2.0
    np.testing.assert_array_equal(ds.Q.sel(seed=seeds).values, sim.Q)
    np.testing.assert_array_equal(ds.R.sel(seed=seeds).values, sim.R)


# ---- backends ---------------------------------------------------------------------------------

def test_local_cluster_gives_identical_numbers(tmp_path, sim_ref):
    ds, summary = sweep.execute(SIM, tmp_path / "s", jobs=2, progress=False)
    same(ds, sim_ref)
    assert summary.computed == 8 and summary.found == 0 and not summary.failed
    assert "(0 tasks from the store, 8 computed)" in ds.attrs["summary"]


class LoopbackCluster:
    """A dask scheduler and `n` workers (no nanny) started as subprocesses on 127.0.0.1."""

    def __init__(self, tmp_path, n=2):
        self.file = tmp_path / "scheduler.json"
        base = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
        self.scheduler = subprocess.Popen(base + ["--host", "127.0.0.1", "--port", "0",
                                                  "--no-dashboard", "--scheduler-file",
                                                  str(self.file)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait(lambda: self.file.exists() and self.file.stat().st_size > 0, "scheduler")
        self.address = json.loads(self.file.read_text())["address"]
        self.workers = [subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
             str(self.file), "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host",
             "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(n)]
        from distributed import Client
        with Client(self.address, timeout="30s") as c:
            c.wait_for_workers(n, timeout=60)

    @staticmethod
    def _wait(ready, what, timeout=60):
        end = time.time() + timeout
        while not ready():
            if time.time() > end:
                raise TimeoutError(f"{what} did not start in {timeout} s")
            time.sleep(0.1)

    def close(self):
        for p in self.workers + [self.scheduler]:
            if p.poll() is None:
                p.terminate()
        for p in self.workers + [self.scheduler]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def loopback(tmp_path):
    cluster = LoopbackCluster(tmp_path)
    yield cluster
    cluster.close()


def test_scheduler_address_and_a_killed_worker(tmp_path, loopback, slow_ref):
    """A run on a scheduler started here; one worker SIGKILLed once the first task is written:
    the sweep finishes on the other worker with the same numbers as the undisturbed run."""
    import threading
    out = tmp_path / "s"
    box = {}
    thread = threading.Thread(target=lambda: box.update(
        ds=sweep.run(SLOW, out, scheduler=loopback.address, progress=False).load()))
    thread.start()
    LoopbackCluster._wait(lambda: len(list((out / "tasks").glob("*.npz"))) >= 1, "first task", 120)
    left = 8 - len(list((out / "tasks").glob("*.npz")))
    os.kill(loopback.workers[0].pid, signal.SIGKILL)
    thread.join(timeout=300)
    assert left >= 3, "the kill came too late to test anything"
    assert loopback.workers[0].wait(timeout=10) == -signal.SIGKILL
    same(box["ds"], slow_ref)
    assert len(list((out / "tasks").glob("*.npz"))) == 8


def test_driver_killed_then_resumed(tmp_path, slow_ref):
    spec = write_spec(tmp_path / "slow.toml", SLOW)
    out = tmp_path / "s"
    cmd = [sys.executable, "-m", "sweep", str(spec), "--out", str(out), "--jobs", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    LoopbackCluster._wait(lambda: len(list((out / "tasks").glob("*.npz"))) >= 2, "two tasks", 120)
    proc.kill()
    proc.wait()
    before = {p.name: p.read_bytes() for p in (out / "tasks").glob("*.npz")}
    assert 2 <= len(before) < 8 and not (out / "sweep.zarr").exists()
    partial = sweep.open(out)           # a killed sweep can be looked at: the rest is missing
    assert (partial.status == "missing").sum() == 8 - len(before)
    ds, summary = sweep.execute(spec, out, jobs=1, resume=True, progress=False)
    assert summary.found == len(before) and summary.computed == 8 - len(before)
    after = {p.name: p.read_bytes() for p in (out / "tasks").glob("*.npz")}
    assert len(after) == 8 and all(after[name] == data for name, data in before.items())
    same(ds, slow_ref)
    same(sweep.open(out), slow_ref)


def test_a_truncated_task_file_is_recomputed(tmp_path, sim_ref):
    out = tmp_path / "s"
    sweep.run(SIM, out, jobs=1, progress=False)
    victim = sorted((out / "tasks").glob("*.npz"))[3]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    ds, summary = sweep.execute(SIM, out, jobs=1, resume=True, progress=False)
    assert summary.found == 7 and summary.computed == 1
    assert victim.read_bytes() != data[: len(data) // 2]
    same(ds, sim_ref)


# ---- refusals ---------------------------------------------------------------------------------

BAD = [
    (dict(etaa=0.1), "unknown key 'etaa'"),
    (dict(grid=dict(eta=[])), "grid.eta: empty list"),
    (dict(grid=dict(eta=0.1)), "grid.eta: expected a list"),
    (dict(grid=dict(eta=[0.1, 0.1])), "grid.eta: repeated"),
    (dict(grid=dict(eta=[0.1, -1.0])), "eta: expected a finite number >= 0, got -1.0 (grid point eta=-1.0"),
    (dict(kind="theory"), "kind: expected one of"),
    (dict(rule="backprop"), "rule: unknown rule 'backprop'"),
    (dict(K=0), "K: expected an integer >= 1"),
    (dict(seeds=0), "seeds: expected an integer >= 1"),
    (dict(grid=dict(t_max=[1, 2])), "grid.t_max: t_max cannot be a grid axis"),
    (dict(sigma_F=0.01), "phi_F, sigma_F: give one"),
    (dict(D=10, times=[0.0, 0.01, 0.02]), "times: two output times fall on the same step at D = 10"),
    (dict(nodes=8), "nodes: quadrature nodes are for the exact-PEPITA ODE"),
    (dict(init="huge"), "init: unknown init 'huge'"),
    (dict(kind="ode", method="rk5"), "method: unknown method 'rk5'"),
    (dict(kind="compare", also=["fa"]), "also: the fa ODE needs b"),
    (dict(train_v="yes"), "train_v: expected true or false"),
    (dict(kind="ode", n_test=100), "n_test: the Monte-Carlo test error is for simulations"),
    (dict(grid=dict(eta=[0.1], D=[100, 200])), "D: given both as a value and under [grid]"),
    (dict(rule="fa", mirror_eta=0.5), "mirror_eta: weight mirroring needs a rule with F"),
    (dict(mirror_batch=0), "mirror_batch must be an integer >= 1"),
    (dict(mirror_fixed_norm="yes"), "mirror_fixed_norm: expected true or false"),
    (dict(ff_theta=1.0), "ff_theta and ff_positive are options of the rule ff"),
]


@pytest.mark.parametrize("change, message", BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_specs_are_refused_before_anything_is_written(tmp_path, capsys, change, message):
    d = dict(kind="sim", rule="afa", D=100, t_max=5.0, seeds=1, phi_F=0.1, grid=dict(eta=[0.1]))
    grid = change.pop("grid", None)
    d.update(change)
    if grid is not None:
        d["grid"] = grid
    if "times" in d:
        del d["t_max"]
    spec = write_spec(tmp_path / "bad.toml", d)
    out = tmp_path / "out"
    assert sweep_main([str(spec), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    # the grid point is named only when the grid axis (eta) is what is wrong
    assert ("(grid point" in err) == (message.split(":")[0] == "eta"), err
    assert not out.exists()


def test_stores_are_not_mixed(tmp_path, capsys):
    """A store is created with its parent directories (--out runs/x on a fresh clone); a second
    run into it needs --resume, and --resume refuses a different spec; a missing spec writes
    nothing."""
    d = dict(kind="ode", rule="bp", t_max=5.0, seeds=1, grid=dict(eta=[0.1, 0.2]))
    out = tmp_path / "runs" / "s"
    assert sweep_main([str(write_spec(tmp_path / "a.toml", d)), "--out", str(out), "--quiet",
                       "--jobs", "1"]) == 0
    files = sorted(p.name for p in (out / "tasks").iterdir())
    assert sweep_main([str(write_spec(tmp_path / "a.toml", d)), "--out", str(out)]) == 2
    assert "already holds a sweep; pass --resume" in capsys.readouterr().err
    d["grid"]["eta"] = [0.1, 0.3]
    assert sweep_main([str(write_spec(tmp_path / "b.toml", d)), "--out", str(out),
                       "--resume"]) == 2
    assert "different spec (differs in grid)" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "tasks").iterdir()) == files
    assert sweep_main([str(tmp_path / "missing.toml"), "--out", str(tmp_path / "x")]) == 2
    assert "cannot read spec" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_cluster_table_reaches_the_batch_script():
    """dask-jobqueue gets the [cluster] table: the SLURM script asks for what the spec says (no
    job is submitted: zero jobs)."""
    from sweep.execute import jobqueue_cluster
    cluster = jobqueue_cluster("slurm", 0, dict(cores=4, memory="8GB", walltime="02:30:00",
                                               queue="short", scheduler_options=dict(host="127.0.0.1")))
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p short" in script and "#SBATCH -t 02:30:00" in script
    assert "#SBATCH --cpus-per-task=4" in script and "#SBATCH --mem=8G" in script
    assert "--nthreads 1 " in script and "--nworkers 4" in script      # one process per core
    with pytest.raises(sweep.SpecError, match="cluster: "):
        jobqueue_cluster("slurm", 0, dict(cores=4, memory="8GB", colour="red"))


# ---- plots ------------------------------------------------------------------------------------

def test_heatmap_and_lines(tmp_path, sim_ref):
    import matplotlib
    matplotlib.use("Agg")
    ax = sweep.plot.heatmap(sim_ref, "eta", "phi_F", "eps_g", at_t=10, path=tmp_path / "h.png")
    mesh = ax.collections[0].get_array().reshape(2, 2)
    t = sim_ref.t.values[np.argmin(np.abs(sim_ref.t.values - 10))]
    direct = sim_ref.eps_g.sel(t=t).values.mean(axis=2)          # (eta, phi_F), seeds averaged
    np.testing.assert_allclose(mesh, direct.T, rtol=1e-12)
    assert (tmp_path / "h.png").stat().st_size > 5000
    ax = sweep.plot.lines(sim_ref, "eta", "eps_g", hue="phi_F", path=tmp_path / "l.png")
    x = sim_ref.eps_g.isel(t=-1).sel(phi_F=0.5).values
    line = ax.containers[1]                                       # the second hue's error bars
    np.testing.assert_allclose(line.lines[0].get_ydata(), x.mean(axis=1), rtol=1e-12)
    seg = line.lines[2][0].get_segments()
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in seg],
                               2 * x.std(axis=1, ddof=1) / np.sqrt(2), rtol=1e-9)
    with pytest.raises(ValueError, match="select the other axes first"):
        sweep.plot.lines(sim_ref, "eta", "eps_g")
    # an axis of rule names is labelled by them
    rules = sweep.run(dict(kind="ode", eta=0.1, t_max=2.0, seeds=2, phi_F=0.1,
                           grid=dict(rule=["afa", "pepita-lin"], sigma=[0.0, 0.2])),
                      tmp_path / "r", jobs=1, progress=False)
    ax = sweep.plot.heatmap(rules, "rule", "sigma", "eps_g")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["afa", "pepita-lin"]


def test_consolidated_store_equals_the_task_files(tmp_path, monkeypatch):
    """sweep.zarr, written chunk by chunk (here 3 points per chunk along the last axis, so the
    last chunk is partial), holds exactly what the task files hold."""
    from sweep.store import Store
    monkeypatch.setattr(Store, "PIECE", 3)
    spec = dict(kind="ode", rule="afa", t_max=5.0, seeds=3, block=2, phi_F=0.1,
                grid=dict(K=[1, 2], eta=[0.1, 0.2, 0.3, 0.4]))
    out = tmp_path / "s"
    ds = sweep.run(spec, out, jobs=1, progress=False)
    assert (out / "sweep.zarr").exists()
    from_files = Store.open(out).dataset()
    same(ds, from_files)
    assert np.isnan(ds.Q.sel(K=1).values[..., 1, :]).all()      # K = 1 padded to the k of K = 2
    assert np.isfinite(ds.Q.sel(K=2).values).all()
