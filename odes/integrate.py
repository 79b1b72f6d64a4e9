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
from .rhs import kernel_args, layout, mirroring, unpack, unpack_mirrored
from .rhs.parameters import DECAY, ETA, ETA_V, N_NODES
from .rules import ff_keywords, ff_options, get_rule
from .solvers import DEFAULT_METHOD, Problem, Status, resolve


class AccuracyWarning(UserWarning):
    """The default quadrature is coarser than at K + M = 4.

    Warned by `integrate` for the rules evaluated by quadrature when `nodes` is not given and the
    default number of nodes per field dimension gives a less accurate right-hand side (see
    `odes.gaussian.expectations.accuracy_note`); ``nodes=N`` sets it.
    """


class IntegrationError(RuntimeError):
    """The ODE solution became non-finite or the solver failed; `.result` holds what was done.

    Raised by `integrate` when a run diverges (some Q_kk or v_k^2 beyond ``blowup``, or a
    non-finite state: the message says when and which quantity) or its solver fails.

    Parameters
    ----------
    message : str
        What happened, and when.
    result : Result, optional
        The run up to the last output before the divergence or failure.

    Attributes
    ----------
    result : Result or None
        The run up to the last output before the divergence (status 'diverged', with
        ``t_diverged``) or the failure.
    """

    def __init__(self, message, result=None):
        super().__init__(message)
        self.result = result


def default_times(t_max, dt=0.01, n=100):
    """0 and about n log-spaced times up to t_max, each a multiple of dt (t_max included).

    The default output times of `integrate` (and the record times of `simulate.run`).

    Parameters
    ----------
    t_max : float
        The last time, finite and > 0; it is kept exactly even if not a multiple of dt.
    dt : float, default 0.01
        The grid that the other times are multiples of.
    n : int, default 100
        About how many log-spaced times (fewer where the grid merges them).

    Returns
    -------
    ndarray
        The times, strictly increasing, starting at 0 and ending at t_max.

    Raises
    ------
    ValueError
        If t_max is not finite and > 0.

    Examples
    --------
    >>> import odes
    >>> t = odes.default_times(100)           # 85 times: 0, 0.01, 0.02, ..., 100
    >>> t[:3], len(t)
    (array([0.  , 0.01, 0.02]), 85)
    """
    if not (t_max > 0 and math.isfinite(t_max)):
        raise ValueError(f"t_max must be finite and > 0, got {t_max!r}")
    n_max = max(1, int(round(t_max / dt)))
    steps = np.unique(np.round(np.geomspace(1, n_max, n)).astype(np.int64))
    t = np.concatenate([[0.0], steps * dt])
    t[-1] = t_max
    return t


