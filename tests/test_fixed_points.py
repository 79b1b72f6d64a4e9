"""Fixed points and their stability (theory.md sections 6.1 and 9): the Jacobian against
independent difference quotients, the SCM plateau at finite eta against its O(eta) formula, and
the escape time from the plateau against the unstable eigenvalue."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import odes
from conftest import random_state
from odes.fixed_points import coordinates
from odes.rhs import evaluate, kernel_args, pack, unpack

RULES = ["bp", "fa", "afa", "pepita-lin"]
RUN = dict(eta_v=0.15, sigma=0.05)


def flat_rhs(state, rule, eta, **kw):
    """The flat right-hand side y -> dy/dt, straight from the kernel."""
    _, args = kernel_args(state, odes.get_rule(rule), eta, **kw)

    def f(y):
        dy = np.zeros_like(y)
        evaluate(np.ascontiguousarray(y), dy, args)
        return dy
    return f


def scm_plateau(K=2):
    """The O(eta) Saad-Solla plateau of theory.md 6.1 (T = I, v = v* = 1)."""
    q, r = 1 / (2 * K - 1), 1 / math.sqrt(K * (2 * K - 1))
    return odes.State(Q=np.full((K, K), q), R=np.full((K, K), r), T=np.eye(K), v=np.ones(K),
                      v_star=np.ones(K))


@pytest.mark.parametrize("rule", RULES)
def test_jacobian_against_central_differences(rule, rng):
    """Each column against a plain 2-point central difference (h = 1e-6), and J times a random
    direction against the difference quotient along it."""
    s = random_state(3, 2, rng)
    s = odes.State(**{**s.to_dict(), "a": 0.5 * s.a, "p": 0.5 * s.p})
    J = odes.jacobian(s, rule, 0.3, **RUN)
    f, y = flat_rhs(s, rule, 0.3, **RUN), pack(s, rule)
    h = 1e-6
    central = np.column_stack([(f(y + h * e) - f(y - h * e)) / (2 * h) for e in np.eye(y.size)])
    scale = np.abs(central).max()
    np.testing.assert_allclose(J, central, rtol=0, atol=1e-7 * scale)
    d = rng.standard_normal(y.size)
    along = (f(y + h * d) - f(y - h * d)) / (2 * h)
    np.testing.assert_allclose(J @ d, along, rtol=0, atol=1e-7 * np.abs(along).max())


@pytest.mark.parametrize("rule,train_v", [("bp", True), ("bp", False), ("fa", True), ("afa", True)])
def test_flat_spectrum_is_physical_spectrum_plus_structural_zeros(rule, train_v, rng):
    s = random_state(3, 2, rng)
    J = odes.jacobian(s, rule, 0.3, train_v=train_v)
    Jp = odes.jacobian(s, rule, 0.3, train_v=train_v, physical=True)
    names, _ = coordinates(3, 2, rule, train_v)
    assert Jp.shape == (len(names), len(names))
    flat = np.sort_complex(np.linalg.eigvals(J))
    phys = np.linalg.eigvals(Jp)
    zeros = np.zeros(J.shape[0] - len(names))
    np.testing.assert_allclose(flat, np.sort_complex(np.concatenate([phys, zeros])), atol=1e-9)


def test_scm_plateau_at_finite_eta_is_the_formula_plus_O_eta():
    """The fixed point found from the O(eta) plateau moves away from it linearly in eta."""
    dev = []
    for eta in (0.1, 0.05, 0.025):
        fp = odes.fixed_point(scm_plateau(), "bp", eta, train_v=False)
        assert fp.success and fp.residual < 1e-14
        d = odes.derivatives(fp.state, "bp", eta, train_v=False)
        assert max(np.abs(d["Q"]).max(), np.abs(d["R"]).max()) < 1e-14
        ref = scm_plateau()
        dev.append(max(np.abs(fp.state.Q - ref.Q).max(), np.abs(fp.state.R - ref.R).max()))
        assert fp.eps_g == pytest.approx(0.011611, abs=0.01 * eta + 2e-6)
    assert 0 < dev[2] < dev[1] < dev[0] < 0.02
    for a, b in zip(dev, dev[1:]):
        assert 1.9 < a / b < 2.1, dev          # O(eta): halving eta halves the shift


def test_plateau_is_a_saddle_with_an_O_eta_specialisation_direction():
    lam = []
    for eta in (0.1, 0.05):
        fp = odes.fixed_point(scm_plateau(), "bp", eta, train_v=False)
        lead = fp.eigenvalues[0]
        assert lead.imag == 0 and lead.real > 10 * abs(fp.eigenvalues[1])
        assert np.all(fp.eigenvalues[fp.unstable:].real <= 0) and fp.unstable >= 1
        # the leading direction separates the student units' overlaps with the teacher (R only)
        vec = fp.eigenvectors[:, 0].real
        Q, R, _, _ = unpack(vec, 2, 2)
        assert np.abs(Q).max() < 1e-6 * np.abs(R).max()
        np.testing.assert_allclose(R, R[0, 0] * np.array([[1, -1], [-1, 1]]), atol=1e-6 * abs(R[0, 0]))
        lam.append(lead.real)
    assert 1.9 < lam[0] / lam[1] < 2.1                   # lambda_+ = O(eta)


def escape_time(fp, delta, eta):
    """Time for eps_g to fall to half its plateau value from fp + delta along the unstable
    eigenvector (R only; |w_1 - w_2|^2 is raised by O(delta^2) so that weights realise it)."""
    y = pack(fp.state, "bp") + delta * fp.eigenvectors[:, 0].real / np.abs(fp.eigenvectors[:, 0]).max()
    Q, R, v, _ = unpack(y, 2, 2)
    Q = Q + 5 * delta**2 * np.eye(2)
    st = odes.State(Q=Q, R=R, T=fp.state.T, v=v, v_star=fp.state.v_star)
    target = 0.5 * fp.eps_g
    res = odes.integrate(st, "bp", eta, times=np.arange(0, 4001.0), train_v=False, stop_eps=target)
    assert res.status == "stopped"
    l1, l2 = np.log(res.eps_g[-2:])
    return res.t[-2] + (np.log(target) - l1) / (l2 - l1)


def test_escape_time_slope_is_one_over_the_unstable_eigenvalue():
    eta = 0.1
    fp = odes.fixed_point(scm_plateau(), "bp", eta, train_v=False)
    deltas = np.array([1e-3, 1e-4, 1e-5, 1e-6, 1e-7])
    t_esc = np.array([escape_time(fp, d, eta) for d in deltas])
    slope = np.polyfit(np.log(1 / deltas), t_esc, 1)[0]
    lam = fp.eigenvalues[0].real
    assert slope * lam == pytest.approx(1.0, rel=0.02), (slope, 1 / lam)


def test_stable_fixed_point_of_noisy_bp(rng):
    """BP with label noise converges to a stable fixed point: the integrated ODE ends there."""
    s = odes.State(Q=np.eye(2) * 0.9, R=np.diag([0.9, 0.9]) + 0.01, T=np.eye(2), v=np.ones(2),
                   v_star=np.ones(2))
    end = odes.integrate(s, "bp", 0.2, times=[0, 1e5], sigma=0.3)
    guess = odes.State(Q=end.Q[-1], R=end.R[-1], T=s.T, v=end.v[-1], v_star=s.v_star)
    fp = odes.fixed_point(guess, "bp", 0.2, sigma=0.3)
    assert fp.unstable == 0 and fp.eigenvalues[0].real < 0
    np.testing.assert_allclose(fp.state.Q, end.Q[-1], atol=1e-7)
    assert fp.eps_g == pytest.approx(end.eps_g[-1], rel=1e-6)


def test_a_root_finder_failure_is_an_error(monkeypatch):
    import scipy.optimize

    def fail(fun, x0, **kw):
        return scipy.optimize.OptimizeResult(x=x0, success=False, message="gave up")
    monkeypatch.setattr(scipy.optimize, "root", fail)
    with pytest.raises(odes.FixedPointError, match=r"no fixed point found from this state \(max "
                                                   r"\|dy/dt\| = [0-9.e-]+ at the end\): gave up"):
        odes.fixed_point(scm_plateau(), "bp", 0.1, train_v=False)


def test_a_root_reached_to_round_off_is_accepted():
    """The README's plateau (R = 6**-0.5, one ulp from 1/sqrt(6)): hybr stops 'not making good
    progress' on the root itself; the residual decides."""
    s = odes.State(Q=[[1 / 3, 1 / 3], [1 / 3, 1 / 3]], R=[[6**-0.5] * 2] * 2, T=np.eye(2),
                   v=[1, 1], v_star=[1, 1])
    fp = odes.fixed_point(s, "bp", 0.1, train_v=False)
    ref = odes.fixed_point(scm_plateau(), "bp", 0.1, train_v=False)
    assert fp.residual < 1e-15 and fp.unstable == ref.unstable == 3
    np.testing.assert_allclose(fp.eigenvalues, ref.eigenvalues, rtol=1e-6)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "odes", *map(str, args)], capture_output=True,
                          text=True)


def test_cli_fixed_point(tmp_path):
    ic = tmp_path / "ic.json"
    scm_plateau().to_json(ic)
    p = run_cli("--rule", "bp", "--eta", 0.05, "--freeze-v", "--init", ic, "--fixed-point")
    assert p.returncode == 0, p.stderr
    fp = odes.fixed_point(scm_plateau(), "bp", 0.05, train_v=False)
    assert f"eps_g = {fp.eps_g:.10g}" in p.stdout
    assert f"{fp.unstable} unstable" in p.stdout
    assert f"{fp.eigenvalues[0].real: .8e}" in p.stdout
    bad = run_cli("--rule", "bp", "--eta", 0.05, "--init", ic, "--fixed-point", "--t-max", 10)
    assert bad.returncode == 2 and "--t-max is for integrations" in bad.stderr
    none = run_cli("--rule", "bp", "--eta", 0.1, "--fixed-point")      # random weights: no root
    assert none.returncode == 1
    assert len(none.stderr.strip().splitlines()) == 1 and "no fixed point found" in none.stderr
    assert json.loads(ic.read_text())["Q"][0][0] == pytest.approx(1 / 3)
