"""Plateau escape at finite D (theory.md 10.4): the distribution over seeds of the first time
eps_g falls below a level, without a fitted constant.

On a plateau the seeds differ, to leading order, by one Gaussian coordinate along the direction
that grows; once it has grown, each seed follows the deterministic ODE from where it is.  So:

1. the linear-noise approximation (`fluctuations`) along the ODE from `state` gives Sigma~(t);
   its dominant eigenvector e at the end of that run is the growing direction (the run ends at
   the ODE's own escape, or, for a symmetric start that never escapes, once e's variance has
   reached the hand-over level of point 2 at the largest D; its horizon doubles until then);
2. for each D, t_r is the last time at which the growing coordinate c = e.(y - y_inf) still has
   a standard deviation s_r/sqrt(D) <= `linear` (s_r^2 = e^T Sigma~(t_r) e > 0), so that the
   fluctuations are still Gaussian there, but no later than the deepest point of the plateau
   (the ODE's slowest point before eps_g falls below the level); a D whose fluctuations exceed
   that level from the start hands over at the first time with s_r > 0;
3. a seed whose coordinate is c = Z s_r/sqrt(D) (Z ~ N(0, 1)) sits at y_inf(t_r) + c d, with
   d = Sigma~ e / (e^T Sigma~ e) the mean displacement given c (the other directions' spread is
   of lower order for the escape);
4. T_+(u), T_-(u): the time after t_r at which the ODE from y_inf(t_r) +- u s_r d / sqrt(D) has
   eps_g below the level, on a grid of u = abs(Z) (`AMPLITUDES`); T decreases with u;
5. P(t_esc <= t) = 1/2 sum over the two signs of P(abs(Z) >= u_+-(t)), u_+-(t) the inverse of T_+-,
   and the quantiles invert it.

For a long plateau this reproduces the law t_esc = t_r + (1/lambda) ln(c/s) + ln D/(2 lambda) -
ln abs(Z)/lambda of theory.md 10.4; for a short one it uses the growth along the trajectory, which
is not the fixed point's lambda_+ (theory.md 10.4's measured caveat).
"""
import numpy as np
from scipy.optimize import brentq
from scipy.special import erfc

from ..integrate import integrate
from .lna import fluctuations

#: abs(Z) at which T_+- is computed: its quantiles from 0.002 to 0.9998 (log-spaced in u below
#: the median), so that the quantiles of t_esc from ~2e-4 to ~0.998 are covered
AMPLITUDES = np.concatenate([np.geomspace(0.0025, 0.3, 14)[:-1], np.linspace(0.3, 3.7, 16)])
#: the growing coordinate's standard deviation at t_r (module docstring, point 2)
LINEAR = 0.02
#: output step of the escape ODEs, in units of 1/eta (eps_g is interpolated in log between
#: outputs)
OUTPUT_STEP = 0.05


def first_below(t, eps_g, level):
    """The first time each trajectory's eps_g is below `level`, interpolated in log eps_g between
    the two outputs around the crossing; inf where it never is.  eps_g: shape (..., len(t))."""
    eps = np.asarray(eps_g, float)
    t = np.asarray(t, float)
    below = eps < level
    found = below.any(axis=-1)
    i = np.where(found, below.argmax(axis=-1), 0)
    out = np.full(eps.shape[:-1], np.inf)
    for ix in zip(*np.nonzero(found)) if eps.ndim > 1 else ([()] if found else []):
        j = i[ix]
        if j == 0:
            out[ix] = t[0]
            continue
        e0, e1 = eps[ix + (j - 1,)], eps[ix + (j,)]
        x = np.log(e0 / level) / np.log(e0 / e1) if e1 > 0 else 1.0
        out[ix] = t[j - 1] + x * (t[j] - t[j - 1])
    return out[()]


class Escape:
    """What `escape_time` returns: the predicted distribution of escape times.

    Attributes
    ----------
    D : ndarray
        The dimensions (`median` and `quantile` give one value per D, or a float when one D was
        given).
    t_r : ndarray
        Per D, the time at which the seeds are handed to the ODE (module docstring).
    spread : ndarray
        Per D, s_r/sqrt(D): the standard deviation of the growing coordinate at t_r.
    amplitudes : ndarray
        The abs(Z) of `T`.
    T : ndarray
        Shape (len(D), 2, len(amplitudes)): the escape time (from t = 0) of the seed at +- abs(Z).
    fluctuations : Fluctuations
        The linear-noise approximation along the ODE.
    """

    def __init__(self, D, t_r, spread, T, fl, scalar):
        self.D, self.t_r, self.spread, self.T = D, t_r, spread, T
        self.amplitudes, self.fluctuations, self._scalar = AMPLITUDES, fl, scalar

    def cdf(self, t, i=0):
        """P(t_esc <= t) at the i-th D, for one time t."""
        p = 0.0
        for s in range(2):
            T = self.T[i, s]
            ok = np.isfinite(T)
            if not ok.any() or t < T[ok].min():
                continue
            if t >= T[ok].max():        # beyond the smallest amplitude computed
                p += 0.5 * erfc(self.amplitudes[ok].min() / np.sqrt(2))
                continue
            order = np.argsort(T[ok])
            u = np.exp(np.interp(t, T[ok][order], np.log(self.amplitudes[ok][order])))
            p += 0.5 * erfc(u / np.sqrt(2))
        return p

    def quantile(self, q):
        """The q-quantile of the escape time (per D; an array when D was a sequence).  NaN where
        the amplitudes do not reach it (q below ~2e-4 or above ~0.998, `AMPLITUDES`) or the
        seeds do not escape before the horizon."""
        out = np.full(len(self.D), np.nan)
        for i in range(len(self.D)):
            T = self.T[i][np.isfinite(self.T[i])]
            if T.size == 0:
                continue
            lo, hi = T.min(), T.max()
            if not self.cdf(lo, i) <= q <= self.cdf(hi, i):
                continue
            out[i] = brentq(lambda t: self.cdf(t, i) - q, lo, hi, xtol=1e-8 * hi)
        return out[0] if self._scalar else out

    @property
    def median(self):
        """The median escape time."""
        return self.quantile(0.5)


