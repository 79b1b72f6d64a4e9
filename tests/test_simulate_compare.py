"""Simulation against the ODE (theory.md 3.7): every rule at D = 500 and D = 2000, 8 seeds each,
the ODE integrated from each seed's measured initial order parameters, with label noise, eta_v !=
eta, a frozen second layer and K != M among the rules' settings.  The seed mean of the paired
deviation sim - ODE must be within k standard errors plus an O(1/sqrt(D)) allowance, in eps_g, Q,
R, v and the AF vector a, and the deviation must shrink as D grows.  Exact PEPITA against its ODE
where pepita-lin fails; exact PEPITA -> AFA as sigma_F -> 0, PEPITA-linearised tracks exact PEPITA,
and save/load/plot of a Comparison."""
import functools
import json
import math

import numpy as np
import pytest

import simulate

ALL_RULES = ("bp", "fa", "afa", "pepita-lin", "pepita", "pepita-hebbian", "pepita-tl")
ETA, T_MAX, SEEDS = 0.5, 30.0, 8
K_SE, ALLOW = 4.0, 0.1          # tolerance: K_SE standard errors + ALLOW / sqrt(D)
#: per rule: K, M and the parameters the handoff must carry (label noise, eta_v, frozen v)
SETTINGS = {"bp": dict(K=3, M=2, sigma=0.3, eta_v=0.2),
            "fa": dict(K=2, M=3, sigma=0.2, train_v=False),
            "afa": dict(K=2, M=2, sigma=0.2, eta_v=0.25),
            "pepita-lin": dict(K=3, M=2, sigma=0.1, eta_v=0.3),
            "pepita": dict(K=2, M=2, eta_v=0.3),
            "pepita-hebbian": dict(K=2, M=2, eta_v=0.3),
            "pepita-tl": dict(K=2, M=2, eta_v=0.3)}


@functools.lru_cache(maxsize=None)
def comparison(rule, D):
    """Random weights at D = 500 (|F|^2 ~ 1/4, a bit below the default, so that PEPITA stays
    finite at eta = 0.5); at larger D, weights that realise each seed's D = 500 initial state
    exactly, so that the two runs differ in D only."""
    import odes
    kw = dict(SETTINGS[rule])
    K, M = kw.pop("K"), kw.pop("M")
    weights = None
    if D != 500:
        starts = [comparison(rule, 500).sim.state(s, 0) for s in range(SEEDS)]
        weights = [odes.realise(st, D, seed=s, b=st.b) for s, st in enumerate(starts)]
    return simulate.compare(rule, K, M, D, ETA, t_max=T_MAX, seeds=SEEDS, jobs=2, seed=100,
                            sigma_F=0.5 / math.sqrt(D), weights=weights, progress=False,
                            finite_d=False, **kw)      # the finite-D theory: test_fluctuations


@pytest.mark.parametrize("D", [500, 2000])
@pytest.mark.parametrize("rule", ALL_RULES)
def test_simulation_agrees_with_ode(rule, D):
    cmp = comparison(rule, D)
    assert cmp.sim.n_diverged == 0 and set(cmp.ode_status) == {"finished"}
    assert cmp.ode_rule == rule
    for name in ("eps_g", "Q", "R", "v") + (("a",) if simulate.get_rule(rule).uses_F else ()):
        d, se, n = cmp.deviation(name)
        assert np.all(n == SEEDS)
        late = cmp.t > 0
        tol = K_SE * se[late] + ALLOW / math.sqrt(D)
        bad = np.abs(d[late]) > tol
        assert not np.any(bad), (name, cmp.t[late][np.any(bad.reshape(bad.shape[0], -1), 1)],
                                 d[late][bad], tol[bad])
    # the comparison is not vacuous: eps_g changes over the window by much more than the tolerance
    m = cmp.mean("eps_g", "ode")
    assert abs(m[-1] - m[0]) > 10 * ALLOW / math.sqrt(D)


