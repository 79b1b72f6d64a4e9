"""Order parameters of a teacher-student network (theory.md section 3.1).

    Q_kl = w_k.w_l/D  (K x K)   student-student overlaps
    R_km = w_k.w*_m/D (K x M)   student-teacher overlaps
    T_mn = w*_m.w*_n/D (M x M)  teacher-teacher overlaps (constant)
    v (K,), v_star (M,)         second layers
    b (K,)                      FA feedback (constant)
    a_k = w_k.F/sqrt(D)         AF vector (AFA / PEPITA, dynamic)
    p_m = w*_m.F/sqrt(D)        teacher projection of F (constant)
    phi_F = |F|^2               (constant)

A `State` is validated on construction: shapes, finite values, and a symmetric positive
semidefinite Gram matrix of all vectors (w*/sqrt(D), F, w/sqrt(D)), whose entries are exactly
[[T, p, R^T], [p^T, phi_F, a^T], [R, a, Q]].
"""
import json
from dataclasses import dataclass, fields

import numpy as np

from .rules import FEEDBACK_ADAPTIVE, FEEDBACK_FIXED, get_rule
from .weights import Weights, check_sizes, draw_weights

_PSD_TOL = 1e-10


class StateError(ValueError):
    """Invalid order parameters.

    Raised by `State` on construction and by its readers (`State.from_json`, `State.from_dict`),
    by `State.check_rule` for a field the rule needs, and by `realise`; a ValueError whose message
    says which field (or the Gram matrix) is wrong.
    """


def _has_text(x):
    if isinstance(x, (str, bytes)):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "USO" and any(_has_text(e) for e in x.ravel().tolist())
    if isinstance(x, (list, tuple)):
        return any(_has_text(e) for e in x)
    return False


def _numbers(name, x):
    """x as a float array; a StateError naming the field for text ("0.5" included) or other
    non-numbers."""
    if _has_text(x):
        raise StateError(f"{name}: expected numbers, got text")
    try:
        return np.array(x, dtype=float)
    except (TypeError, ValueError):
        raise StateError(f"{name}: not an array of numbers") from None