def escape_time(state, rule, eta, D, *, eps_below, initial="random", horizon=1e4, linear=LINEAR,
                grid=None, **params):
    """The predicted distribution of the first time eps_g falls below `eps_below`, over seeds at
    dimension D (theory.md 10.4; the construction of the module docstring).

    Parameters
    ----------
    state : State
        The start: the mean of the random start's overlaps (initial='random') or every seed's
        own start (initial='exact'), as in `fluctuations`.
    rule : str or Rule
        A rule of `odes.ODE_RULES`.
    eta : float
        First-layer learning rate.
    D : int or sequence of int
        The dimension(s) (one linear-noise approximation serves them all).
    eps_below : float
        The level of eps_g that counts as escaped.
    initial : {'random', 'exact'}
        As in `fluctuations`.
    horizon : float, default 1e4
        The latest time considered: the plateau must end, and the seeds escape, before it.
    linear : float, default LINEAR
        The growing coordinate's standard deviation at the hand-over time t_r.
    grid : int, optional
        The grid of `fluctuations` (default: its own).
    **params
        eta_v, sigma, train_v, weight_decay, activation, nodes, and the integrate parameters.

    Returns
    -------
    Escape

    Raises
    ------
    ValueError
        For a bad D or eps_below, a start whose eps_g is already below eps_below, a start whose
        fluctuations never become nonzero (initial='exact' at a fixed point without noise), or
        what `fluctuations` refuses.

    Seeds that do not escape before the horizon make the quantiles beyond them NaN.
    """
    scalar = np.ndim(D) == 0
    Ds = np.atleast_1d(np.asarray(D))
    if Ds.dtype.kind not in "iu" or (Ds < 1).any():
        raise ValueError(f"D must be integers >= 1, got {D!r}")
    if not (np.isfinite(eps_below) and eps_below > 0):
        raise ValueError(f"eps_below must be finite and > 0, got {eps_below!r}")
    extra = {} if grid is None else dict(grid=grid)
    # the end of the plateau: the ODE's own escape, or the horizon (a symmetric start stays)
    own = integrate(state, rule, eta, times=np.linspace(0.0, horizon, 4001), stop_eps=eps_below,
                    **params)
    t_end = float(own.t[-1])
    if t_end == 0.0:
        raise ValueError(f"eps_g is already below eps_below = {eps_below:g} at the start")
    t_h = min(t_end, 100.0 / eta)
    while True:
        fl = fluctuations(state, rule, eta, int(Ds.max()), t_max=t_h, initial=initial, **extra,
                          **params)
        e = np.linalg.eigh(fl.cov[-1])[1][:, -1]
        s2 = np.einsum("i,nij,j->n", e, fl.cov, e)          # s^2 of the growing coordinate
        if t_h >= t_end or s2[-1] / Ds.max() >= linear ** 2:
            break
        t_h = min(2.0 * t_h, t_end)
    speed = np.array([np.linalg.norm(fl.coords.f(*fl.point(i))) for i in range(len(fl.t))])
    deepest = int(np.argmin(speed))
    moving = np.flatnonzero(s2 > 1e-12 * s2.max()) if s2.max() > 0 else []
    if len(moving) == 0:
        raise ValueError("the fluctuations never become nonzero from this start (no noise and "
                         "initial='exact'): no escape at finite D")
    T = np.full((len(Ds), 2, len(AMPLITUDES)), np.inf)
    t_r, spread = np.empty(len(Ds)), np.empty(len(Ds))
    for k, d in enumerate(Ds):
        inside = moving[(moving <= deepest) & (s2[moving] / d <= linear ** 2)]
        i = int(inside[-1]) if inside.size else int(moving[0])
        t_r[k], spread[k] = fl.t[i], np.sqrt(s2[i] / d)
        z, base = fl.point(i)
        direction = fl.cov[i] @ e / s2[i]
        times = np.arange(0.0, horizon - t_r[k], OUTPUT_STEP / eta)
        for s, sign in enumerate((1.0, -1.0)):
            for j, u in enumerate(AMPLITUDES):
                st = fl.coords.state(z + sign * u * spread[k] * direction, base, state)
                run = integrate(st, rule, eta, times=times, stop_eps=eps_below, **params)
                T[k, s, j] = t_r[k] + first_below(run.t, run.eps_g, eps_below)
    return Escape(Ds, t_r, spread, T, fl, scalar)

