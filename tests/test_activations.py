"""Activations other than erf (theory.md 8.2): the ReLU integrals (closed forms against the Stein
reduction against Monte Carlo, repeated indices included), eps_g of each activation against Monte
Carlo on realised weights, the linear right-hand sides against their hand-derived form, every
closed-form rule's right-hand side against the one-step Monte Carlo for linear and ReLU, the
simulator step by step, simulation against the ODE at D = 2000, and the refusals."""
import math

import numpy as np
import pytest

import odes
import simulate
from conftest import random_gram, random_state
from odes.gaussian import relu_integrals as ri

N_MC = 2_000_000


def mc_fields(C, n, seed):
    L = np.linalg.cholesky(C)
    return np.random.default_rng(seed).standard_normal((n, C.shape[0])) @ L.T


def covariances():
    rng = np.random.default_rng(4)
    Cs = [random_gram(5, rng) for _ in range(3)]
    near = random_gram(5, rng)                    # two nearly parallel fields (correlation 0.98)
    near[1] = near[0] * 0.98 + 0.02 * near[1]
    near[:, 1] = near[1]
    near[1, 1] = near[0, 0] * 0.98 ** 2 + 0.0004 * near[1, 1] + 2 * 0.98 * 0.02 * near[0, 1]
    return Cs + [near]


def mc_check(f, samples, tol_se=4.5):
    m, se = samples.mean(), samples.std() / math.sqrt(samples.size)
    assert abs(f - m) <= tol_se * se + 1e-12, (f, m, se, (f - m) / se)


@pytest.mark.parametrize("ci", range(4))
def test_relu_closed_forms_equal_the_stein_reduction(ci):
    """I2, J2, I3 of theory.md 8.2 (closed forms) against `expect_theta` (the general Stein
    reduction, a different derivation), every index tuple, to 1e-12."""
    C = covariances()[ci]
    n = C.shape[0]
    for a in range(n):
        for b in range(n):
            S, m = ri._distinct(a, b, -1, -1)
            assert ri.i2(C, a, b) == pytest.approx(ri.expect_theta(C, S, m, a, b), rel=1e-12, abs=1e-14)
            assert ri.j2(C, a, b) == pytest.approx(ri.expect_theta(C, S, m, -1, -1), rel=1e-12)
            for c in range(n):
                S, m = ri._distinct(a, c, -1, -1)
                assert ri.i3(C, a, b, c) == pytest.approx(ri.expect_theta(C, S, m, b, c),
                                                          rel=1e-10, abs=1e-13)


@pytest.mark.parametrize("ci", range(4))
def test_relu_integrals_against_monte_carlo(ci):
    C = covariances()[ci]
    U = mc_fields(C, N_MC, seed=ci)
    relu, th = np.maximum(U, 0), (U > 0).astype(float)
    mc_check(ri.i2(C, 0, 1), relu[:, 0] * relu[:, 1])
    mc_check(ri.i2(C, 2, 2), relu[:, 2] ** 2)
    mc_check(ri.j2(C, 0, 3), th[:, 0] * th[:, 3])
    mc_check(ri.i3(C, 0, 1, 2), th[:, 0] * U[:, 1] * relu[:, 2])
    mc_check(ri.i3(C, 2, 4, 2), th[:, 2] * U[:, 4] * relu[:, 2])
    for a, b, c, d in [(0, 1, 2, 3), (0, 1, 3, 4), (0, 1, 2, 2), (0, 0, 2, 3), (0, 1, 0, 3),
                       (0, 1, 0, 1), (1, 1, 1, 1)]:
        mc_check(ri.i4(C, a, b, c, d), th[:, a] * th[:, b] * relu[:, c] * relu[:, d])
    for a, c, d in [(0, 1, 2), (0, 1, 1), (0, 0, 2), (3, 4, 2)]:
        mc_check(ri.i3g(C, a, c, d), th[:, a] * relu[:, c] * relu[:, d])
    for k, i in [(0, 1), (2, 4)]:                 # E[delta(u_k) relu(u_i)] by a thin shell
        h = 0.02
        shell = (np.abs(U[:, k]) < h) / (2 * h)
        exact = ri.delta_relu(C, k, i)
        # the shell's own bias is O(h^2): below 1e-3 relative here
        mc_check(exact, shell * relu[:, i], tol_se=4.5)


