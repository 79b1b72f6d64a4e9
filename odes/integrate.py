"""Integration of the order-parameter ODEs: one entry point, `integrate`.

What to integrate (a `State` and a rule with its parameters), how (``method``) and when to save
(``times``) are separate arguments.  Methods:

``dopri5`` (default)
    the compiled adaptive Dormand-Prince 5(4) pair of `odes.solvers.dopri5`, with error control by
    ``rtol``/``atol``, step-size control and dense output: every output time is hit exactly
    without shortening a step, and the whole loop runs in numba.
``bdf``
    the compiled variable-order backward differentiation of `odes.solvers.bdf`, for stiff runs (long runs
    at small eta near a fixed point); one compiled call, outputs from its interpolating polynomial.
``rk4``, ``euler``
    fixed steps of ``dt`` on the grid t = n dt with an integer step counter, so there is no
    accumulated float drift; an output time that is not a multiple of dt is reached by one extra
    step of the remaining length from the grid state, which does not alter the grid trajectory.
    For comparisons with published fixed-step codes (`odes.solvers.fixed_step`).
``scipy-<METHOD>``
    a solver of scipy.integrate (e.g. ``scipy-LSODA``, ``scipy-DOP853``) with rtol and atol,
    stepped from Python; the outputs are those of solve_ivp with t_eval.

Each method is one entry of `odes.solvers.METHODS`, which says the options it takes (rtol and atol,
or dt); an option a method does not take is refused (ValueError), except dt, which also spaces the
default output times when none are given.  Every method returns the same record
(`odes.solvers.common.Outcome`) with one `odes.solvers.Status`.

Every method starts at the state's time t = 0, whatever the first output time.  Integration stops
early when asked (``stop_eps``: at the first output time at which eps_g is below it, which is
kept, with no step taken beyond it; the same for every method) and when the run
diverges: once some Q_kk or v_k^2 exceeds ``blowup`` (`odes.divergence`, the simulator's threshold)
or the state becomes non-finite, checked after every step of every method.  A diverged run raises
`IntegrationError`, which says when and which quantity, and carries the result (status
'diverged', ``t_diverged``) up to the last output before the divergence.  Ctrl-C stops every
method within a fraction of a second (KeyboardInterrupt), and so does setting ``cancel``.  The `Result` reports the work done in ``result.stats``
(accepted and rejected steps, right-hand-side evaluations).
"""
import math
import warnings

import numpy as np

from .divergence import BLOWUP
from .gaussian.expectations import accuracy_note
from .observables import eps_g as _eps_g
from .result import Result
from .rhs import kernel_args, layout, unpack
from .rhs.fields import stop_reached
from .rhs.parameters import ACTIVATION, N_NODES
from .rules import get_rule
from .solvers import DEFAULT_METHOD, Problem, Status, resolve


class AccuracyWarning(UserWarning):
    """The default quadrature is coarser than at K + M = 4 (see `odes.gaussian.expectations.accuracy_note`)."""


class IntegrationError(RuntimeError):
    """The ODE solution became non-finite or the solver failed; `.result` holds what was done."""

    def __init__(self, message, result=None):
        super().__init__(message)
        self.result = result


def default_times(t_max, dt=0.01, n=100):
    """0 and about n log-spaced times up to t_max, each a multiple of dt (t_max included)."""
    if not (t_max > 0 and math.isfinite(t_max)):
        raise ValueError(f"t_max must be finite and > 0, got {t_max!r}")
    n_max = max(1, int(round(t_max / dt)))
    steps = np.unique(np.round(np.geomspace(1, n_max, n)).astype(np.int64))
    t = np.concatenate([[0.0], steps * dt])
    t[-1] = t_max
    return t


def _name_of(index, K, M, feedback_name):
    """Human name of entry `index` of the flat state vector, e.g. 'Q[0,1]'."""
    lay = layout(K, M)
    for key, shape in (("Q", (K, K)), ("R", (K, M)), ("v", (K,)), ("f", (K,))):
        sl = lay[key]
        if sl.start <= index < sl.stop:
            idx = np.unravel_index(index - sl.start, shape)
            name = feedback_name if key == "f" else key
            return f"{name}[{','.join(map(str, idx))}]"
    return f"y[{index}]"


