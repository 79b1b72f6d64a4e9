"""Observables of order parameters: generalisation error and alignment angles.

All functions broadcast over leading axes, so a whole trajectory (n_times, K, K) ... is evaluated
in one call.  These are the project's only definitions of eps_g and of the angles; the simulator
records its order parameters and calls them too.
"""
import numpy as np

from .activations import activation_code
from .gaussian import second_moment


def _i2(X, dA, dB, activation):
    """I2 = E[g(u_a) g(u_b)] for every pair, given the cross block X and the variances dA, dB."""
    act = activation_code(activation)          # raises, naming the choices
    with np.errstate(invalid="ignore", divide="ignore"):
        return second_moment.i2(act, X, dA[..., :, None], dB[..., None, :])


def eps_g(Q, R, T, v, v_star, activation="erf"):
    """Generalisation error eps_g = 1/2 E[(yhat - y_clean)^2] in closed form (theory.md 1.2, 8.2):
    1/2 (v^T I2(Q) v - 2 v^T I2(R) v* + v*^T I2(T) v*) with the activation's I2
    (`odes.gaussian.second_moment`).

    The project's only definition of eps_g; it broadcasts over leading axes, so a whole
    trajectory is evaluated in one call.

    Parameters
    ----------
    Q : array_like
        Shape (..., K, K). Student-student overlaps.
    R : array_like
        Shape (..., K, M). Student-teacher overlaps.
    T : array_like
        Shape (M, M) or (..., M, M). Teacher-teacher overlaps.
    v : array_like
        Shape (..., K). The student's second layer.
    v_star : array_like
        Shape (M,) or (..., M). The teacher's second layer.
    activation : {'erf', 'linear', 'relu'}, default 'erf'
        g of teacher and student.

    Returns
    -------
    ndarray or float
        eps_g, of the leading shape.

    Raises
    ------
    ValueError
        For an unknown activation.

    Examples
    --------
    >>> import odes
    >>> st = odes.State.random(K=2, M=2, D=500, seed=0)
    >>> e0 = odes.eps_g(st.Q, st.R, st.T, st.v, st.v_star)
    >>> res = odes.integrate(st, "bp", 0.5, t_max=100)
    >>> odes.eps_g(res.Q, res.R, res.T, res.v, res.v_star).shape      # (n,), = res.eps_g
    (85,)
    """
    Q, R, T = np.asarray(Q, float), np.asarray(R, float), np.asarray(T, float)
    v, v_star = np.asarray(v, float), np.asarray(v_star, float)
    dQ = np.diagonal(Q, axis1=-2, axis2=-1)
    dT = np.diagonal(T, axis1=-2, axis2=-1)
    ss = np.einsum("...k,...kl,...l->...", v, _i2(Q, dQ, dQ, activation), v)
    tt = np.einsum("...m,...mn,...n->...", v_star, _i2(T, dT, dT, activation), v_star)
    st = np.einsum("...k,...km,...m->...", v, _i2(R, dQ, dT, activation), v_star)
    return 0.5 * (ss + tt - 2 * st)