def _name_of(index, K, M, feedback_name, mirrored=False):
    """Human name of entry `index` of the flat state vector, e.g. 'Q[0,1]'."""
    lay = layout(K, M, mirrored)
    shapes = (("Q", (K, K)), ("R", (K, M)), ("v", (K,)), ("f", (K,)))
    for key, shape in shapes + ((("p", (M,)), ("phi_F", (1,))) if mirrored else ()):
        sl = lay[key]
        if sl.start <= index < sl.stop:
            idx = np.unravel_index(index - sl.start, shape)
            name = feedback_name if key == "f" else key
            return "phi_F" if key == "phi_F" else f"{name}[{','.join(map(str, idx))}]"
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
              cancel=None, mirror_eta=0.0, mirror_noise=1.0, mirror_batch=1, mirror_decay=0.0,
              mirror_fixed_norm=False, pre_mirror=0.0, ff_theta=None, ff_positive=None):
    """Integrate the order-parameter ODEs of `rule` from `state` (at t = 0).

    What to integrate (a state and a rule with its parameters), how (``method``) and when to save
    (``times``) are separate arguments.  Every method starts at the state's time t = 0, whatever
    the first output time, and checks after every step whether the run has diverged.

    Parameters
    ----------
    state : State
        The initial order parameters, an `odes.State` (with b, or a, p and phi_F, where the rule
        needs them).
    rule : str or Rule
        A name of `odes.ODE_RULES` or its `Rule`: 'bp', 'fa', 'afa', 'pepita-lin' (closed
        forms), 'pepita' (exact PEPITA), 'pepita-hebbian' or 'pepita-tl' (its Hebbian and
        time-local forms), 'ff' (Forward-Forward with top-down feedback, theory.md 11.1; these
        four by quadrature with `nodes` per field dimension).
    eta : float
        First-layer learning rate.
    times : array_like, optional
        Output times, finite, >= 0 and strictly increasing (default
        ``default_times(t_max, dt)``; t_max, if also given, must equal the last one).
    t_max : float, optional
        The last output time; needed when `times` is not given.
    eta_v : float, optional
        Second-layer learning rate (default eta).
    sigma : float, default 0.0
        Label-noise standard deviation.
    train_v : bool, default True
        Train the second layer.
    method : str, default 'dopri5'
        'dopri5' (adaptive, default), 'bdf' (stiff), 'rk4', 'euler' or 'scipy-<METHOD>'
        (`odes.solvers.METHODS`).
    dt : float, optional
        Step of the fixed-step methods and spacing of the default output times (default 0.01).
    rtol, atol : float, optional
        Error tolerances of the adaptive, stiff and scipy methods (default 1e-8, 1e-14; atol also
        bounds how far a converging eps_g is resolved: to about atol/3).  An option the method
        does not take (dt, or rtol and atol) is refused.
    stop_eps : float, optional
        Stop at the first output time with eps_g < stop_eps (status 'stopped'; that output is
        kept, and no step is taken beyond it).
    stop_above : float, optional
        Stop at the first output time with eps_g > stop_above, likewise.
    progress : bool, optional
        Show a progress bar (default: only for runs that last more than about 2 s).
    nodes : int, optional
        Quadrature nodes per field dimension of the rules evaluated by quadrature (default
        `odes.gaussian.expectations.default_nodes` (K+M), said in an `AccuracyWarning` where that
        is below the accurate default).
    weight_decay : float, default 0.0
        kappa >= 0 of theory.md 8.1 (per step w <- w - (kappa/D) w, and v likewise).
    activation : {'erf', 'linear', 'relu'}, default 'erf'
        g of teacher and student (theory.md 8.2; ReLU not with the rules evaluated by
        quadrature).
    blowup : float, optional
        The run has diverged once some Q_kk or v_k^2 exceeds it (default
        `odes.divergence.BLOWUP`, the simulator's; checked after every step), or once the state
        becomes non-finite: `IntegrationError`.
    cancel : threading.Event, optional
        Stops the run when set (KeyboardInterrupt), for integrations on threads that Ctrl-C does
        not reach.
    mirror_eta : float, default 0.0
        Weight mirroring (theory.md 11.2, `odes.rhs.mirroring`), for the rules with F: its rate
        eta_M.  0 is plain PEPITA (F fixed); > 0 makes p and phi_F state variables, and the
        result's ``p`` (n, M) and ``phi_F`` (n,) follow them.
    mirror_noise : float, default 1.0
        s, the standard deviation of each entry of a noise input.
    mirror_batch : int, default 1
        B, noise inputs per mirroring step (the heating of F is 1/B).
    mirror_decay : float, default 0.0
        kappa_M, F's decay in the mirroring step.
    mirror_fixed_norm : bool, default False
        Hold |F|^2 at its initial value (F rescaled after every mirroring step, as in the
        paper's code).
    pre_mirror : float, default 0.0
        Mirroring alone (W and v frozen) for this time before learning starts; the output times
        count from the start of learning, whose state (t = 0) is the one after pre-mirroring.
    ff_theta : float, optional
        Forward-Forward's goodness threshold theta, for the rule 'ff' (theory.md 11.1; default
        `odes.rules.FF_THETA`).
    ff_positive : {'modulated', 'clean'}, optional
        Which of Forward-Forward's passes is positive (its goodness raised), for the rule 'ff'
        (default 'modulated': the top-down feedback makes the positive input).

    Returns
    -------
    Result
        The order parameters, eps_g and the angles at the output times, every parameter of the
        run, its status ('finished', or 'stopped' by stop_eps or stop_above) and the work done in
        ``result.stats`` (accepted and rejected steps, right-hand-side evaluations).

    Raises
    ------
    ValueError
        For an unknown rule, method or activation (ReLU with a rule evaluated by quadrature
        included), an option the method does not take or one out of its range, a negative or
        non-finite rate, sigma or weight_decay, a blowup that is not a number > 0, output times
        that are not finite, >= 0 and strictly increasing, a t_max that disagrees with them, or
        mirroring options that `odes.rhs.mirroring.mirroring` refuses (any for a rule without F),
        or Forward-Forward's options for another rule or out of range.
    StateError
        If `state` lacks a field that the rule needs (b for 'fa'; a, p and phi_F for the rules
        with F).
    IntegrationError
        If the run diverged or the solver failed; its ``result`` holds the run (status
        'diverged', ``t_diverged``) up to the last output before the divergence.
    KeyboardInterrupt
        On Ctrl-C or when `cancel` is set, within a fraction of a second.

    Warns
    -----
    AccuracyWarning
        For a rule evaluated by quadrature at K + M >= 5 with the default `nodes`.

    See Also
    --------
    odes.fixed_point, simulate.compare

    Examples
    --------
    >>> import odes
    >>> st = odes.State.random(K=2, M=2, D=500, seed=0)
    >>> res = odes.integrate(st, "bp", eta=0.5, t_max=100)      # dopri5, rtol 1e-8
    >>> res.status, float(res.t[-1])
    ('finished', 100.0)
    >>> res.eps_g.shape == res.t.shape
    True

    Fixed steps of dt = 0.01 with output at t = 0, 1, ..., 10, stopping once eps_g < 1e-3:

    >>> res = odes.integrate(st, "bp", 0.5, times=range(11), method="rk4", dt=0.01,
    ...                      stop_eps=1e-3)
    """
    rule = get_rule(rule) if isinstance(rule, str) else rule
    state.check_rule(rule)
    mirror = mirroring(rule, mirror_eta=mirror_eta, mirror_noise=mirror_noise,
                       mirror_batch=mirror_batch, mirror_decay=mirror_decay,
                       mirror_fixed_norm=mirror_fixed_norm, pre_mirror=pre_mirror)
    ff = ff_options(rule, ff_theta, ff_positive)
    y0, args = kernel_args(state, rule, eta, eta_v, sigma, train_v, nodes=nodes,
                           weight_decay=weight_decay, activation=activation, mirror=mirror, ff=ff)
    solver, options, full = resolve(method, dt, rtol, atol, times_given=times is not None)
    if not (isinstance(blowup, (int, float)) and blowup > 0):
        raise ValueError(f"blowup must be a number > 0, got {blowup!r}")
    times = _check_times(times, t_max, full["dt"])
    run_params = dict(rule=rule.name, K=state.K, M=state.M, eta=float(eta),
                      eta_v=float(eta if eta_v is None else eta_v), sigma=float(sigma),
                      train_v=bool(train_v), weight_decay=float(weight_decay),
                      activation=activation, method=method, **full, stop_eps=stop_eps,
                      stop_above=stop_above, blowup=float(blowup), initial_state=state.to_dict())
    if mirror.on:
        run_params.update(mirror.keywords())
    run_params.update(ff_keywords(ff))
    if rule.exact_pepita:
        run_params["nodes"] = int(args.par[N_NODES])
        note = accuracy_note(state.K + state.M) if nodes is None else None
        if note:
            warnings.warn(f"{rule.name} ODE: {note}", AccuracyWarning, stacklevel=2)
    if mirror.pre > 0:
        y0 = _pre_mirror(solver, options, y0, args, mirror.pre, blowup, progress, cancel, rule)
    problem = _problem(y0, times, args, blowup, stop_eps, stop_above, progress, cancel)
    outcome = solver.solve(problem, **options)
    return _result(outcome, problem, state, rule, eta, run_params, solver)


