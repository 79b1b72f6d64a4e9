"""The stepper contract: what `odes.integrate` hands a method and what every method hands back.

A method is one `odes.solvers.METHODS` entry: a name, its driver and the options it takes
(with their defaults).  `odes.integrate` validates the run, builds a `Problem` and calls

    outcome = method.solve(problem, **options)

The driver integrates from t = 0 (whatever the first output time) through ``problem.times`` and
returns an `Outcome`:

- ``ys``: the packed state at each output time reached, in order;
- ``status`` (a `Status`): FINISHED (every output), STOPPED (``problem.stop(y)`` was true at the
  last output, which is kept: every method checks it at each output as it is produced and takes
  no step beyond it), DIVERGED (``t_diverged``, the entry at fault ``index`` and whether it was
  non-finite; the outputs before the crossing are kept) or FAILED (``message`` says why);
- ``stats``: the work done (n_steps, n_rejected, n_rhs, and what else the method counts).

Every driver checks for divergence after every step (`odes.divergence` with ``problem.blowup``),
checks ``problem.cancel``/Ctrl-C at least every `CALL_SECONDS` of wall time and shows
``problem.bar()``.  The compiled steppers report with the return codes below, which `status_of`
translates, in this one place.
"""
import enum
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ..divergence import blown_up
from ..rhs.fields import stop_reached
from ..rhs.parameters import ACTIVATION

#: return codes of the compiled steppers: every output reached, a state or right-hand side that
#: is not finite, out of the step budget (a further call goes on), diverged (Q_kk or v_k^2 beyond
#: the threshold of `odes.divergence`), stopped by the caller's abort flag, stopped by the
#: eps_g test at an output
OK, NONFINITE, OUT_OF_STEPS, DIVERGED, ABORTED, STOPPED = range(6)
#: accepted steps after which a method gives up (status FAILED)
STEP_LIMIT = 10**8
#: wall time of one compiled call between checks for an interrupt (and progress-bar updates)
CALL_SECONDS = 0.1


class Status(str, enum.Enum):
    """How a run ended; compares equal to (and saves as) its lower-case name."""
    FINISHED = "finished"
    STOPPED = "stopped"
    DIVERGED = "diverged"
    FAILED = "failed"

    def __str__(self):
        return self.value


@dataclass
class Problem:
    """What to integrate: the packed start y0 (at t = 0), the output times, the kernel arguments
    (`odes.rhs.kernel_args`), the divergence threshold, the bounds of the stop test at outputs
    (``stop_bounds`` = (below, above) on eps_g, NaN for none; `stop` applies it), and
    the run's progress bar (``progress``: True, False or None for 'after 2 s') and ``cancel``
    (a `threading.Event`, or None)."""
    y0: np.ndarray
    times: np.ndarray
    args: tuple
    blowup: float
    stop_bounds: tuple = (np.nan, np.nan)
    progress: object = None
    cancel: object = None

    def stop(self, y):
        """Whether the stop test holds at output state y."""
        a = self.args
        return bool(stop_reached(y, a.K, a.M, a.T, a.vstar, int(a.par[ACTIVATION]),
                                 *self.stop_bounds))

    def bar(self):
        """A progress bar over the run's time t with the time left; shown after 2 s by default."""
        return tqdm(total=float(self.times[-1]), disable=self.progress is False,
                    delay=0.0 if self.progress else 2.0, unit="t", leave=False,
                    bar_format="{l_bar}{bar}| t = {n:.4g}/{total:.4g} [{elapsed}<{remaining}]")

    def check_cancel(self):
        """KeyboardInterrupt if the caller's cancel event is set."""
        if self.cancel is not None and self.cancel.is_set():
            raise KeyboardInterrupt


@dataclass
class Outcome:
    """What a method returns (see the module docstring)."""
    ys: list = field(default_factory=list)
    status: Status = Status.FINISHED
    stats: dict = field(default_factory=dict)
    message: str = ""
    t_diverged: float = None
    index: int = -1
    nonfinite: bool = False


def stats(steps, rejected, rhs, **more):
    """The work counts every method reports (None where a method does not count)."""
    return dict(n_steps=steps, n_rejected=rejected, n_rhs=rhs, **more)


def status_of(code, outcome, t, index=-1, detail=""):
    """Fill `outcome` from a compiled stepper's return code at time t (index: the entry at fault)."""
    if code in (OK, STOPPED):
        outcome.status = Status.FINISHED if code == OK else Status.STOPPED
    elif code in (NONFINITE, DIVERGED):
        diverged(outcome, t, index, code == NONFINITE)
    elif code == OUT_OF_STEPS:
        outcome.status = Status.FAILED
        outcome.message = f"more than {STEP_LIMIT} steps before t = {t:g}"
    else:
        outcome.status, outcome.message = Status.FAILED, detail or f"return code {code}"
    return outcome


def diverged(outcome, t, index, nonfinite):
    """Mark `outcome` as diverged at time t (entry `index`, non-finite or beyond the threshold)."""
    outcome.status, outcome.t_diverged = Status.DIVERGED, float(t)
    outcome.index, outcome.nonfinite = int(index), bool(nonfinite)
    return outcome


def first_diverged(y, K, M, limit):
    """(index at fault, non-finite?) if the packed state y has diverged (`odes.divergence`), else
    None."""
    if not np.all(np.isfinite(y)):
        return first_nonfinite(y), True
    bad = blown_up(y, K, M, limit)
    return None if bad < 0 else (bad, False)


def first_nonfinite(x):
    """Index of the first non-finite entry of x."""
    return int(np.flatnonzero(~np.isfinite(x))[0])


class Calls:
    """Compiled calls of a step budget that keeps each near CALL_SECONDS of wall time, so that an
    interrupt is seen and the bar moves that often.  After a call the budget is scaled by
    CALL_SECONDS / (its time): down after a long call, up (at most 2x) only after a call that
    used its whole budget (one that ended at an output time says nothing about a longer one)."""

    def __init__(self, start=8):
        self.budget = start

    def timed(self, fn, *args, exhausted):
        """fn(*args), then the budget adapted; exhausted(result) says whether it used it all."""
        t0 = time.perf_counter()
        out = fn(*args)
        scale = CALL_SECONDS / max(time.perf_counter() - t0, 1e-9)
        scale = min(scale, 2.0 if exhausted(out) else 1.0)
        self.budget = int(min(max(1, self.budget * scale), 2**24))
        return out