def check_solver(method, dt=None, rtol=None, atol=None, times_given=True):
    """Raise ValueError unless `method` is 'dopri5', 'bdf', 'rk4', 'euler' or 'scipy-<METHOD>' and
    takes the options given (not None), each in its range (`odes.solvers.resolve`); returns the
    options with the defaults filled in."""
    return resolve(method, dt, rtol, atol, times_given)[2]


def _check_times(times, t_max, dt):
    if times is None:
        if t_max is None:
            raise ValueError("give t_max or times")
        return default_times(t_max, dt)
    times = np.asarray(times, dtype=float).ravel()
    if times.size == 0 or not np.all(np.isfinite(times)) or times[0] < 0 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be finite, >= 0 and strictly increasing")
    if t_max is not None and t_max != times[-1]:
        raise ValueError(f"t_max = {t_max:g} disagrees with the last output time {times[-1]:g}")
    return times



def integrate(state, rule, eta, *, times=None, t_max=None, eta_v=None, sigma=0.0, train_v=True,
              method=DEFAULT_METHOD, dt=None, rtol=None, atol=None, stop_eps=None, stop_above=None,
              progress=None, nodes=None, weight_decay=0.0, activation="erf", blowup=BLOWUP,
              cancel=None):
    """Integrate the order-parameter ODEs of `rule` from `state` (at t = 0).

    state: `odes.State`; rule: a name of `odes.ODE_RULES` or its `Rule`: 'bp', 'fa', 'afa',
    'pepita-lin' (closed forms), 'pepita' (exact PEPITA), 'pepita-hebbian' or 'pepita-tl' (its
    Hebbian and time-local forms; these three by quadrature with `nodes` per field dimension,
    default `odes.gaussian.expectations.default_nodes(K+M)`, said in a warning where that is below the
    accurate default); eta: first-layer learning rate;
    eta_v: second-layer rate (default eta); sigma: label-noise std; train_v: train the second layer;
    weight_decay: kappa >= 0 of theory.md 8.1 (per step w <- w - (kappa/D) w, and v likewise);
    activation: g of teacher and student, 'erf' (default), 'linear' or 'relu' (theory.md 8.2;
    ReLU not with the rules evaluated by quadrature).  times: output times (default
    `default_times(t_max, dt)`; t_max, if also given, must equal the last one); method: 'dopri5'
    (adaptive, default), 'bdf' (stiff), 'rk4', 'euler' or 'scipy-<METHOD>' (`odes.solvers.METHODS`);
    rtol, atol: error tolerances of the adaptive, stiff and scipy methods (default 1e-8, 1e-14;
    atol also bounds how far a converging eps_g is resolved: to about atol/3); dt: step of the
    fixed-step methods and spacing of the default output times (default 0.01); an option the
    method does not take is refused.  stop_eps: stop at the first output time with
    eps_g < stop_eps, stop_above: with eps_g > stop_above (status 'stopped'; no step is taken
    beyond it).  blowup: the run has diverged once some Q_kk or v_k^2 exceeds it (default
    `odes.divergence.BLOWUP`, the simulator's; checked after every step): `IntegrationError`.
    progress: show a progress bar (default: only for runs that last more than about 2 s).
    cancel: a `threading.Event` that stops the run when set (KeyboardInterrupt), for integrations
    on threads that Ctrl-C does not reach.  Returns a `Result`.
    """
    rule = get_rule(rule) if isinstance(rule, str) else rule
    state.check_rule(rule)
    y0, args = kernel_args(state, rule, eta, eta_v, sigma, train_v, nodes=nodes,
                           weight_decay=weight_decay, activation=activation)
    solver, options, full = resolve(method, dt, rtol, atol, times_given=times is not None)
    if not (isinstance(blowup, (int, float)) and blowup > 0):
        raise ValueError(f"blowup must be a number > 0, got {blowup!r}")
    times = _check_times(times, t_max, full["dt"])
    run_params = dict(rule=rule.name, K=state.K, M=state.M, eta=float(eta),
                      eta_v=float(eta if eta_v is None else eta_v), sigma=float(sigma),
                      train_v=bool(train_v), weight_decay=float(weight_decay),
                      activation=activation, method=method, **full, stop_eps=stop_eps,
                      stop_above=stop_above, blowup=float(blowup), initial_state=state.to_dict())
    if rule.exact_pepita:
        run_params["nodes"] = int(args.par[N_NODES])
        note = accuracy_note(state.K + state.M) if nodes is None else None
        if note:
            warnings.warn(f"{rule.name} ODE: {note}", AccuracyWarning, stacklevel=2)
    problem = _problem(y0, times, args, blowup, stop_eps, stop_above, progress, cancel)
    outcome = solver.solve(problem, **options)
    return _result(outcome, problem, state, rule, eta, run_params, solver)


