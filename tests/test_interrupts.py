"""Ctrl-C: every command line stops within a second or two (the seeds and integrations in flight
included), prints one line, exits 130 and leaves no file; an interrupted sweep resumes."""
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import odes
import simulate
import sweep

# SIGINT reaches the child even when this test runs under a shell that ignores it (background jobs)
_DEFAULT_SIGINT = dict(preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def interrupt(args, cwd, ready, timeout=300):
    """Start `python -m args` in cwd, wait until ready(stderr so far) is true, send SIGINT and
    return (exit status, seconds from the signal to the exit, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", *map(str, args)], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **_DEFAULT_SIGINT)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stderr.read1(4096), b"")))
    reader.start()
    start = time.monotonic()
    while not ready(b"".join(chunks).decode(errors="replace")):
        assert proc.poll() is None, b"".join(chunks).decode()
        assert time.monotonic() - start < timeout, "never got going"
        time.sleep(0.1)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    seconds = time.monotonic() - sent
    reader.join()
    return proc.returncode, seconds, b"".join(chunks).decode(errors="replace")


def computing_for(seconds):
    """A ready() that is true `seconds` after the progress bar first shows (after the compile)."""
    shown = []

    def ready(err):
        if "|" in err and not shown:
            shown.append(time.monotonic())
        return bool(shown) and time.monotonic() - shown[0] >= seconds
    return ready


@pytest.mark.parametrize("args", [
    # the run: 4 seeds of ~25 s each at D = 2000 (numba's compile, which holds the
    # interpreter, is over once the progress bar shows; the signal is sent 3 s after that)
    ("simulate", "--rule", "bp", "--eta", "0.5", "--D", "2000", "--seeds", "4", "--t-max", "2000",
     "--out", "run.npz"),
    # exact PEPITA at K = M = 3: ~30 s of ODE before it diverges at t ~ 165 (the run);
    # dopri5 in step budgets, bdf on a thread
    ("odes", "--rule", "pepita", "--K", "3", "--M", "3", "--eta", "0.05", "--phi-F", "1",
     "--seed", "1", "--t-max", "1000", "--out", "run.npz"),
    ("odes", "--rule", "pepita", "--K", "3", "--M", "3", "--eta", "0.05", "--phi-F", "1",
     "--seed", "1", "--t-max", "1000", "--method", "bdf", "--out", "run.npz"),
], ids=["simulate", "odes-dopri5", "odes-bdf"])
def test_ctrl_c_stops_at_once_with_one_line_and_no_file(tmp_path, args):
    # warm numba's cache first (the child imports the same tree): a compile holds the interpreter
    # and cannot be interrupted, and bdf's bar can show while its thread still compiles
    if args[0] == "simulate":
        simulate.run("bp", 2, 2, 50, 0.5, t_max=1, seeds=1, progress=False)
    else:
        method = args[args.index("--method") + 1] if "--method" in args else "dopri5"
        odes.integrate(odes.State.random(3, 3, 50, 0, sigma_F=0.1), "pepita", 0.05, t_max=0.01,
                       method=method, progress=False, nodes=2)
    code, seconds, err = interrupt(args, tmp_path, computing_for(3))
    lines = [line for line in err.splitlines()            # less progress bars and warnings
             if line.strip() and "|" not in line and "warning:" not in line]
    assert code == 130, err
    assert lines == [f"python -m {args[0]}: interrupted; nothing written"], err
    assert seconds < 3.0, seconds
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("method", ["dopri5", "bdf", "rk4"])
def test_cancel_stops_an_integration_on_a_thread(method):
    """odes.integrate(cancel=event): the integration ends (KeyboardInterrupt) soon after the event
    is set from another thread, as integrate_seeds does on Ctrl-C.  One output interval for the
    whole run, so that only the step budget (bdf: its abort flag) bounds a compiled call."""
    st = odes.State.random(3, 3, 500, 1, sigma_F=np.sqrt(1 / 500))
    odes.integrate(st, "pepita", 0.05, t_max=0.01, method=method, progress=False, nodes=2)   # warm
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        odes.integrate(st, "pepita", 0.05, times=[0.0, 1000.0], method=method, cancel=cancel,
                       progress=False, nodes=8)
    assert time.monotonic() - start < 2.5, method


def test_ctrl_c_stops_the_ode_half_of_a_comparison(tmp_path):
    """SIGINT while integrate_seeds' threads integrate (the simulation at D = 200 takes well under
    a second, the exact-PEPITA ODEs ~30 s): exit 130 within 3 s (the cancel Event reaches them)."""
    st = odes.State.random(3, 3, 50, 0, sigma_F=0.1)
    odes.integrate(st, "pepita", 0.05, t_max=0.01, progress=False, nodes=2)   # warm the caches
    simulate.run("pepita", 3, 3, 50, 0.05, t_max=1, seeds=1, progress=False)
    args = ("simulate", "--rule", "pepita", "--K", "3", "--M", "3", "--eta", "0.05", "--phi-F", "1",
            "--D", "200", "--seeds", "2", "--t-max", "1000", "--out", "run.npz")
    start = time.monotonic()
    code, seconds, err = interrupt(args, tmp_path, lambda err: time.monotonic() - start > 8)
    assert code == 130 and seconds < 3.0, (err, seconds)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_sweep_resumes(tmp_path):
    """SIGINT to a sweep after two tasks: exit 130, one line, the finished tasks kept; --resume
    finishes it with the numbers of an uninterrupted sweep."""
    spec = tmp_path / "slow.toml"
    spec.write_text('kind = "sim"\nrule = "bp"\nD = 1000\nt_max = 100.0\nseeds = 1\n[grid]\n'
                    'eta = [0.1, 0.2, 0.3, 0.4]\nsigma = [0.0, 0.2]\n')
    out = tmp_path / "s"
    code, seconds, err = interrupt(
        ["sweep", spec, "--out", out, "--jobs", "1", "--quiet"], tmp_path,
        lambda err: len(list((out / "tasks").glob("*.npz"))) >= 2)
    assert code == 130 and seconds < 3.0, (err, seconds)
    assert err.strip().splitlines() == [
        "python -m sweep: interrupted; the store keeps the finished tasks (--resume finishes it)"]
    done = len(list((out / "tasks").glob("*.npz")))
    assert 2 <= done < 8
    ds, summary = sweep.execute(spec, out, jobs=1, resume=True, progress=False)
    assert summary.found == done and summary.computed == 8 - done
    ref = sweep.run(spec, tmp_path / "ref", jobs=1, progress=False)
    assert np.array_equal(ds.eps_g.values, ref.eps_g.values, equal_nan=True)