def test_four_field_orthant_probability():
    """Plackett's integral for P4 against the exact value at exchangeable correlation 1/2
    (P = 1/5) and against Monte Carlo at a general C."""
    V = np.full((4, 4), 0.5) + 0.5 * np.eye(4)
    assert ri.orthant(V, np.arange(4), 4) == pytest.approx(0.2, abs=1e-12)
    C = covariances()[0]
    U = mc_fields(C, N_MC, seed=9)
    mc_check(ri.orthant(C, np.arange(4), 4), np.all(U[:, :4] > 0, axis=1).astype(float))


@pytest.mark.parametrize("activation", odes.activations.ACTIVATIONS)
def test_eps_g_against_monte_carlo(activation):
    K, M, D = 3, 2, 300
    st = random_state(K, M, np.random.default_rng(1), with_F=False)
    w = odes.realise(st, D, seed=2)
    # fields of the realised weights: lambda = W x/sqrt(D) has covariance Q exactly; sample them
    # directly from C = [[Q, R], [R^T, T]] instead of D-dimensional inputs
    C = np.block([[w.W @ w.W.T, w.W @ w.W_star.T], [w.W_star @ w.W.T, w.W_star @ w.W_star.T]]) / D
    U = mc_fields(C, 1_000_000, seed=5)
    g = lambda x: odes.activations.g_numpy(activation, x)
    err = 0.5 * (g(U[:, :K]) @ w.v - g(U[:, K:]) @ w.v_star) ** 2
    mc_check(float(odes.eps_g(st.Q, st.R, st.T, st.v, st.v_star, activation)), err)


