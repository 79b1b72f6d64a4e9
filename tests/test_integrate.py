"""Integrators: order of RK4 and Euler, exact output times, scipy, early stop, divergence, I/O."""
import json

import numpy as np
import pytest

import odes
import simulate
from conftest import random_state


@pytest.fixture
def state():
    return odes.State.random(2, 2, 200, seed=3)


def final_R(state, method, dt, t=5.0):
    return odes.integrate(state, "bp", 0.5, times=[0, t], method=method, dt=dt).R[-1]


def test_rk4_is_fourth_order(state):
    ref = final_R(state, "rk4", 0.0125)
    errs = [np.abs(final_R(state, "rk4", dt) - ref).max() for dt in (0.2, 0.1)]
    ratio = errs[0] / errs[1]
    assert 13 < ratio < 19, f"halving dt shrank the RK4 error {ratio:.1f}-fold, expected ~16"


def test_euler_is_first_order(state):
    ref = final_R(state, "rk4", 0.01)
    errs = [np.abs(final_R(state, "euler", dt) - ref).max() for dt in (0.02, 0.01)]
    assert 1.8 < errs[0] / errs[1] < 2.2


def test_scipy_agrees_with_rk4(state):
    times = [0, 0.5, 3, 20]
    a = odes.integrate(state, "fa", 0.5, times=times, method="rk4", dt=0.01)
    b = odes.integrate(state, "fa", 0.5, times=times, method="scipy-LSODA", rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.Q, b.Q, atol=1e-7)
    np.testing.assert_allclose(a.eps_g, b.eps_g, atol=1e-7)


def test_output_times_are_exact_and_off_grid_times_do_not_disturb_the_grid(state):
    on = odes.integrate(state, "bp", 0.5, times=[0, 1.0, 2.0], method="rk4", dt=0.1)
    off = odes.integrate(state, "bp", 0.5, times=[0, 0.333, 1.0, 1.777, 2.0], method="rk4",
                          dt=0.1)
    np.testing.assert_array_equal(off.t, [0, 0.333, 1.0, 1.777, 2.0])
    np.testing.assert_array_equal(on.Q[1:], off.Q[[2, 4]])          # grid trajectory unchanged
    # the off-grid output is the grid state advanced by the remainder: close to a fine solution
    fine = odes.integrate(state, "bp", 0.5, times=[0, 0.333], method="rk4", dt=0.001)
    np.testing.assert_allclose(off.Q[1], fine.Q[1], atol=1e-7)


def test_default_times_are_log_spaced_multiples_of_dt():
    t = odes.default_times(1000, dt=0.01, n=60)
    assert t[0] == 0 and t[-1] == 1000 and len(t) <= 61
    steps = t[1:] / 0.01
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)
    assert np.all(np.diff(t) > 0)


def test_integer_grid_has_no_float_drift():
    s = odes.State(Q=np.eye(1), R=np.zeros((1, 1)), T=np.eye(1), v=np.ones(1), v_star=np.ones(1))
    res = odes.integrate(s, "bp", 0.1, times=[0, 1000.0], method="rk4", dt=0.1)
    assert res.t[-1] == 1000.0 and res.status == "finished"


def test_stop_eps_stops_early_only_when_asked(state):
    full = odes.integrate(state, "bp", 0.5, t_max=200)
    stop = odes.integrate(state, "bp", 0.5, t_max=200, stop_eps=0.5 * full.eps_g[0])
    assert stop.status == "stopped" and len(stop.t) < len(full.t)
    assert stop.eps_g[-1] < 0.5 * full.eps_g[0] <= stop.eps_g[-2]
    assert full.status == "finished" and full.t[-1] == 200
    via_scipy = odes.integrate(state, "bp", 0.5, t_max=200, stop_eps=0.5 * full.eps_g[0],
                               method="scipy-LSODA")
    assert via_scipy.status == "stopped" and via_scipy.eps_g[-1] < 0.5 * full.eps_g[0] <= via_scipy.eps_g[-2]


