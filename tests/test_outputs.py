"""Outputs: unwritable paths and sizes that cannot fit are refused before any work (one line,
exit 2), and every file is written with the user's umask, like any other file."""
import os
import stat
import sys

import numpy as np
import pytest

import odes
import simulate
import sweep
from odes.cli import main as odes_main
from simulate.cli import main as simulate_main
from sweep.cli import main as sweep_main

UNWRITABLE = "/proc/tsode-out"         # an existing directory in which nothing can be created


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a run starts."""
    def refuse(*args, **kw):
        raise AssertionError("the run started before its outputs were checked")
    monkeypatch.setattr(sys.modules["odes.integrate"], "integrate", refuse)
    monkeypatch.setattr(sys.modules["simulate.comparison"], "compare", refuse)


@pytest.mark.parametrize("main,prog", [(odes_main, "odes"), (simulate_main, "simulate")])
@pytest.mark.parametrize("flag,suffix", [("--out", ".npz"), ("--csv", ".csv"), ("--plot", ".png")])
def test_an_unwritable_output_is_refused_before_the_run(main, prog, flag, suffix, no_work, capsys):
    code = main(["--rule", "bp", "--eta", "0.5", "--t-max", "1", flag, UNWRITABLE + suffix])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"python -m {prog}: error: {flag}: cannot write {UNWRITABLE}{suffix}")


def test_unwritable_latex_and_sweep_store_are_refused(tmp_path, capsys):
    assert odes_main(["--rule", "bp", "--latex", UNWRITABLE + ".tex"]) == 2
    assert "--latex: cannot write" in capsys.readouterr().err
    spec = tmp_path / "s.toml"
    spec.write_text('kind = "ode"\nrule = "bp"\neta = 0.5\nt_max = 1.0\n[grid]\nK = [1, 2]\n')
    assert sweep_main([str(spec), "--out", UNWRITABLE + "/sweep", "--jobs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "out: cannot write the store" in err[0], err


@pytest.mark.parametrize("main,prog", [(odes_main, "odes"), (simulate_main, "simulate")])
def test_a_size_that_cannot_fit_is_refused_before_allocating(main, prog, capsys):
    code = main(["--rule", "bp", "--eta", "0.5", "--t-max", "1", "--D", "10000000000", "--K", "100"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "D = 1e+10 with K = 100, M = 2: the weights" in err[0] and "GiB" in err[0]


def test_the_memory_bound_counts_the_seeds(monkeypatch):
    """8 bytes x D x (2K + M + 2) per seed against a pretended 1 GiB: 0.8 GB fits once, not 100
    times; nothing is drawn (a regression fails here instead of filling the machine's memory)."""
    monkeypatch.setattr(odes.weights, "memory_bytes", lambda: 2**30)

    def refuse(*args, **kw):
        raise AssertionError("weights drawn before the sizes were checked")
    monkeypatch.setattr(sys.modules["simulate.run"], "draw_weights", refuse)
    odes.weights.check_sizes(4, 2, 10**7)
    with pytest.raises(ValueError, match="the weights of 2 seeds need"):
        odes.weights.check_sizes(4, 2, 10**7, copies=2)
    with pytest.raises(ValueError, match="the weights of 100 seeds need"):
        simulate.run("bp", 4, 2, 10**7, 0.5, t_max=1, seeds=100)


def test_a_directory_as_output_is_refused_before_the_run(tmp_path, no_work, capsys):
    (tmp_path / "d.npz").mkdir()
    assert odes_main(["--rule", "bp", "--eta", "0.5", "--t-max", "1", "--out",
                      str(tmp_path / "d.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("it is a directory"), err


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def modes(path):
    return {p.relative_to(path): stat.S_IMODE(p.stat().st_mode) for p in path.rglob("*")
            if p.is_file()}


def test_files_follow_the_umask(tmp_path, umask):
    """Results, sidecars, tables, LaTeX and sweep stores get 0666 less the umask (they were 0600)."""
    st = odes.State.random(2, 2, 100, 0)
    res = odes.integrate(st, "bp", 0.5, t_max=1)
    res.save(tmp_path / "r.npz")
    res.to_csv(tmp_path / "r.csv")
    cmp = simulate.compare("bp", 2, 2, 100, 0.5, t_max=1, seeds=1, progress=False)
    cmp.save(tmp_path / "c.npz")
    cmp.to_csv(tmp_path / "c.csv")
    assert odes_main(["--rule", "bp", "--latex", str(tmp_path / "e.tex")]) == 0
    sweep.run(dict(kind="ode", rule="bp", eta=0.5, t_max=1.0, grid=dict(K=[1, 2])),
              tmp_path / "sw", jobs=1, progress=False)
    found = modes(tmp_path)
    assert {"r.npz", "r.json", "r.csv", "c.npz", "c.json", "c.csv", "e.tex"} <= {str(p) for p in found}
    assert any(str(p).startswith("sw/tasks/") for p in found)
    assert all(m == 0o666 & ~umask for m in found.values()), {str(p): oct(m) for p, m in found.items()}
