"""`python -m simulate` through a subprocess: outputs, and bad input (one line on stderr, exit
status 2, nothing written)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "simulate", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def test_cli_writes_table_npz_json_csv_plot(tmp_path):
    out = tmp_path / "run.npz"
    p = run_cli("--rule", "pepita", "--K", "2", "--M", "2", "--eta", "0.5", "--D", "200",
                "--t-max", "5", "--seeds", "3", "--jobs", "2", "--sigma-F", "0.03", "--quiet",
                "--also", "pepita-lin", "--nodes", "10", "--out", str(out), "--csv",
                str(tmp_path / "run.csv"), "--plot", str(tmp_path / "run.png"))
    assert p.returncode == 0, p.stderr
    assert "eps_g sim" in p.stdout and "eps_g ode" in p.stdout and "sim-pepita-lin" in p.stdout
    with np.load(out) as z:
        assert z["eps_g"].shape == z["eps_g_ode"].shape == (3, len(z["t"]))
        assert z["eps_g_also_pepita-lin"].shape == (3, len(z["t"]))
        assert z["Q"].shape == (3, len(z["t"]), 2, 2) and "a" in z.files and "a_ode" in z.files
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["params"]["sigma_F"] == 0.03 and meta["seeds"] == [0, 1, 2]
    assert meta["ode_rule"] == "pepita" and meta["also"] == ["pepita-lin"]
    assert meta["ode_params"]["nodes"] == 10 and meta["params"]["weight_decay"] == 0.0
    assert (tmp_path / "run.png").exists() and (tmp_path / "run.csv").exists()


def test_cli_no_ode_and_options(tmp_path):
    p = run_cli("--rule", "fa", "--eta", "0.2", "--eta-v", "0.1", "--sigma", "0.1", "--D", "100",
                "--t-max", "2", "--seeds", "2", "--no-ode", "--student-init", "small", "--v-star", "ones",
                "--freeze-v", "--times", "0,1,2", "--quiet", "--out", str(tmp_path / "r.npz"))
    assert p.returncode == 0, p.stderr
    assert "eps_g ode" not in p.stdout
    meta = json.loads((tmp_path / "r.json").read_text())
    assert meta["params"]["init"] == "small" and meta["params"]["train_v"] is False
    with np.load(tmp_path / "r.npz") as z:
        assert z["t"].tolist() == [0.0, 1.0, 2.0] and "eps_g_ode" not in z.files


def test_cli_init_realises_the_state_for_every_seed(tmp_path):
    """--init ic.json --D N: every seed starts from weights with exactly the given order parameters
    (each with its own rotation), and so does the ODE."""
    import odes
    st = odes.State(Q=[[1.0, 0.1], [0.1, 0.9]], R=[[0.2, 0.0], [0.0, 0.1], [0.1, 0.3]][:2],
                    T=np.eye(2), v=[0.5, -0.4], v_star=[1.0, 1.0], a=[0.8, -0.5], p=[0.0, 0.1],
                    phi_F=1.5)
    st.to_json(tmp_path / "ic.json")
    out = tmp_path / "r.npz"
    p = run_cli("--rule", "afa", "--init", str(tmp_path / "ic.json"), "--D", "300", "--eta", "0.2",
                "--t-max", "1", "--seeds", "2", "--quiet", "--out", str(out))
    assert p.returncode == 0, p.stderr
    with np.load(out) as z:
        for s in range(2):
            np.testing.assert_allclose(z["Q"][s, 0], st.Q, atol=1e-12)
            np.testing.assert_allclose(z["R"][s, 0], st.R, atol=1e-12)
            np.testing.assert_allclose(z["a"][s, 0], st.a, atol=1e-12)
            np.testing.assert_allclose(z["a_ode"][s, 0], st.a, atol=1e-12)
        assert not np.allclose(z["Q"][0, -1], z["Q"][1, -1])     # different rotations and data
    meta = json.loads((tmp_path / "r.json").read_text())
    assert meta["params"]["init_file"].endswith("ic.json") and meta["params"]["D"] == 300


@pytest.mark.parametrize("bad", [
    ["--D", "0"], ["--eta", "-0.5"], ["--sigma-F", "-1"], ["--rule", "sgd"], ["--K", "0"],
    ["--M", "0"], ["--eta", "abc"], ["--D", "ten"], ["--seeds", "0"], ["--jobs", "x"],
    ["--sigma", "nan"], ["--times", "1,0"], ["--method", "rk5"], ["--also", "afa"],
    ["--also", "sgd"], ["--nodes", "12"], ["--nodes", "0"], ["--also", "bp", "--no-ode", ""],
    ["--init", "missing.json"], ["--rule", "pepita", "--also", "pepita"], ["--also", "fa"],
    ["--weight-decay", "-1"], ["--weight-decay", "inf"], ["--mirror-eta", "0.5"],
    ["--rule", "pepita", "--mirror-batch", "0"], ["--rule", "pepita", "--mirror-eta", "-1"],
    ["--rule", "pepita", "--ff-theta", "1"], ["--rule", "ff", "--ff-positive", "both"]])
def test_cli_bad_input(tmp_path, bad):
    args = {"--rule": "bp", "--eta": "0.5", "--t-max": "1", "--D": "50"}
    for flag, value in zip(bad[::2], bad[1::2]):
        args[flag] = value
    flat = [x for kv in args.items() for x in kv if x != ""]
    out = tmp_path / "out.npz"
    p = run_cli(*flat, "--out", str(out), "--plot", str(tmp_path / "out.png"), cwd=tmp_path)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], p.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_seed_diverging_exits_1_with_one_line_warnings(tmp_path):
    out = tmp_path / "run.npz"
    p = run_cli("--rule", "pepita", "--eta", "0.05", "--sigma-F", "1", "--D", "500", "--t-max", "100",
                "--seeds", "2", "--quiet", "--out", str(out))
    assert p.returncode == 1, p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines[-1].startswith("python -m simulate: every seed diverged")
    warn = [line for line in lines if "warning" in line]
    assert warn and all(w.startswith("python -m simulate: warning: pepita: 2 of 2 seeds diverged")
                        for w in warn)
    assert not any(".py:" in line for line in lines)        # no file path, no source line
    assert "diverged" in p.stdout and not out.exists()


@pytest.mark.parametrize("flag", ["--K", "--M"])
def test_cli_init_refuses_K_or_M_that_disagree_with_the_file(tmp_path, capsys, monkeypatch, flag):
    """--init with a 2 x 2 state and --K 3 (or --M 3): exit 2, one line naming the flag, no output
    (rather than silently simulating the file's sizes)."""
    import warnings
    import odes
    from simulate.cli import main
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)   # main replaces it
    ic, out = tmp_path / "ic.json", tmp_path / "out.npz"
    odes.State(Q=np.eye(2), R=np.zeros((2, 2)), T=np.eye(2), v=[1.0, 1.0],
               v_star=[1.0, 1.0]).to_json(ic)
    code = main(["--rule", "bp", "--eta", "0.5", "--init", str(ic), flag, "3", "--D", "50",
                 "--t-max", "1", "--seeds", "1", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and f"but {flag} 3 was given" in err, err
    assert sorted(tmp_path.iterdir()) == [ic]