@pytest.mark.parametrize("rule", ALL_RULES)
def test_deviation_shrinks_with_D(rule):
    def rms(cmp, name):
        dev = cmp.get(name, "sim") - cmp.get(name, "ode")
        return float(np.sqrt(np.mean(dev**2)))

    for name in ("eps_g", "v") if SETTINGS[rule].get("train_v", True) else ("eps_g", "Q"):
        small, large = rms(comparison(rule, 500), name), rms(comparison(rule, 2000), name)
        # O(1/sqrt(D)) fluctuations: the ratio should be ~0.5
        assert large < 0.75 * small, (name, small, large)


def test_exact_pepita_tends_to_afa_and_pepita_lin_tracks_it():
    D = 500
    d_afa, d_lin = [], []
    for c in (0.25, 0.125, 0.0625):
        kw = dict(t_max=50, seeds=3, jobs=2, sigma_F=c / math.sqrt(D), progress=False)
        pep = simulate.run("pepita", 2, 2, D, ETA, **kw)
        afa = simulate.run("afa", 2, 2, D, ETA, **kw)
        lin = simulate.run("pepita-lin", 2, 2, D, ETA, **kw)
        assert pep.n_diverged == afa.n_diverged == lin.n_diverged == 0
        d_afa.append(np.max(np.abs(pep.eps_g - afa.eps_g)))
        d_lin.append(np.max(np.abs(pep.eps_g - lin.eps_g)))
    # exact PEPITA -> AFA as sigma_F -> 0 (the Fe push on a is ~ |F|^2)
    assert d_afa[0] > 3 * d_afa[1] > 9 * d_afa[2], d_afa
    # PEPITA-linearised is far closer to exact PEPITA than AFA is, and tends to it too
    assert all(l < 0.1 * a for l, a in zip(d_lin, d_afa)), (d_lin, d_afa)
    assert d_lin[0] > d_lin[1] > d_lin[2] and d_lin[2] < 1e-4, d_lin


