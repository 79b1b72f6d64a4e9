"""Divergence of the theory (odes.divergence): every method stops where the run crosses the
threshold, reports it like the simulator, and the comparison and the sweep record it."""
import numpy as np
import pytest

import odes
import simulate
import sweep
from odes.cli import main as odes_main
from odes.divergence import BLOWUP, blown_up
from odes.rhs import layout

METHODS = ["dopri5", "bdf", "rk4", "euler", "scipy-RK45", "scipy-LSODA"]
# BP at eta = 3 from seed 0's random start: Q_00 grows through 10 near t = 1.667 (and then to ~34)
CASE = dict(rule="bp", eta=3.0, limit=10.0)


@pytest.fixture(scope="module")
def crossing():
    """Where max(Q_kk, v_k^2) of the CASE first reaches the limit, from a DOP853 run at rtol 1e-12
    on a grid of 1e-4 with the default threshold, interpolated linearly (error ~1e-8)."""
    st = odes.State.random(2, 2, 500, 0)
    ref = odes.integrate(st, CASE["rule"], CASE["eta"], times=np.linspace(0, 2, 20001),
                         method="scipy-DOP853", rtol=1e-12, atol=1e-12)
    size = np.max(np.concatenate([np.diagonal(ref.Q, axis1=1, axis2=2), ref.v ** 2], axis=1), axis=1)
    i = int(np.argmax(size > CASE["limit"]))
    assert 0 < i and ref.status == "finished"
    frac = (CASE["limit"] - size[i - 1]) / (size[i] - size[i - 1])
    return st, ref.t[i - 1] + frac * (ref.t[i] - ref.t[i - 1])


@pytest.mark.parametrize("method", METHODS)
def test_every_method_stops_where_the_threshold_is_crossed(method, crossing):
    """IntegrationError with status 'diverged' at the crossing time (to 1e-6 for the adaptive
    methods, whose continuous extension is bisected; within two steps dt for the fixed-step ones),
    every output before it, and no work done past it (t_max 10 or 1000: the same evaluations)."""
    st, t_star = crossing
    dt = 1e-3
    runs = []
    for t_max in (10.0, 1000.0):
        with pytest.raises(odes.IntegrationError, match=r"diverged at t ~ [0-9.]+: Q\[0,0\] exceeded 10"
                           ) as err:
            odes.integrate(st, CASE["rule"], CASE["eta"], t_max=t_max, method=method, dt=dt,
                           blowup=CASE["limit"], progress=False)
        runs.append(err.value.result)
    res = runs[0]
    assert res.status == "diverged"
    if method in ("rk4", "euler"):       # the first grid state beyond (Euler's own error ~dt)
        assert res.t_diverged == pytest.approx(t_star, abs=2 * dt)
    else:
        assert res.t_diverged == pytest.approx(t_star, abs=1e-6)
    expected = odes.default_times(10.0, dt)
    assert np.array_equal(res.t, expected[expected < res.t_diverged])
    assert np.all(np.diagonal(res.Q, axis1=1, axis2=2) < CASE["limit"])
    assert runs[1].stats["n_rhs"] == pytest.approx(res.stats["n_rhs"], abs=12)


def test_blown_up_checks_q_kk_and_v_squared():
    K = M = 2
    lay = layout(K, M)
    y = np.zeros(lay["size"])
    y[[0, 3]] = 1.0
    y[lay["v"]] = [1.0, -2e4]                       # v_1^2 = 4e8
    assert blown_up(y, K, M, BLOWUP) == lay["v"].start + 1
    y[lay["v"].start + 1] = -9e3                    # 8.1e7: below
    assert blown_up(y, K, M, BLOWUP) == -1
    y[3] = np.nan
    assert blown_up(y, K, M, BLOWUP) == 3


def test_a_v_beyond_the_threshold_is_named():
    """From seed 0's start v_0^2 = 2.14 and Q_00 = 1.01: with blowup 2 it is v that has crossed."""
    st = odes.State.random(2, 2, 500, 0)
    with pytest.raises(odes.IntegrationError, match=r"v\[0\] squared exceeded 2"):
        odes.integrate(st, "bp", 3.0, t_max=1.0, blowup=2.0, progress=False)


