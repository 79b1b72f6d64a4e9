"""The ODE methods of `odes.integrate`, one registry entry each (`METHODS`), and their contract
(`odes.solvers.common`: the `Problem` a method is given, the `Outcome` it returns, one `Status`).

- ``dopri5`` (the default): adaptive Dormand-Prince 5(4), compiled, with dense output
  (`odes.solvers.dopri5`); options rtol, atol.
- ``bdf``: variable-order backward differentiation for stiff runs, compiled (`odes.solvers.bdf`);
  options rtol, atol.
- ``rk4``, ``euler``: classical Runge-Kutta and forward Euler, fixed steps of dt
  (`odes.solvers.fixed_step`); option dt.
- ``scipy-<METHOD>``: a solver of scipy.integrate, METHOD one of RK45, RK23, DOP853, Radau, BDF,
  LSODA, stepped from Python (`odes.solvers.scipy_ivp`); options rtol, atol.

An option a method does not take is refused (`resolve`), with one exception: ``dt`` also spaces the
default output times (`odes.integrate.default_times`), so every method takes it when no output
times are given.
"""
import math
from dataclasses import dataclass
from functools import partial

from . import bdf, dopri5, fixed_step, scipy_ivp
from .common import Outcome, Problem, Status
from .scipy_ivp import SCIPY_METHODS

#: the options of the methods, their defaults and their valid ranges
DEFAULTS = dict(dt=0.01, rtol=1e-8, atol=1e-14)
_RANGES = dict(dt=("> 0", lambda x: x > 0), rtol=("in (0, 1)", lambda x: 0 < x < 1),
               atol=(">= 0", lambda x: x >= 0))
DEFAULT_METHOD = "dopri5"


@dataclass(frozen=True)
class Method:
    """One ODE method: its name, its driver ``solve(problem, **options)`` returning an `Outcome`,
    the options it takes, and whether it steps on a fixed grid."""
    name: str
    solve: object
    options: tuple
    summary: str

    @property
    def fixed_step(self):
        return "dt" in self.options


_TOLERANCES = ("rtol", "atol")
METHODS = {
    "dopri5": Method("dopri5", dopri5.solve, _TOLERANCES,
                     "adaptive Dormand-Prince 5(4), compiled, dense output (default)"),
    "bdf": Method("bdf", bdf.solve, _TOLERANCES,
                  "variable-order backward differentiation for stiff runs, compiled"),
    "rk4": Method("rk4", fixed_step.solve_rk4, ("dt",), "classical Runge-Kutta, fixed steps of dt"),
    "euler": Method("euler", fixed_step.solve_euler, ("dt",), "forward Euler, fixed steps of dt"),
}
METHODS.update({f"scipy-{m}": Method(f"scipy-{m}", partial(scipy_ivp.solve, method=m), _TOLERANCES,
                                     f"scipy.integrate.{m}, stepped from Python")
                for m in SCIPY_METHODS})


def get_method(name):
    """The `Method` of a name; ValueError naming the choices otherwise.

    Parameters
    ----------
    name : str
        A key of `METHODS`: 'dopri5', 'bdf', 'rk4', 'euler' or 'scipy-<METHOD>' with METHOD one
        of `SCIPY_METHODS`.

    Returns
    -------
    Method
        Its name, driver, the options it takes and a summary.

    Raises
    ------
    ValueError
        For an unknown name; the message names the choices.

    Examples
    --------
    >>> from odes.solvers import get_method
    >>> get_method("rk4").options, get_method("scipy-LSODA").fixed_step
    (('dt',), False)
    """
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; use dopri5, bdf, rk4, euler or scipy-<METHOD> "
                         f"with METHOD one of {', '.join(SCIPY_METHODS)}")
    return METHODS[name]


def resolve(method, dt=None, rtol=None, atol=None, times_given=True):
    """Validate a method and its options (None: not given).

    Parameters
    ----------
    method : str
        A name of `METHODS` (`get_method`).
    dt : float, optional
        Step of the fixed-step methods, > 0; also taken by every method when no output times are
        given (it spaces the default ones, `odes.default_times`).
    rtol : float, optional
        Relative tolerance, in (0, 1), of the methods that take it.
    atol : float, optional
        Absolute tolerance, >= 0, of the methods that take it.
    times_given : bool, default True
        Whether the run has explicit output times (then dt is refused by the methods that do not
        step with it).

    Returns
    -------
    method : Method
        The method.
    options : dict
        The options for its solve (the ones it takes, defaults filled in).
    full : dict
        All of dt, rtol, atol with the defaults (`DEFAULTS`) filled in, for the record.

    Raises
    ------
    ValueError
        For an unknown method, a value that is not a finite number in its range, or an option
        the method does not take.

    Examples
    --------
    >>> from odes.solvers import resolve
    >>> m, options, full = resolve("dopri5", rtol=1e-10)
    >>> options
    {'rtol': 1e-10, 'atol': 1e-14}
    >>> resolve("dopri5", dt=0.1)
    Traceback (most recent call last):
    ...
    ValueError: method dopri5 does not take dt (it takes rtol and atol)
    """
    m = get_method(method)
    given = dict(dt=dt, rtol=rtol, atol=atol)
    for name, x in given.items():
        if x is None:
            continue
        limits, ok = _RANGES[name]
        try:
            good = not isinstance(x, bool) and math.isfinite(float(x)) and ok(float(x))
        except (TypeError, ValueError):
            good = False
        if not good:
            raise ValueError(f"{name} must be finite and {limits}, got {x!r}")
        if name not in m.options and not (name == "dt" and not times_given):
            raise ValueError(f"method {m.name} does not take {name} (it takes "
                             f"{' and '.join(m.options)})")
    full = {k: float(DEFAULTS[k] if x is None else x) for k, x in given.items()}
    return m, {k: full[k] for k in m.options}, full


__all__ = ["DEFAULTS", "DEFAULT_METHOD", "METHODS", "Method", "Outcome", "Problem", "SCIPY_METHODS",
           "Status", "get_method", "resolve"]