def _problem(y0, times, args, blowup, stop_eps, stop_above, progress, cancel):
    """The `odes.solvers.Problem` of a run, with its stop test (`odes.rhs.fields.stop_reached`)."""
    K, M, T, vstar, par = args.K, args.M, args.T, args.vstar, args.par
    bounds = (np.nan if stop_eps is None else float(stop_eps),
              np.nan if stop_above is None else float(stop_above))
    act = int(par[ACTIVATION])

    def stops(y):
        return stop_reached(y, K, M, T, vstar, act, *bounds)

    return Problem(y0, times, args, float(blowup), bounds,
                   None if stop_eps is None and stop_above is None else stops, progress, cancel)


def _result(outcome, problem, state, rule, eta, run_params, solver):
    """The `Result` of a method's `Outcome`: returned when the run finished or stopped, carried by
    an `IntegrationError` when it diverged or failed."""
    times, ys = problem.times, outcome.ys
    n = len(ys)
    K, M = state.K, state.M

    def result(message):
        Y = np.array(ys).reshape(n, problem.y0.size)
        return Result.from_trajectory(times[:n], *unpack(Y, K, M), state, rule, run_params,
                                      outcome.status.value, message, outcome.stats,
                                      t_diverged=outcome.t_diverged)

    if outcome.status == Status.STOPPED:
        Q, R, v, _ = unpack(ys[-1], K, M)
        stop_eps = run_params["stop_eps"]
        with np.errstate(over="ignore", invalid="ignore"):
            e = _eps_g(Q, R, state.T, v, state.v_star, run_params["activation"])
        which = (f"eps_g < {stop_eps}" if stop_eps is not None and e < stop_eps
                 else f"eps_g > {run_params['stop_above']}")
        return result(f"{which} at t = {times[n - 1]:g}")
    if outcome.status == Status.DIVERGED:
        what = (_name_of(outcome.index, K, M, rule.feedback_name or "f") if outcome.index >= 0
                else "the state")
        how = "became non-finite" if outcome.nonfinite else f"exceeded {run_params['blowup']:g}"
        if not outcome.nonfinite and what.startswith("v"):
            how = f"squared {how}"
        message = f"diverged at t ~ {outcome.t_diverged:.4g}: {what} {how}"
        raise IntegrationError(f"the ODE solution {message} (rule {rule.name}, eta={eta}); try a "
                               f"smaller eta"
                               + (" or dt" if solver.fixed_step else ""), result(message))
    if outcome.status == Status.FAILED:
        raise IntegrationError(f"solver failed: {outcome.message}", result(outcome.message))
    message = f"reached t = {times[n - 1]:g}"
    if outcome.stats.get("stiff_at") is not None:
        message += (f"; stiff from t ~ {outcome.stats['stiff_at']:.3g} (the steps were bounded by "
                    f"stability there): method 'bdf' takes such runs in fewer evaluations")
    return result(message)