def angle(x, y):
    """theta(x, y) = arccos(x.y / (``|x||y|``)) in degrees over the last axis; NaN if a vector is 0.

    Parameters
    ----------
    x, y : array_like
        Shape (..., n). The vectors, broadcast against each other.

    Returns
    -------
    ndarray or float
        The angle in degrees, in [0, 180], of the leading shape.

    Examples
    --------
    >>> import odes
    >>> float(odes.angle([1, 0], [0, 2]))
    90.0
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    nx, ny = np.linalg.norm(x, axis=-1), np.linalg.norm(y, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(x * y, axis=-1) / (nx * ny)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def degenerate_solution(Q, R, T, v_star, min_cos=0.3, min_ratio=2.0):
    """The zero-error second layer consistent with the student's specialisation (theory.md 4.2).

    Each student unit k is matched to the teacher unit pi(k) = argmax_m |R_km| / sqrt(Q_kk T_mm)
    (the cosine between w_k and w*_m) and v_deg_k = sgn(R_{k,pi(k)}) v*_{pi(k)} / n_{pi(k)}, with
    n_m the number of students matched to teacher m (for K = M and a one-to-one match, n_m = 1;
    for K > M duplicated units share the teacher's weight equally).

    v_deg is defined only once the units have specialised: NaN unless, for every k, the best
    cosine is at least `min_cos` and at least `min_ratio` times the second best, and every
    teacher unit has a student (otherwise no zero-error solution of this form exists).

    Parameters
    ----------
    Q : array_like
        Shape (..., K, K). Student-student overlaps.
    R : array_like
        Shape (..., K, M). Student-teacher overlaps.
    T : array_like
        Shape (M, M) or (..., M, M). Teacher-teacher overlaps.
    v_star : array_like
        Shape (M,) or (..., M). The teacher's second layer.
    min_cos : float, default 0.3
        The smallest best cosine of a specialised unit.
    min_ratio : float, default 2.0
        How many times the second best cosine the best must be.

    Returns
    -------
    ndarray, shape (..., K)
        v_deg, NaN where the units have not specialised.

    Examples
    --------
    >>> import numpy as np, odes
    >>> T = np.eye(2)
    >>> odes.degenerate_solution(Q=T, R=-T, T=T, v_star=[1.0, 2.0])      # w_k = -w*_k
    array([-1., -2.])
    """
    Q, R, T = np.asarray(Q, float), np.asarray(R, float), np.asarray(T, float)
    v_star = np.broadcast_to(np.asarray(v_star, float), R.shape[:-2] + R.shape[-1:])
    dQ = np.diagonal(Q, axis1=-2, axis2=-1)
    dT = np.broadcast_to(np.diagonal(T, axis1=-2, axis2=-1), R.shape[:-2] + R.shape[-1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.nan_to_num(np.abs(R) / np.sqrt(dQ[..., :, None] * dT[..., None, :]), nan=0.0)
    pi = np.argmax(score, axis=-1)                                             # (..., K)
    M = R.shape[-1]
    ranked = np.sort(score, axis=-1)
    best = ranked[..., -1]
    second = ranked[..., -2] if M > 1 else np.zeros_like(best)
    specialised = np.all((best >= min_cos) & (best >= min_ratio * second), axis=-1)
    counts = np.sum(pi[..., :, None] == np.arange(M), axis=-2)                # (..., M)
    R_match = np.take_along_axis(R, pi[..., None], axis=-1)[..., 0]
    vs_match = np.take_along_axis(v_star, pi, axis=-1)
    n_match = np.take_along_axis(counts, pi, axis=-1)
    v_deg = np.sign(R_match) * vs_match / n_match
    ok = specialised & np.all(counts > 0, axis=-1)
    return np.where(ok[..., None], v_deg, np.nan)


def angles(Q, R, T, v, v_star, f=None, feedback=None, phi_F=None):
    """Alignment angles of theory.md section 4, in degrees, as a dict of arrays.

    They broadcast over leading axes like `eps_g`; `odes.Result.angles` and the simulator's
    angles are these.

    Parameters
    ----------
    Q : array_like
        Shape (..., K, K). Student-student overlaps.
    R : array_like
        Shape (..., K, M). Student-teacher overlaps.
    T : array_like
        Shape (M, M) or (..., M, M). Teacher-teacher overlaps.
    v : array_like
        Shape (..., K). The student's second layer.
    v_star : array_like
        Shape (M,) or (..., M). The teacher's second layer.
    f : array_like, optional
        Shape (..., K). The feedback vector (AF vector a, or FA's b).
    feedback : {'a', 'b', None}, optional
        Which one `f` is (`odes.Rule.feedback_name`).
    phi_F : float or array_like, optional
        ``|F|^2``, for the network-level angle (of the leading shape where F moves: weight
        mirroring).

    Returns
    -------
    dict of str to ndarray
        The angles, each of the leading shape:

        - 'v_vstar': theta(v, v*), teacher vs student second layer (K = M only, natural unit
          order; NaN otherwise);
        - 'v_deg': theta(v, v_deg), student vs the degenerate zero-error solution (NaN until the
          units have specialised, see `degenerate_solution`);
        - 'a_v' or 'b_v': theta(f, v), feedback vector (AF vector a, or FA's b) vs student second
          layer (when f and feedback are given);
        - 'net': network-level angle, cos = sum_k v_k a_k / sqrt(v^T Q v phi_F) (adaptive rules:
          feedback 'a' with f and phi_F).

    Examples
    --------
    >>> import odes
    >>> st = odes.State.random(K=2, M=2, D=500, seed=0)
    >>> th = odes.angles(st.Q, st.R, st.T, st.v, st.v_star, f=st.a, feedback="a", phi_F=st.phi_F)
    >>> sorted(th)
    ['a_v', 'net', 'v_deg', 'v_vstar']
    """
    v = np.asarray(v, float)
    out = {}
    K, M = np.shape(Q)[-1], np.shape(T)[-1]
    v_star_b = np.broadcast_to(np.asarray(v_star, float), v.shape[:-1] + (M,))
    out["v_vstar"] = angle(v, v_star_b) if K == M else np.full(v.shape[:-1], np.nan)
    out["v_deg"] = angle(v, degenerate_solution(Q, R, T, v_star))
    if feedback in ("a", "b") and f is not None:
        out[f"{feedback}_v"] = angle(f, v)
    if feedback == "a" and f is not None and phi_F is not None and np.all(np.asarray(phi_F) > 0):
        vQv = np.einsum("...k,...kl,...l->...", v, np.asarray(Q, float), v)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.sum(v * np.asarray(f, float), axis=-1) / np.sqrt(vQv * phi_F)
        out["net"] = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    return out
