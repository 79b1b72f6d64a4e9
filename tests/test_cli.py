"""The command line `python -m odes`."""
import json
import subprocess
import sys

import numpy as np
import pytest

import odes


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "odes", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def test_round_trip_out_csv_plot(tmp_path):
    out, csv, png = tmp_path / "run.npz", tmp_path / "run.csv", tmp_path / "run.png"
    p = run("--rule", "afa", "--K", 2, "--M", 2, "--eta", 0.5, "--seed", 4, "--D", 300,
            "--t-max", 10, "--out", out, "--csv", csv, "--plot", png)
    assert p.returncode == 0, p.stderr
    assert "eps_g" in p.stdout and "theta_a_v" in p.stdout
    res = odes.Result.load(out)
    with np.load(out) as z:
        assert {"t", "eps_g", "Q", "R", "v", "a"} <= set(z.files)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["params"]["seed"] == 4 and meta["params"]["D"] == 300
    # the same run through the API gives the same numbers
    api = odes.integrate(odes.State.random(2, 2, 300, seed=4), "afa", 0.5, t_max=10)
    np.testing.assert_allclose(res.eps_g, api.eps_g, rtol=1e-12)
    assert csv.read_text().splitlines()[0].startswith("t,eps_g")
    assert png.stat().st_size > 10_000


def test_init_file(tmp_path):
    ic = tmp_path / "ic.json"
    odes.State(Q=np.eye(2), R=np.zeros((2, 2)), T=np.eye(2), v=np.ones(2), v_star=np.ones(2),
               b=np.array([1.0, -1.0])).to_json(ic)
    p = run("--rule", "fa", "--eta", 0.5, "--init", ic, "--times", "0,1,10")
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[2].split()
    assert float(first[0]) == 0 and float(first[1]) == pytest.approx(2 / 3, abs=1e-5)


def write_ic(path, **change):
    d = dict(Q=[[1, 0], [0, 1]], R=[[0, 0], [0, 0]], T=[[1, 0], [0, 1]], v=[1, 1], v_star=[1, 1])
    d.update(change)
    d = {k: x for k, x in d.items() if x is not None}
    path.write_text(json.dumps(d))
    return path