def test_save_load_and_plot(tmp_path):
    cmp = simulate.compare("fa", 2, 2, 200, 0.5, t_max=5, seeds=3, jobs=2, n_test=500,
                           progress=False)
    path = cmp.save(tmp_path / "run.npz")
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["params"]["rule"] == "fa" and meta["params"]["D"] == 200
    assert meta["ode_rule"] == "fa" and meta["ode_params"]["method"] == "dopri5"
    with np.load(path) as z:
        assert z["eps_g"].shape == z["eps_g_ode"].shape == (3, len(cmp.t))
        assert z["b"].shape == (3, len(cmp.t), 2) and "eps_test" in z.files
    back = simulate.Comparison.load(path)
    for name in ("eps_g", "Q", "b", "eps_test", "v_deg"):
        assert np.array_equal(back.get(name), cmp.get(name), equal_nan=True)
    assert np.array_equal(back.get("eps_g", "ode"), cmp.get("eps_g", "ode"))
    assert back.sim.seeds == [0, 1, 2] and back.sim.status == ["ok"] * 3
    cmp.plot(tmp_path / "run.png")
    cmp.to_csv(tmp_path / "run.csv")
    assert (tmp_path / "run.png").stat().st_size > 10_000
    header = (tmp_path / "run.csv").read_text().splitlines()[0].split(",")
    data = dict(zip(header, np.loadtxt(tmp_path / "run.csv", delimiter=",", skiprows=1).T))
    # every column against a direct computation from the per-seed arrays (n = 3 seeds)
    sim, ode = cmp.get("eps_g"), cmp.get("eps_g", "ode")
    np.testing.assert_allclose(data["t"], cmp.t)
    np.testing.assert_allclose(data["eps_g_sim"], sim.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(data["eps_g_sim_se"], sim.std(axis=0, ddof=1) / np.sqrt(3), rtol=1e-8)
    np.testing.assert_allclose(data["eps_g_ode"], ode.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(data["eps_g_sim_minus_ode"], (sim - ode).mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(data["eps_g_sim_minus_ode_se"][1:],
                               (sim - ode).std(axis=0, ddof=1)[1:] / np.sqrt(3), rtol=1e-7)
    for col in ("eps_g_n_sim", "eps_g_n_ode", "eps_g_n_pair", "theta_b_v_n_pair"):
        np.testing.assert_array_equal(data[col], 3)
    np.testing.assert_allclose(data["theta_b_v_ode"], cmp.get("b_v", "ode").mean(axis=0), rtol=1e-9)
    assert not np.allclose(data["eps_g_ode"][1:], data["eps_g_sim"][1:], rtol=1e-6)


def test_statistics_of_diverging_seeds_use_what_is_finite_in_each():
    """Simulation mean over the seeds finite in the simulation, ODE mean over those finite in the
    ODE, deviation over both (issue: the ODE diverging first used to empty the table)."""
    from simulate.comparison import Comparison
    base = simulate.compare("bp", 2, 2, 100, 0.5, t_max=2, seeds=3, progress=False)
    sim, ode = base.sim, dict(base.ode)
    n = len(base.t)
    for key in ode:
        ode[key] = ode[key].copy()
        ode[key][0, n // 2:] = np.nan                 # seed 0's ODE "diverged" half-way
    cmp = Comparison(sim, ode, "bp", "", base.ode_params)
    late = slice(n // 2, None)
    np.testing.assert_allclose(cmp.mean("eps_g")[late], sim.eps_g[:, late].mean(axis=0))
    np.testing.assert_allclose(cmp.mean("eps_g", "ode")[late], ode["eps_g"][1:, late].mean(axis=0))
    d, _, cnt = cmp.deviation("eps_g")
    np.testing.assert_allclose(d[late], (sim.eps_g - ode["eps_g"])[1:, late].mean(axis=0))
    assert np.all(cnt[late] == 2) and np.all(cnt[: n // 2] == 3)
    row = cmp.table().splitlines()[-1].split()
    assert row[3] == "3" and row[5] == "2" and row[-1] == "2"          # n_sim, n_ode, n_pair


def test_no_ode_and_bad_arguments(tmp_path):
    cmp = simulate.compare("bp", 1, 1, 50, 0.5, t_max=1, seeds=2, ode=False)
    assert cmp.ode is None and "eps_g ode" not in cmp.table()
    bad = [dict(D=0), dict(eta=-0.1), dict(sigma_F=-1.0), dict(rule="sgd"), dict(K=0), dict(M=0),
           dict(eta="fast"), dict(eta_v=float("nan")), dict(seeds=0), dict(jobs=0),
           dict(method="rk5"), dict(init="huge")]
    for kw in bad:
        args = dict(rule="bp", K=2, M=2, D=100, eta=0.5)
        args.update(kw)
        with pytest.raises(ValueError):
            simulate.compare(args.pop("rule"), args.pop("K"), args.pop("M"), args.pop("D"),
                             args.pop("eta"), t_max=1, **args)


def test_compare_from_explicit_weights_starts_the_ode_at_the_realised_state():
    """compare(weights=...) simulates the given networks; the ODE starts from their exact state."""
    import odes
    state = odes.State(Q=np.array([[1.0, 0.2], [0.2, 0.8]]), R=np.array([[0.3, 0.0], [0.1, 0.4]]),
                       T=np.eye(2), v=np.array([0.5, -0.3]), v_star=np.ones(2),
                       a=np.array([0.2, -0.1]), p=np.array([0.1, 0.05]), phi_F=0.3)
    w = odes.realise(state, 400, seed=3)
    cmp = simulate.compare("afa", 2, 2, 400, 0.5, times=[0, 1, 2], seeds=[0, 1], weights=[w, w])
    np.testing.assert_allclose(cmp.sim.Q[:, 0], np.broadcast_to(state.Q, (2, 2, 2)), atol=1e-12)
    np.testing.assert_allclose(cmp.ode["eps_g"][:, 0], odes.eps_g(state.Q, state.R, state.T,
                                                                   state.v, state.v_star))
    assert not np.array_equal(cmp.sim.Q[0, -1], cmp.sim.Q[1, -1])   # different data streams


def test_compare_hands_the_solver_settings_to_every_seed():
    """method, rtol and atol reach each seed's ODE (a loose rtol changes the theory line)."""
    import odes
    loose = simulate.compare("bp", 2, 2, 100, 0.5, t_max=20, seeds=2, rtol=1e-3, atol=1e-6,
                             progress=False)
    tight = simulate.compare("bp", 2, 2, 100, 0.5, t_max=20, seeds=2, progress=False)
    assert loose.params["rtol"] == 1e-3 and loose.params["atol"] == 1e-6
    for s in range(2):
        direct = odes.integrate(loose.sim.state(s, 0), "bp", 0.5, times=loose.t, rtol=1e-3, atol=1e-6)
        np.testing.assert_array_equal(loose.get("eps_g", "ode")[s], direct.eps_g)
    assert np.abs(loose.get("eps_g", "ode") - tight.get("eps_g", "ode")).max() > 1e-7


RUNAWAY = dict(Q=[[1.0, 0.1], [0.1, 0.9]], R=[[0.2, 0.0], [0.0, 0.1]], T=np.eye(2), v=[0.5, -0.4],
               v_star=[1.0, 1.0], a=[0.8, -0.5], p=[0.3, -0.2], phi_F=1.5)


@functools.lru_cache(maxsize=None)
def runaway(D):
    """Exact PEPITA from a state with an O(1) AF vector, O(1) p and |F|^2 = 1.5 (theory.md 3.6),
    realised exactly for each of 32 seeds, with label noise and eta_v != eta; the exact ODE and the
    pepita-lin ODE from the same start, compared at five times (fewer, well separated comparisons
    than the record grid: the per-time deviations are strongly correlated)."""
    import odes
    state = odes.State(**RUNAWAY)
    seeds = list(range(32))
    weights = [odes.realise(state, D, seed=s) for s in seeds]
    return simulate.compare("pepita", 2, 2, D, 0.3, times=[0, 1.5, 3, 4.5, 6], seeds=seeds,
                            weights=weights, eta_v=0.4, sigma=0.1, also=("pepita-lin",),
                            progress=False, finite_d=False)


@pytest.mark.parametrize("D", [2000, 4000])
def test_exact_pepita_ode_follows_the_simulation_where_pepita_lin_fails(D):
    """In the runaway regime (eps_g turns up by t = 6) the exact-PEPITA ODE matches the
    simulation within 3 s.e. plus an allowance 0.02/sqrt(D) for the O(D^-1/2) finite-D effects,
    in eps_g, Q, R, v and a; pepita-lin misses the same simulation by more than 10 s.e., more so
    at the larger D, where the s.e. is smaller.  (A check with 64 other seeds at D = 1000-8000
    found no bias: every entry within 1.7 s.e. at t = 0.4.)"""
    cmp = runaway(D)
    assert cmp.sim.n_diverged == 0 and set(cmp.ode_status) == {"finished"}
    late = cmp.t > 0
    worst_lin = 0.0
    for name in ("eps_g", "Q", "R", "v", "a"):
        d, se, n = cmp.deviation(name)
        assert np.all(n == 32)
        tol = 3 * se[late] + 0.02 / math.sqrt(D)
        assert np.all(np.abs(d[late]) <= tol), (name, np.max(np.abs(d[late]) / tol))
        d_lin, se_lin, _ = cmp.deviation(name, "pepita-lin")
        with np.errstate(invalid="ignore", divide="ignore"):
            worst_lin = max(worst_lin, np.nanmax(np.abs(d_lin[late]) / se_lin[late]))
    assert worst_lin > 10, worst_lin
    eps = cmp.mean("eps_g", "ode")
    assert eps[-1] > np.min(eps) + 10 * cmp.sem("eps_g")[-1]      # the runaway is resolved


@pytest.mark.parametrize("rule", ["bp", "pepita"])
def test_simulation_with_weight_decay_agrees_with_ode(rule):
    """Weight decay kappa = 0.3 (theory.md 8.1) at D = 2000, 8 seeds: the paired deviation within
    K_SE s.e. + ALLOW/sqrt(D) in eps_g, Q, R, v (and a); the decay is not vacuous -- the ODE
    without it ends far from the simulation."""
    D, kappa = 2000, 0.3
    cmp = simulate.compare(rule, 2, 2, D, ETA, t_max=20.0, seeds=SEEDS, seed=200, eta_v=0.3,
                           sigma_F=0.5 / math.sqrt(D), weight_decay=kappa, progress=False)
    assert cmp.params["weight_decay"] == kappa and set(cmp.ode_status) == {"finished"}
    late = cmp.t > 0
    for name in ("eps_g", "Q", "R", "v") + (("a",) if rule == "pepita" else ()):
        d, se, _ = cmp.deviation(name)
        assert np.all(np.abs(d[late]) <= K_SE * se[late] + ALLOW / math.sqrt(D)), name
    import odes
    plain = odes.integrate(cmp.sim.state(0, 0), rule, ETA, eta_v=0.3, times=cmp.t)
    d0 = np.abs(cmp.get("Q", "sim")[0, -1] - plain.Q[-1]).max()
    assert d0 > 20 * (K_SE * cmp.deviation("Q")[1][-1].max() + ALLOW / math.sqrt(D)), d0


@functools.lru_cache(maxsize=None)
def variant(rule, D):
    """A PEPITA variant (theory.md 8.3) from the runaway start realised for 16 seeds at D, with
    exact PEPITA's ODE from the same start as a further line."""
    import odes
    state = odes.State(**RUNAWAY)
    seeds = list(range(16))
    weights = [odes.realise(state, D, seed=s) for s in seeds]
    return simulate.compare(rule, 2, 2, D, 0.3, times=[0, 1, 2, 3, 4], seeds=seeds,
                            weights=weights, eta_v=0.4, sigma=0.1, also=("pepita",),
                            progress=False, finite_d=False)


@pytest.mark.parametrize("rule", ["pepita-hebbian", "pepita-tl"])
def test_variants_follow_their_own_odes_as_D_grows(rule):
    """At D = 2000 and 4000 the variant's simulation matches its own ODE within 3 s.e. plus
    0.02/sqrt(D) (as for exact PEPITA above) in eps_g, Q, R, v and a; its rms paired deviation
    shrinks from D = 2000 to 4000 (ratio ~ 0.7 for O(D^-1/2) noise; required < 0.9); and the
    variant is not plain PEPITA: exact PEPITA's ODE misses the same simulation by > 10 s.e."""
    rms = {}
    for D in (2000, 4000):
        cmp = variant(rule, D)
        assert cmp.sim.n_diverged == 0 and set(cmp.ode_status) == {"finished"}
        late = cmp.t > 0
        worst_pepita = 0.0
        for name in ("eps_g", "Q", "R", "v", "a"):
            d, se, n = cmp.deviation(name)
            tol = 3 * se[late] + 0.02 / math.sqrt(D)
            assert np.all(np.abs(d[late]) <= tol), (rule, D, name, np.max(np.abs(d[late]) / tol))
            d_p, se_p, _ = cmp.deviation(name, "pepita")
            worst_pepita = max(worst_pepita, np.nanmax(np.abs(d_p[late]) / se_p[late]))
        assert worst_pepita > 10, (rule, D, worst_pepita)
        dev = cmp.get("Q", "sim") - cmp.get("Q", "ode")
        rms[D] = float(np.sqrt(np.mean(dev[:, late] ** 2)))
    assert rms[4000] < 0.9 * rms[2000], rms
