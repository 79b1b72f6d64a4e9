"""Random weights of a teacher-student network (theory.md section 1.3), shared by the ODE's
`--seed` initial conditions and by the simulator, so that both start from the same draw.

One integer seed is split with numpy's SeedSequence into four independent streams: teacher,
student, feedback (F and b) and data (the simulator's inputs and label noise).
"""
from dataclasses import dataclass

import numpy as np

STUDENT_INITS = ("large", "small", "mixed", "zero")


def default_sigma_F(D):
    """The scale of F in the paper's released code: entries N(0, sigma_F^2) with
    sigma_F = 0.05 sqrt(2/D), so |F|^2 ~ 0.005 (theory.md 2.3)."""
    return 0.05 * (2.0 / D) ** 0.5
V_STAR_INITS = ("gaussian", "ones")


@dataclass
class Weights:
    """Weights in the convention of theory.md: entries O(1), pre-activation lambda = W x / sqrt(D).

    Drawn by `draw_weights`, built by `odes.realise` from a state, and taken by `simulate.run`
    (``weights=``).

    Parameters
    ----------
    W : ndarray
        Shape (K, D). The student's first layer.
    W_star : ndarray
        Shape (M, D). The teacher's first layer.
    v : ndarray
        Shape (K,). The student's second layer.
    v_star : ndarray
        Shape (M,). The teacher's second layer.
    F : ndarray
        Shape (D,). The PEPITA/AFA projection.
    b : ndarray
        Shape (K,). FA's feedback.

    Attributes
    ----------
    D : int
        The input dimension, from the shape of W.

    Examples
    --------
    >>> import odes
    >>> w = odes.draw_weights(K=2, M=2, D=500, seed=0)
    >>> w.W.shape, w.D
    ((2, 500), 500)
    """
    W: np.ndarray
    W_star: np.ndarray
    v: np.ndarray
    v_star: np.ndarray
    F: np.ndarray
    b: np.ndarray

    @property
    def D(self):
        return self.W.shape[1]

    def copy(self):
        """A copy with every array copied (as floats).

        Returns
        -------
        Weights
        """
        return Weights(*(np.array(x, dtype=float, copy=True) for x in
                         (self.W, self.W_star, self.v, self.v_star, self.F, self.b)))


def streams(seed):
    """Four independent generators (teacher, student, feedback, data) from one seed."""
    ss = np.random.SeedSequence(seed)
    return [np.random.default_rng(s) for s in ss.spawn(4)]


def check_sizes(K, M, D, copies=1):
    """Refuse (ValueError, one line) sizes that are not positive integers, and networks whose
    `copies` sets of weights (one per seed of a simulation) cannot fit in this machine's memory,
    before anything is allocated."""
    for name, x in (("K", K), ("M", M), ("D", D)):
        if int(x) != x or x < 1:
            raise ValueError(f"{name} must be a positive integer, got {x!r}")
    # W, its working copy, W*, F and an input: 2K + M + 2 rows of D doubles per copy
    need = 8.0 * D * (2 * K + M + 2) * copies
    have = memory_bytes()
    if need > have:
        whose = f"the weights of {copies} seeds" if copies > 1 else "the weights"
        raise ValueError(f"D = {D:g} with K = {K}, M = {M}: {whose} need {need / 2**30:.3g} GiB, "
                         f"more than this machine's {have / 2**30:.3g} GiB of memory")


def memory_bytes():
    """This machine's physical memory in bytes."""
    import os
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def student_init(init, W, v, D, train_v=True, v_star="gaussian"):
    """The student's first layer W (N(0,1) entries, any shape) and second layer v (K, N(0,1)
    entries) scaled as `init` wants them (see `draw_weights`), and v = 1 for a frozen second
    layer with v* = ones: the one definition of the initialisations, for the weights and for the
    overlap sampler's draw (which passes the scale of one entry as W)."""
    if init == "small":
        W, v = 1e-3 * W, 1e-3 * v
    elif init == "mixed":
        W, v = W / np.sqrt(D), v / np.sqrt(len(v))
    elif init == "zero":
        W, v = 0 * W, 0 * v
    if not train_v and v_star == "ones":
        v = np.ones(len(v))
    return W, v


def draw_weights(K, M, D, seed, init="large", v_star="gaussian", sigma_F=None, train_v=True):
    """Draw teacher, student, F and b.

    One integer seed is split with numpy's SeedSequence into four independent streams: teacher,
    student, feedback (F and b) and data (the simulator's inputs and label noise, not used here).
    The ODE's random initial conditions (`odes.State.random`) and the simulator use this draw, so
    that both start from the same weights.

    Parameters
    ----------
    K, M : int
        Student and teacher widths.
    D : int
        Input dimension.
    seed : int
        The seed.
    init : {'large', 'small', 'mixed', 'zero'}, default 'large'
        Student initialisation: 'large' (W, v entries N(0,1)), 'small' (x 1e-3), 'mixed'
        (W ~ N(0, 1/D), v ~ N(0, 1/K)) or 'zero'.
    v_star : {'gaussian', 'ones'}, default 'gaussian'
        The teacher's second layer: N(0,1) entries, or ones.
    sigma_F : float, optional
        Standard deviation of the entries of F (default `default_sigma_F` (D), the paper's
        0.05 sqrt(2/D), ``|F|^2 ~ 0.005``).
    train_v : bool, default True
        With a frozen second layer (False) the student's v starts equal to 1 (soft committee
        machine) when v_star is 'ones', otherwise it is drawn as for a trained one.

    Returns
    -------
    Weights

    Raises
    ------
    ValueError
        For sizes that are not positive integers or whose weights do not fit in this machine's
        memory, an unknown init or v_star, or a sigma_F that is not finite and >= 0.

    Examples
    --------
    >>> import odes
    >>> w = odes.draw_weights(K=2, M=2, D=500, seed=0)
    >>> st = odes.State.from_weights(w.W, w.W_star, w.v, w.v_star, F=w.F, b=w.b)
    >>> w1 = odes.draw_weights(2, 2, 500, seed=1, init="small", v_star="ones")
    """
    check_sizes(K, M, D)
    if init not in STUDENT_INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {', '.join(STUDENT_INITS)}")
    if v_star not in V_STAR_INITS:
        raise ValueError(f"unknown v_star init {v_star!r}; choose one of {', '.join(V_STAR_INITS)}")
    if sigma_F is None:
        sigma_F = default_sigma_F(D)
    if not np.isfinite(sigma_F) or sigma_F < 0:
        raise ValueError(f"sigma_F must be finite and >= 0, got {sigma_F!r}")
    rng_teacher, rng_student, rng_feedback, _ = streams(seed)
    W_star = rng_teacher.standard_normal((M, D))
    vs = rng_teacher.standard_normal(M) if v_star == "gaussian" else np.ones(M)
    W = rng_student.standard_normal((K, D))
    v = rng_student.standard_normal(K)
    W, v = student_init(init, W, v, D, train_v, v_star)
    F = sigma_F * rng_feedback.standard_normal(D)
    b = rng_feedback.standard_normal(K)
    return Weights(W, W_star, v, vs, F, b)