@pytest.mark.parametrize("change,args,match", [
    (dict(T=None), (), "T: missing"),
    (dict(R=[[0, 0, 0], [0, 0, 0]]), (), "R: expected shape"),
    (dict(Q=[[1, 2], [2, 1]]), (), "not positive semidefinite"),
    ({}, ("--eta", "-1"), "--eta must be"),
    ({}, ("--rule", "sgd"), "invalid choice"),
    ({}, ("--rule", "fa"), "b: rule 'fa' needs"),
    ({}, ("--K", "0"), "positive integer"),
    ({}, ("--D", "100"), "--D is for random weights"),
    ({}, ("--seed", "3"), "--seed is for random weights"),
    ({}, ("--rtol", "0"), "--rtol must be finite and in (0, 1)"),
    ({}, ("--phi-F", "0.1"), "--phi-F is for random weights"),
    ({}, ("--times", "-1,0.5,1"), "--times must be non-negative and strictly increasing"),
    (dict(v=["a", 1]), (), "v: expected numbers, got text"),
    (dict(T="eye"), (), "T: expected numbers, got text"),
    (dict(Q=[[1, "0"], [0, 1]]), (), "Q: expected numbers, got text"),
    ({}, ("--atol", "-1e-9"), "--atol must be finite and >= 0"),
    ({}, ("--method", "scipy-FOO"), "--method: unknown method 'scipy-FOO'"),
    ({}, ("--times", "0,1,5"), "--t-max 1 disagrees with the last of --times (5)"),
    ({}, ("--nodes", "12"), "--nodes is for the ODEs evaluated by quadrature"),
    ({}, ("--weight-decay", "-0.1"), "--weight-decay must be finite and >= 0"),
    ({}, ("--rule", "pepita"), "a, p, phi_F: rule 'pepita' needs the state's a (w_k.F/sqrt(D), K values), p"),
    ({}, ("--mirror-eta", "0.5"), "--mirror-eta (weight mirroring) needs a rule with F"),
    ({}, ("--mirror-batch", "0"), "--mirror-batch: must be a positive integer"),
    ({}, ("--mirror-noise", "0"), "--mirror-noise: mirror_noise must be finite and > 0"),
    ({}, ("--pre-mirror", "3"), "--pre-mirror: pre_mirror = 3 needs mirror_eta > 0"),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, change, args, match):
    ic = write_ic(tmp_path / "ic.json", **change)
    out = tmp_path / "out.npz"
    base = {"--rule": "bp", "--eta": "0.5"}
    for flag, val in zip(args[::2], args[1::2]):
        base[flag] = val
    argv = [x for kv in base.items() for x in kv] + ["--init", ic, "--t-max", 1, "--out", out,
                                                      "--csv", tmp_path / "o.csv"]
    p = run(*argv)
    assert p.returncode == 2
    assert match in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not out.exists() and not (tmp_path / "o.csv").exists()


def test_divergence_exit_1_nothing_written(tmp_path):
    out = tmp_path / "out.npz"
    p = run("--rule", "pepita-lin", "--eta", 0.5, "--sigma-F", 1.0, "--t-max", 100, "--out", out)
    assert p.returncode == 1 and "diverged at t ~" in p.stderr and not out.exists()


def test_help_documents_every_flag():
    p = run("--help")
    for flag in ("--rule", "--K", "--M", "--eta", "--eta-v", "--sigma", "--freeze-v", "--init",
                 "--seed", "--D", "--t-max", "--dt", "--method", "--times", "--out", "--csv", "--plot",
                 "--rtol", "--atol", "--fixed-point", "--nodes", "--weight-decay"):
        assert flag in p.stdout


@pytest.mark.parametrize("args,match", [
    (("--t-max", "0"), "--t-max must be finite and > 0"),
    (("--t-max", "1", "--out", "run.txt"), "--out: expected a file name ending in .npz"),
    (("--t-max", "1", "--plot", "nodir/run.png"), "--plot: directory nodir does not exist"),
])
def test_more_bad_input(tmp_path, args, match):
    p = run("--rule", "bp", "--eta", "0.5", *args, cwd=tmp_path)
    assert p.returncode == 2 and match in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_divergence_prints_the_table_up_to_the_last_finite_time(tmp_path):
    p = run("--rule", "pepita-lin", "--eta", 0.5, "--sigma-F", 0.1, "--t-max", 100, cwd=tmp_path)
    assert p.returncode == 1 and "diverged at t ~" in p.stderr
    rows = [line.split() for line in p.stdout.splitlines()[2:]]
    assert len(rows) > 3 and float(rows[0][0]) == 0 and float(rows[-1][0]) < 100


def test_tolerances_reach_the_solver(tmp_path):
    """--rtol/--atol are passed on (recorded, and a loose rtol changes the numbers)."""
    outs = []
    for rtol in ("1e-3", "1e-10"):
        out = tmp_path / f"r{rtol}.npz"
        p = run("--rule", "bp", "--eta", 0.5, "--t-max", 50, "--rtol", rtol, "--atol", "1e-12",
                "--out", out)
        assert p.returncode == 0, p.stderr
        res = odes.Result.load(out)
        assert res.params["rtol"] == float(rtol) and res.params["atol"] == 1e-12
        assert res.params["method"] == "dopri5"
        outs.append(res)
    assert outs[0].stats["n_steps"] < outs[1].stats["n_steps"]
    assert 1e-8 < np.abs(outs[0].eps_g - outs[1].eps_g).max() < 1e-2


def test_phi_F_sets_the_scale_of_F(tmp_path):
    out = tmp_path / "run.npz"
    p = run("--rule", "afa", "--eta", 0.05, "--phi-F", 0.1, "--D", 400, "--seed", 2, "--t-max", 1,
            "--out", out)
    assert p.returncode == 0, p.stderr
    meta = json.loads(out.with_suffix(".json").read_text())["params"]
    assert meta["phi_F_scale"] == 0.1 and meta["sigma_F"] == pytest.approx((0.1 / 400) ** 0.5)
    expected = odes.State.random(2, 2, 400, seed=2, sigma_F=(0.1 / 400) ** 0.5)
    assert meta["initial_state"]["phi_F"] == pytest.approx(expected.phi_F, rel=1e-12)
    assert abs(expected.phi_F - 0.1) < 5 * 0.1 * (2 / 400) ** 0.5       # E|F|^2 = phi_F
    both = run("--rule", "afa", "--eta", 0.05, "--phi-F", 0.1, "--sigma-F", 0.01, "--t-max", 1)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_latex_writes_the_equations_with_their_definitions(tmp_path):
    tex = tmp_path / "eqs.tex"
    p = run("--rule", "afa", "--K", 2, "--M", 2, "--latex", tex)
    assert p.returncode == 0, p.stderr
    text = tex.read_text()
    assert "I_4(a,b,c,d)  = E[g'(u_a) g'(u_b) g(u_c) g(u_d)]" in text and "afa" in text.splitlines()[1]
    body = text[text.index("\\begin{aligned}"):]
    assert body.count("\\frac{\\mathrm{d}") == 3 + 4 + 2 + 2          # Q (k <= l), R, v, a
    assert all(line.startswith("%") for line in text[:text.index("\\begin")].splitlines())
    bad = run("--rule", "afa", "--latex", tmp_path / "eqs.txt")
    assert bad.returncode == 2 and "--latex: expected a file name ending in .tex" in bad.stderr
    assert run("--rule", "bp", "--t-max", 1).returncode == 2              # --eta is still required


def test_exact_pepita_from_the_command_line(tmp_path):
    """--rule pepita integrates the quadrature ODE (the same numbers as the API, with --nodes
    recorded); its equations have no closed form, so --latex refuses it, writing nothing."""
    out = tmp_path / "pep.npz"
    p = run("--rule", "pepita", "--eta", 0.3, "--seed", 2, "--D", 200, "--phi-F", 1.0,
            "--times", "0,1,3", "--nodes", 10, "--out", out)
    assert p.returncode == 0, p.stderr
    api = odes.integrate(odes.State.random(2, 2, 200, seed=2, sigma_F=np.sqrt(1.0 / 200)), "pepita",
                         0.3, times=[0, 1, 3], nodes=10)
    np.testing.assert_allclose(odes.Result.load(out).eps_g, api.eps_g, rtol=1e-12)
    assert json.loads(out.with_suffix(".json").read_text())["params"]["nodes"] == 10
    tex = tmp_path / "eqs.tex"
    p = run("--rule", "pepita", "--latex", tex)
    assert p.returncode == 2 and "no closed-form ODE" in p.stderr and not tex.exists()


@pytest.mark.parametrize("flag", ["--K", "--M"])
def test_init_refuses_K_or_M_that_disagree_with_the_file(tmp_path, capsys, monkeypatch, flag):
    """--init with a 2 x 2 state and --K 3 (or --M 3): exit 2, one line naming the flag, no output
    (rather than silently integrating the file's sizes)."""
    import warnings
    from odes.cli import main
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)   # main replaces it
    ic, out = write_ic(tmp_path / "ic.json"), tmp_path / "out.npz"
    code = main(["--rule", "bp", "--eta", "0.5", "--init", str(ic), flag, "3", "--t-max", "1",
                 "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and f"but {flag} 3 was given" in err, err
    assert sorted(tmp_path.iterdir()) == [ic]
