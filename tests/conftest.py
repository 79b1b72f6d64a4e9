"""Shared fixtures: random valid states and covariance matrices (fixed seeds), and g' of each activation in NumPy."""
import numpy as np
import pytest

from odes import State


def g_prime_numpy(activation, x):
    """g' of an activation on an array, written out independently of the kernels'."""
    x = np.asarray(x, float)
    if activation == "linear":
        return np.ones_like(x)
    if activation == "relu":
        return (x > 0).astype(float)
    return np.sqrt(2 / np.pi) * np.exp(-x * x / 2)


def random_gram(n, rng, extra=3):
    """A random positive-definite n x n Gram matrix with O(1) entries and moderate correlations."""
    X = rng.standard_normal((n, n + extra))
    return X @ X.T / (n + extra) + 0.2 * np.eye(n)


def random_state(K, M, rng, with_F=True):
    """A random valid state; the Gram blocks are in the order (w*, F, w) of State.gram()."""
    G = random_gram(M + 1 + K, rng)
    T, p, phi_F = G[:M, :M], G[:M, M], G[M, M]
    R, a, Q = G[M + 1:, :M], G[M + 1:, M], G[M + 1:, M + 1:]
    kw = dict(a=a, p=p, phi_F=phi_F) if with_F else {}
    return State(Q=Q, R=R, T=T, v=rng.standard_normal(K), v_star=rng.standard_normal(M),
                 b=rng.standard_normal(K), **kw)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# --- the documentation site, built once per test session (tests/test_docs.py, test_notebooks.py) --

DOCS_COMMAND = ["-m", "sphinx", "-W", "--keep-going", "-b", "html"]   # as in README.md


class DocsBuild:
    """One run of sphinx-build over docs/ into a temporary directory: `html` (the site),
    `executed` (the notebooks as run during the build, with their outputs), `returncode`, `log`,
    and the committed figures' (mtime, sha256) before and after the build."""

    def __init__(self, root, out):
        import hashlib
        import os
        import subprocess
        import sys

        def committed():
            return {f.name: (f.stat().st_mtime_ns, hashlib.sha256(f.read_bytes()).hexdigest())
                    for f in sorted((root / "figures").glob("*.p[dn][fg]"))}

        self.root, self.html = root, out / "html"
        self.executed = out / "jupyter_execute" / "notebooks"    # myst-nb: beside the html
        env = dict(os.environ, TSODE_SMALL="1")                  # the notebooks at small sizes
        self.figures_before = committed()
        proc = subprocess.run([sys.executable, *DOCS_COMMAND, str(root / "docs"), str(self.html)],
                              cwd=out, env=env, capture_output=True, text=True)
        self.figures_after = committed()
        self.returncode, self.log = proc.returncode, proc.stdout + proc.stderr

    def warnings(self):
        return [line for line in self.log.splitlines()
                if ("WARNING" in line or "ERROR" in line) and "[IPKernelApp]" not in line]


@pytest.fixture(scope="session")
def docs_build(tmp_path_factory):
    """The documentation site, built with warnings as errors (skipped if Sphinx is missing)."""
    from pathlib import Path
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    pytest.importorskip("sphinxarg")
    return DocsBuild(Path(__file__).resolve().parents[1], tmp_path_factory.mktemp("docs"))