def test_linear_rhs_is_the_linear_network_ode():
    """For g(x) = x every integral is a covariance (theory.md 8.2): with e = c.u, E[e^2] = c^T C c,
    the BP right-hand side is dR = -eta v (Cc)_R, dQ = -eta (v (Cc)_Q^T + (.)^T) + eta^2 v v^T
    (c^T C c + sigma^2), dv = -eta_v (Cc)_Q -- written out here with NumPy."""
    st = random_state(3, 2, np.random.default_rng(6), with_F=False)
    eta, eta_v, sigma = 0.4, 0.3, 0.2
    d = odes.derivatives(st, "bp", eta, eta_v=eta_v, sigma=sigma, activation="linear")
    C = np.block([[st.Q, st.R], [st.R.T, st.T]])
    c = np.concatenate([st.v, -st.v_star])
    Cc = C @ c                                      # E[u_j e]
    ee = c @ C @ c + sigma ** 2
    K = 3
    np.testing.assert_allclose(d["R"], -eta * st.v[:, None] * Cc[None, K:], rtol=1e-12)
    dQ = -eta * (st.v[:, None] * Cc[None, :K] + (st.v[:, None] * Cc[None, :K]).T)
    np.testing.assert_allclose(d["Q"], dQ + eta ** 2 * np.outer(st.v, st.v) * ee, rtol=1e-12)
    np.testing.assert_allclose(d["v"], -eta_v * Cc[:K], rtol=1e-12)
    # and the quadrature engine, which integrates polynomials, agrees to its rule's accuracy
    q = odes.derivatives(st, "bp", eta, eta_v=eta_v, sigma=sigma, activation="linear",
                         quadrature=True, nodes=40)
    for k in d:
        np.testing.assert_allclose(q[k], d[k], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("rule", ["afa", "pepita-lin"])
def test_linear_adaptive_rules_by_quadrature(rule):
    """The AF vector's equation for g = linear (g'' = 0): the closed form against the quadrature
    engine, every output, a included."""
    st = random_state(2, 2, np.random.default_rng(10))
    d = odes.derivatives(st, rule, 0.4, sigma=0.2, activation="linear")
    q = odes.derivatives(st, rule, 0.4, sigma=0.2, activation="linear", quadrature=True, nodes=40)
    assert set(d) == {"Q", "R", "v", "a"}
    for k in d:
        np.testing.assert_allclose(q[k], d[k], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_cli_round_trip(tmp_path, activation):
    """python -m odes --activation writes the run of that activation (and says so in its
    parameters)."""
    from odes.cli import main
    out = tmp_path / "run.npz"
    assert main(["--rule", "bp", "--eta", "0.3", "--seed", "2", "--D", "300", "--times", "0,1,5",
                 "--activation", activation, "--out", str(out), "--quiet"]) == 0
    back = odes.Result.load(out)
    assert back.params["activation"] == activation
    st = odes.State.random(2, 2, 300, 2)
    direct = odes.integrate(st, "bp", 0.3, times=[0, 1, 5], activation=activation)
    np.testing.assert_allclose(back.eps_g, direct.eps_g, rtol=1e-12)
    np.testing.assert_allclose(back.Q, direct.Q, rtol=1e-12)


def test_relu_rhs_is_the_erf_free_path():
    """The ReLU right-hand side does not silently use erf: it differs from erf's and from
    linear's at the same state."""
    st = random_state(2, 2, np.random.default_rng(8))
    r = odes.derivatives(st, "pepita-lin", 0.5, activation="relu")
    for other in ("erf", "linear"):
        o = odes.derivatives(st, "pepita-lin", 0.5, activation=other)
        assert max(np.abs(r[k] - o[k]).max() for k in r) > 1e-2


def test_refusals():
    st = random_state(2, 2, np.random.default_rng(9))
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        odes.derivatives(st, "bp", 0.5, activation="tanh")
    with pytest.raises(ValueError, match="activation relu: the pepita ODE needs the quadrature"):
        odes.integrate(st, "pepita", 0.5, t_max=1, activation="relu")
    with pytest.raises(ValueError, match="activation relu"):
        odes.derivatives(st, "bp", 0.5, activation="relu", quadrature=True)
    with pytest.raises(ValueError, match="activation relu"):        # before simulating
        simulate.compare("pepita", 2, 2, 50, 0.1, t_max=1, seeds=1, activation="relu")
    sim = simulate.run("pepita", 2, 2, 50, 0.1, t_max=1, seeds=1, activation="relu")   # no ODE
    assert sim.params["activation"] == "relu"
    with pytest.raises(ValueError, match="unknown activation"):
        simulate.run("bp", 2, 2, 50, 0.1, t_max=1, seeds=1, activation="sigmoid")


@pytest.mark.parametrize("argv, message", [
    (["--activation", "tanh"], "invalid choice: 'tanh'"),
    (["--rule", "pepita", "--activation", "relu"], "--activation: activation relu: the pepita ODE"),
])
@pytest.mark.parametrize("prog", ["odes", "simulate"])
def test_cli_refusals(tmp_path, capsys, prog, argv, message):
    import importlib
    main = importlib.import_module(f"{prog}.cli").main
    base = {"--rule": "bp", "--eta": "0.1", "--t-max": "1", "--out": str(tmp_path / "r.npz")}
    args = dict(base)
    for k, v in zip(argv[::2], argv[1::2]):
        args[k] = v
    flat = [x for kv in args.items() for x in kv]
    assert main(flat) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    assert not (tmp_path / "r.npz").exists()


@pytest.mark.parametrize("rule,activation", [("bp", "linear"), ("bp", "relu"), ("fa", "relu")])
def test_simulation_agrees_with_ode(rule, activation):
    """D = 2000, 8 seeds, label noise and eta_v != eta: the paired deviation sim - ODE within
    4 s.e. + 0.1/sqrt(D) (the tolerance of test_simulate_compare) in eps_g, Q, R and v; the ODE of
    the erf network from the same starts misses the simulation by far more."""
    D = 2000
    cmp = simulate.compare(rule, 2, 2, D, 0.3, t_max=20.0, seeds=8, seed=300, sigma=0.2,
                           eta_v=0.2, activation=activation, also=(), progress=False)
    assert cmp.sim.n_diverged == 0 and set(cmp.ode_status) == {"finished"}
    assert cmp.params["activation"] == activation
    late = cmp.t > 0
    for name in ("eps_g", "Q", "R", "v"):
        d, se, _ = cmp.deviation(name)
        tol = 4 * se[late] + 0.1 / math.sqrt(D)
        assert np.all(np.abs(d[late]) <= tol), (name, np.max(np.abs(d[late]) / tol))
    erf = odes.integrate(cmp.sim.state(0, 0), rule, 0.3, eta_v=0.2, sigma=0.2, times=cmp.t)
    assert np.abs(erf.Q[-1] - cmp.get("Q")[0, -1]).max() > 0.05