def _pre_mirror(solver, options, y0, args, t_pre, blowup, progress, cancel, rule):
    """The packed state after mirroring alone for t_pre (the learning rates and weight decay set
    to 0, so that W and v stay where they are), with the run's method; IntegrationError (without
    a result) if that diverges or fails."""
    par = args.par.copy()
    par[ETA] = par[ETA_V] = par[DECAY] = 0.0
    problem = _problem(y0, np.array([0.0, t_pre]), args._replace(par=par), blowup, None, None,
                       progress, cancel)
    outcome = solver.solve(problem, **options)
    if outcome.status == Status.DIVERGED:
        what = (_name_of(outcome.index, args.K, args.M, "a", mirrored=True)
                if outcome.index >= 0 else "the state")
        raise IntegrationError(f"pre-mirroring ({rule.name}) diverged at t ~ "
                               f"{outcome.t_diverged:.4g}: {what}; try a smaller mirror_eta")
    if outcome.status != Status.FINISHED:
        raise IntegrationError(f"pre-mirroring ({rule.name}): solver failed: {outcome.message}")
    return np.array(outcome.ys[-1], float)


def _problem(y0, times, args, blowup, stop_eps, stop_above, progress, cancel):
    """The `odes.solvers.Problem` of a run; its stop test bounds eps_g (NaN: not checked)."""
    bounds = (np.nan if stop_eps is None else float(stop_eps),
              np.nan if stop_above is None else float(stop_above))
    return Problem(y0, times, args, float(blowup), bounds, progress, cancel)


def _result(outcome, problem, state, rule, eta, run_params, solver):
    """The `Result` of a method's `Outcome`: returned when the run finished or stopped, carried by
    an `IntegrationError` when it diverged or failed."""
    times, ys = problem.times, outcome.ys
    n = len(ys)
    K, M = state.K, state.M

    def result(message):
        Y = np.array(ys).reshape(n, problem.y0.size)
        p, phi_F = unpack_mirrored(Y, K, M)
        return Result.from_trajectory(times[:n], *unpack(Y, K, M), state, rule, run_params,
                                      outcome.status.value, message, outcome.stats,
                                      t_diverged=outcome.t_diverged, p=p, phi_F=phi_F)

    if outcome.status == Status.STOPPED:
        Q, R, v, _ = unpack(ys[-1], K, M)
        stop_eps = run_params["stop_eps"]
        with np.errstate(over="ignore", invalid="ignore"):
            e = _eps_g(Q, R, state.T, v, state.v_star, run_params["activation"])
        which = (f"eps_g < {stop_eps}" if stop_eps is not None and e < stop_eps
                 else f"eps_g > {run_params['stop_above']}")
        return result(f"{which} at t = {times[n - 1]:g}")
    if outcome.status == Status.DIVERGED:
        what = (_name_of(outcome.index, K, M, rule.feedback_name or "f",
                         mirrored=problem.y0.size > layout(K, M)["size"])
                if outcome.index >= 0 else "the state")
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