def test_divergence_raises_with_time_and_quantity():
    s = odes.State.random(2, 2, 500, seed=0, sigma_F=1.0)          # |F|^2 ~ D: amplified AF vector
    with pytest.raises(odes.IntegrationError, match=r"diverged at t ~ [0-9.]+: (Q|R|v|a)\[") as err:
        odes.integrate(s, "pepita-lin", 0.5, t_max=100)
    partial = err.value.result
    assert partial.status == "diverged" and np.all(np.isfinite(partial.Q))


@pytest.mark.parametrize("rule", ["bp", "fa", "afa", "pepita-lin"])
def test_save_load_round_trip(tmp_path, rule, rng):
    s = random_state(2, 3, rng)
    s = odes.State(**{**s.to_dict(), "a": 0.3 * s.a, "p": 0.3 * s.p})
    res = odes.integrate(s, rule, 0.2, t_max=5, eta_v=0.1, sigma=0.05)
    path = res.save(tmp_path / "run.npz")
    back = odes.Result.load(path)
    for name in ("t", "eps_g", "Q", "R", "v"):
        np.testing.assert_array_equal(getattr(back, name), getattr(res, name))
    if res.feedback_name:
        np.testing.assert_array_equal(getattr(back, res.feedback_name), getattr(res, res.feedback_name))
    for k in res.angles:
        np.testing.assert_array_equal(back.angles[k], res.angles[k])
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["params"]["eta_v"] == 0.1 and meta["params"]["rule"] == rule
    assert meta["params"]["initial_state"]["Q"] == s.Q.tolist()
    csv = res.to_csv(tmp_path / "run.csv")
    header = csv.read_text().splitlines()[0].split(",")
    data = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert header[:2] == ["t", "eps_g"] and data.shape == (len(res.t), len(header))
    np.testing.assert_allclose(data[:, 1], res.eps_g, rtol=1e-9)
    col = {name: data[:, i] for i, name in enumerate(header)}
    for k, l in np.ndindex(2, 2):
        np.testing.assert_allclose(col[f"Q_{k}_{l}"], res.Q[:, k, l], rtol=1e-9)
    for k, m in np.ndindex(2, 3):
        np.testing.assert_allclose(col[f"R_{k}_{m}"], res.R[:, k, m], rtol=1e-9)
    np.testing.assert_allclose(col["v_1"], res.v[:, 1], rtol=1e-9)


def test_status_and_work_survive_save_and_load(tmp_path, state):
    full = odes.integrate(state, "bp", 0.5, t_max=200)
    stop = odes.integrate(state, "bp", 0.5, t_max=200, stop_eps=0.5 * full.eps_g[0])
    back = odes.Result.load(stop.save(tmp_path / "stop.npz"))
    assert back.status == "stopped" and back.message == stop.message
    assert json.loads((tmp_path / "stop.json").read_text())["status"] == "stopped"
    assert back.stats == stop.stats and back.stats["n_steps"] < full.stats["n_steps"]


def test_bad_arguments(state):
    with pytest.raises(ValueError, match="eta"):
        odes.integrate(state, "bp", -0.1, t_max=1)
    with pytest.raises(ValueError, match="unknown rule"):
        odes.integrate(state, "sgd", 0.1, t_max=1)
    with pytest.raises(ValueError, match="method"):
        odes.integrate(state, "bp", 0.1, t_max=1, method="rk5")
    with pytest.raises(ValueError, match="increasing"):
        odes.integrate(state, "bp", 0.1, times=[0, 2, 1])
    with pytest.raises(ValueError, match="dt"):
        odes.integrate(state, "bp", 0.1, t_max=1, dt=0)
    s = odes.State(Q=state.Q, R=state.R, T=state.T, v=state.v, v_star=state.v_star)
    with pytest.raises(odes.StateError, match="b: rule 'fa' needs"):
        odes.integrate(s, "fa", 0.1, t_max=1)