@pytest.mark.parametrize("method", ["dopri5", "bdf", "scipy-RK45"])
def test_an_output_just_before_the_crossing_is_kept(method, crossing):
    """Outputs inside the step that crosses come from the continuous extension up to the crossing
    (dopri5 takes that step again in the call for the next output)."""
    st, t_star = crossing
    times = [0.0, 1.0, t_star - 1e-4, t_star + 1e-4, 2.0]
    with pytest.raises(odes.IntegrationError) as err:
        odes.integrate(st, CASE["rule"], CASE["eta"], times=times, method=method,
                       blowup=CASE["limit"], progress=False)
    assert list(err.value.result.t) == times[:3]


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_an_off_grid_output_beyond_the_threshold_diverges(method):
    """The extra step of the remaining length to an output between grid points is checked too."""
    st, dt = odes.State.random(2, 2, 500, 0), 1e-3
    with pytest.raises(odes.IntegrationError) as err:
        odes.integrate(st, CASE["rule"], CASE["eta"], t_max=2.0, method=method, dt=dt,
                       blowup=CASE["limit"], progress=False)
    g = err.value.result.t_diverged                 # the first grid time beyond
    with pytest.raises(odes.IntegrationError, match=r"Q\[0,0\] exceeded 10") as err:
        odes.integrate(st, CASE["rule"], CASE["eta"], times=[0.0, g - 1e-6], method=method, dt=dt,
                       blowup=CASE["limit"], progress=False)
    assert err.value.result.t_diverged == pytest.approx(g - 1e-6)


def test_blown_up_exact_pepita_is_diverged_not_finished():
    """The issue's fault at K = M = 2: exact PEPITA from an O(1) start with |F|^2 ~ 3 blows up
    (eps_g ~ 1e5 by t ~ 17); it used to end 'finished'.  Now it stops at the threshold."""
    st = odes.State.random(2, 2, 500, 1, sigma_F=np.sqrt(3 / 500))
    with pytest.raises(odes.IntegrationError, match="diverged at t ~") as err:
        odes.integrate(st, "pepita", 0.5, t_max=100, progress=False)
    res = err.value.result
    assert res.status == "diverged" and 15 < res.t_diverged < 20
    assert np.all(np.isfinite(res.eps_g)) and np.all(np.diagonal(res.Q, axis1=1, axis2=2) <= BLOWUP)
    assert res.t[-1] < res.t_diverged


def test_the_simulator_and_the_ode_share_the_threshold():
    """Both halves take odes.divergence.BLOWUP, and the comparison hands it to the ODE."""
    import inspect
    assert inspect.signature(simulate.run).parameters["blowup"].default == BLOWUP
    assert inspect.signature(odes.integrate).parameters["blowup"].default == BLOWUP
    with pytest.warns(simulate.DivergenceWarning):     # seed 0 at D = 500 is the CASE's start
        cmp = simulate.compare("bp", 2, 2, 500, 3.0, t_max=3.0, seeds=1, blowup=10.0, progress=False)
    assert cmp.ode_status == ["diverged"] and list(cmp.sim.status) == ["diverged"]
    t_ode, t_sim = np.array(cmp.ode_t_diverged), cmp.sim.t_diverged
    assert np.all(np.abs(t_ode - t_sim) < 0.5), (t_ode, t_sim)      # measured 1.667 and 1.408
    after = cmp.t >= np.max(t_ode)
    assert np.all(np.isnan(cmp.ode["eps_g"][:, after]))


@pytest.mark.parametrize("args,how", [
    (("pepita", "--phi-F", "3", "--seed", "1"), "Q[0,0] exceeded 1e+08"),     # the threshold
    (("pepita-lin", "--sigma-F", "1"), "became non-finite"),                   # a non-finite state
])
def test_the_command_line_says_diverged_and_exits_1(tmp_path, capsys, args, how):
    out = tmp_path / "o.npz"
    code = odes_main(["--rule", *args, "--eta", "0.5", "--t-max", "100", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "diverged at t ~" in err[0] and how in err[0], err
    assert not out.exists()


def test_a_compare_sweep_records_the_ode_divergence(tmp_path):
    """status_ode = 'diverged' with t_diverged_ode, NaN from then on, and 'finished' elsewhere."""
    spec = dict(kind="compare", rule="pepita-lin", D=200, eta=0.5, t_max=30.0, seeds=2,
                grid=dict(phi_F=[0.01, 200.0]))
    ds = sweep.run(spec, tmp_path / "s", jobs=1, progress=False)
    assert list(ds.status_ode.sel(phi_F=0.01).values) == ["finished"] * 2
    assert list(ds.status_ode.sel(phi_F=200.0).values) == ["diverged"] * 2
    t_div = ds.t_diverged_ode.sel(phi_F=200.0).values
    assert np.all((0 < t_div) & (t_div < 30)) and np.all(np.isnan(ds.t_diverged_ode.sel(phi_F=0.01)))
    eps = ds.eps_g_ode.sel(phi_F=200.0, seed=0)
    assert np.all(np.isnan(eps.where(eps.t >= t_div[0], drop=True)))
    assert np.all(np.isfinite(eps.where(eps.t < t_div[0], drop=True)))