def _array(name, x, shape):
    x = _numbers(name, x)
    if x.shape != shape:
        raise StateError(f"{name}: expected shape {shape}, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise StateError(f"{name}: contains non-finite values (or null)")
    return x


@dataclass
class State:
    """The order parameters of one network at one time: the initial condition of `odes.integrate`.

    Fields (the module docstring of `odes.state` says what each is): Q (K, K), R (K, M), T (M, M),
    v (K,), v_star (M,), and as the rule needs them b (K,) for FA, or a (K,), p (M,) and phi_F for
    the rules with F (AFA and the PEPITA family).  Arrays are validated on construction (shapes,
    finite values, a positive semidefinite Gram matrix: `StateError`).

    Made directly, ``State(Q=..., R=..., T=..., v=..., v_star=...)``; from the overlaps of a random
    draw, ``State.random(K, M, D, seed)`` (the simulator's draw for that seed); from weights,
    ``State.from_weights(W, W_star, v, v_star, F=, b=)``; from a file, ``State.from_json(path)``
    (written by `to_json`; keys as the field names).  The properties ``K`` and ``M`` are the
    student's and the teacher's widths, from the shapes of Q and T.

    Parameters
    ----------
    Q : array_like
        Shape (K, K). Student-student overlaps Q_kl = w_k.w_l/D; symmetric.
    R : array_like
        Shape (K, M). Student-teacher overlaps R_km = w_k.w*_m/D.
    T : array_like
        Shape (M, M). Teacher-teacher overlaps T_mn = w*_m.w*_n/D (constant); symmetric.
    v : array_like
        Shape (K,). The student's second layer.
    v_star : array_like
        Shape (M,). The teacher's second layer.
    b : array_like, optional
        Shape (K,). FA's fixed feedback vector (constant); needed by 'fa'.
    a : array_like, optional
        Shape (K,). The AF vector a_k = w_k.F/sqrt(D) (dynamic); needed by AFA and the PEPITA
        family, and only together with p.
    p : array_like, optional
        Shape (M,). The teacher projection of F, p_m = w*_m.F/sqrt(D) (constant).
    phi_F : float, optional
        ``|F|^2`` (constant), >= 0.

    Raises
    ------
    StateError
        A field that is not numbers, has the wrong shape or non-finite values; Q or T not
        symmetric; a negative phi_F; a without p; a Gram matrix of (w*/sqrt(D), [F], w/sqrt(D)),
        whose entries are [[T, p, R^T], [p^T, phi_F, a^T], [R, a, Q]], that is not positive
        semidefinite (no weights realise the state).

    Examples
    --------
    >>> import odes
    >>> st = odes.State.random(K=2, M=2, D=500, seed=0)          # the draw of seed 0
    >>> st.K, st.M, st.a is not None
    (2, 2, True)
    >>> st = odes.State(Q=[[1, 0], [0, 1]], R=[[0.1, 0], [0, 0.1]], T=[[1, 0], [0, 1]],
    ...                 v=[0.5, 0.5], v_star=[1, 1])               # enough for 'bp'
    """
    Q: np.ndarray
    R: np.ndarray
    T: np.ndarray
    v: np.ndarray
    v_star: np.ndarray
    b: np.ndarray = None
    a: np.ndarray = None
    p: np.ndarray = None
    phi_F: float = None

    def __post_init__(self):
        Q = _numbers("Q", self.Q) if self.Q is not None else None
        if Q is None or Q.ndim != 2 or Q.shape[0] != Q.shape[1] or Q.shape[0] < 1:
            raise StateError(f"Q: expected a non-empty square matrix, got shape "
                             f"{None if Q is None else Q.shape}")
        T = _numbers("T", self.T) if self.T is not None else None
        if T is None or T.ndim != 2 or T.shape[0] != T.shape[1] or T.shape[0] < 1:
            raise StateError(f"T: expected a non-empty square matrix, got shape "
                             f"{None if T is None else T.shape}")
        K, M = Q.shape[0], T.shape[0]
        self.Q = _array("Q", self.Q, (K, K))
        self.T = _array("T", self.T, (M, M))
        self.R = _array("R", self.R, (K, M))
        self.v = _array("v", self.v, (K,))
        self.v_star = _array("v_star", self.v_star, (M,))
        for name, shape in (("b", (K,)), ("a", (K,)), ("p", (M,))):
            if getattr(self, name) is not None:
                setattr(self, name, _array(name, getattr(self, name), shape))
        if self.phi_F is not None:
            self.phi_F = float(_array("phi_F", self.phi_F, ()))
            if self.phi_F < 0:
                raise StateError(f"phi_F: must be >= 0, got {self.phi_F}")
        if self.a is not None and self.p is None:
            raise StateError("p: needed together with a (the teacher projection w*.F/sqrt(D))")
        for name in ("Q", "T"):
            X = getattr(self, name)
            if not np.allclose(X, X.T, rtol=0, atol=1e-12 * max(1.0, np.abs(X).max())):
                raise StateError(f"{name}: not symmetric")
            setattr(self, name, 0.5 * (X + X.T))
        self._check_psd()

    # ---- sizes and checks --------------------------------------------------------------------
    @property
    def K(self):
        return self.Q.shape[0]

    @property
    def M(self):
        return self.T.shape[0]

    def gram(self):
        """Gram matrix of (w*/sqrt(D), [F], w/sqrt(D)); F is included when a, p and phi_F are known.

        Returns
        -------
        ndarray, shape (M + K, M + K), or (M + 1 + K, M + 1 + K) with F
            [[T, R^T], [R, Q]], or with F [[T, p, R^T], [p^T, phi_F, a^T], [R, a, Q]].

        Examples
        --------
        >>> st = odes.State.random(K=2, M=2, D=500, seed=0)
        >>> st.gram().shape                                          # w*_1, w*_2, F, w_1, w_2
        (5, 5)
        """
        top = np.hstack([self.T, self.R.T])
        bottom = np.hstack([self.R, self.Q])
        G = np.vstack([top, bottom])
        if self.a is not None and self.phi_F is not None:
            M = self.M
            f_row = np.concatenate([self.p, [self.phi_F], self.a])
            G = np.insert(np.insert(G, M, 0.0, axis=0), M, 0.0, axis=1)
            G[M, :] = f_row
            G[:, M] = f_row
        return G

    def _check_psd(self):
        G = self.gram()
        eig = np.linalg.eigvalsh(G)
        if eig[0] < -_PSD_TOL * max(1.0, abs(eig[-1])):
            what = "Q, R, T, a, p, phi_F" if G.shape[0] > self.K + self.M else "Q, R, T"
            raise StateError(f"the Gram matrix of ({what}) is not positive semidefinite "
                             f"(smallest eigenvalue {eig[0]:.3g}): no weights realise this state")

    def check_rule(self, rule):
        """Raise StateError if a field that `rule` needs is missing.

        Parameters
        ----------
        rule : str or Rule
            A rule name of `odes.RULES` or its `Rule`.

        Returns
        -------
        Rule
            The rule, looked up if given by name.

        Raises
        ------
        StateError
            If the rule is 'fa' and b is missing, or it has adaptive feedback and a or p (or, for
            the rules with the Fe terms, phi_F) is missing.
        ValueError
            For an unknown rule name.
        """
        rule = get_rule(rule) if isinstance(rule, str) else rule
        if rule.feedback == FEEDBACK_FIXED and self.b is None:
            raise StateError(f"b: rule {rule.name!r} needs the FA feedback vector b")
        if rule.feedback == FEEDBACK_ADAPTIVE:
            missing = [name for name in ("a", "p") + (("phi_F",) if rule.fe_terms else ())
                       if getattr(self, name) is None]
            if missing:
                what = dict(a="a (w_k.F/sqrt(D), K values)", p="p (w*_n.F/sqrt(D), M values)",
                            phi_F="phi_F (|F|^2)")
                raise StateError(f"{', '.join(missing)}: rule {rule.name!r} needs the state's "
                                 f"{', '.join(what[m] for m in missing)}")
        return rule

    def feedback(self, rule):
        """The first-layer feedback vector of `rule` in this state (v, b or a).

        Parameters
        ----------
        rule : str or Rule
            A rule name of `odes.RULES` or its `Rule`.

        Returns
        -------
        ndarray, shape (K,)
            v for BP, b for FA, a for the rules with adaptive feedback.

        Raises
        ------
        StateError
            If the state lacks that vector (`check_rule`).
        """
        rule = self.check_rule(rule)
        return {0: self.v, FEEDBACK_FIXED: self.b, FEEDBACK_ADAPTIVE: self.a}[rule.feedback]

    def C(self):
        """Covariance of the fields (lambda, nu): [[Q, R], [R^T, T]].

        Returns
        -------
        ndarray, shape (K + M, K + M)
        """
        return np.block([[self.Q, self.R], [self.R.T, self.T]])

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    def from_weights(cls, W, W_star, v, v_star, F=None, b=None):
        """Order parameters of explicit weights (rows of W, W_star are units, entries O(1)).

        Parameters
        ----------
        W : array_like
            Shape (K, D). The student's first layer.
        W_star : array_like
            Shape (M, D). The teacher's first layer, of the same input dimension D.
        v : array_like
            Shape (K,). The student's second layer.
        v_star : array_like
            Shape (M,). The teacher's second layer.
        F : array_like, optional
            Shape (D,). The AFA/PEPITA projection: gives a = W F/sqrt(D), p = W_star F/sqrt(D) and
            phi_F = ``|F|^2``.
        b : array_like, optional
            Shape (K,). FA's feedback vector, kept as it is.

        Returns
        -------
        State
            Q = W W^T/D, R = W W_star^T/D, T = W_star W_star^T/D, and the rest as above.

        Raises
        ------
        StateError
            If W and W_star have different input dimensions, or the state is invalid (`State`).

        Examples
        --------
        >>> w = odes.draw_weights(K=2, M=2, D=500, seed=0)
        >>> st = odes.State.from_weights(w.W, w.W_star, w.v, w.v_star, F=w.F, b=w.b)
        """
        W = np.atleast_2d(np.asarray(W, dtype=float))
        W_star = np.atleast_2d(np.asarray(W_star, dtype=float))
        if W.shape[1] != W_star.shape[1]:
            raise StateError(f"W and W_star have different input dimensions "
                             f"({W.shape[1]} and {W_star.shape[1]})")
        D = W.shape[1]
        kw = {}
        if F is not None:
            F = np.asarray(F, dtype=float)
            kw = dict(a=W @ F / np.sqrt(D), p=W_star @ F / np.sqrt(D), phi_F=float(F @ F))
        return cls(Q=W @ W.T / D, R=W @ W_star.T / D, T=W_star @ W_star.T / D,
                   v=v, v_star=v_star, b=b, **kw)

    @classmethod
    def random(cls, K, M, D, seed, **kw):
        """State of weights drawn at random in dimension D (see `odes.weights.draw_weights`).

        The simulator's draw for that seed (`simulate.run` with the same K, M, D, seed and
        keywords), so that an ODE from this state starts where that simulation does.

        Parameters
        ----------
        K, M : int
            Student and teacher widths.
        D : int
            Input dimension.
        seed : int
            The seed of the draw.
        **kw
            init, v_star, sigma_F, train_v of `odes.weights.draw_weights`.

        Returns
        -------
        State
            With b, a, p and phi_F (F and b are always drawn).

        Raises
        ------
        ValueError
            For sizes that are not positive integers or do not fit in memory, or an unknown init
            or v_star (`odes.weights.draw_weights`).

        Examples
        --------
        >>> st = odes.State.random(K=2, M=2, D=500, seed=0)
        >>> small = odes.State.random(2, 2, 500, seed=1, init="small")
        """
        w = draw_weights(K, M, D, seed, **kw)
        return cls.from_weights(w.W, w.W_star, w.v, w.v_star, F=w.F, b=w.b)

    @classmethod
    def from_dict(cls, d):
        """A `State` from a dict with the field names as keys (the form of `to_dict`).

        Parameters
        ----------
        d : dict
            Q, R, T, v, v_star and, where the rule needs them, b, a, p, phi_F.

        Returns
        -------
        State

        Raises
        ------
        StateError
            For an unknown or missing key, or an invalid state (`State`).
        """
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise StateError(f"unknown keys {sorted(unknown)}; expected some of {sorted(known)}")
        for key in ("Q", "R", "T", "v", "v_star"):
            if key not in d:
                raise StateError(f"{key}: missing")
        return cls(**d)

    @classmethod
    def from_json(cls, path):
        """Read an initial condition: a JSON object with keys Q, R, T, v, v_star and, where the
        rule needs them, b, a, p, phi_F (nested lists for matrices).

        Parameters
        ----------
        path : str or path-like
            The JSON file, e.g. written by `to_json`.

        Returns
        -------
        State

        Raises
        ------
        StateError
            If the file cannot be read or is not JSON, is not a JSON object, has an unknown or a
            missing key, or holds an invalid state.

        Examples
        --------
        >>> odes.State.random(K=2, M=2, D=500, seed=0).to_json("init.json")
        >>> st = odes.State.from_json("init.json")
        """
        try:
            with open(path) as fh:
                d = json.load(fh)
        except (OSError, json.JSONDecodeError) as err:
            raise StateError(f"cannot read initial condition {path}: {err}") from None
        if not isinstance(d, dict):
            raise StateError(f"{path}: expected a JSON object")
        return cls.from_dict(d)

    def to_dict(self):
        """The fields that are set, as a JSON-ready dict (arrays as nested lists).

        Returns
        -------
        dict
            Keys as the field names; `from_dict` reads it back.
        """
        out = {}
        for f in fields(self):
            x = getattr(self, f.name)
            if x is not None:
                out[f.name] = x.tolist() if isinstance(x, np.ndarray) else x
        return out

    def to_json(self, path):
        """Write `to_dict` to `path` as JSON (atomically); `from_json` reads it back.

        Parameters
        ----------
        path : str or path-like
            The file to write.
        """
        from .io import atomic_write
        with atomic_write(path) as fh:
            json.dump(self.to_dict(), fh, indent=1)


def realise(state, D, seed=0, b=None):
    """Weights in dimension D whose order parameters are exactly `state` (theory.md section 3.7).

    The Gram matrix G of (w*_1..M, [F], w_1..K) / sqrt(D) is factorised as G = L L^T and the
    vectors are sqrt(D) L O^T with O a random D x n matrix with orthonormal columns.  G must be
    positive definite (a tiny ridge of 1e-14 is not added: a singular G raises).  F is built when
    the state has a, p and phi_F, and is then returned with entries scaled so that
    ``|F|^2 = phi_F``.

    Parameters
    ----------
    state : State
        The order parameters to realise.
    D : int
        Input dimension, at least the number n of vectors (M + K, plus one with F).
    seed : int, default 0
        Seed of the random orthonormal O (numpy's default_rng).
    b : array_like, optional
        Shape (K,). FA's feedback vector (default: the state's b, or zeros).

    Returns
    -------
    Weights
        W (K, D), W_star (M, D), F (D,; zeros without F) and copies of the state's v and v_star.

    Raises
    ------
    ValueError
        If D is smaller than the number of vectors to realise, or the sizes do not fit in memory.
    StateError
        If G is not positive definite (a singular G cannot be realised by a Cholesky factor).

    Examples
    --------
    >>> import odes
    >>> st = odes.State.random(K=2, M=2, D=500, seed=0)
    >>> w = odes.realise(st, D=200, seed=1)                 # the same overlaps in D = 200
    >>> w.W.shape
    (2, 200)
    """
    G = state.gram()
    n = G.shape[0]
    if D < n:
        raise ValueError(f"D={D} is smaller than the number of vectors to realise ({n})")
    check_sizes(state.K, state.M, D)
    try:
        L = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        raise StateError("the Gram matrix of the state is not positive definite; "
                         "it cannot be realised by a Cholesky factor") from None
    rng = np.random.default_rng(seed)
    O, _ = np.linalg.qr(rng.standard_normal((D, n)))
    V = np.sqrt(D) * L @ O.T                    # rows: w*, [F * sqrt(D)], w
    K, M = state.K, state.M
    W_star, W = V[:M], V[n - K:]
    has_F = n > K + M
    F = V[M] / np.sqrt(D) if has_F else np.zeros(D)
    if b is None:
        b = state.b if state.b is not None else np.zeros(K)
    return Weights(W, W_star, state.v.copy(), state.v_star.copy(), F, np.asarray(b, float).copy())