def test_outputs_are_written_atomically(tmp_path, state):
    """A write interrupted half-way leaves the old file, and no temporary file, behind."""
    from odes.io import atomic_write
    target = tmp_path / "run.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("half of a new fi")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]
    res = odes.integrate(state, "bp", 0.5, t_max=2)
    res.save(tmp_path / "run.npz")
    res.to_csv(target)
    state.to_json(tmp_path / "ic.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ic.json", "run.csv", "run.json", "run.npz"]
    assert odes.State.from_json(tmp_path / "ic.json").to_dict() == state.to_dict()
    res.params["bad"] = object()                      # not JSON: refused before anything is written
    with pytest.raises(TypeError):
        res.save(tmp_path / "run.npz")
    assert odes.Result.load(tmp_path / "run.npz").params == {k: v for k, v in res.params.items()
                                                            if k != "bad"}


@pytest.mark.parametrize("rule, activation", [("bp", "erf"), ("bp", "linear"), ("pepita", "erf")])
def test_weight_decay_leaves_a_frozen_second_layer_alone(state, rule, activation):
    """train_v=False with kappa > 0: w decays, v does not (theory.md 8.1) -- in the closed forms
    (erf, linear) and the quadrature (exact PEPITA), as in the simulator at D = 300."""
    kw = dict(train_v=False, weight_decay=0.5, activation=activation, progress=False)
    assert np.all(odes.derivatives(state, rule, 0.5, train_v=False, weight_decay=0.5,
                                   activation=activation)["v"] == 0)
    res = odes.integrate(state, rule, 0.5, times=[0, 2, 4], **kw)
    assert np.all(res.v == state.v)
    sim = simulate.run(rule, 2, 2, 300, 0.5, times=[0, 2, 4], seeds=[1],
                       weights=odes.realise(state, 300, seed=1, b=state.b), **kw)
    np.testing.assert_array_equal(sim.v[0], res.v)


def test_one_registry_and_options_a_method_does_not_take_are_refused(state):
    """Every method is one entry of odes.METHODS, whose options are the only ones it takes: rtol
    with rk4, or dt with dopri5 and explicit output times, is refused (it was ignored); dt with
    t_max spaces the default output times for every method."""
    assert set(odes.METHODS) == {"dopri5", "bdf", "rk4", "euler"} | {
        f"scipy-{m}" for m in ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")}
    with pytest.raises(ValueError, match="rk4 does not take rtol"):
        odes.integrate(state, "bp", 0.5, t_max=1, method="rk4", rtol=1e-6)
    with pytest.raises(ValueError, match="dopri5 does not take dt"):
        odes.integrate(state, "bp", 0.5, times=[0, 1], dt=0.1)
    with pytest.raises(ValueError, match="scipy-LSODA does not take dt"):
        odes.integrate(state, "bp", 0.5, times=[0, 1], dt=0.1, method="scipy-LSODA")
    res = odes.integrate(state, "bp", 0.5, t_max=1, dt=0.25)           # the default times' grid
    np.testing.assert_allclose(res.t, [0, 0.25, 0.5, 0.75, 1.0])
    assert res.params["rtol"] == 1e-8 and res.params["dt"] == 0.25


@pytest.mark.parametrize("method", ["dopri5", "bdf", "rk4", "scipy-LSODA", "scipy-RK45"])
def test_stop_eps_means_the_same_for_every_method(state, method):
    """The run stops at the first output time with eps_g < stop_eps, keeps it, and takes no step
    beyond it: the outputs are those of the full run up to there, and the work is a fraction of
    the full run's (bdf and scipy used to integrate to the end and cut afterwards)."""
    full = odes.integrate(state, "bp", 0.5, t_max=200, method=method, progress=False)
    target = 0.5 * full.eps_g[0]
    first = int(np.argmax(full.eps_g < target))
    stopped = odes.integrate(state, "bp", 0.5, t_max=200, method=method, stop_eps=target,
                             progress=False)
    assert stopped.status == "stopped" and len(stopped.t) == first + 1
    np.testing.assert_array_equal(stopped.Q, full.Q[:first + 1])
    assert stopped.stats["n_rhs"] < 0.5 * full.stats["n_rhs"]
